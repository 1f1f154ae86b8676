package acmeissuer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"

	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/store/storetest"
)

// failureReason returns the IssueFailure reason of err, or "" for a
// transient error.
func failureReason(err error) string {
	var f *certificate.IssueFailure
	if errors.As(err, &f) {
		return f.Reason
	}
	return ""
}

func TestClassify(t *testing.T) {
	problem := func(typ string) *acme.ProblemDetails {
		return &acme.ProblemDetails{Type: typ, Detail: "detail of " + typ, HTTPStatus: 403}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name string
		err  error
		want string // "" = transient
	}{
		{"CAA", fmt.Errorf("acme: obtain: %w", problem(acme.CaaErrorType)), "CAA_ERROR"},
		{"rejected identifier", problem(acme.RejectedIdentifierErrorType), "DOMAIN_NOT_ALLOWED"},
		{"unsupported identifier", problem(acme.UnsupportedIdentifierErrorType), "INVALID_PUBLIC_DOMAIN"},
		{"malformed identifier", problem(acme.MalformedErrorType), "INVALID_PUBLIC_DOMAIN"},
		{"unauthorized", fmt.Errorf("invalid challenge: %w", problem(acme.UnauthorizedErrorType)), "DOMAIN_VALIDATION_DENIED"},
		{"incorrect response", problem(acme.IncorrectResponseErrorType), "DOMAIN_VALIDATION_DENIED"},
		{"user action", problem(acme.UserActionRequiredErrorType), "ADDITIONAL_VERIFICATION_REQUIRED"},
		{"bad CSR", problem(acme.BadCSRErrorType), certificate.FailureOther},
		{"compound", &acme.ProblemDetails{Type: acme.CompoundErrorType, SubProblems: []acme.SubProblem{
			{Type: acme.ConnectionErrorType}, {Type: acme.CaaErrorType}}}, "CAA_ERROR"},
		// lego joins one error per name: the most specific permanent one wins.
		{"joined", errors.Join(problem(acme.ConnectionErrorType), problem(acme.UnauthorizedErrorType), problem(acme.RejectedIdentifierErrorType)), "DOMAIN_NOT_ALLOWED"},
		{"rate limited", &acme.RateLimitedError{ProblemDetails: problem(acme.RateLimitedErrorType), RetryAfter: time.Hour}, ""},
		{"bad nonce", &acme.NonceError{ProblemDetails: problem(acme.BadNonceErrorType)}, ""},
		{"server internal", problem(acme.ServerInternalErrorType), ""},
		{"CA cannot reach DNS", problem(acme.DNSErrorType), ""},
		{"CA cannot connect", problem(acme.ConnectionErrorType), ""},
		{"external account required", problem(acme.ExternalAccountRequiredErrorType), ""},
		{"connection refused", fmt.Errorf("acme: directory: %w", refused), ""},
		{"plain", errors.New("something"), ""},
	} {
		got := classify(c.err)
		if r := failureReason(got); r != c.want {
			t.Errorf("%s: reason %q, want %q (%v)", c.name, r, c.want, got)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("%s: the original error is not kept", c.name)
		}
	}
}

// TestPebbleRefusalsArePermanent: a name Pebble's policy blocks
// (rejectedIdentifier) and a name whose challenge Pebble cannot find
// although Portico published it (unauthorized) fail for good, and a
// certificate request with the blocked name is FAILED on the first pass.
func TestPebbleRefusalsArePermanent(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	p := startPebble(t, ctx)
	if err := p.store.AddBlockedDomain("blocked.example.test"); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	_, _, err := p.iss.Issue(ctx, key, []string{"blocked.example.test"})
	if r := failureReason(err); r != "DOMAIN_NOT_ALLOWED" {
		t.Fatalf("blocked name: reason %q, err %v", r, err)
	}
	// No _acme-challenge CNAME for this name in the example.test zone:
	// Pebble looks up the TXT there and finds nothing.
	_, _, err = p.iss.Issue(ctx, key, []string{"nocname.example.test"})
	if r := failureReason(err); r != "DOMAIN_VALIDATION_DENIED" {
		t.Fatalf("challenge not found by the CA: reason %q, err %v", r, err)
	}
	if rrs := p.iss.Challenges.Records(); len(rrs) != 0 {
		t.Errorf("challenge records left behind: %v", rrs)
	}

	// Through the validator: FAILED with the reason at once, not retried.
	st := storetest.New(t)
	svc, err := certificate.NewService(ctx, st, "us-east-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	arn, err := svc.Request(ctx, certificate.RequestInput{DomainName: "blocked.example.test", ValidationMethod: "DNS"})
	if err != nil {
		t.Fatal(err)
	}
	rr := svc.ValidationRecord("blocked.example.test")
	v := &certificate.Validator{Service: svc, Issuer: p.iss, Resolver: staticResolver{rr.Name: rr.Value}}
	if err := v.Tick(ctx); err != nil {
		t.Fatalf("pass: %v", err)
	}
	d, err := svc.Describe(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != certificate.StatusFailed || d.FailureReason != "DOMAIN_NOT_ALLOWED" {
		t.Fatalf("status %s, reason %s", d.Status, d.FailureReason)
	}
}

type staticResolver map[string]string

func (s staticResolver) LookupCNAME(_ context.Context, name string) (string, bool, error) {
	v, ok := s[name]
	return v, ok, nil
}

// TestUnreachableDirectoryIsTransient: a directory that refuses connections
// or answers 503 is retried, not a failure of the certificate.
func TestUnreachableDirectoryIsTransient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String() + "/dir"
	ln.Close()
	down := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"type": %q, "detail": "maintenance"}`, acme.ServerInternalErrorType)
	}))
	defer down.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, dir := range []string{closed, down.URL + "/dir"} {
		iss := &Issuer{DirectoryURL: dir, Challenges: &Challenges{}, HTTPClient: down.Client()}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		_, _, err := iss.Issue(ctx, key, []string{"device.example.test"})
		cancel()
		if err == nil || failureReason(err) != "" {
			t.Errorf("%s: err %v, want a transient error", dir, err)
		}
	}
}
