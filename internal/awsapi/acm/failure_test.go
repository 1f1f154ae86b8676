package acm_test

import (
	"context"
	"crypto"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/portico-iot/portico/internal/certificate"
)

// failingIssuer refuses every certificate with err.
type failingIssuer struct{ err error }

func (f failingIssuer) Issue(context.Context, crypto.Signer, []string) ([]byte, []byte, error) {
	return nil, nil, f.err
}

// requestValidated requests a certificate for iot.yourcompany.com and
// publishes its validation record, so the next validator pass issues it.
func requestValidated(t *testing.T, e *env, res *zoneResolver) string {
	t.Helper()
	ctx := context.Background()
	out, err := e.client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("iot.yourcompany.com")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.CertificateArn)
	desc, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	rr := desc.Certificate.DomainValidationOptions[0].ResourceRecord
	res.set(aws.ToString(rr.Name), aws.ToString(rr.Value))
	return arn
}

func describe(t *testing.T, e *env, arn string) *types.CertificateDetail {
	t.Helper()
	desc, err := e.client.DescribeCertificate(context.Background(), &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	return desc.Certificate
}

// TestIssuerRefusalFails: a CA that refuses to issue makes the request
// FAILED with a FailureReason. (Its names were validated, so their
// ValidationStatus stays SUCCESS: the refusal came after validation.)
func TestIssuerRefusalFails(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	v, res, _ := newValidator(t, e)
	v.Issuer = failingIssuer{err: &certificate.IssueFailure{Reason: "CAA_ERROR", Err: errors.New("CAA forbids this CA")}}
	arn := requestValidated(t, e, res)

	if err := v.Tick(ctx); err != nil {
		t.Fatalf("a refusal is an outcome, not a pass failure: %v", err)
	}
	d := describe(t, e, arn)
	if d.Status != types.CertificateStatusFailed || d.FailureReason != types.FailureReasonCaaError || d.NotAfter != nil {
		t.Fatalf("after refusal: status %s, reason %q", d.Status, d.FailureReason)
	}
	if _, err := e.client.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: &arn}); errorCode(err) != "InvalidStateException" {
		t.Fatalf("get FAILED = %v", err)
	}
	list, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusFailed}})
	if err != nil || len(list.CertificateSummaryList) != 1 || aws.ToString(list.CertificateSummaryList[0].CertificateArn) != arn {
		t.Fatalf("list FAILED = %+v, %v", list, err)
	}

	// FAILED is terminal: a working CA later does not revive it.
	v2, _, _ := newValidator(t, e)
	v2.Resolver = res
	if err := v2.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if d := describe(t, e, arn); d.Status != types.CertificateStatusFailed {
		t.Fatalf("FAILED became %s", d.Status)
	}
}

// TestIssuerOutageFailsAfterTimeout: an issuer that merely errors (an ACME
// directory that is down) is retried while the request is young, and the
// request becomes FAILED (OTHER) once the validation time-out has passed.
func TestIssuerOutageFailsAfterTimeout(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	now := time.Now()
	e.svc.Now = func() time.Time { return now }
	v, res, _ := newValidator(t, e)
	v.Issuer = failingIssuer{err: errors.New("connection refused")}
	arn := requestValidated(t, e, res)

	if err := v.Tick(ctx); err == nil {
		t.Fatal("a pass whose issuance failed reported no error")
	}
	if d := describe(t, e, arn); d.Status != types.CertificateStatusPendingValidation || d.FailureReason != "" {
		t.Fatalf("after one outage: status %s, reason %q", d.Status, d.FailureReason)
	}
	now = now.Add(72*time.Hour + time.Minute)
	if err := v.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if d := describe(t, e, arn); d.Status != types.CertificateStatusFailed || d.FailureReason != types.FailureReasonOther {
		t.Fatalf("after the time-out: status %s, reason %q", d.Status, d.FailureReason)
	}
}
