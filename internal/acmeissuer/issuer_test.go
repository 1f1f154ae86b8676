package acmeissuer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/dnsserver"
)

func TestChallenges(t *testing.T) {
	var c Challenges
	changes := 0
	c.OnChange = func() { changes++ }
	c.Add("_A.acm-validations.example", "v1")
	c.Add("_a.acm-validations.example.", "v2")
	c.Add("_a.acm-validations.example.", "v2")
	if got := c.Values("_a.acm-validations.example."); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Fatalf("values = %v", got)
	}
	rrs := c.Records()
	if len(rrs) != 2 || rrs[0].Header().Name != "_a.acm-validations.example." || rrs[0].Header().Rrtype != dns.TypeTXT {
		t.Fatalf("records = %v", rrs)
	}
	c.Remove("_a.acm-validations.example.", "v1")
	c.Remove("_a.acm-validations.example.", "v2")
	if len(c.Records()) != 0 || changes != 5 {
		t.Fatalf("records = %v, changes = %d", c.Records(), changes)
	}
}

// pebbleEnv is Pebble run in process with a Portico DNS server as its
// resolver: a hosted zone holds the operator's validation CNAME of name,
// the validation zone the challenge TXT records.
type pebbleEnv struct {
	iss   *Issuer
	store *db.MemoryStore
	ca    *ca.CAImpl
}

const (
	pebbleName   = "device.example.test"
	pebbleTarget = "_0123456789abcdef0123456789abcdef.acm-validations.portico.internal."
)

func startPebble(t *testing.T, ctx context.Context) *pebbleEnv {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	ctx, cancel := context.WithCancel(ctx)
	challenges := &Challenges{}
	ns := []string{"ns1.portico.internal."}
	// Only pebbleName (and its wildcard) has a validation CNAME.
	cname, err := dns.NewRR("_acme-challenge." + pebbleName + ". 300 IN CNAME " + pebbleTarget)
	if err != nil {
		t.Fatal(err)
	}
	source := dnsserver.SourceFunc(func(context.Context) ([]dnsserver.Zone, uint64, error) {
		return []dnsserver.Zone{
			dnsserver.StaticZone("example.test.", ns, 1, cname),
			dnsserver.StaticZone("acm-validations.portico.internal.", ns, 1, challenges.Records()...),
		}, 1, nil
	})
	srv := dnsserver.New(dnsserver.Config{Addr: "127.0.0.1:0", Source: source})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	challenges.OnChange = func() {
		if err := srv.Reload(ctx); err != nil {
			t.Errorf("reload: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	dnsAddr := srv.UDPAddr().String()

	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(testWriter{t}, "pebble ", 0)
	}
	store := db.NewMemoryStore()
	pca := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	pva := va.New(logger, 0, 0, false, dnsAddr, store)
	front := wfe.New(logger, store, pva, pca, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	ts := httptest.NewTLSServer(front.Handler())
	t.Cleanup(ts.Close)

	iss := &Issuer{
		DirectoryURL:    ts.URL + wfe.DirectoryPath,
		Email:           "ops@example.test",
		HTTPClient:      ts.Client(),
		Challenges:      challenges,
		Target:          func(string) string { return pebbleTarget },
		Nameservers:     []string{dnsAddr},
		PollingInterval: 100 * time.Millisecond,
	}
	return &pebbleEnv{iss: iss, store: store, ca: pca}
}

// TestIssueAgainstPebble: lego obtains a certificate that chains to
// Pebble's root.
func TestIssueAgainstPebble(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	p := startPebble(t, ctx)
	iss, name := p.iss, pebbleName
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, chainPEM, err := iss.Issue(ctx, key, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	leaf := parse(t, certPEM)
	if len(leaf) != 1 || !slices.Equal(leaf[0].DNSNames, []string{name}) {
		t.Fatalf("leaf: %d certificates, names %v", len(leaf), leaf[0].DNSNames)
	}
	if !key.PublicKey.Equal(leaf[0].PublicKey) {
		t.Fatal("certificate is for another key")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.ca.GetRootCert(0).Cert)
	for _, c := range parse(t, chainPEM) {
		inter.AddCert(c)
	}
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
		t.Fatalf("does not chain to Pebble's root: %v", err)
	}
	if rrs := iss.Challenges.Records(); len(rrs) != 0 {
		t.Errorf("challenge records left behind: %v", rrs)
	}

	// A second order reuses the account.
	key2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, _, err := iss.Issue(ctx, key2, []string{name, "*." + name}); err != nil {
		t.Fatalf("second order (with wildcard): %v", err)
	}
}

func parse(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
