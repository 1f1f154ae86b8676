// Package material makes the X.509 material the benchmarks use: one ECDSA
// P-256 CA, one server certificate per domain name (each with its own key),
// one wildcard certificate for the bare crypto/tls baseline, and device
// (client) certificates. Generated material is cached in a file under the
// temporary directory, so repeated runs (and the client processes the
// scenarios start) load it instead of generating it again.
package material

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/gob"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Zone is the parent of every benchmark domain name.
const Zone = "bench.portico.test"

// DomainName is the name of domain i (0-based).
func DomainName(i int) string { return fmt.Sprintf("d%05d.%s", i, Zone) }

// Pair is a certificate (DER) with its PKCS#8 key (DER).
type Pair struct {
	Cert []byte
	Key  []byte
}

// Set is the cached material.
type Set struct {
	CA       Pair
	Wildcard Pair   // *.Zone, the baseline's one certificate
	Domains  []Pair // Domains[i] covers DomainName(i)
	Devices  []Pair // client certificates
	Created  time.Time
}

const (
	version  = 1
	validity = 90 * 24 * time.Hour
)

// Path is the cache file for a set of the given size.
func Path(domains, devices int) string {
	return filepath.Join(os.TempDir(), "portico-bench", fmt.Sprintf("material-v%d-d%d-c%d.gob", version, domains, devices))
}

// Load returns the cached set of that size, generating and caching it when
// absent or near expiry. generated reports whether it was generated now.
func Load(domains, devices int) (s *Set, generated bool, err error) {
	path := Path(domains, devices)
	if b, err := os.ReadFile(path); err == nil {
		s := &Set{}
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(s); err == nil &&
			len(s.Domains) == domains && len(s.Devices) == devices && time.Since(s.Created) < validity/2 {
			return s, false, nil
		}
	}
	s, err = Generate(domains, devices)
	if err != nil {
		return nil, false, err
	}
	if err := s.save(path); err != nil {
		return nil, true, err
	}
	return s, true, nil
}

func (s *Set) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Generate makes a fresh set: one CA, domains server certificates and
// devices client certificates, all ECDSA P-256, on every core.
func Generate(domains, devices int) (*Set, error) {
	ca, err := NewCA("Portico Bench CA")
	if err != nil {
		return nil, err
	}
	s := &Set{CA: ca.Pair, Created: time.Now(), Domains: make([]Pair, domains), Devices: make([]Pair, devices)}
	if s.Wildcard, err = ca.Server("*." + Zone); err != nil {
		return nil, err
	}
	type job struct {
		out    *Pair
		name   string
		client bool
	}
	jobs := make(chan job, 256)
	errs := make(chan error, runtime.NumCPU())
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var p Pair
				var err error
				if j.client {
					p, err = ca.Client(j.name)
				} else {
					p, err = ca.Server(j.name)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				*j.out = p
			}
		}()
	}
	for i := range s.Domains {
		jobs <- job{out: &s.Domains[i], name: DomainName(i)}
	}
	for i := range s.Devices {
		jobs <- job{out: &s.Devices[i], name: fmt.Sprintf("bench-device-%05d", i), client: true}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return s, nil
}

// CA signs leaves.
type CA struct {
	Pair
	cert *x509.Certificate
	key  crypto.Signer
}

// NewCA makes a self-signed ECDSA P-256 root.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"Portico Bench"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(2 * validity),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return caOf(der, key)
}

func caOf(der []byte, key crypto.Signer) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{Pair: Pair{Cert: der, Key: k}, cert: cert, key: key}, nil
}

// Authority returns the set's CA, able to sign more leaves (rotations).
func (s *Set) Authority() (*CA, error) {
	key, err := x509.ParsePKCS8PrivateKey(s.CA.Key)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("material: CA key is not a signer")
	}
	return caOf(s.CA.Cert, signer)
}

// Server issues a serverAuth leaf for name with a fresh key, valid from a
// minute ago.
func (ca *CA) Server(name string) (Pair, error) {
	return ca.issue(name, []string{name}, x509.ExtKeyUsageServerAuth, time.Now().Add(-time.Minute))
}

// ServerAt issues a serverAuth leaf for name valid from notBefore.
func (ca *CA) ServerAt(name string, notBefore time.Time) (Pair, error) {
	return ca.issue(name, []string{name}, x509.ExtKeyUsageServerAuth, notBefore)
}

// Client issues a clientAuth leaf with a fresh key.
func (ca *CA) Client(cn string) (Pair, error) {
	return ca.issue(cn, nil, x509.ExtKeyUsageClientAuth, time.Now().Add(-time.Hour))
}

func (ca *CA) issue(cn string, dns []string, usage x509.ExtKeyUsage, notBefore time.Time) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: notBefore, NotAfter: notBefore.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return Pair{}, err
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Cert: der, Key: k}, nil
}

// TLS returns the pair as a tls.Certificate with its leaf parsed.
func (p Pair) TLS() (tls.Certificate, error) {
	leaf, err := x509.ParseCertificate(p.Cert)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := x509.ParsePKCS8PrivateKey(p.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{p.Cert}, PrivateKey: key, Leaf: leaf}, nil
}

// Roots is a pool holding the set's CA.
func (s *Set) Roots() (*x509.CertPool, error) {
	c, err := x509.ParseCertificate(s.CA.Cert)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

// PEM encodes a DER certificate.
func PEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// DeviceConfigs loads the set for domains and devices and returns one TLS
// client configuration per device certificate: a copy of base that trusts
// the set's CA and presents that certificate.
func DeviceConfigs(domains, devices int, base *tls.Config) ([]*tls.Config, error) {
	set, _, err := Load(domains, devices)
	if err != nil {
		return nil, err
	}
	roots, err := set.Roots()
	if err != nil {
		return nil, err
	}
	configs := make([]*tls.Config, len(set.Devices))
	for i, d := range set.Devices {
		cert, err := d.TLS()
		if err != nil {
			return nil, err
		}
		configs[i] = base.Clone()
		configs[i].RootCAs, configs[i].Certificates = roots, []tls.Certificate{cert}
	}
	return configs, nil
}
