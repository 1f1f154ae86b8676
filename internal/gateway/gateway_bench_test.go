package gateway

// Micro-benchmarks of the handshake hot path: SNI lookup among many domain
// configurations, GetConfigForClient, the certificate picker, the device
// check in VerifyConnection, and whole handshakes against a bare crypto/tls
// configuration. Run them with -benchmem; CI runs them once (-benchtime=1x)
// so they keep compiling and working, and asserts no timing.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const benchDomains = 10000

func benchName(i int) string { return fmt.Sprintf("d%05d.bench.portico.test", i) }

// benchSource serves benchDomains enabled domains. They share one wildcard
// certificate: the gateway's cost per handshake does not depend on the
// certificate's content, and the fixture stays fast to build.
type benchSource struct {
	domains []Domain
	devices Devices
}

func (s *benchSource) Domains(context.Context) ([]Domain, error) { return s.domains, nil }
func (s *benchSource) Devices(context.Context) (Devices, error)  { return s.devices, nil }

// benchRegistry authenticates like the device registry's snapshot: SHA-256
// of the DER, then a map lookup.
type benchRegistry map[[sha256.Size]byte]string

func (r benchRegistry) Authenticate(der []byte, _ string, _ time.Time) (Principal, error) {
	id, ok := r[sha256.Sum256(der)]
	if !ok {
		return Principal{}, errors.New("unknown certificate")
	}
	return Principal{CertificateID: id}, nil
}

type benchFixture struct {
	g         *Gateway
	src       *benchSource
	server    tls.Certificate // the wildcard, also what the bare config serves
	rotated   tls.Certificate // another wildcard, with its own key
	client    tls.Certificate
	clientCS  tls.ConnectionState
	roots     *x509.CertPool
	registry  benchRegistry
	names     []string
	tls13Only []uint16
}

var (
	benchOnce sync.Once
	benchFix  *benchFixture
	benchErr  error
)

func fixture(tb testing.TB) *benchFixture {
	benchOnce.Do(func() { benchFix, benchErr = newBenchFixture() })
	if benchErr != nil {
		tb.Fatal(benchErr)
	}
	return benchFix
}

func newBenchFixture() (*benchFixture, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, cn string, dns []string, usage x509.ExtKeyUsage) (tls.Certificate, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return tls.Certificate{}, err
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return tls.Certificate{}, err
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
	}
	f := &benchFixture{roots: x509.NewCertPool(), registry: benchRegistry{}, tls13Only: []uint16{tls.VersionTLS13}}
	f.roots.AddCert(ca)
	if f.server, err = issue(2, "*.bench.portico.test", []string{"*.bench.portico.test"}, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if f.rotated, err = issue(4, "*.bench.portico.test", []string{"*.bench.portico.test"}, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if f.client, err = issue(3, "bench-device", nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	f.registry[sha256.Sum256(f.client.Leaf.Raw)] = hex.EncodeToString(f.client.Leaf.Raw[:8])
	f.clientCS = tls.ConnectionState{ServerName: benchName(42), PeerCertificates: []*x509.Certificate{f.client.Leaf}}
	src := &benchSource{devices: f.registry}
	f.src = src
	for i := 0; i < benchDomains; i++ {
		f.names = append(f.names, benchName(i))
		src.domains = append(src.domains, Domain{Name: benchName(i), Configuration: fmt.Sprintf("bench-%05d", i), Enabled: true,
			Certificates: []tls.Certificate{f.server}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13})
	}
	f.g, err = New(context.Background(), Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// hello is the ClientHelloInfo of a TLS 1.3 client offering ECDSA P-256.
func (f *benchFixture) hello(name string, alpn []string) *tls.ClientHelloInfo {
	return &tls.ClientHelloInfo{
		ServerName: name, SupportedProtos: alpn, SupportedVersions: f.tls13Only,
		CipherSuites:     []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256},
		SupportedCurves:  []tls.CurveID{tls.X25519, tls.CurveP256},
		SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256, tls.Ed25519},
	}
}

func BenchmarkSNILookup(b *testing.B) {
	f := fixture(b)
	s := f.g.snap.Load()
	for _, c := range []struct {
		name string
		sni  func(i int) string
	}{
		{"lower-case", func(i int) string { return f.names[i] }},
		{"mixed-case-trailing-dot", func(i int) string { return "D" + f.names[i][1:] + "." }},
	} {
		names := make([]string, len(f.names))
		for i := range names {
			names[i] = c.sni(i)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if s.lookup(names[i%len(names)]) == nil {
					b.Fatal("no domain")
				}
				i += 7919 // a prime stride: no two consecutive lookups share a domain
			}
		})
	}
}

func BenchmarkGetConfigForClient(b *testing.B) {
	f := fixture(b)
	for _, c := range []struct {
		name string
		kind listenerKind
		alpn []string
	}{
		{"mqtt", listenerMQTT, nil},
		{"alpn-x-amzn-mqtt-ca", listenerALPN, []string{protoMQTTX509}},
		{"https", listenerHTTPS, []string{protoHTTP11}},
	} {
		hellos := make([]*tls.ClientHelloInfo, len(f.names))
		for i, n := range f.names {
			hellos[i] = f.hello(n, c.alpn)
		}
		cfg := f.g.tlsConfig(c.kind)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				got, err := cfg.GetConfigForClient(hellos[i%len(hellos)])
				if err != nil || got == nil || got == refuse {
					b.Fatalf("GetConfigForClient = %v, %v", got, err)
				}
				i += 7919
			}
		})
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	f := fixture(b)
	cfg := f.g.tlsConfig(listenerMQTT)
	type pair struct {
		hello *tls.ClientHelloInfo
		cfg   *tls.Config
	}
	pairs := make([]pair, len(f.names))
	for i, n := range f.names {
		h := f.hello(n, nil)
		c, _ := cfg.GetConfigForClient(h)
		pairs[i] = pair{h, c}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pairs[i%len(pairs)]
		if c, err := p.cfg.GetCertificate(p.hello); err != nil || c == nil {
			b.Fatalf("GetCertificate = %v, %v", c, err)
		}
		i += 7919
	}
}

func BenchmarkVerifyDevice(b *testing.B) {
	f := fixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := f.g.verifyDevice(f.clientCS); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReload rebuilds the snapshot of benchDomains domains: with
// nothing changed, and with one domain's certificate rotated each time (what
// an ACM re-import or an update-domain-configuration does).
func BenchmarkReload(b *testing.B) {
	f := fixture(b)
	for _, c := range []struct {
		name   string
		rotate bool
	}{{"unchanged", false}, {"one-domain-rotated", true}} {
		b.Run(c.name, func(b *testing.B) {
			src := &benchSource{devices: f.registry, domains: slices.Clone(f.src.domains)}
			g, err := New(context.Background(), Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if c.rotate {
					cert := f.server
					if i%2 == 0 {
						cert = f.rotated
					}
					src.domains[0].Certificates = []tls.Certificate{cert}
				}
				if err := g.Reload(context.Background()); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkHandshake runs whole TLS 1.3 handshakes with a client
// certificate over an in-memory pipe: the gateway's MQTT listener
// configuration (SNI among benchDomains) against a bare crypto/tls
// configuration with one certificate that checks the client certificate
// against the same registry. Client and server run in this process, so
// ns/op is the cost of both ends.
func BenchmarkHandshake(b *testing.B) {
	f := fixture(b)
	bare := &tls.Config{
		Certificates: []tls.Certificate{f.server}, ClientAuth: tls.RequireAnyClientCert, SessionTicketsDisabled: true,
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := f.registry.Authenticate(cs.PeerCertificates[0].Raw, cs.ServerName, time.Now())
			return err
		},
	}
	for _, c := range []struct {
		name string
		cfg  *tls.Config
	}{
		{fmt.Sprintf("gateway-%d-domains", benchDomains), f.g.tlsConfig(listenerMQTT)},
		{"bare-crypto-tls", bare},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				client := &tls.Config{ServerName: f.names[i%len(f.names)], RootCAs: f.roots, Certificates: []tls.Certificate{f.client},
					MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
				if err := pipeHandshake(c.cfg, client); err != nil {
					b.Fatal(err)
				}
				i += 7919
			}
		})
	}
}

// pipeHandshake completes one handshake; with TLS 1.3 the server's verdict
// on the client certificate is its own Handshake's result.
func pipeHandshake(server, client *tls.Config) error {
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(sc, server)
		errc <- s.Handshake()
	}()
	c := tls.Client(cc, client)
	if err := c.Handshake(); err != nil {
		return err
	}
	return <-errc
}

// TestReloadReusesUnchangedDomains checks what makes BenchmarkReload cheap
// without changing what is served: an unchanged domain keeps its prepared
// state (also when the source parsed its key again), a changed one is
// rebuilt.
func TestReloadReusesUnchangedDomains(t *testing.T) {
	f := fixture(t)
	src := &benchSource{devices: f.registry, domains: slices.Clone(f.src.domains[:3])}
	g, err := New(context.Background(), Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	reload := func() *snapshot {
		t.Helper()
		if err := g.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		return g.snap.Load()
	}
	before := g.snap.Load()
	// The same values, the key parsed again: reused.
	reparsed := f.server
	der, err := x509.MarshalPKCS8PrivateKey(f.server.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if reparsed.PrivateKey, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		t.Fatal(err)
	}
	src.domains[1].Certificates = []tls.Certificate{reparsed}
	src.domains[2].Name = strings.ToUpper(src.domains[2].Name) + "."
	after := reload()
	for _, n := range f.names[:3] {
		if after.domains[n] != before.domains[n] {
			t.Errorf("%s: rebuilt though unchanged", n)
		}
	}
	// A rotated certificate and a disabled domain: rebuilt, and served so.
	src.domains[0].Certificates = []tls.Certificate{f.rotated}
	src.domains[1].Enabled = false
	after = reload()
	if after.domains[f.names[0]] == before.domains[f.names[0]] || !bytes.Equal(after.domains[f.names[0]].certs[0].Certificate.Certificate[0], f.rotated.Certificate[0]) {
		t.Errorf("%s: rotation not applied", f.names[0])
	}
	if after.domains[f.names[1]].Enabled {
		t.Errorf("%s: still enabled", f.names[1])
	}
	if after.domains[f.names[2]] != before.domains[f.names[2]] {
		t.Errorf("%s: rebuilt though unchanged", f.names[2])
	}
}

// The fixture's domains share one security policy, so one set of TLS
// configurations serves them all.
func TestDomainsShareTLSConfigurations(t *testing.T) {
	f := fixture(t)
	s := f.g.snap.Load()
	if len(s.profiles) != 1 {
		t.Fatalf("%d configuration sets for %d domains under one policy", len(s.profiles), len(s.domains))
	}
	first := s.domains[f.names[0]].tlsConfigs
	for _, n := range f.names {
		if s.domains[n].tlsConfigs != first {
			t.Fatalf("%s has its own configurations", n)
		}
	}
}

// A domain with one certificate keeps no parsed leaf (only its validity);
// one with several keeps the leaves that choosing among them needs. The
// source's certificates are left as they were.
func TestParsedLeavesKeptOnlyToChoose(t *testing.T) {
	f := fixture(t)
	src := &benchSource{devices: f.registry, domains: slices.Clone(f.src.domains[:2])}
	src.domains[1].Certificates = []tls.Certificate{f.server, f.rotated}
	g, err := New(context.Background(), Config{Source: src, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := g.snap.Load()
	one, two := s.domains[f.names[0]], s.domains[f.names[1]]
	if len(one.certs) != 1 || one.certs[0].Leaf != nil || one.certs[0].notAfter != f.server.Leaf.NotAfter {
		t.Errorf("single-certificate domain: %d certificates, leaf kept %v", len(one.certs), one.certs[0].Leaf != nil)
	}
	if len(two.certs) != 2 || two.certs[0].Leaf == nil || two.certs[1].Leaf == nil {
		t.Errorf("two-certificate domain: leaves not kept")
	}
	if one.Certificates != nil || one.source.Certificates[0].Leaf != nil {
		t.Error("the domain's own copies still hold the leaf")
	}
	if src.domains[0].Certificates[0].Leaf == nil {
		t.Error("the source's certificate lost its leaf")
	}
}
