package certificate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/pki"
)

// fakeResolver serves CNAMEs from a map.
type fakeResolver struct {
	mu      sync.Mutex
	records map[string]string
}

func (f *fakeResolver) set(name, target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.records == nil {
		f.records = map[string]string{}
	}
	if target == "" {
		delete(f.records, name)
		return
	}
	f.records[name] = target
}

func (f *fakeResolver) LookupCNAME(_ context.Context, name string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.records[name]
	return t, ok, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

type requestEnv struct {
	svc   *Service
	clk   *clock
	res   *fakeResolver
	ca    *pki.CA
	val   *Validator
	users []string
}

func newRequestEnv(t *testing.T) *requestEnv {
	t.Helper()
	e := &requestEnv{svc: newService(t), clk: &clock{t: time.Now().UTC()}, res: &fakeResolver{}}
	ca, err := pki.LoadOrCreate(t.TempDir(), "server", pkix.Name{CommonName: "Portico Server CA", Organization: []string{"Portico"}}, e.clk.now)
	if err != nil {
		t.Fatal(err)
	}
	e.ca = ca
	e.svc.Now = e.clk.now
	e.svc.InUse = func(context.Context, string) ([]string, error) { return e.users, nil }
	e.val = &Validator{Service: e.svc, Resolver: e.res, Issuer: CAIssuer{CA: ca}}
	return e
}

func (e *requestEnv) publish(arn string, t *testing.T) {
	t.Helper()
	d, err := e.svc.Describe(context.Background(), arn)
	if err != nil {
		t.Fatal(err)
	}
	for _, dv := range d.DomainValidationOptions {
		e.res.set(dv.ResourceRecord.Name, dv.ResourceRecord.Value)
	}
}

func TestRequestValidateIssue(t *testing.T) {
	ctx := context.Background()
	e := newRequestEnv(t)
	arn, err := e.svc.Request(ctx, RequestInput{DomainName: "iot.example.com",
		SubjectAlternativeNames: []string{"*.iot.example.com", "IOT.example.com", "mqtt.example.com"},
		ValidationMethod:        "DNS", KeyAlgorithm: KeyECPrime256v1, Tags: []Tag{{Key: "env", Value: ptr("prod")}}})
	if err != nil {
		t.Fatal(err)
	}
	if !arnRE.MatchString(arn) {
		t.Fatalf("ARN %q", arn)
	}
	d, err := e.svc.Describe(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusPendingValidation || d.Type != TypeAmazonIssued || d.KeyAlgorithm != KeyECPrime256v1 ||
		strings.Join(d.SubjectAlternativeNames, ",") != "iot.example.com,*.iot.example.com,mqtt.example.com" ||
		!d.NotAfter.IsZero() || d.Serial != "" || d.Issuer != "" || len(d.DomainValidationOptions) != 3 {
		t.Fatalf("pending detail = %+v", d)
	}
	dv := d.DomainValidationOptions
	if dv[0].ResourceRecord != dv[1].ResourceRecord || dv[0].ResourceRecord == dv[2].ResourceRecord {
		t.Errorf("wildcard and base must share one record, other names not: %+v", dv)
	}
	rr := dv[0].ResourceRecord
	if rr.Type != "CNAME" || rr.Name != "_acme-challenge.iot.example.com." ||
		!strings.HasSuffix(rr.Value, "."+DefaultValidationZone+".") || len(rr.Value) != 1+32+1+len(DefaultValidationZone)+1 {
		t.Errorf("record = %+v", rr)
	}
	for _, v := range dv {
		if v.ValidationStatus != ValidationPending || v.ValidationMethod != "DNS" {
			t.Errorf("validation = %+v", v)
		}
	}
	if _, _, err := e.svc.Get(ctx, arn); fault.As(err).Code != "RequestInProgressException" {
		t.Errorf("Get pending = %v", err)
	}
	if m, err := e.svc.Material(ctx, arn); err != nil || m.Leaf != nil || m.Status != StatusPendingValidation || m.Covers("iot.example.com") {
		t.Errorf("Material pending = %+v, %v", m, err)
	}
	if st, err := e.svc.Standing(ctx, arn); err != nil || st.Leaf != nil || st.Status != StatusPendingValidation || st.Covers("iot.example.com") {
		t.Errorf("Standing pending = %+v, %v", st, err)
	}
	if all, err := e.svc.All(ctx); err != nil || len(all) != 0 {
		t.Errorf("All = %v, %v", all, err)
	}

	// One record of two: partly validated, still pending.
	e.res.set(rr.Name, strings.ToUpper(strings.TrimSuffix(rr.Value, ".")))
	if err := e.val.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ = e.svc.Describe(ctx, arn)
	if d.Status != StatusPendingValidation || d.DomainValidationOptions[0].ValidationStatus != ValidationSuccess ||
		d.DomainValidationOptions[1].ValidationStatus != ValidationSuccess || d.DomainValidationOptions[2].ValidationStatus != ValidationPending {
		t.Fatalf("partial = %+v", d)
	}
	// A wrong target does not count.
	e.res.set(dv[2].ResourceRecord.Name, "_nope."+DefaultValidationZone+".")
	e.val.Tick(ctx)
	if d, _ = e.svc.Describe(ctx, arn); d.Status != StatusPendingValidation {
		t.Fatal("issued on a wrong target")
	}
	e.publish(arn, t)
	if err := e.val.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ = e.svc.Describe(ctx, arn)
	if d.Status != StatusIssued || d.Issuer != IssuerName || d.IssuedAt.IsZero() || d.NotAfter.IsZero() ||
		d.RenewalEligibility != RenewalIneligible || d.Serial == "" || d.Subject != "CN=iot.example.com" {
		t.Fatalf("issued = %+v", d)
	}
	for _, v := range d.DomainValidationOptions {
		if v.ValidationStatus != ValidationSuccess {
			t.Errorf("after issue: %+v", v)
		}
	}
	m, err := e.svc.Material(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.TLS.PrivateKey.(*ecdsa.PrivateKey); !ok || !m.Covers("a.iot.example.com") || !m.Covers("mqtt.example.com") {
		t.Fatalf("material = %+v", m)
	}
	if _, err := m.Leaf.Verify(x509.VerifyOptions{Roots: e.ca.Pool(), Intermediates: x509.NewCertPool(), DNSName: "iot.example.com", CurrentTime: e.clk.now()}); err != nil {
		t.Fatal(err)
	}

	// In use: eligible; Renew re-issues under the same ARN.
	e.users = []string{"arn:aws:iot:eu-west-1:123456789012:domainconfiguration/x/abc"}
	d, _ = e.svc.Describe(ctx, arn)
	if d.RenewalEligibility != RenewalEligible || len(d.InUseBy) != 1 {
		t.Fatalf("in use = %+v", d)
	}
	oldSerial := d.Serial
	if err := e.svc.Renew(ctx, arn); err != nil {
		t.Fatal(err)
	}
	d, _ = e.svc.Describe(ctx, arn)
	if d.RenewalSummary == nil || d.RenewalSummary.RenewalStatus != RenewalPendingAutoRenewal {
		t.Fatalf("renewal summary = %+v", d.RenewalSummary)
	}
	// A record that disappeared blocks renewal.
	e.res.set(dv[2].ResourceRecord.Name, "")
	e.val.Tick(ctx)
	d, _ = e.svc.Describe(ctx, arn)
	if rs := d.RenewalSummary; rs == nil || rs.RenewalStatus != RenewalPendingValidation || d.Serial != oldSerial ||
		rs.DomainValidationOptions[2].ValidationStatus != ValidationPending || rs.DomainValidationOptions[0].ValidationStatus != ValidationSuccess {
		t.Fatalf("blocked renewal = %+v %+v", d, d.RenewalSummary)
	}
	e.publish(arn, t)
	e.clk.advance(time.Hour)
	e.val.Tick(ctx)
	d, _ = e.svc.Describe(ctx, arn)
	if d.RenewalSummary.RenewalStatus != RenewalSuccess || d.Serial == oldSerial || d.CertificateArn != arn || d.Status != StatusIssued {
		t.Fatalf("renewed = %+v %+v", d, d.RenewalSummary)
	}

	// Managed renewal starts 60 days before expiry for certificates in use.
	serial := d.Serial
	e.clk.advance(d.NotAfter.Sub(e.clk.now()) - 59*24*time.Hour)
	e.val.Tick(ctx)
	if d, _ = e.svc.Describe(ctx, arn); d.Serial == serial || d.Status != StatusIssued {
		t.Fatalf("managed renewal did not happen: %+v", d)
	}
}

func TestRequestTimesOut(t *testing.T) {
	ctx := context.Background()
	e := newRequestEnv(t)
	arn, err := e.svc.Request(ctx, RequestInput{DomainName: "a.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.clk.advance(71 * time.Hour)
	e.val.Tick(ctx)
	if d, _ := e.svc.Describe(ctx, arn); d.Status != StatusPendingValidation || d.KeyAlgorithm != KeyRSA2048 {
		t.Fatalf("before 72 h: %+v", d)
	}
	e.clk.advance(time.Hour)
	e.val.Tick(ctx)
	if d, _ := e.svc.Describe(ctx, arn); d.Status != StatusValidationTimedOut {
		t.Fatalf("after 72 h: %+v", d)
	}
	e.publish(arn, t)
	e.val.Tick(ctx)
	if d, _ := e.svc.Describe(ctx, arn); d.Status != StatusValidationTimedOut {
		t.Fatal("timed out is terminal")
	}
	if err := e.svc.Renew(ctx, arn); fault.As(err).Code != "InvalidStateException" {
		t.Errorf("renew timed out = %v", err)
	}
}

func TestRequestKeyAlgorithms(t *testing.T) {
	ctx := context.Background()
	e := newRequestEnv(t)
	for alg, check := range map[string]func(any) bool{
		KeyRSA2048:      func(k any) bool { r, ok := k.(*rsa.PrivateKey); return ok && r.N.BitLen() == 2048 },
		KeyECPrime256v1: func(k any) bool { c, ok := k.(*ecdsa.PrivateKey); return ok && c.Curve == elliptic.P256() },
		KeyECSecp384r1:  func(k any) bool { c, ok := k.(*ecdsa.PrivateKey); return ok && c.Curve == elliptic.P384() },
	} {
		arn, err := e.svc.Request(ctx, RequestInput{DomainName: "k.example.com", KeyAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		e.publish(arn, t)
		if err := e.val.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		m, err := e.svc.Material(ctx, arn)
		if err != nil || m.KeyAlgorithm != alg || !check(m.TLS.PrivateKey) {
			t.Errorf("%s: %+v %v", alg, m, err)
		}
	}
}

func TestRequestIdempotency(t *testing.T) {
	ctx := context.Background()
	e := newRequestEnv(t)
	in := RequestInput{DomainName: "i.example.com", IdempotencyToken: "tok_1"}
	a, _ := e.svc.Request(ctx, in)
	b, _ := e.svc.Request(ctx, in)
	if a != b || a == "" {
		t.Fatalf("same token: %q %q", a, b)
	}
	c, _ := e.svc.Request(ctx, RequestInput{DomainName: "i.example.com"})
	if c == a {
		t.Fatal("no token must make a new certificate")
	}
	e.clk.advance(61 * time.Minute)
	if d, _ := e.svc.Request(ctx, in); d == a {
		t.Fatal("token reused after an hour")
	}
}

func TestRequestRejects(t *testing.T) {
	ctx := context.Background()
	e := newRequestEnv(t)
	long := strings.Repeat("a", 60) + ".example.com"
	for _, c := range []struct {
		in   RequestInput
		code string
	}{
		{RequestInput{}, "ValidationException"},
		{RequestInput{DomainName: "-bad.example.com"}, "ValidationException"},
		{RequestInput{DomainName: "a.*.example.com"}, "ValidationException"},
		{RequestInput{DomainName: long}, "InvalidParameterException"},
		{RequestInput{DomainName: "a.example.com", ValidationMethod: "EMAIL"}, "InvalidParameterException"},
		{RequestInput{DomainName: "a.example.com", ValidationMethod: "FAX"}, "ValidationException"},
		{RequestInput{DomainName: "a.example.com", KeyAlgorithm: KeyRSA4096}, "InvalidParameterException"},
		{RequestInput{DomainName: "a.example.com", KeyAlgorithm: "DSA"}, "ValidationException"},
		{RequestInput{DomainName: "a.example.com", IdempotencyToken: "no-dashes"}, "ValidationException"},
		{RequestInput{DomainName: "a.example.com", SubjectAlternativeNames: []string{"b..example.com"}}, "ValidationException"},
		{RequestInput{DomainName: "a.example.com", DomainValidationOptions: []string{"c.example.com"}}, "InvalidDomainValidationOptionsException"},
		{RequestInput{DomainName: "a.example.com", CertificateAuthorityArn: "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/x"}, "InvalidParameterException"},
	} {
		if _, err := e.svc.Request(ctx, c.in); fault.As(err).Code != c.code {
			t.Errorf("%+v: %v (code %q), want %s", c.in, err, fault.As(err).Code, c.code)
		}
	}
	if items, _, _ := e.svc.List(ctx, ListInput{}); len(items) != 0 {
		t.Errorf("stored after rejection: %v", items)
	}
}

func TestRenewImportedRefused(t *testing.T) {
	ctx := context.Background()
	e := newRequestEnv(t)
	f := newFixture(t)
	arn := mustImport(t, e.svc, f.input())
	if err := e.svc.Renew(ctx, arn); fault.As(err).Code != "ValidationException" {
		t.Errorf("renew imported = %v", err)
	}
	pendingARN, _ := e.svc.Request(ctx, RequestInput{DomainName: "p.example.com"})
	if err := e.svc.Renew(ctx, pendingARN); fault.As(err).Code != "RequestInProgressException" {
		t.Errorf("renew pending = %v", err)
	}
	items, _, err := e.svc.List(ctx, ListInput{KeyTypes: KeyAlgorithms})
	if err != nil || len(items) != 2 || items[1].Status != StatusPendingValidation || items[1].DomainName != "p.example.com" {
		t.Errorf("list = %+v, %v", items, err)
	}
}
