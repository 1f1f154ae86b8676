package acm_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/smithy-go"

	"github.com/portico-iot/portico/internal/awsapi"
	acmapi "github.com/portico-iot/portico/internal/awsapi/acm"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

var arnRE = regexp.MustCompile(`^arn:aws:acm:us-east-1:123456789012:certificate/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type env struct {
	svc    *certificate.Service
	srv    *apitest.Server
	client *sdkacm.Client
}

func start(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	svc, err := certificate.NewService(ctx, st, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, func(api *awsapi.Server) { acmapi.Register(api, svc, apitest.Logger()) })
	return &env{svc: svc, srv: srv, client: sdkacm.NewFromConfig(srv.Config)}
}

// pki is a private root -> intermediate -> leaf for iot.yourcompany.com.
type pki struct {
	root, inter *testpki.CA
	leaf        *testpki.Leaf
	chain       []byte
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	root := testpki.NewCA(t, "Portico Test Root")
	inter := root.Intermediate(t, "Portico Test Intermediate")
	leaf := inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", DNSNames: []string{"iot.yourcompany.com"}})
	return &pki{root: root, inter: inter, leaf: leaf, chain: append(append([]byte{}, inter.PEM...), root.PEM...)}
}

// importPKI imports p's leaf with its chain through the SDK and returns the ARN.
func (e *env) importPKI(t *testing.T, p *pki) string {
	t.Helper()
	imp, err := e.client.ImportCertificate(context.Background(), &sdkacm.ImportCertificateInput{Certificate: p.leaf.CertPEM, PrivateKey: p.leaf.KeyPEM, CertificateChain: p.chain})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(imp.CertificateArn)
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errorCode(err); got != code {
		t.Fatalf("error = %v; code %q, want %q", err, got, code)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	p := newPKI(t)
	before := time.Now().Add(-time.Second)

	imp, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{
		Certificate: p.leaf.CertPEM, PrivateKey: p.leaf.KeyPEM, CertificateChain: p.chain,
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("flag")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(imp.CertificateArn)
	if !arnRE.MatchString(arn) {
		t.Fatalf("ARN %q does not have ACM's shape", arn)
	}

	desc, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.Certificate
	if aws.ToString(d.DomainName) != "iot.yourcompany.com" || d.Type != types.CertificateTypeImported || d.Status != types.CertificateStatusIssued ||
		d.KeyAlgorithm != "EC-prime256v1" || aws.ToString(d.SignatureAlgorithm) != "SHA256WITHECDSA" ||
		aws.ToString(d.Subject) != "CN=iot.yourcompany.com" || aws.ToString(d.Issuer) != "Portico Test" ||
		d.RenewalEligibility != types.RenewalEligibilityIneligible || !slices.Equal(d.SubjectAlternativeNames, []string{"iot.yourcompany.com"}) {
		t.Errorf("describe = %+v", d)
	}
	if d.InUseBy == nil || len(d.InUseBy) != 0 {
		t.Errorf("InUseBy = %#v, want an empty list", d.InUseBy)
	}
	if d.ImportedAt == nil || d.ImportedAt.Before(before) || d.ImportedAt.After(time.Now()) {
		t.Errorf("ImportedAt = %v", d.ImportedAt)
	}
	if d.NotAfter == nil || !d.NotAfter.Equal(p.leaf.Cert.NotAfter) || !d.NotBefore.Equal(p.leaf.Cert.NotBefore) {
		t.Errorf("validity = %v..%v, want %v..%v", d.NotBefore, d.NotAfter, p.leaf.Cert.NotBefore, p.leaf.Cert.NotAfter)
	}
	if d.IssuedAt != nil || d.DomainValidationOptions != nil || d.RenewalSummary != nil {
		t.Errorf("imported certificate reports ACM-issued members: %+v", d)
	}
	if len(d.ExtendedKeyUsages) != 1 || d.ExtendedKeyUsages[0].Name != types.ExtendedKeyUsageNameTlsWebServerAuthentication ||
		aws.ToString(d.ExtendedKeyUsages[0].OID) != "1.3.6.1.5.5.7.3.1" {
		t.Errorf("ExtendedKeyUsages = %+v", d.ExtendedKeyUsages)
	}
	if len(d.KeyUsages) != 1 || d.KeyUsages[0].Name != types.KeyUsageNameDigitalSignature {
		t.Errorf("KeyUsages = %+v", d.KeyUsages)
	}
	if d.Options == nil || d.Options.CertificateTransparencyLoggingPreference != types.CertificateTransparencyLoggingPreferenceEnabled {
		t.Errorf("Options = %+v", d.Options)
	}

	// The default listing shows only RSA_1024/RSA_2048 certificates, as ACM does.
	list, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.CertificateSummaryList) != 0 || list.NextToken != nil {
		t.Errorf("default list = %+v", list)
	}
	list, err = e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.CertificateSummaryList) != 1 {
		t.Fatalf("EC list = %+v", list.CertificateSummaryList)
	}
	s := list.CertificateSummaryList[0]
	if aws.ToString(s.CertificateArn) != arn || aws.ToString(s.DomainName) != "iot.yourcompany.com" || s.Status != types.CertificateStatusIssued ||
		aws.ToBool(s.InUse) || s.ImportedAt == nil || !s.NotAfter.Equal(p.leaf.Cert.NotAfter) {
		t.Errorf("summary = %+v", s)
	}

	get, err := e.client.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(get.Certificate) != string(p.leaf.CertPEM) || aws.ToString(get.CertificateChain) != string(p.chain) {
		t.Errorf("get = %q / %q", aws.ToString(get.Certificate), aws.ToString(get.CertificateChain))
	}

	tags, err := e.client.ListTagsForCertificate(ctx, &sdkacm.ListTagsForCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.Tags) != 2 || aws.ToString(tags.Tags[0].Key) != "env" || aws.ToString(tags.Tags[0].Value) != "prod" ||
		aws.ToString(tags.Tags[1].Key) != "flag" || tags.Tags[1].Value != nil {
		t.Errorf("tags = %+v", tags.Tags)
	}
	if _, err := e.client.AddTagsToCertificate(ctx, &sdkacm.AddTagsToCertificateInput{CertificateArn: &arn,
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("iot")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.RemoveTagsFromCertificate(ctx, &sdkacm.RemoveTagsFromCertificateInput{CertificateArn: &arn,
		Tags: []types.Tag{{Key: aws.String("env")}, {Key: aws.String("flag")}}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = e.client.ListTagsForCertificate(ctx, &sdkacm.ListTagsForCertificateInput{CertificateArn: &arn})
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
		t.Errorf("tags after add/remove = %+v", tags.Tags)
	}

	if _, err := e.client.DeleteCertificate(ctx, &sdkacm.DeleteCertificateInput{CertificateArn: &arn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	wantCode(t, err, "ResourceNotFoundException")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || aws.ToString(nf.Message) != "Could not find certificate "+arn+"." {
		t.Errorf("not found error = %#v", err)
	}
}

func TestReimportKeepsARN(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	p := newPKI(t)
	arn := e.importPKI(t, p)
	renewed := p.inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", DNSNames: []string{"iot.yourcompany.com", "mqtt.yourcompany.com"}})
	again, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{CertificateArn: &arn,
		Certificate: renewed.CertPEM, PrivateKey: renewed.KeyPEM, CertificateChain: p.chain})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.CertificateArn) != arn {
		t.Fatalf("re-import ARN %s, want %s", aws.ToString(again.CertificateArn), arn)
	}
	d, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Certificate.SubjectAlternativeNames, []string{"iot.yourcompany.com", "mqtt.yourcompany.com"}) {
		t.Errorf("SANs after re-import = %v", d.Certificate.SubjectAlternativeNames)
	}
	list, _ := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{Includes: &types.Filters{KeyTypes: []types.KeyAlgorithm{types.KeyAlgorithmEcPrime256v1}}})
	if len(list.CertificateSummaryList) != 1 {
		t.Errorf("re-import created another certificate: %+v", list.CertificateSummaryList)
	}
}

func TestPaginator(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	root := testpki.NewCA(t, "Root")
	key := testpki.RSAKey(t, 2048)
	var want []string
	for range 5 {
		leaf := root.Issue(t, testpki.LeafOptions{CommonName: "rsa.yourcompany.com", Key: key})
		out, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, aws.ToString(out.CertificateArn))
	}
	var got []string
	pages := 0
	pager := sdkacm.NewListCertificatesPaginator(e.client, &sdkacm.ListCertificatesInput{MaxItems: aws.Int32(2)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.CertificateSummaryList {
			got = append(got, aws.ToString(s.CertificateArn))
			if s.KeyAlgorithm != "RSA-2048" {
				t.Errorf("summary KeyAlgorithm = %q", s.KeyAlgorithm)
			}
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("paginated %d pages %v, want 3 pages %v", pages, got, want)
	}
	desc, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{SortBy: types.SortByCreatedAt, SortOrder: types.SortOrderDescending, MaxItems: aws.Int32(1)})
	if err != nil || aws.ToString(desc.CertificateSummaryList[0].CertificateArn) != want[4] {
		t.Errorf("descending = %+v, %v", desc, err)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	p := newPKI(t)
	arn := e.importPKI(t, p)
	missing := arn[:len(arn)-12] + "000000000000"
	other := testpki.NewCA(t, "Other")
	otherLeaf := other.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com"})
	expired := p.inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	twoCerts := append(append([]byte{}, p.leaf.CertPEM...), p.inter.PEM...)

	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"mismatched key", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{Certificate: p.leaf.CertPEM, PrivateKey: otherLeaf.KeyPEM})
			return err
		}, "ValidationException"},
		{"expired", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{Certificate: expired.CertPEM, PrivateKey: expired.KeyPEM, CertificateChain: p.chain})
			return err
		}, "ValidationException"},
		{"chain does not verify", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{Certificate: p.leaf.CertPEM, PrivateKey: p.leaf.KeyPEM, CertificateChain: other.PEM})
			return err
		}, "ValidationException"},
		{"two certificates", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{Certificate: twoCerts, PrivateKey: p.leaf.KeyPEM})
			return err
		}, "ValidationException"},
		{"not PEM", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{Certificate: []byte("vm\n"), PrivateKey: []byte("key")})
			return err
		}, "ValidationException"},
		{"re-import unknown ARN", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{CertificateArn: &missing, Certificate: p.leaf.CertPEM, PrivateKey: p.leaf.KeyPEM})
			return err
		}, "ResourceNotFoundException"},
		{"re-import malformed ARN", func() error {
			_, err := e.client.ImportCertificate(ctx, &sdkacm.ImportCertificateInput{CertificateArn: aws.String("certificate/123"), Certificate: p.leaf.CertPEM, PrivateKey: p.leaf.KeyPEM})
			return err
		}, "InvalidArnException"},
		{"describe malformed ARN", func() error {
			_, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: aws.String("arn:aws:acm:us-east-1:acct:certificate/x")})
			return err
		}, "InvalidArnException"},
		{"describe unknown", func() error {
			_, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &missing})
			return err
		}, "ResourceNotFoundException"},
		{"get unknown", func() error {
			_, err := e.client.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: &missing})
			return err
		}, "ResourceNotFoundException"},
		{"delete unknown", func() error {
			_, err := e.client.DeleteCertificate(ctx, &sdkacm.DeleteCertificateInput{CertificateArn: &missing})
			return err
		}, "ResourceNotFoundException"},
		{"delete malformed", func() error {
			_, err := e.client.DeleteCertificate(ctx, &sdkacm.DeleteCertificateInput{CertificateArn: aws.String("nope")})
			return err
		}, "InvalidArnException"},
		{"list MaxItems 0", func() error {
			_, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{MaxItems: aws.Int32(0)})
			return err
		}, "ValidationException"},
		{"list bad status", func() error {
			_, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{"ALIVE"}})
			return err
		}, "ValidationException"},
		{"list bad token", func() error {
			_, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{NextToken: aws.String("not-a-token")})
			return err
		}, "InvalidArgsException"},
		{"list SortBy without SortOrder", func() error {
			_, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{SortBy: types.SortByCreatedAt})
			return err
		}, "ValidationException"},
		{"reserved tag", func() error {
			_, err := e.client.AddTagsToCertificate(ctx, &sdkacm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: []types.Tag{{Key: aws.String("aws:x")}}})
			return err
		}, "InvalidTagException"},
		{"tags unknown certificate", func() error {
			_, err := e.client.ListTagsForCertificate(ctx, &sdkacm.ListTagsForCertificateInput{CertificateArn: &missing})
			return err
		}, "ResourceNotFoundException"},
		{"unknown operation", func() error {
			_, err := e.client.ResendValidationEmail(ctx, &sdkacm.ResendValidationEmailInput{CertificateArn: aws.String(arn),
				Domain: aws.String("iot.yourcompany.com"), ValidationDomain: aws.String("yourcompany.com")})
			if err != nil && !strings.Contains(err.Error(), "ResendValidationEmail") {
				t.Errorf("unknown operation error does not name it: %v", err)
			}
			return err
		}, "UnknownOperationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}

	many := make([]types.Tag, 50)
	for i := range many {
		many[i] = types.Tag{Key: aws.String("k" + strings.Repeat("x", i))}
	}
	if _, err := e.client.AddTagsToCertificate(ctx, &sdkacm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: many}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.AddTagsToCertificate(ctx, &sdkacm.AddTagsToCertificateInput{CertificateArn: &arn, Tags: []types.Tag{{Key: aws.String("one-more")}}})
	wantCode(t, err, "TooManyTagsException")
}

func TestDeleteRefusedWhileInUse(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	p := newPKI(t)
	arn := e.importPKI(t, p)
	user := "arn:aws:iot:us-east-1:123456789012:domainconfiguration/devices/x1y2z"
	var users []string
	e.svc.InUse = func(_ context.Context, a string) ([]string, error) {
		if a == arn {
			return users, nil
		}
		return nil, nil
	}
	users = []string{user}
	_, err := e.client.DeleteCertificate(ctx, &sdkacm.DeleteCertificateInput{CertificateArn: &arn})
	wantCode(t, err, "ResourceInUseException")
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) || aws.ToString(inUse.Message) != "Certificate "+arn+" in account 123456789012 is in use." {
		t.Errorf("in-use error = %v", err)
	}
	d, err := e.client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: &arn})
	if err != nil || !slices.Equal(d.Certificate.InUseBy, []string{user}) {
		t.Fatalf("InUseBy = %v, %v", d, err)
	}
	users = nil
	if _, err := e.client.DeleteCertificate(ctx, &sdkacm.DeleteCertificateInput{CertificateArn: &arn}); err != nil {
		t.Fatal(err)
	}
}

// rawCall sends a SigV4-signed request with the given target and body and
// returns the status and decoded JSON body.
func rawCall(t *testing.T, e *env, method, target, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: apitest.AccessKey, SecretAccessKey: apitest.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "acm", apitest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("response is not JSON: %q", raw)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func TestWireShape(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	p := newPKI(t)
	arn, err := e.svc.Import(ctx, certificate.ImportInput{Certificate: p.leaf.CertPEM, PrivateKey: p.leaf.KeyPEM, CertificateChain: p.chain})
	if err != nil {
		t.Fatal(err)
	}
	status, hdr, body := rawCall(t, e, http.MethodPost, "CertificateManager.DescribeCertificate", `{"CertificateArn":"`+arn+`"}`)
	if status != 200 || hdr.Get("Content-Type") != "application/x-amz-json-1.1" {
		t.Fatalf("status %d content type %q", status, hdr.Get("Content-Type"))
	}
	c := body["Certificate"].(map[string]any)
	for _, k := range []string{"NotBefore", "NotAfter", "ImportedAt", "CreatedAt"} {
		if _, ok := c[k].(float64); !ok {
			t.Errorf("%s = %#v, want a JSON number of epoch seconds", k, c[k])
		}
	}
	if c["NotAfter"].(float64) != float64(p.leaf.Cert.NotAfter.Unix()) {
		t.Errorf("NotAfter = %v, want %d", c["NotAfter"], p.leaf.Cert.NotAfter.Unix())
	}
	for _, k := range []string{"DomainValidationOptions", "IssuedAt", "RevokedAt", "RenewalSummary", "FailureReason", "CertificateAuthorityArn", "ManagedBy"} {
		if _, ok := c[k]; ok {
			t.Errorf("absent member %s is present: %v", k, c[k])
		}
	}
	if iu, ok := c["InUseBy"].([]any); !ok || len(iu) != 0 {
		t.Errorf("InUseBy = %#v, want []", c["InUseBy"])
	}
	if c["KeyAlgorithm"] != "EC-prime256v1" {
		t.Errorf("KeyAlgorithm = %v", c["KeyAlgorithm"])
	}

	// Blobs arrive base64-encoded; the CLI's fileb:// sends exactly this.
	status, _, body = rawCall(t, e, http.MethodPost, "CertificateManager.ImportCertificate", `{"Certificate":"dm0K","PrivateKey":"dm0K"}`)
	if status != 400 || body["__type"] != "ValidationException" {
		t.Errorf("import of 'vm' = %d %v", status, body)
	}
	status, _, body = rawCall(t, e, http.MethodPost, "CertificateManager.ImportCertificate", `{"Certificate":"not base64!"}`)
	if status != 400 || body["__type"] != "SerializationException" {
		t.Errorf("import of bad base64 = %d %v", status, body)
	}
	status, _, body = rawCall(t, e, http.MethodPost, "CertificateManager.DeleteCertificate", `{}`)
	if status != 400 || body["__type"] != "ValidationException" || !strings.Contains(body["message"].(string), "certificateArn") {
		t.Errorf("delete without ARN = %d %v", status, body)
	}
	status, _, body = rawCall(t, e, http.MethodPost, "CertificateManager.DeleteCertificate", `{"CertificateArn":"`+arn+`"}`)
	if status != 200 || len(body) != 0 {
		t.Errorf("delete = %d %v, want 200 {}", status, body)
	}
	status, _, body = rawCall(t, e, http.MethodPost, "CertificateManager.ResendValidationEmail", `{}`)
	if status != 400 || body["__type"] != "UnknownOperationException" || !strings.Contains(body["message"].(string), "ResendValidationEmail") {
		t.Errorf("unknown target = %d %v", status, body)
	}
	status, _, body = rawCall(t, e, http.MethodPost, "Other.DescribeCertificate", `{}`)
	if status != 400 || body["__type"] != "UnknownOperationException" {
		t.Errorf("foreign target = %d %v", status, body)
	}
	status, _, body = rawCall(t, e, http.MethodGet, "CertificateManager.ListCertificates", ``)
	if status < 400 || body["__type"] != "UnknownOperationException" {
		t.Errorf("GET = %d %v", status, body)
	}
}

// TestAWSCLI imports through the real aws CLI, which sends the files as
// base64 blobs signed by botocore.
func TestAWSCLI(t *testing.T) {
	e := start(t)
	cli := e.srv.CLI(t)
	p := newPKI(t)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"cert.pem": p.leaf.CertPEM, "key.pem": p.leaf.KeyPEM, "chain.pem": p.chain} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var imp struct{ CertificateArn string }
	cli.JSON(t, &imp, "acm", "import-certificate",
		"--certificate", "fileb://"+filepath.Join(dir, "cert.pem"),
		"--private-key", "fileb://"+filepath.Join(dir, "key.pem"),
		"--certificate-chain", "fileb://"+filepath.Join(dir, "chain.pem"))
	if !arnRE.MatchString(imp.CertificateArn) {
		t.Fatalf("import-certificate printed ARN %q", imp.CertificateArn)
	}
	m, err := e.svc.Material(context.Background(), imp.CertificateArn)
	if err != nil || !m.Covers("iot.yourcompany.com") || !m.Leaf.Equal(p.leaf.Cert) {
		t.Fatalf("imported material = %v, %v", m, err)
	}
	if _, err := x509.ParseCertificate(m.TLS.Certificate[0]); err != nil {
		t.Fatal(err)
	}

	var desc struct {
		Certificate struct {
			CertificateArn string
			DomainName     string
			Status         string
		}
	}
	cli.JSON(t, &desc, "acm", "describe-certificate", "--certificate-arn", imp.CertificateArn)
	if desc.Certificate.DomainName != "iot.yourcompany.com" || desc.Certificate.Status != "ISSUED" {
		t.Fatalf("describe-certificate printed %+v", desc)
	}
}
