package device

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// Identity is a registered certificate as the TLS gateway needs it to
// authenticate a device.
type Identity struct {
	ID        string
	ARN       string
	Status    Status
	Mode      Mode
	NotBefore time.Time
	NotAfter  time.Time
}

// Errors of Snapshot.Authenticate.
var (
	ErrUnknownCertificate     = errors.New("device: client certificate is not registered")
	ErrCertificateNotActive   = errors.New("device: client certificate is not ACTIVE")
	ErrCertificateExpired     = errors.New("device: client certificate has expired")
	ErrCertificateNotYetValid = errors.New("device: client certificate is not valid yet")
	ErrSNIRequired            = errors.New("device: client certificate is registered without a CA (SNI_ONLY) and the client sent no SNI")
)

// Snapshot is an immutable view of every registered certificate, keyed by
// the SHA-256 of its DER, so that a TLS handshake authenticates a client
// certificate without touching the database. Build a new one when the store's
// change feed fires and swap it atomically. Safe for concurrent use.
type Snapshot struct {
	byHash map[[sha256.Size]byte]Identity
}

// Snapshot reads every registered certificate into a new Snapshot.
func (s *Service) Snapshot(ctx context.Context) (*Snapshot, error) {
	rows, err := s.st.DB().QueryContext(ctx, `SELECT der, status, mode, not_before, not_after FROM device_certificates`)
	if err != nil {
		return nil, fmt.Errorf("device: snapshot: %w", err)
	}
	defer rows.Close()
	snap := &Snapshot{byHash: map[[sha256.Size]byte]Identity{}}
	for rows.Next() {
		var (
			der                 []byte
			status, mode        string
			notBefore, notAfter int64
		)
		if err := rows.Scan(&der, &status, &mode, &notBefore, &notAfter); err != nil {
			return nil, fmt.Errorf("device: snapshot: %w", err)
		}
		id := CertificateID(der)
		snap.byHash[sha256.Sum256(der)] = Identity{
			ID: id, ARN: s.ARN(id), Status: Status(status), Mode: Mode(mode),
			NotBefore: time.Unix(notBefore, 0).UTC(), NotAfter: time.Unix(notAfter, 0).UTC(),
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("device: snapshot: %w", err)
	}
	return snap, nil
}

// Len is the number of certificates in the snapshot.
func (s *Snapshot) Len() int { return len(s.byHash) }

// Lookup finds the registered certificate whose DER is der, in any status.
func (s *Snapshot) Lookup(der []byte) (Identity, bool) {
	id, ok := s.byHash[sha256.Sum256(der)]
	return id, ok
}

// Authenticate decides whether a client certificate (its DER, as in
// tls.ConnectionState.PeerCertificates[0].Raw or the rawCerts[0] of
// VerifyPeerCertificate) may connect at now: it must be registered, ACTIVE and
// within its validity, and a certificate registered without a CA needs the
// client to have sent SNI (serverName). The error is one of the Err*
// sentinels; the identity is returned whenever the certificate is known, so a
// refusal can be logged with its ID.
func (s *Snapshot) Authenticate(der []byte, serverName string, now time.Time) (Identity, error) {
	id, ok := s.Lookup(der)
	switch {
	case !ok:
		return Identity{}, ErrUnknownCertificate
	case id.Status != StatusActive:
		return id, ErrCertificateNotActive
	case now.Before(id.NotBefore):
		return id, ErrCertificateNotYetValid
	case now.After(id.NotAfter):
		return id, ErrCertificateExpired
	case id.Mode == ModeSNIOnly && serverName == "":
		return id, ErrSNIRequired
	}
	return id, nil
}
