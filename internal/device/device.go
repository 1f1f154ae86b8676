// Package device is the IoT registry: device certificates that Portico
// creates (CreateKeysAndCertificate) or that operators register
// (RegisterCertificateWithoutCA) and their status life cycle; things and the
// certificates attached to them; IoT policies, their versions and the
// certificates they are attached to; and the immutable snapshot the TLS
// gateway authenticates client certificates against, which also carries
// each certificate's policies and things for authorization.
//
// It is a domain package: typed inputs and outputs, *fault.Error failures, no
// net/http and no knowledge of the AWS wire. It owns the store component
// "device" and its tables.
package device

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store"
)

// Status is a certificate's status, as the IoT API spells it.
type Status string

// Certificate statuses from the IoT model. UpdateCertificate sets ACTIVE,
// INACTIVE and REVOKED; TransferCertificate sets PENDING_TRANSFER and
// just-in-time registration PENDING_ACTIVATION.
const (
	StatusActive            Status = "ACTIVE"
	StatusInactive          Status = "INACTIVE"
	StatusRevoked           Status = "REVOKED"
	StatusPendingTransfer   Status = "PENDING_TRANSFER"
	StatusRegisterInactive  Status = "REGISTER_INACTIVE"
	StatusPendingActivation Status = "PENDING_ACTIVATION"
)

// Mode says how a device must present its certificate.
type Mode string

const (
	// ModeDefault certificates were issued by Portico (or, later, by a
	// registered CA); devices need not send SNI.
	ModeDefault Mode = "DEFAULT"
	// ModeSNIOnly certificates were registered without a CA; devices using
	// them must send SNI.
	ModeSNIOnly Mode = "SNI_ONLY"
)

// GeneratedCommonName is the subject CN of certificates from
// CreateKeysAndCertificate, as AWS IoT issues them.
const GeneratedCommonName = "AWS IoT Certificate"

// GeneratedNotAfter is when every certificate from CreateKeysAndCertificate
// expires, as with AWS IoT.
var GeneratedNotAfter = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)

// MaxPEMLength is the model's limit on certificatePem, in characters.
const MaxPEMLength = 65536

// Page sizes of ListCertificates (the model allows 1 to 250).
const (
	DefaultPageSize = 25
	MaxPageSize     = 250
)

// Certificate is a registered device certificate, as DescribeCertificate
// shows it.
type Certificate struct {
	ARN string
	ID  string
	// CACertificateID is the registered CA that signed the certificate;
	// empty for certificates registered without a CA and for those Portico
	// issued itself.
	CACertificateID  string
	Status           Status
	Mode             Mode
	PEM              string
	OwnedBy          string
	CreationDate     time.Time
	LastModifiedDate time.Time
	// CustomerVersion starts at 1 and grows with every modification.
	CustomerVersion int
	// GenerationID changes with every modification.
	GenerationID string
	NotBefore    time.Time
	NotAfter     time.Time
	// Transfer is the pending transfer of a PENDING_TRANSFER certificate;
	// nil otherwise.
	Transfer *TransferData
}

// Summary is a certificate as ListCertificates shows it.
type Summary struct {
	ARN          string
	ID           string
	Status       Status
	Mode         Mode
	CreationDate time.Time
}

// Page is one page of ListCertificates. NextMarker is empty on the last page.
type Page struct {
	Certificates []Summary
	NextMarker   string
}

// KeysAndCertificate is the result of CreateKeysAndCertificate. The private
// key exists only here: Portico does not keep it.
type KeysAndCertificate struct {
	ARN            string
	ID             string
	CertificatePEM string
	PublicKeyPEM   string
	PrivateKeyPEM  string
}

// Service is the certificate registry.
type Service struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports just-in-time registrations; nil means slog.Default().
	Logger *slog.Logger

	jitr *autoRegistrar

	st      *store.Store
	ca      *pki.CA
	region  string
	account string
}

var migrations = []string{
	`CREATE TABLE device_certificates (
		id                TEXT PRIMARY KEY,  -- lowercase hex SHA-256 of der
		der               BLOB NOT NULL,
		status            TEXT NOT NULL,
		mode              TEXT NOT NULL,
		ca_certificate_id TEXT NOT NULL DEFAULT '',
		owned_by          TEXT NOT NULL,
		not_before        INTEGER NOT NULL,  -- unix seconds
		not_after         INTEGER NOT NULL,  -- unix seconds
		created_ms        INTEGER NOT NULL,  -- unix milliseconds
		modified_ms       INTEGER NOT NULL,
		customer_version  INTEGER NOT NULL,
		generation_id     TEXT NOT NULL
	);
	CREATE INDEX device_certificates_by_creation ON device_certificates (created_ms, id);`,
	// Things, their principals, policies, their versions and targets.
	`CREATE TABLE device_things (
		name        TEXT PRIMARY KEY,
		id          TEXT NOT NULL UNIQUE,  -- UUID
		type_name   TEXT NOT NULL DEFAULT '',
		attributes  TEXT NOT NULL,         -- JSON object of strings
		version     INTEGER NOT NULL,
		created_ms  INTEGER NOT NULL
	);
	CREATE TABLE device_thing_principals (
		thing_name     TEXT NOT NULL,
		certificate_id TEXT NOT NULL,
		exclusive      INTEGER NOT NULL,   -- EXCLUSIVE_THING
		attached_ms    INTEGER NOT NULL,
		PRIMARY KEY (thing_name, certificate_id)
	);
	CREATE INDEX device_thing_principals_by_certificate ON device_thing_principals (certificate_id, thing_name);
	CREATE TABLE device_policies (
		name            TEXT PRIMARY KEY,
		default_version INTEGER NOT NULL,
		next_version    INTEGER NOT NULL,
		created_ms      INTEGER NOT NULL,
		modified_ms     INTEGER NOT NULL,
		generation_id   TEXT NOT NULL
	);
	CREATE TABLE device_policy_versions (
		policy_name TEXT NOT NULL,
		version     INTEGER NOT NULL,
		document    TEXT NOT NULL,
		created_ms  INTEGER NOT NULL,
		PRIMARY KEY (policy_name, version)
	);
	CREATE TABLE device_policy_targets (
		policy_name    TEXT NOT NULL,
		certificate_id TEXT NOT NULL,
		attached_ms    INTEGER NOT NULL,
		PRIMARY KEY (policy_name, certificate_id)
	);
	CREATE INDEX device_policy_targets_by_certificate ON device_policy_targets (certificate_id, policy_name);
	CREATE TABLE device_policy_tags (
		policy_name TEXT NOT NULL,
		key         TEXT NOT NULL,
		value       TEXT NOT NULL,
		PRIMARY KEY (policy_name, key)
	);`,
	caMigration,
	// Certificate transfers (transfer.go).
	transferMigration,
}

// NewService migrates the "device" component and returns the registry for
// region and account. ca issues the certificates of CreateKeysAndCertificate.
func NewService(ctx context.Context, st *store.Store, ca *pki.CA, region, account string) (*Service, error) {
	if st == nil || ca == nil {
		return nil, fmt.Errorf("device: store and device CA are required")
	}
	if region == "" || account == "" {
		return nil, fmt.Errorf("device: region and account are required")
	}
	if err := st.Migrate(ctx, "device", migrations); err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	s := &Service{st: st, ca: ca, region: region, account: account}
	s.jitr = newAutoRegistrar(s)
	return s, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ARN returns the ARN of the certificate with the given ID.
func (s *Service) ARN(id string) string {
	return "arn:aws:iot:" + s.region + ":" + s.account + ":cert/" + id
}

// CertificateID returns the IoT certificate ID of a DER certificate: the
// lowercase hex SHA-256 of its bytes.
func CertificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// validateID checks a certificate ID from the caller against the model
// (exactly 64 hexadecimal characters) and returns it in lowercase.
func validateID(id string) (string, error) { return validateMemberID(id, "certificateId") }

// validateMemberID is validateID for the request member named member.
func validateMemberID(id, member string) (string, error) {
	if len(id) != 64 {
		return "", fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length of 64 hexadecimal characters", id, member)
	}
	out := make([]byte, 64)
	for i := 0; i < 64; i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-fA-F0-9]{64}", id, member)
		}
		out[i] = c
	}
	return string(out), nil
}

func notFound(id string) error {
	return fault.NotFoundf("The certificate %s does not exist", id)
}

func stateError(format string, args ...any) error {
	return fault.Coded(fault.Conflict, "CertificateStateException", format, args...)
}

// newGenerationID returns a random UUID (version 4), the form AWS uses.
func newGenerationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("device: generation id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
