// Package testpki makes throwaway X.509 material for tests: private root
// CAs, as an operator's own CA would be, intermediates, and the leaves they
// sign (server, client, expired, or shaped by LeafOptions), with keys
// PEM-encoded in the forms ACM accepts.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a test certificate authority that signs intermediates and leaves.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
}

// Leaf is an issued certificate with its key.
type Leaf struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// KeyPEM is PKCS#8 ("PRIVATE KEY").
	KeyPEM []byte
}

// LeafOptions shape a leaf certificate. Zero values give a P-256 server
// certificate for CommonName valid from an hour ago for 90 days.
type LeafOptions struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	Key        crypto.Signer
	NotBefore  time.Time
	NotAfter   time.Time
	KeyUsage   x509.KeyUsage
	ExtUsages  []x509.ExtKeyUsage
	// NoUsages omits both key usage extensions.
	NoUsages bool
	Serial   *big.Int
	// OCSPServer is the AIA OCSP location to embed.
	OCSPServer []string
}

// ECKey returns a fresh EC key on the named curve (P-256, P-384, P-521).
func ECKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RSAKey returns a fresh RSA key of the given size.
func RSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewCA returns a self-signed root CA with a P-256 key.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := ECKey(t, elliptic.P256())
	tmpl := caTemplate(t, cn)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return authority(t, der, key)
}

// Intermediate returns a CA signed by ca.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	key := ECKey(t, elliptic.P256())
	der, err := x509.CreateCertificate(rand.Reader, caTemplate(t, cn), ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return authority(t, der, key)
}

// Issue signs a leaf.
func (ca *CA) Issue(t testing.TB, o LeafOptions) *Leaf {
	t.Helper()
	if o.Key == nil {
		o.Key = ECKey(t, elliptic.P256())
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(90 * 24 * time.Hour)
	}
	if o.Serial == nil {
		o.Serial = randomSerial(t)
	}
	tmpl := &x509.Certificate{
		SerialNumber: o.Serial,
		Subject:      pkix.Name{CommonName: o.CommonName},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		OCSPServer:   o.OCSPServer,
	}
	if !o.NoUsages {
		tmpl.KeyUsage = o.KeyUsage
		if tmpl.KeyUsage == 0 {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		}
		tmpl.ExtKeyUsage = o.ExtUsages
		if tmpl.ExtKeyUsage == nil {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, o.Key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Leaf{Cert: cert, Key: o.Key, CertPEM: CertPEM(cert), KeyPEM: PKCS8(t, o.Key)}
}

// Server issues a serverAuth leaf for names; the first is the common name.
func (ca *CA) Server(t testing.TB, names ...string) *Leaf {
	t.Helper()
	return ca.Issue(t, LeafOptions{CommonName: names[0], DNSNames: names})
}

// Client issues a clientAuth leaf with the common name.
func (ca *CA) Client(t testing.TB, cn string) *Leaf {
	t.Helper()
	return ca.Issue(t, LeafOptions{CommonName: cn, ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

// Expired issues a serverAuth leaf for names that expired yesterday.
func (ca *CA) Expired(t testing.TB, names ...string) *Leaf {
	t.Helper()
	return ca.Issue(t, LeafOptions{CommonName: names[0], DNSNames: names,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
}

// CertPEM encodes certificates as consecutive PEM blocks.
func CertPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// PKCS8 encodes a key as "PRIVATE KEY".
func PKCS8(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// PKCS1 encodes an RSA key as "RSA PRIVATE KEY".
func PKCS1(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// SEC1 encodes an EC key as "EC PRIVATE KEY".
func SEC1(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func caTemplate(t testing.TB, cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Portico Test"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
}

func authority(t testing.TB, der []byte, key crypto.Signer) *CA {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key, PEM: CertPEM(cert)}
}

func randomSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}
