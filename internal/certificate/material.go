package certificate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Material is a certificate ready to serve: what the TLS gateway loads into
// its snapshot. It never leaves the process through the API.
type Material struct {
	ARN          string
	Status       string // ISSUED or EXPIRED at the time it was loaded
	KeyAlgorithm string // enum spelling, e.g. EC_prime256v1
	NotBefore    time.Time
	NotAfter     time.Time
	Leaf         *x509.Certificate
	Chain        []*x509.Certificate // issuer first
	// TLS holds the leaf, then the chain, and the private key.
	TLS            tls.Certificate
	CertificatePEM string
	ChainPEM       string
}

// Covers reports whether the certificate is valid for the host name.
func (m *Material) Covers(name string) bool { return Covers(m.Leaf, name) }

// Material returns the certificate's serving material. A requested
// certificate that is not issued has only ARN, Status and KeyAlgorithm (no
// Leaf, no key): it covers no name.
func (s *Service) Material(ctx context.Context, arn string) (*Material, error) {
	r, err := s.load(ctx, arn)
	if err != nil {
		return nil, err
	}
	if r.leaf == nil {
		return &Material{ARN: r.arn, Status: r.status(s.now()), KeyAlgorithm: r.keyAlg}, nil
	}
	return materialOf(r, s.now())
}

// Standing is what deciding whether a certificate can serve a name takes:
// its status, validity and leaf, without parsing its private key and
// chain (DescribeDomainConfiguration asks it of every server certificate).
type Standing struct {
	Status              string
	NotBefore, NotAfter time.Time
	Leaf                *x509.Certificate // nil for a request not issued yet
}

// Covers reports whether the certificate is valid for the host name.
func (st *Standing) Covers(name string) bool { return st.Leaf != nil && Covers(st.Leaf, name) }

// Standing returns the certificate's standing; an unknown ARN is a
// fault.NotFound.
func (s *Service) Standing(ctx context.Context, arn string) (*Standing, error) {
	// The generation is read before the record: a record loaded after it
	// holds every commit up to it, and any later commit changes it.
	gen := s.st.Generation()
	r := s.standing.get(gen, arn)
	if r == nil {
		var err error
		if r, err = s.load(ctx, arn); err != nil {
			return nil, err
		}
		s.standing.put(gen, arn, r)
	}
	return &Standing{Status: r.status(s.now()), NotBefore: r.notBefore, NotAfter: r.notAfter, Leaf: r.leaf}, nil
}

// generationCache keeps the records read since the store's last commit:
// DescribeDomainConfiguration asks for the standing of the same server
// certificates again and again, and nothing changes them without a commit
// (the store's generation also follows other processes' commits, within
// a second). It empties itself at each new generation, so it holds at most
// the account's certificates.
type generationCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*record
}

func (c *generationCache) get(gen uint64, arn string) *record {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return nil
	}
	return c.m[arn]
}

func (c *generationCache) put(gen uint64, arn string, r *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m == nil {
		c.gen, c.m = gen, make(map[string]*record)
	}
	c.m[arn] = r
}

// All returns the serving material of every certificate that has one (not
// requests still waiting for validation), in creation order,
// so that a runtime snapshot can load them at once.
func (s *Service) All(ctx context.Context) ([]*Material, error) {
	rows, err := s.st.DB().QueryContext(ctx, `SELECT `+recordColumns+` FROM acm_certificate ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("certificate: load all: %w", err)
	}
	defer rows.Close()
	now := s.now()
	var out []*Material
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("certificate: load all: %w", err)
		}
		if r.leaf == nil {
			continue
		}
		m, err := materialOf(r, now)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("certificate: load all: %w", err)
	}
	return out, nil
}

func materialOf(r *record, now time.Time) (*Material, error) {
	key, err := parsePrivateKey([]byte(r.key))
	if err != nil {
		// The key was validated on import; failing now means the store is damaged.
		return nil, fmt.Errorf("certificate: stored private key of %s does not parse", r.arn)
	}
	var chain []*x509.Certificate
	if r.chainPEM != "" {
		if chain, err = parseCertificates([]byte(r.chainPEM), "stored chain"); err != nil {
			return nil, fmt.Errorf("certificate: stored chain of %s does not parse: %v", r.arn, err)
		}
	}
	tc := tls.Certificate{Certificate: [][]byte{r.leaf.Raw}, PrivateKey: key, Leaf: r.leaf}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return &Material{
		ARN:            r.arn,
		Status:         r.status(now),
		KeyAlgorithm:   r.keyAlg,
		NotBefore:      r.notBefore,
		NotAfter:       r.notAfter,
		Leaf:           r.leaf,
		Chain:          chain,
		TLS:            tc,
		CertificatePEM: r.certPEM,
		ChainPEM:       r.chainPEM,
	}, nil
}

// Covers reports whether leaf is valid for the host name: against its DNS
// (and IP) subject alternative names when it has any SAN, else against its
// subject common name. Comparison ignores case and a trailing dot; a
// wildcard "*.x.y" covers exactly one label in its place ("a.x.y", not
// "x.y" nor "b.a.x.y").
func Covers(leaf *x509.Certificate, name string) bool {
	if leaf == nil {
		return false
	}
	host := normalizeName(name)
	if host == "" {
		return false
	}
	hasSAN := len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses)+len(leaf.URIs) > 0
	if !hasSAN {
		return nameCovers(leaf.Subject.CommonName, host)
	}
	if ip := ipOf(host); ip != nil {
		for _, a := range leaf.IPAddresses {
			if a.Equal(ip) {
				return true
			}
		}
		return false
	}
	for _, pattern := range leaf.DNSNames {
		if nameCovers(pattern, host) {
			return true
		}
	}
	return false
}

func normalizeName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// nameCovers matches one certificate name (possibly "*.suffix") against a
// normalized host name.
func nameCovers(pattern, host string) bool {
	p := normalizeName(pattern)
	if p == "" {
		return false
	}
	if p == host {
		return true
	}
	suffix, ok := strings.CutPrefix(p, "*.")
	if !ok || suffix == "" || strings.Contains(suffix, "*") {
		return false
	}
	label, rest, found := strings.Cut(host, ".")
	return found && label != "" && label != "*" && rest == suffix
}
