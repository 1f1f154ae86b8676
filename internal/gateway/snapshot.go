package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// MaxCertificates is how many server certificates one domain serves.
const MaxCertificates = 4

// Domain is one name devices connect to, as the gateway needs it.
type Domain struct {
	// Name is the hostname devices send as SNI.
	Name string
	// Configuration is the domain configuration's name, for logs.
	Configuration string
	Enabled       bool
	// Default marks the account's default data endpoint, which also serves
	// connections that send no SNI (or an IP literal).
	Default bool
	// Certificates are the domain's server certificates (at most
	// MaxCertificates), each with Leaf set; a missing Leaf is parsed when the
	// snapshot is built, never during a handshake. Each handshake gets the
	// newest one (latest NotBefore) that is valid at that moment, covers the
	// name and is usable by the client (for example RSA for a client that
	// offers only RSA cipher suites).
	Certificates []tls.Certificate
	MinVersion   uint16
	MaxVersion   uint16
	CipherSuites []uint16
	// CipherSuites8883 replaces CipherSuites on the MQTT (8883) and HTTPS
	// (8443) listeners when set: one legacy AWS policy offers fewer suites
	// there than on 443.
	CipherSuites8883 []uint16
	// AuthenticationType and ApplicationProtocol are the configuration's
	// values (AWS_X509, AWS_SIGV4, CUSTOM_AUTH, CUSTOM_AUTH_X509; SECURE_MQTT,
	// MQTT_WSS, HTTPS); "" means DEFAULT: the port and ALPN decide.
	AuthenticationType  string
	ApplicationProtocol string
	// ClientCertificateCallback is the configuration's
	// clientCertificateCallbackArn: the function that decides each
	// connection with a client certificate ("" for none).
	ClientCertificateCallback string
}

// Devices authenticates client certificates against an immutable view of the
// device registry.
type Devices interface {
	// Authenticate returns the principal of a client certificate (its DER)
	// that may connect now through serverName, or why it may not.
	Authenticate(der []byte, serverName string, now time.Time) (Principal, error)
}

// Source supplies the state the gateway serves. It is read only when the
// change feed fires, never during a handshake.
type Source interface {
	Domains(ctx context.Context) ([]Domain, error)
	Devices(ctx context.Context) (Devices, error)
}

// snapshot is an immutable view of domains and devices with the TLS
// configurations prebuilt for each listener and channel.
type snapshot struct {
	domains       map[string]*domainState // by lower-case name
	defaultDomain *domainState
	devices       Devices
	// profiles holds the TLS configurations built so far, by profile.
	profiles map[tlsProfile]*tlsConfigs
}

type domainState struct {
	Domain
	// source is the domain as the source gave it (its own copy of the
	// slices), to tell an unchanged domain at the next reload.
	source Domain
	// allowed is what the domain's authenticationType and
	// applicationProtocol admit.
	allowed capability
	// certs cover the name, newest first.
	certs []servedCert

	// tlsConfigs are shared by every domain with the same profile.
	*tlsConfigs
}

// refuse has no certificate, so crypto/tls answers the handshake with the
// unrecognized_name alert.
var refuse = &tls.Config{}

// refusedProtocol is never offered by a client.
const refusedProtocol = "x-portico-refused"

func (g *Gateway) buildSnapshot(ctx context.Context) (*snapshot, error) {
	domains, err := g.cfg.Source.Domains(ctx)
	if err != nil {
		return nil, err
	}
	devices, err := g.cfg.Source.Devices(ctx)
	if err != nil {
		return nil, err
	}
	s := &snapshot{domains: make(map[string]*domainState, len(domains)), devices: devices, profiles: map[tlsProfile]*tlsConfigs{}}
	// A domain the source gives unchanged keeps its prepared state: a
	// rotation rebuilds one domain, not every domain's TLS configurations.
	prev := g.snap.Load()
	for _, d := range domains {
		if prev != nil {
			if old := prev.domains[normalizeName(d.Name)]; old != nil && sameDomain(&old.source, &d) {
				s.domains[old.Name] = old
				s.profiles[profileOf(old)] = old.tlsConfigs
				if d.Default {
					s.defaultDomain = old
				}
				continue
			}
		}
		ds := &domainState{Domain: d, source: d}
		ds.source.Certificates = withoutLeaves(d.Certificates)
		ds.source.CipherSuites = slices.Clone(d.CipherSuites)
		ds.Name = normalizeName(d.Name)
		ds.allowed = allowedCapabilities(d.AuthenticationType, d.ApplicationProtocol)
		if d.Default {
			// The default endpoint keeps the port and ALPN matrix.
			ds.allowed = allowedCapabilities("", "")
		}
		ds.certs = g.servedCertificates(ds)
		ds.Certificates = nil // served from certs; compared from source
		p := profileOf(ds)
		if ds.tlsConfigs = s.profiles[p]; ds.tlsConfigs == nil {
			ds.tlsConfigs = g.newTLSConfigs(ds)
			s.profiles[p] = ds.tlsConfigs
		}
		s.domains[ds.Name] = ds
		if d.Default {
			s.defaultDomain = ds
		}
	}
	return s, nil
}

// domainFields spells out the fields sameDomain compares: the conversion
// below stops compiling when Domain gains or loses one, so that sameDomain
// is updated with it.
type domainFields struct {
	Name, Configuration                     string
	Enabled, Default                        bool
	Certificates                            []tls.Certificate
	MinVersion, MaxVersion                  uint16
	CipherSuites, CipherSuites8883          []uint16
	AuthenticationType, ApplicationProtocol string
	ClientCertificateCallback               string
}

var _ = domainFields(Domain{})

// sameDomain reports whether two domains from the source are the same in
// everything the gateway prepares from them (the name up to case and a
// trailing dot).
func sameDomain(a, b *Domain) bool {
	if normalizeName(a.Name) != normalizeName(b.Name) || a.Configuration != b.Configuration ||
		a.Enabled != b.Enabled || a.Default != b.Default || a.MinVersion != b.MinVersion || a.MaxVersion != b.MaxVersion ||
		a.AuthenticationType != b.AuthenticationType || a.ApplicationProtocol != b.ApplicationProtocol ||
		a.ClientCertificateCallback != b.ClientCertificateCallback ||
		!slices.Equal(a.CipherSuites, b.CipherSuites) || !slices.Equal(a.CipherSuites8883, b.CipherSuites8883) ||
		len(a.Certificates) != len(b.Certificates) {
		return false
	}
	for i := range a.Certificates {
		if !sameCertificate(&a.Certificates[i], &b.Certificates[i]) {
			return false
		}
	}
	return true
}

// certificateFieldsKnown is whether tls.Certificate has the fields
// sameCertificate compares; a Go release that adds one turns reuse off
// (every reload rebuilds every domain) until sameCertificate knows it.
var certificateFieldsKnown = reflect.TypeFor[tls.Certificate]().NumField() == 6

// sameCertificate compares what a handshake uses: the chain, the key (by
// value: a source may parse it again on each read), the signature
// algorithms, the OCSP staple and the SCTs. The leaf is the chain's first
// certificate parsed, so it follows from the chain.
func sameCertificate(a, b *tls.Certificate) bool {
	if !certificateFieldsKnown || len(a.Certificate) != len(b.Certificate) || len(a.SignedCertificateTimestamps) != len(b.SignedCertificateTimestamps) ||
		!bytes.Equal(a.OCSPStaple, b.OCSPStaple) || !slices.Equal(a.SupportedSignatureAlgorithms, b.SupportedSignatureAlgorithms) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	for i := range a.SignedCertificateTimestamps {
		if !bytes.Equal(a.SignedCertificateTimestamps[i], b.SignedCertificateTimestamps[i]) {
			return false
		}
	}
	return samePrivateKey(a.PrivateKey, b.PrivateKey)
}

func samePrivateKey(a, b crypto.PrivateKey) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	t := reflect.TypeOf(a)
	if t != reflect.TypeOf(b) {
		return false
	}
	if t.Comparable() && a == b {
		return true // the same key object
	}
	k, ok := a.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && k.Equal(b)
}

// servedCert is a certificate a domain serves, with its validity period.
// Its parsed leaf is kept only where a handshake needs it: on a domain with
// several certificates, to choose by what the client supports. A parsed
// certificate is a few KiB of small objects, which every GC cycle marks
// again; an operator's thousands of single-certificate domains need only
// their validity.
type servedCert struct {
	*tls.Certificate
	notBefore, notAfter time.Time
}

// servedCertificates returns the domain's certificates that cover its name,
// newest first (ECDSA before RSA on a tie).
func (g *Gateway) servedCertificates(d *domainState) []servedCert {
	var out []*tls.Certificate
	for i := range d.Certificates {
		c := d.Certificates[i] // a copy: the source's value is not modified
		if len(c.Certificate) == 0 {
			continue
		}
		if c.Leaf == nil {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				g.cfg.Logger.Warn("server certificate does not parse; not served", "domain", d.Name, "err", err)
				continue
			}
			c.Leaf = leaf
		}
		if !d.Default && !covers(c.Leaf, d.Name) {
			g.cfg.Logger.Warn("server certificate does not cover the domain name; not served", "domain", d.Name, "subject", c.Leaf.Subject.String())
			continue
		}
		out = append(out, &c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Leaf, out[j].Leaf
		if !a.NotBefore.Equal(b.NotBefore) {
			return a.NotBefore.After(b.NotBefore)
		}
		_, aEC := a.PublicKey.(*ecdsa.PublicKey)
		_, bEC := b.PublicKey.(*ecdsa.PublicKey)
		return aEC && !bEC
	})
	if len(out) > MaxCertificates {
		g.cfg.Logger.Warn("domain has more server certificates than served; the oldest are ignored", "domain", d.Name, "count", len(out), "max", MaxCertificates)
		out = out[:MaxCertificates]
	}
	served := make([]servedCert, len(out))
	for i, c := range out {
		served[i] = servedCert{Certificate: c, notBefore: c.Leaf.NotBefore, notAfter: c.Leaf.NotAfter}
		if len(out) == 1 {
			c.Leaf = nil
		}
	}
	return served
}

// withoutLeaves copies certificates without their parsed leaves, which
// sameDomain does not compare.
func withoutLeaves(certs []tls.Certificate) []tls.Certificate {
	out := slices.Clone(certs)
	for i := range out {
		out[i].Leaf = nil
	}
	return out
}

// pickDomainCertificate chooses the certificate for one handshake among
// those prepared at snapshot time: valid now, newest first, the first the
// client supports. When none is valid it returns nil, and crypto/tls answers
// with the unrecognized_name alert.
func (g *Gateway) pickDomainCertificate(d *domainState, hello *tls.ClientHelloInfo) *tls.Certificate {
	now := g.cfg.Now()
	var valid *tls.Certificate
	for i, c := range d.certs {
		if now.Before(c.notBefore) || now.After(c.notAfter) {
			continue
		}
		if valid == nil && i == len(d.certs)-1 {
			// The only valid one (a domain's usual case) is served
			// whether or not the client supports it: skip the check
			// (and the leaf it needs).
			return c.Certificate
		}
		if hello.SupportsCertificate(c.Certificate) == nil {
			return c.Certificate
		}
		if valid == nil {
			valid = c.Certificate
		}
	}
	if valid == nil {
		g.logRefusal(hello, "domain configuration "+d.Configuration+" has no server certificate valid now")
	}
	// A valid certificate the client cannot use still fails the
	// handshake, with the client's own error.
	return valid
}

// covers reports whether leaf is valid for name: its DNS or IP subject
// alternative names, or its common name when it has none.
func covers(leaf *x509.Certificate, name string) bool {
	if leaf.VerifyHostname(name) == nil {
		return true
	}
	if len(leaf.DNSNames) > 0 || len(leaf.IPAddresses) > 0 {
		return false
	}
	cn := normalizeName(leaf.Subject.CommonName)
	if cn == name {
		return true
	}
	if rest, ok := strings.CutPrefix(cn, "*."); ok {
		_, parent, found := strings.Cut(name, ".")
		return found && parent == rest
	}
	return false
}

// lookup finds the domain for an SNI name; "" and IP literals mean the default.
func (s *snapshot) lookup(serverName string) *domainState {
	name := normalizeName(serverName)
	if name == "" || mayBeIP(name) && net.ParseIP(name) != nil {
		return s.defaultDomain
	}
	return s.domains[name]
}

// mayBeIP reports whether name could be an IP literal: IPv6 has a colon,
// IPv4 only digits and dots. It spares host names net.ParseIP, whose
// failure allocates an error on every handshake.
func mayBeIP(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == ':' {
			return true
		} else if c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func normalizeName(n string) string { return strings.TrimSuffix(strings.ToLower(n), ".") }

// deviceFor authenticates the client certificate of a connection, if any
// (the zero Principal when there is none).
func (s *snapshot) deviceFor(cs tls.ConnectionState, now time.Time) (Principal, error) {
	if len(cs.PeerCertificates) == 0 {
		return Principal{}, nil
	}
	return s.devices.Authenticate(cs.PeerCertificates[0].Raw, cs.ServerName, now)
}
