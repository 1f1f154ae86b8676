package pki

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

// CRLValidity is how long a CRL from CRL stays current (its nextUpdate).
const CRLValidity = 24 * time.Hour

// Revocation is one revoked certificate.
type Revocation struct {
	Serial *big.Int
	// Reason is an RFC 5280 CRLReason code (the constants of
	// golang.org/x/crypto/ocsp: ocsp.Unspecified, ocsp.KeyCompromise, ...).
	Reason    int
	RevokedAt time.Time
}

// revocationFile is the JSON form of the revocation list on disk.
type revocationFile struct {
	Revoked []revocationRecord `json:"revoked"`
}

type revocationRecord struct {
	Serial    string    `json:"serial"` // hexadecimal
	Reason    int       `json:"reason"`
	RevokedAt time.Time `json:"revokedAt"`
}

// validReason reports whether reason may be given to Revoke: RFC 5280 codes
// 0-10 except 7 (unassigned) and 8 (removeFromCRL, meaningful only in delta
// CRLs).
func validReason(reason int) bool {
	return reason >= ocsp.Unspecified && reason <= ocsp.AACompromise && reason != 7 && reason != ocsp.RemoveFromCRL
}

func serialKey(serial *big.Int) string { return serial.Text(16) }

func loadRevocations(path string) (map[string]Revocation, error) {
	out := map[string]Revocation{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pki: read revocation list: %w", err)
	}
	// A damaged list must stop the CA: answering "good" for a revoked
	// certificate is worse than not starting.
	var f revocationFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("pki: %s does not parse: %w", path, err)
	}
	for _, r := range f.Revoked {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok || serial.Sign() <= 0 || !validReason(r.Reason) || r.RevokedAt.IsZero() {
			return nil, fmt.Errorf("pki: %s holds an invalid entry (serial %q, reason %d)", path, r.Serial, r.Reason)
		}
		out[serialKey(serial)] = Revocation{Serial: serial, Reason: r.Reason, RevokedAt: r.RevokedAt}
	}
	return out, nil
}

// saveRevocationsLocked writes the list atomically. The caller holds c.mu.
func (c *CA) saveRevocationsLocked() error {
	f := revocationFile{Revoked: []revocationRecord{}}
	for _, r := range sortedRevocations(c.revoked) {
		f.Revoked = append(f.Revoked, revocationRecord{Serial: serialKey(r.Serial), Reason: r.Reason, RevokedAt: r.RevokedAt.UTC()})
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("pki: encode revocation list: %w", err)
	}
	return writeFile(c.revokedFile, append(data, '\n'), 0o644)
}

func sortedRevocations(list map[string]Revocation) []Revocation {
	out := make([]Revocation, 0, len(list))
	for _, r := range list {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Revocation) int {
		if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
			return c
		}
		return a.Serial.Cmp(b.Serial)
	})
	return out
}

// Revoke adds serial to the revocation list, durably (the list is written
// before Revoke returns), with an RFC 5280 reason code and the time of
// revocation (the zero time means now). Revoking a certificate again keeps
// the first revocation. Any serial is accepted, including ones issued
// before this CA recognised its own serials (see Issued).
func (c *CA) Revoke(serial *big.Int, reason int, when time.Time) error {
	if serial == nil || serial.Sign() <= 0 {
		return errors.New("pki: a serial number must be positive")
	}
	if !validReason(reason) {
		return fmt.Errorf("pki: %d is not a revocation reason (RFC 5280 CRLReason 0-10, except 7 and 8)", reason)
	}
	if when.IsZero() {
		when = c.now()
	}
	when = when.UTC().Truncate(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	k := serialKey(serial)
	if _, ok := c.revoked[k]; ok {
		return nil
	}
	c.revoked[k] = Revocation{Serial: new(big.Int).Set(serial), Reason: reason, RevokedAt: when}
	if err := c.saveRevocationsLocked(); err != nil {
		delete(c.revoked, k) // not durable, so not revoked
		return err
	}
	return nil
}

// Revoked returns the revocation of serial, if it is revoked.
func (c *CA) Revoked(serial *big.Int) (Revocation, bool) {
	if serial == nil {
		return Revocation{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.revoked[serialKey(serial)]
	if ok {
		r.Serial = new(big.Int).Set(r.Serial)
	}
	return r, ok
}

// Revocations returns the revocation list, oldest first.
func (c *CA) Revocations() []Revocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := sortedRevocations(c.revoked)
	for i := range out {
		out[i].Serial = new(big.Int).Set(out[i].Serial)
	}
	return out
}

// CRL signs, with the intermediate, the CRL of the leaves it issued: the
// revocations whose serial it recognises (see Issued), valid from now for
// CRLValidity. Its CRL number increases with every CRL this process signs
// (RootCRL included) and, across restarts, with the clock (it is never below
// the Unix time of thisUpdate).
func (c *CA) CRL() ([]byte, error) {
	return c.crl(c.inter, c.inter.issued)
}

// RootCRL signs, with the root, the CRL of the certificates the root
// issued: the intermediate, and leaves from before the intermediate existed
// (which name the same distribution point as the root's CRL). It lists
// every revocation the intermediate's CRL does not.
func (c *CA) RootCRL() ([]byte, error) {
	return c.crl(c.root, func(serial *big.Int) bool { return !c.inter.issued(serial) })
}

func (c *CA) crl(s *signer, include func(*big.Int) bool) ([]byte, error) {
	if s.cert.KeyUsage != 0 && s.cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, errors.New("pki: the CA certificate may not sign CRLs (key usage lacks cRLSign)")
	}
	thisUpdate := c.now().UTC().Truncate(time.Second)
	c.mu.Lock()
	list := sortedRevocations(c.revoked)
	c.crlNumber = max(c.crlNumber+1, thisUpdate.Unix())
	number := c.crlNumber
	c.mu.Unlock()

	tmpl := &x509.RevocationList{
		Number:     big.NewInt(number),
		ThisUpdate: thisUpdate,
		NextUpdate: thisUpdate.Add(CRLValidity),
	}
	for _, r := range list {
		if !include(r.Serial) {
			continue
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{
			SerialNumber: r.Serial, RevocationTime: r.RevokedAt, ReasonCode: r.Reason,
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, s.cert, s.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign CRL: %w", err)
	}
	return der, nil
}
