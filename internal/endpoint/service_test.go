package endpoint

import (
	"context"
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store/storetest"
)

// fakeCert is what fakeCerts says about one ARN.
type fakeCert struct {
	status              string
	names               []string
	notBefore, notAfter time.Time
}

// fakeCerts answers Check from a map; a missing ARN is NotFound.
type fakeCerts map[string]*fakeCert

func (f fakeCerts) Check(_ context.Context, arn, domain string) (CertificateState, error) {
	c, ok := f[arn]
	if !ok {
		return CertificateState{}, fault.NotFoundf("certificate %s not found", arn)
	}
	return CertificateState{Status: c.status, Covers: slices.Contains(c.names, domain), NotBefore: c.notBefore, NotAfter: c.notAfter}, nil
}

// statusOnly hides the validity dates: the service then knows only the ACM
// status.
type statusOnly struct{ certs fakeCerts }

func (s statusOnly) Check(ctx context.Context, arn, domain string) (CertificateState, error) {
	c, err := s.certs.Check(ctx, arn, domain)
	c.NotBefore, c.NotAfter = time.Time{}, time.Time{}
	return c, err
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func certARN(n int) string {
	return fmt.Sprintf("arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-%012d", n)
}

type testService struct {
	*Service
	certs fakeCerts
	now   time.Time
}

func newTestService(t *testing.T) *testService {
	t.Helper()
	ts := &testService{certs: fakeCerts{}, now: t0}
	var err error
	ts.Service, err = NewService(context.Background(), storetest.New(t), ts.certs, Config{Region: "us-east-1", Account: "123456789012", BaseDomain: "Portico.Internal."})
	if err != nil {
		t.Fatal(err)
	}
	ts.Service.Now = func() time.Time { return ts.now }
	return ts
}

// cert registers a certificate valid for a year around t0 for names.
func (ts *testService) cert(n int, names ...string) string {
	arn := certARN(n)
	ts.certs[arn] = &fakeCert{status: "ISSUED", names: names, notBefore: t0.Add(-24 * time.Hour), notAfter: t0.Add(365 * 24 * time.Hour)}
	return arn
}

func code(err error) string {
	if err == nil {
		return "ok"
	}
	f, ok := err.(*fault.Error)
	if !ok {
		return "unexpected " + err.Error()
	}
	if f.Code != "" {
		return f.Code
	}
	return f.Kind.String()
}

func TestAWSManagedConfiguration(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	a, err := ts.Create(ctx, CreateInput{Name: "managed-a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ts.Create(ctx, CreateInput{Name: "managed-b", AuthenticationType: "CUSTOM_AUTH", ApplicationProtocol: "MQTT_WSS"})
	if err != nil {
		t.Fatal(err)
	}
	host := regexp.MustCompile(`^[a-z0-9]{20}-ats\.iot\.us-east-1\.portico\.internal$`)
	for _, c := range []*Configuration{a, b} {
		if !host.MatchString(c.DomainName) || c.DomainType != TypeAWSManaged || len(c.ServerCertificateARNs) != 0 {
			t.Fatalf("created %+v", c)
		}
	}
	if a.DomainName == b.DomainName {
		t.Fatal("two AWS-managed configurations share a hostname")
	}
	if strings.HasPrefix(a.DomainName, ts.Prefix()) {
		t.Fatalf("generated hostname %s reuses the account prefix", a.DomainName)
	}
	// Stable: Describe and All see the stored name.
	d, err := ts.Describe(ctx, "managed-a")
	if err != nil || d.DomainName != a.DomainName || d.DomainType != TypeAWSManaged {
		t.Fatalf("describe = %+v, %v", d, err)
	}
	if got := ts.CertificateStatuses(ctx, d); got == nil || len(got) != 0 {
		t.Fatalf("certificate statuses of an AWS-managed configuration = %#v, want empty", got)
	}
	all, err := ts.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range all {
		if c.DomainType == TypeAWSManaged && (c.DomainName == a.DomainName || c.DomainName == b.DomainName) {
			seen++
		}
	}
	if seen != 2 {
		t.Fatalf("All() lists %d of the 2 AWS-managed hostnames", seen)
	}

	arn := ts.cert(1, a.DomainName)
	for _, in := range []CreateInput{
		{Name: "with-cert", ServerCertificateARNs: []string{arn}},
		{Name: "with-validation", ValidationCertificateARN: arn},
	} {
		if _, err := ts.Create(ctx, in); code(err) != "invalid" {
			t.Errorf("%s: %v, want invalid", in.Name, err)
		}
	}
	if _, err := ts.Update(ctx, UpdateInput{Name: "managed-a", ServerCertificateARNs: []string{arn}}); code(err) != "invalid" {
		t.Errorf("update AWS-managed certificates: %v", err)
	}

	// Deletion: only DISABLED, and only 7 days after disabling.
	if err := ts.Delete(ctx, "managed-a"); code(err) != "invalid" {
		t.Fatalf("delete enabled: %v", err)
	}
	ts.now = t0.Add(time.Hour)
	if _, err := ts.Update(ctx, UpdateInput{Name: "managed-a", Status: StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	ts.now = t0.Add(time.Hour + AWSManagedDeleteDelay - time.Millisecond)
	if err := ts.Delete(ctx, "managed-a"); code(err) != "invalid" || !strings.Contains(err.Error(), "7 days") {
		t.Fatalf("delete 1ms before 7 days: %v", err)
	}
	// Re-enabling and disabling restarts the wait.
	if _, err := ts.Update(ctx, UpdateInput{Name: "managed-a", Status: StatusEnabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Update(ctx, UpdateInput{Name: "managed-a", Status: StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	ts.now = ts.now.Add(AWSManagedDeleteDelay - time.Second)
	if err := ts.Delete(ctx, "managed-a"); code(err) != "invalid" {
		t.Fatalf("delete after re-disabling: %v", err)
	}
	ts.now = ts.now.Add(time.Second)
	if err := ts.Delete(ctx, "managed-a"); err != nil {
		t.Fatalf("delete after 7 days: %v", err)
	}

	// A customer-managed configuration is deletable right after disabling.
	custom := ts.cert(2, "iot.example.com")
	if _, err := ts.Create(ctx, CreateInput{Name: "custom", DomainName: "iot.example.com", ServerCertificateARNs: []string{custom}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Update(ctx, UpdateInput{Name: "custom", Status: StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Delete(ctx, "custom"); err != nil {
		t.Fatalf("delete customer-managed: %v", err)
	}
}

func TestCertificateStatusDetails(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	const domain = "iot.example.com"
	good := ts.cert(1, domain)
	expiring := ts.cert(2, domain)
	ts.certs[expiring].notAfter = t0.Add(time.Hour)
	future := ts.cert(3, domain)
	deleted := ts.cert(4, domain)
	pending := ts.cert(5, domain)
	other := ts.cert(6, domain)
	c, err := ts.Create(ctx, CreateInput{Name: "c", DomainName: domain, ServerCertificateARNs: []string{good, expiring, future, deleted}})
	if err != nil {
		t.Fatal(err)
	}
	// Now the world changes under the configuration.
	ts.now = t0.Add(2 * time.Hour)
	ts.certs[future].notBefore = t0.Add(48 * time.Hour)
	delete(ts.certs, deleted)
	got := ts.CertificateStatuses(ctx, c)
	want := []struct{ status, detail string }{
		{"VALID", ""},
		{"INVALID", "The certificate expired at 2026-03-01T13:00:00Z"},
		{"INVALID", "The certificate is not valid yet: its validity starts at 2026-03-03T12:00:00Z"},
		{"INVALID", "The certificate does not exist in ACM; it may have been deleted"},
	}
	if len(got) != len(want) {
		t.Fatalf("statuses = %+v", got)
	}
	for i, w := range want {
		if got[i].ARN != c.ServerCertificateARNs[i] || got[i].Status != w.status || got[i].Detail != w.detail {
			t.Errorf("certificate %d: %+v, want %s %q", i, got[i], w.status, w.detail)
		}
	}

	// Not ISSUED, and no longer covering the name (same ARN re-imported).
	ts.certs[pending].status = "PENDING_VALIDATION"
	ts.certs[other].names = []string{"other.example.com"}
	c.ServerCertificateARNs = []string{pending, other}
	got = ts.CertificateStatuses(ctx, c)
	if got[0].Status != "INVALID" || got[0].Detail != "The certificate status in ACM is PENDING_VALIDATION; it must be ISSUED" {
		t.Errorf("pending: %+v", got[0])
	}
	if got[1].Status != "INVALID" || got[1].Detail != "The certificate does not cover the domain name iot.example.com" {
		t.Errorf("not covering: %+v", got[1])
	}

	// Without Validity the ACM status still tells an expired certificate.
	ts.Service.certs = statusOnly{ts.certs}
	ts.certs[expiring].status = "EXPIRED"
	c.ServerCertificateARNs = []string{expiring, future}
	got = ts.CertificateStatuses(ctx, c)
	if got[0].Status != "INVALID" || got[0].Detail != "The certificate has expired (ACM status EXPIRED)" || got[1].Status != "VALID" {
		t.Errorf("status only: %+v", got)
	}
	ts.Service.certs = ts.certs

	// Create and Update refuse the same certificates, with the same reason.
	for _, arns := range [][]string{{expiring}, {future}, {deleted}, {pending}, {other}} {
		_, err := ts.Create(ctx, CreateInput{Name: "n", DomainName: domain + ".x", ServerCertificateARNs: arns})
		if code(err) != "CertificateValidationException" {
			t.Errorf("create with %s: %v", arns[0], err)
		}
		_, err = ts.Update(ctx, UpdateInput{Name: "c", ServerCertificateARNs: arns})
		if code(err) != "CertificateValidationException" {
			t.Errorf("update with %s: %v", arns[0], err)
		}
	}
}

func TestValidation(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	arn := ts.cert(1, "iot.example.com", "b.example.com")
	if _, err := ts.Create(ctx, CreateInput{Name: "c", DomainName: "iot.example.com", ServerCertificateARNs: []string{arn}}); err != nil {
		t.Fatal(err)
	}
	yes := true
	long := func(n int) string { return strings.Repeat("a", n) }
	create := func(mod func(*CreateInput)) error {
		in := CreateInput{Name: "n", DomainName: "b.example.com", ServerCertificateARNs: []string{arn}}
		mod(&in)
		_, err := ts.Create(ctx, in)
		if err == nil {
			// Leave room for the next case.
			ts.Update(ctx, UpdateInput{Name: in.Name, Status: StatusDisabled})
			ts.Delete(ctx, in.Name)
		}
		return err
	}
	update := func(in UpdateInput) error { _, err := ts.Update(ctx, in); return err }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"create name 128", create(func(in *CreateInput) { in.Name = long(128) }), "ok"},
		{"create name 129", create(func(in *CreateInput) { in.Name = long(129) }), "invalid"},
		{"create name empty", create(func(in *CreateInput) { in.Name = "" }), "invalid"},
		{"create name colon", create(func(in *CreateInput) { in.Name = "a:b" }), "invalid"},
		{"create name slash", create(func(in *CreateInput) { in.Name = "a/b" }), "invalid"},
		{"create name dots", create(func(in *CreateInput) { in.Name = "a.b-c_d" }), "ok"},
		{"domain 254", create(func(in *CreateInput) {
			in.DomainName = long(63) + "." + long(63) + "." + long(63) + "." + long(61) + ".x"
		}), "invalid"},
		{"validation ARN pattern", create(func(in *CreateInput) { in.ValidationCertificateARN = "arn:aws:iam::123456789012:cert/x" }), "invalid"},
		{"validation ARN good", create(func(in *CreateInput) { in.ValidationCertificateARN = arn }), "ok"},
		{"server ARN pattern", create(func(in *CreateInput) { in.ServerCertificateARNs = []string{"nope"} }), "invalid"},
		{"server ARNs 5", create(func(in *CreateInput) {
			in.ServerCertificateARNs = []string{certARN(1), certARN(2), certARN(3), certARN(4), certARN(5)}
		}), "invalid"},
		{"ocsp lambda 140", create(func(in *CreateInput) { in.ServerCertificateConfig = &ServerCertificateConfig{OCSPLambdaArn: long(140)} }), "ok"},
		{"ocsp lambda 141", create(func(in *CreateInput) { in.ServerCertificateConfig = &ServerCertificateConfig{OCSPLambdaArn: long(141)} }), "invalid"},
		{"ocsp responder pattern", create(func(in *CreateInput) {
			in.ServerCertificateConfig = &ServerCertificateConfig{OCSPAuthorizedResponderArn: "arn:aws:acm:us-east-1:1:certificate/x"}
		}), "invalid"},
		{"ocsp responder good", create(func(in *CreateInput) {
			in.ServerCertificateConfig = &ServerCertificateConfig{OCSPAuthorizedResponderArn: certARN(9)}
		}), "ok"},
		{"callback 2048", create(func(in *CreateInput) {
			in.ClientCertificateConfig = &ClientCertificateConfig{ClientCertificateCallbackArn: long(2048)}
		}), "ok"},
		{"callback 2049", create(func(in *CreateInput) {
			in.ClientCertificateConfig = &ClientCertificateConfig{ClientCertificateCallbackArn: long(2049)}
		}), "invalid"},
		{"authorizer good", create(func(in *CreateInput) {
			in.AuthorizerConfig = &AuthorizerConfig{DefaultAuthorizerName: "my=auth,1@x-y_z", AllowAuthorizerOverride: &yes}
		}), "ok"},
		{"authorizer pattern", create(func(in *CreateInput) {
			in.AuthorizerConfig = &AuthorizerConfig{DefaultAuthorizerName: "my auth", AllowAuthorizerOverride: &yes}
		}), "invalid"},
		{"authorizer 129", create(func(in *CreateInput) {
			in.AuthorizerConfig = &AuthorizerConfig{DefaultAuthorizerName: long(129), AllowAuthorizerOverride: &yes}
		}), "invalid"},
		{"authorizer without override", create(func(in *CreateInput) { in.AuthorizerConfig = &AuthorizerConfig{DefaultAuthorizerName: "a"} }), "invalid"},
		{"override without authorizer", create(func(in *CreateInput) { in.AuthorizerConfig = &AuthorizerConfig{AllowAuthorizerOverride: &yes} }), "ok"},
		{"auth type enum", create(func(in *CreateInput) { in.AuthenticationType = "PASSWORD" }), "invalid"},
		{"protocol enum", create(func(in *CreateInput) { in.ApplicationProtocol = "COAP" }), "invalid"},
		{"service type enum", create(func(in *CreateInput) { in.ServiceType = "VIDEO" }), "invalid"},
		{"update name colon ok", update(UpdateInput{Name: "iot:Data-ATS", SecurityPolicy: DefaultSecurityPolicy}), "ok"},
		{"update name 129", update(UpdateInput{Name: long(129)}), "invalid"},
		{"update name slash", update(UpdateInput{Name: "a/b"}), "invalid"},
		{"update status enum", update(UpdateInput{Name: "c", Status: "PAUSED"}), "invalid"},
		{"update authorizer without override", update(UpdateInput{Name: "c", AuthorizerConfig: &AuthorizerConfig{DefaultAuthorizerName: "a"}}), "invalid"},
		{"update ocsp lambda 141", update(UpdateInput{Name: "c", ServerCertificateConfig: &ServerCertificateConfig{OCSPLambdaArn: long(141)}}), "invalid"},
		{"update callback 2049", update(UpdateInput{Name: "c", ClientCertificateConfig: &ClientCertificateConfig{ClientCertificateCallbackArn: long(2049)}}), "invalid"},
		{"update unknown", update(UpdateInput{Name: "nope"}), "not found"},
		{"delete name colon", ts.Delete(ctx, "iot:Data-ATS"), "invalid"},
		{"delete name 129", ts.Delete(ctx, long(129)), "invalid"},
		{"delete unknown", ts.Delete(ctx, "nope"), "not found"},
	}
	_, err := ts.Describe(ctx, "a/b")
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"describe name slash", err, "invalid"})
	_, err = ts.Describe(ctx, "iot:Jobs")
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"describe name colon", err, "ok"})
	for _, c := range cases {
		if got := code(c.err); got != c.want {
			t.Errorf("%s: %v (%s), want %s", c.name, c.err, got, c.want)
		}
	}
}

func TestUpdateAuthorizerConfigAndStatusDate(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	arn := ts.cert(1, "iot.example.com")
	yes := true
	if _, err := ts.Create(ctx, CreateInput{Name: "c", DomainName: "iot.example.com", ServerCertificateARNs: []string{arn},
		AuthorizerConfig: &AuthorizerConfig{DefaultAuthorizerName: "a1", AllowAuthorizerOverride: &yes}}); err != nil {
		t.Fatal(err)
	}
	ts.now = t0.Add(time.Minute)
	// ENABLED -> ENABLED is no change: the date stays.
	c, err := ts.Update(ctx, UpdateInput{Name: "c", Status: StatusEnabled})
	if err != nil || !c.LastStatusChange.Equal(t0) {
		t.Fatalf("no-op status: %v, %v", c.LastStatusChange, err)
	}
	c, _ = ts.Update(ctx, UpdateInput{Name: "c", Status: StatusDisabled})
	if !c.LastStatusChange.Equal(t0.Add(time.Minute)) {
		t.Fatalf("disable: %v", c.LastStatusChange)
	}
	if _, err := ts.Update(ctx, UpdateInput{Name: "c", RemoveAuthorizerConfig: true,
		AuthorizerConfig: &AuthorizerConfig{DefaultAuthorizerName: "a2", AllowAuthorizerOverride: &yes}}); code(err) != "invalid" {
		t.Fatalf("remove and set together: %v", err)
	}
	if _, err := ts.Update(ctx, UpdateInput{Name: "c", RemoveAuthorizerConfig: true}); err != nil {
		t.Fatal(err)
	}
	d, _ := ts.Describe(ctx, "c")
	if d.AuthorizerConfig != nil {
		t.Fatalf("authorizerConfig after remove = %+v", d.AuthorizerConfig)
	}
}

func TestListMarker(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	for _, m := range []string{"%%%", "abc def", "a===", "=", strings.Repeat("A", 1028)} {
		if _, _, err := ts.List(ctx, ListInput{Marker: m}); code(err) != "invalid" {
			t.Errorf("marker %.20q: %v", m, err)
		}
	}
	items, next, err := ts.List(ctx, ListInput{PageSize: 1})
	if err != nil || len(items) != 1 || next == "" {
		t.Fatalf("first page: %v %q %v", items, next, err)
	}
	items, _, err = ts.List(ctx, ListInput{Marker: next})
	if err != nil || len(items) != 2 {
		t.Fatalf("second page: %v %v", items, err)
	}
	// Any base64 the pattern allows is a position, even one never issued.
	if _, _, err := ts.List(ctx, ListInput{Marker: base64.StdEncoding.EncodeToString([]byte("iot:Data"))}); err != nil {
		t.Fatal(err)
	}
}

func TestTags(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	var many []Tag
	for i := range 51 {
		many = append(many, Tag{Key: fmt.Sprintf("k%02d", i)})
	}
	for _, c := range []struct {
		name string
		tags []Tag
		want string
	}{
		{"pattern", []Tag{{Key: "a#b"}}, "invalid"},
		{"empty key", []Tag{{Key: ""}}, "invalid"},
		{"key 129", []Tag{{Key: strings.Repeat("k", 129)}}, "invalid"},
		{"value 257", []Tag{{Key: "k", Value: strings.Repeat("v", 257)}}, "invalid"},
		{"duplicate", []Tag{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}, "invalid"},
		{"51 tags", many, "limit exceeded"},
	} {
		if _, err := ts.Create(ctx, CreateInput{Name: "t", Tags: c.tags}); code(err) != c.want {
			t.Errorf("create with %s: %v, want %s", c.name, err, c.want)
		}
	}
	c, err := ts.Create(ctx, CreateInput{Name: "t", Tags: []Tag{
		{Key: "env", Value: "prod"}, {Key: "ünïcode Zone:/=+-@_.", Value: strings.Repeat("v", 256)}, {Key: "k128" + strings.Repeat("k", 124)}}})
	if err != nil {
		t.Fatal(err)
	}
	tags, err := ts.ListTagsForResource(ctx, c.ARN)
	if err != nil || len(tags) != 3 || tags[0] != (Tag{Key: "env", Value: "prod"}) {
		t.Fatalf("tags = %v, %v", tags, err)
	}
	if err := ts.TagResource(ctx, c.ARN, []Tag{{Key: "env", Value: "dev"}, {Key: "team", Value: "iot"}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = ts.ListTagsForResource(ctx, c.ARN)
	if len(tags) != 4 || tags[0] != (Tag{Key: "env", Value: "dev"}) || tags[3] != (Tag{Key: "team", Value: "iot"}) {
		t.Fatalf("after tag: %v", tags)
	}
	if err := ts.TagResource(ctx, c.ARN, many[:47]); code(err) != "limit exceeded" {
		t.Fatalf("tag to 51: %v", err)
	}
	if err := ts.TagResource(ctx, c.ARN, many[:46]); err != nil {
		t.Fatalf("tag to 50: %v", err)
	}
	if err := ts.UntagResource(ctx, c.ARN, []string{"env", "absent", "k00"}); err != nil {
		t.Fatal(err)
	}
	tags, _ = ts.ListTagsForResource(ctx, c.ARN)
	if len(tags) != 48 || tags[0].Key == "env" {
		t.Fatalf("after untag: %d tags, first %v", len(tags), tags[0])
	}
	if err := ts.UntagResource(ctx, c.ARN, []string{"bad#key"}); code(err) != "invalid" {
		t.Fatalf("untag bad key: %v", err)
	}
	wrong := c.ARN[:len(c.ARN)-1] + "X"
	if c.ARN[len(c.ARN)-1] == 'X' {
		wrong = c.ARN[:len(c.ARN)-1] + "Y"
	}
	for _, arn := range []string{wrong, "arn:aws:iot:us-east-1:123456789012:domainconfiguration/nope/abcde"} {
		if _, err := ts.ListTagsForResource(ctx, arn); code(err) != "not found" {
			t.Errorf("list %s: %v", arn, err)
		}
		if err := ts.TagResource(ctx, arn, []Tag{{Key: "k"}}); code(err) != "not found" {
			t.Errorf("tag %s: %v", arn, err)
		}
	}
	// Default endpoints have ARNs too.
	d, _ := ts.Describe(ctx, DefaultDataATS)
	if err := ts.TagResource(ctx, d.ARN, []Tag{{Key: "k", Value: "v"}}); err != nil {
		t.Fatalf("tag iot:Data-ATS: %v", err)
	}
}
