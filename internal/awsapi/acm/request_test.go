package acm_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/portico-iot/portico/internal/certificate"
	portpki "github.com/portico-iot/portico/internal/pki"
)

// zoneResolver stands in for the wiring's resolver over Portico's zones.
type zoneResolver struct {
	mu      sync.Mutex
	records map[string]string
}

func (z *zoneResolver) LookupCNAME(_ context.Context, name string) (string, bool, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	t, ok := z.records[name]
	return t, ok, nil
}

func (z *zoneResolver) set(name, target string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.records[name] = target
}

func newValidator(t *testing.T, e *env) (*certificate.Validator, *zoneResolver, *portpki.CA) {
	t.Helper()
	ca, err := portpki.LoadOrCreate(t.TempDir(), "server", pkix.Name{CommonName: "Portico Server CA"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := &zoneResolver{records: map[string]string{}}
	return &certificate.Validator{Service: e.svc, Resolver: res, Issuer: certificate.CAIssuer{CA: ca}}, res, ca
}

func TestRequestValidateIssueSDK(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	v, res, ca := newValidator(t, e)

	req := &sdkacm.RequestCertificateInput{
		DomainName:              aws.String("iot.yourcompany.com"),
		SubjectAlternativeNames: []string{"*.iot.yourcompany.com"},
		ValidationMethod:        types.ValidationMethodDns,
		IdempotencyToken:        aws.String("guide1"),
		KeyAlgorithm:            types.KeyAlgorithmEcPrime256v1,
		Tags:                    []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}},
	}
	out, err := e.client.RequestCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.CertificateArn)
	if !arnRE.MatchString(arn) {
		t.Fatalf("ARN %q", arn)
	}
	again, err := e.client.RequestCertificate(ctx, req)
	if err != nil || aws.ToString(again.CertificateArn) != arn {
		t.Fatalf("idempotent request = %v, %v", again, err)
	}

	desc, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.Certificate
	if d.Status != types.CertificateStatusPendingValidation || d.Type != types.CertificateTypeAmazonIssued ||
		d.KeyAlgorithm != "EC-prime256v1" || len(d.DomainValidationOptions) != 2 || d.CreatedAt == nil || d.NotAfter != nil {
		t.Fatalf("pending = %+v", d)
	}
	for _, dv := range d.DomainValidationOptions {
		rr := dv.ResourceRecord
		if rr == nil || rr.Type != types.RecordTypeCname || aws.ToString(rr.Name) != "_acme-challenge.iot.yourcompany.com." ||
			!strings.HasSuffix(aws.ToString(rr.Value), ".acm-validations.portico.internal.") ||
			dv.ValidationStatus != types.DomainStatusPendingValidation || dv.ValidationMethod != types.ValidationMethodDns {
			t.Fatalf("validation = %+v %+v", dv, rr)
		}
	}
	if _, err := e.client.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: &arn}); errorCode(err) != "RequestInProgressException" {
		t.Fatalf("get pending = %v", err)
	}
	if _, err := e.client.RenewCertificate(ctx, &sdkacm.RenewCertificateInput{CertificateArn: &arn}); errorCode(err) != "RequestInProgressException" {
		t.Fatalf("renew pending = %v", err)
	}

	// The operator creates the CNAME; the validator sees it and issues.
	rr := d.DomainValidationOptions[0].ResourceRecord
	res.set(aws.ToString(rr.Name), aws.ToString(rr.Value))
	if err := v.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	waiter := sdkacm.NewCertificateValidatedWaiter(e.client, func(o *sdkacm.CertificateValidatedWaiterOptions) {
		o.MinDelay = time.Millisecond
		o.MaxDelay = time.Millisecond
	})
	if err := waiter.Wait(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	desc, err = e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	d = desc.Certificate
	if d.Status != types.CertificateStatusIssued || aws.ToString(d.Issuer) != "Portico" || d.IssuedAt == nil || d.NotBefore == nil ||
		d.NotAfter == nil || aws.ToString(d.Subject) != "CN=iot.yourcompany.com" || d.RenewalEligibility != types.RenewalEligibilityIneligible {
		t.Fatalf("issued = %+v", d)
	}

	got, err := e.client.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(aws.ToString(got.Certificate)))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(aws.ToString(got.CertificateChain))) {
		t.Fatal("chain has no certificates")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "device.iot.yourcompany.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "iot.yourcompany.com"}); err != nil {
		t.Fatal(err)
	}

	// Renewal under the same ARN.
	if _, err := e.client.RenewCertificate(ctx, &sdkacm.RenewCertificateInput{CertificateArn: &arn}); err != nil {
		t.Fatal(err)
	}
	if err := v.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	desc, _ = e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if rs := desc.Certificate.RenewalSummary; rs == nil || rs.RenewalStatus != types.RenewalStatusSuccess || rs.UpdatedAt == nil ||
		aws.ToString(desc.Certificate.Serial) == aws.ToString(d.Serial) {
		t.Fatalf("renewal = %+v", desc.Certificate)
	}

	list, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1}}})
	if err != nil || len(list.CertificateSummaryList) != 1 || list.CertificateSummaryList[0].Type != types.CertificateTypeAmazonIssued {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

func TestRequestRejectsSDK(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	_, err := e.client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("a.example.com"), ValidationMethod: types.ValidationMethodEmail})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("a.example.com"), KeyAlgorithm: types.KeyAlgorithmRsa4096})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("bad_name")})
	wantCode(t, err, "ValidationException")
}

// TestAWSCLIRequest requests through the real aws CLI, as the custom-domain
// guide does, and reads the validation record back.
func TestAWSCLIRequest(t *testing.T) {
	e := start(t)
	cli := e.srv.CLI(t)
	var req struct{ CertificateArn string }
	cli.JSON(t, &req, "acm", "request-certificate", "--domain-name", "iot.yourcompany.com", "--validation-method", "DNS")
	if !arnRE.MatchString(req.CertificateArn) {
		t.Fatalf("request-certificate printed %q", req.CertificateArn)
	}
	var desc struct {
		Certificate struct {
			Status                  string
			Type                    string
			DomainValidationOptions []struct {
				DomainName       string
				ValidationStatus string
				ResourceRecord   struct{ Name, Type, Value string }
			}
		}
	}
	cli.JSON(t, &desc, "acm", "describe-certificate", "--certificate-arn", req.CertificateArn)
	c := desc.Certificate
	if c.Status != "PENDING_VALIDATION" || c.Type != "AMAZON_ISSUED" || len(c.DomainValidationOptions) != 1 ||
		c.DomainValidationOptions[0].ResourceRecord.Type != "CNAME" ||
		c.DomainValidationOptions[0].ResourceRecord.Name != "_acme-challenge.iot.yourcompany.com." {
		t.Fatalf("describe-certificate printed %+v", desc)
	}
}
