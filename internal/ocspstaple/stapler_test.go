package ocspstaple

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/pkiweb"
)

var quiet = slog.New(slog.DiscardHandler)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// start is on a whole minute, as Portico's CA sets thisUpdate to the
// minute, and near the real time, so that real TLS clients accept the
// certificates.
var start = time.Now().UTC().Truncate(time.Minute)

// responderFixture is Portico's server CA answering OCSP through pkiweb on
// 127.0.0.1, a leaf that names it, and a Stapler on a fake clock.
type responderFixture struct {
	clock   *fakeClock
	ca      *pki.CA
	srv     *httptest.Server
	leaf    *x509.Certificate
	leafKey crypto.Signer
	target  Target
	stapler *Stapler
}

func newResponderFixture(t *testing.T) *responderFixture {
	t.Helper()
	f := &responderFixture{clock: &fakeClock{t: start}}
	var err error
	f.ca, err = pki.LoadOrCreate(t.TempDir(), "server", pkix.Name{CommonName: "Portico server CA"}, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	h := pkiweb.New(pkiweb.Config{Authorities: map[string]pkiweb.Authority{"server": f.ca}, Now: f.clock.Now})
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := f.ca.IssueServer(key.Public(), []string{"iot.example.com"}, nil, 30*24*time.Hour,
		pki.WithRevocationURLs(pkiweb.OCSPURL(f.srv.URL, "server"), pkiweb.CRLURL(f.srv.URL, "server")))
	if err != nil {
		t.Fatal(err)
	}
	f.leaf, _ = x509.ParseCertificate(der)
	f.leafKey = key
	f.target = Target{Leaf: f.leaf, Issuer: f.ca.Certificate()}
	f.stapler = New(Config{Client: f.srv.Client(), Now: f.clock.Now, Logger: quiet})
	f.stapler.Set([]Target{f.target})
	return f
}

// staple returns the current staple parsed, or nil.
func (f *responderFixture) staple(t *testing.T) *ocsp.Response {
	t.Helper()
	der := f.stapler.Staple(f.target)
	if der == nil {
		return nil
	}
	resp, err := ocsp.ParseResponseForCert(der, f.leaf, f.ca.Certificate())
	if err != nil {
		t.Fatalf("the staple does not verify: %v", err)
	}
	return resp
}

func changed(s *Stapler) bool {
	select {
	case <-s.Changes():
		return true
	default:
		return false
	}
}

func TestGoodThenRevoked(t *testing.T) {
	f := newResponderFixture(t)
	ctx := context.Background()
	if f.stapler.Staple(f.target) != nil {
		t.Fatal("a staple before any fetch")
	}
	next := f.stapler.refresh(ctx)
	resp := f.staple(t)
	if resp == nil || resp.Status != ocsp.Good {
		t.Fatalf("after the first fetch: %+v, want a good staple", resp)
	}
	if !changed(f.stapler) {
		t.Error("Changes did not fire for the first staple")
	}
	// The response is valid for an hour: the next fetch is half-way.
	if want := start.Add(30 * time.Minute); !next.Equal(want) {
		t.Errorf("next refresh at %v, want %v", next, want)
	}

	// Nothing is due yet: no fetch, no change.
	f.clock.Set(start.Add(10 * time.Minute))
	if err := f.ca.Revoke(f.leaf.SerialNumber, ocsp.KeyCompromise, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.stapler.refresh(ctx)
	if resp := f.staple(t); resp.Status != ocsp.Good || changed(f.stapler) {
		t.Fatal("a refresh before the response's half-life fetched again")
	}

	f.clock.Set(start.Add(30 * time.Minute))
	f.stapler.refresh(ctx)
	if resp := f.staple(t); resp == nil || resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.KeyCompromise {
		t.Fatalf("after revocation: %+v, want a revoked staple", resp)
	}
	if !changed(f.stapler) {
		t.Error("Changes did not fire for the revoked staple")
	}
}

func TestResponderDownKeepsLastGoodUntilNextUpdate(t *testing.T) {
	f := newResponderFixture(t)
	ctx := context.Background()
	f.stapler.refresh(ctx)
	first := f.staple(t)
	if first == nil {
		t.Fatal("no staple")
	}
	changed(f.stapler)
	expires := first.NextUpdate // start + 1h

	f.srv.Close() // the responder goes away
	f.clock.Set(start.Add(30 * time.Minute))
	next := f.stapler.refresh(ctx)
	if f.staple(t) == nil {
		t.Fatal("the staple was dropped on the first failure")
	}
	if want := start.Add(31 * time.Minute); !next.Equal(want) {
		t.Errorf("retry at %v, want %v (one RetryInterval)", next, want)
	}
	// Retries back off: 1, 2, 4, 8 minutes...
	f.clock.Set(next)
	if next = f.stapler.refresh(ctx); !next.Equal(start.Add(33 * time.Minute)) {
		t.Errorf("second retry at %v, want %v", next, start.Add(33*time.Minute))
	}
	if changed(f.stapler) {
		t.Error("Changes fired although the staple did not change")
	}

	f.clock.Set(expires.Add(-time.Second))
	f.stapler.refresh(ctx)
	if got := f.staple(t); got == nil || got.ThisUpdate != first.ThisUpdate {
		t.Fatal("the last good staple was not kept until its nextUpdate")
	}
	changed(f.stapler)

	// At nextUpdate the staple is gone, even before Run notices...
	f.clock.Set(expires)
	if f.stapler.Staple(f.target) != nil {
		t.Fatal("Staple returned a response at its nextUpdate")
	}
	// ...and Run's refresh drops it and tells the gateway.
	f.stapler.refresh(ctx)
	if !changed(f.stapler) {
		t.Error("Changes did not fire when the staple was dropped")
	}
	if f.stapler.Staple(f.target) != nil {
		t.Fatal("the expired staple came back")
	}
}

func TestSetKeepsStaplesOfRemainingTargets(t *testing.T) {
	f := newResponderFixture(t)
	ctx := context.Background()
	f.stapler.refresh(ctx)
	kept := f.stapler.Staple(f.target)
	if kept == nil {
		t.Fatal("no staple")
	}
	// The same leaf verified by another responder is another target.
	other := f.target
	other.Responder = f.ca.Certificate()
	noIssuer := Target{Leaf: f.leaf}
	f.stapler.Set([]Target{noIssuer, f.target, other})
	if got := f.stapler.Staple(f.target); string(got) != string(kept) {
		t.Error("Set lost the staple of a target that stayed")
	}
	if f.stapler.Staple(other) != nil {
		t.Error("a new target has a staple before its fetch")
	}
	select {
	case <-f.stapler.wake:
	default:
		t.Error("Set with a new target did not wake Run")
	}
	f.stapler.refresh(ctx)
	if f.stapler.Staple(other) == nil {
		t.Error("the new target was not fetched")
	}
	if f.stapler.Staple(noIssuer) != nil {
		t.Error("a staple for a target without issuer")
	}

	f.stapler.Set(nil)
	if f.stapler.Staple(f.target) != nil {
		t.Error("a removed target still has a staple")
	}
	if next := f.stapler.refresh(ctx); !next.IsZero() {
		t.Errorf("with no targets the next refresh is %v, want none", next)
	}
}

func TestTargetsThatCannotBeFetched(t *testing.T) {
	f := newResponderFixture(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := f.ca.IssueServer(key.Public(), []string{"plain.example.com"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := x509.ParseCertificate(der)
	root := f.ca.Certificate()
	for name, target := range map[string]Target{
		"no OCSP URL": {Leaf: plain, Issuer: root},
		"no issuer":   {Leaf: f.leaf},
		"self-signed": {Leaf: root, Issuer: root},
	} {
		t.Run(name, func(t *testing.T) {
			f.stapler.Set([]Target{target})
			if next := f.stapler.refresh(context.Background()); !next.IsZero() {
				t.Errorf("next refresh %v, want none", next)
			}
			if f.stapler.Staple(target) != nil {
				t.Error("a staple")
			}
		})
	}
}

// ocspLambdaArn: the function answers instead of the responder URL, and its
// response is verified like any other.
func TestLambdaResponder(t *testing.T) {
	f := newResponderFixture(t)
	ctx := context.Background()
	var calls []string
	answer := func(_ context.Context, arn string, req []byte) ([]byte, error) {
		calls = append(calls, arn)
		resp, err := f.srv.Client().Post(pkiweb.OCSPURL(f.srv.URL, "server"), "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	const arn = "arn:aws:lambda:us-east-1:123456789012:function:ocsp"
	// The certificate's own responder is unreachable: only the function
	// can give a staple.
	f.stapler = New(Config{Client: &http.Client{Transport: handlerTransport{h: http.NotFoundHandler(), down: new(atomic.Bool)}}, Now: f.clock.Now, Logger: quiet, Lambda: answer})
	f.target.Lambda = arn
	f.stapler.Set([]Target{f.target})
	f.stapler.refresh(ctx)
	if resp := f.staple(t); resp == nil || resp.Status != ocsp.Good || len(calls) != 1 || calls[0] != arn {
		t.Fatalf("staple %+v after calls %v", resp, calls)
	}
	// A function answering garbage gives no staple.
	bad := New(Config{Now: f.clock.Now, Logger: quiet, Lambda: func(context.Context, string, []byte) ([]byte, error) { return []byte("nope"), nil }})
	bad.Set([]Target{f.target})
	bad.refresh(ctx)
	if bad.Staple(f.target) != nil {
		t.Fatal("an unverifiable function answer was stapled")
	}
}
