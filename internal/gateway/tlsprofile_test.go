package gateway_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/portico-iot/portico/internal/gateway"
)

// Domains under one security policy share their TLS configurations; each
// handshake must still get its own domain's certificate, and a domain with
// another policy its own protocol versions, also after a reload changes one
// domain's policy.
func TestDomainsSharingAPolicyServeTheirOwnCertificates(t *testing.T) {
	e := start(t)
	var certs = map[string]tls.Certificate{}
	for _, name := range []string{"a.example.com", "b.example.com", "legacy.example.com"} {
		p := e.ca.Server(t, name)
		c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		certs[name] = c
	}
	domain := func(name string, maxVersion uint16) gateway.Domain {
		return gateway.Domain{Name: name, Configuration: name, Enabled: true,
			Certificates: []tls.Certificate{certs[name]}, MinVersion: tls.VersionTLS12, MaxVersion: maxVersion}
	}
	e.src.mu.Lock()
	e.src.domains = append(e.src.domains, domain("a.example.com", tls.VersionTLS13),
		domain("b.example.com", tls.VersionTLS13), domain("legacy.example.com", tls.VersionTLS12))
	e.src.mu.Unlock()
	if err := e.gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}

	check := func(name string, version uint16) {
		t.Helper()
		c, err := e.dial(name, &e.device)
		if err != nil {
			t.Fatalf("%s: handshake: %v", name, err)
		}
		defer c.Close()
		cs := c.ConnectionState()
		if got := cs.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != name {
			t.Fatalf("%s: served the certificate for %v", name, got)
		}
		if cs.Version != version {
			t.Fatalf("%s: TLS version %x, want %x", name, cs.Version, version)
		}
	}
	check("iot.yourcompany.com", tls.VersionTLS13)
	check("a.example.com", tls.VersionTLS13)
	check("b.example.com", tls.VersionTLS13)
	check("legacy.example.com", tls.VersionTLS12)

	// b moves to the legacy policy: it gets that policy's versions, a keeps its own.
	e.src.mu.Lock()
	e.src.domains[2].MaxVersion = tls.VersionTLS12
	e.src.mu.Unlock()
	if err := e.gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("a.example.com", tls.VersionTLS13)
	check("b.example.com", tls.VersionTLS12)
	check("legacy.example.com", tls.VersionTLS12)
}
