// Package certificate owns Portico's ACM certificates: import with ACM's own
// validation, describe, list, get, delete and tags, plus the parsed key
// material that the TLS gateway serves. It speaks the domain, not the wire:
// the JSON 1.1 adapter lives in internal/awsapi/acm.
package certificate

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
)

// component is the store migration component of this package.
const component = "certificate"

// migrations are append-only.
var migrations = []string{
	`CREATE TABLE acm_certificate (
		id              INTEGER PRIMARY KEY AUTOINCREMENT, -- creation order
		arn             TEXT NOT NULL UNIQUE,
		type            TEXT NOT NULL,
		key_algorithm   TEXT NOT NULL,
		domain_name     TEXT NOT NULL,
		not_before      INTEGER NOT NULL, -- unix seconds
		not_after       INTEGER NOT NULL, -- unix seconds
		created_at      INTEGER NOT NULL, -- unix milliseconds
		imported_at     INTEGER,          -- unix milliseconds, IMPORTED only
		certificate_pem TEXT NOT NULL,
		chain_pem       TEXT NOT NULL DEFAULT '',
		private_key_pem TEXT NOT NULL,
		ct_logging      TEXT NOT NULL DEFAULT 'ENABLED'
	);
	CREATE TABLE acm_certificate_tag (
		certificate_id INTEGER NOT NULL REFERENCES acm_certificate(id) ON DELETE CASCADE,
		key            TEXT NOT NULL,
		value          TEXT,
		PRIMARY KEY (certificate_id, key)
	);`,
	// Requested (AMAZON_ISSUED) certificates: a pending row has no
	// certificate, key or dates yet (empty PEM, zero dates).
	`ALTER TABLE acm_certificate ADD COLUMN lifecycle TEXT NOT NULL DEFAULT ''; -- '' = derived from dates (IMPORTED)
	ALTER TABLE acm_certificate ADD COLUMN names TEXT NOT NULL DEFAULT '';     -- JSON: requested names, DomainName first
	ALTER TABLE acm_certificate ADD COLUMN validation_method TEXT NOT NULL DEFAULT '';
	ALTER TABLE acm_certificate ADD COLUMN validated TEXT NOT NULL DEFAULT ''; -- JSON: validation record bases seen
	ALTER TABLE acm_certificate ADD COLUMN idempotency_token TEXT NOT NULL DEFAULT '';
	ALTER TABLE acm_certificate ADD COLUMN issued_at INTEGER;                  -- unix milliseconds
	ALTER TABLE acm_certificate ADD COLUMN renewal_requested INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE acm_certificate ADD COLUMN renewal_status TEXT NOT NULL DEFAULT '';
	ALTER TABLE acm_certificate ADD COLUMN renewal_missing TEXT NOT NULL DEFAULT ''; -- JSON: bases not seen at the last renewal attempt
	ALTER TABLE acm_certificate ADD COLUMN renewal_updated_at INTEGER;         -- unix milliseconds`,
	// Failure, export and expiry-warning state, and the account configuration.
	`ALTER TABLE acm_certificate ADD COLUMN failure_reason TEXT NOT NULL DEFAULT '';   -- ACM FailureReason when lifecycle is FAILED
	ALTER TABLE acm_certificate ADD COLUMN exportable INTEGER NOT NULL DEFAULT 0;     -- issued by Portico's own CA: the key may be exported
	ALTER TABLE acm_certificate ADD COLUMN exported INTEGER NOT NULL DEFAULT 0;       -- ExportCertificate was called since issuance
	ALTER TABLE acm_certificate ADD COLUMN expiry_event_day TEXT NOT NULL DEFAULT ''; -- UTC date (YYYY-MM-DD) of the last approaching-expiration event
	CREATE TABLE acm_account_configuration (
		id                 INTEGER PRIMARY KEY CHECK (id = 1), -- one row: one account per service
		days_before_expiry INTEGER NOT NULL,
		idempotency_token  TEXT NOT NULL DEFAULT '',
		token_at           INTEGER NOT NULL DEFAULT 0      -- unix milliseconds of the last accepted token
	);`,
	// Revocation (RevokeCertificate): lifecycle REVOKED with when and why.
	`ALTER TABLE acm_certificate ADD COLUMN revoked_at INTEGER;                            -- unix milliseconds
	ALTER TABLE acm_certificate ADD COLUMN revocation_reason TEXT NOT NULL DEFAULT ''; -- ACM RevocationReason as given`,
}

// Service is the ACM certificate domain service.
type Service struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// InUse returns the ARNs of the resources (domain configurations) that use
	// the certificate; nil means nothing uses any certificate.
	InUse func(ctx context.Context, arn string) ([]string, error)

	// ValidationZone is the DNS zone under which validation records point
	// (their CNAME targets); "" means DefaultValidationZone.
	ValidationZone string

	// Revoker is the CA whose certificates RevokeCertificate revokes
	// (Portico's server CA); nil refuses revocation with an internal error.
	Revoker Revoker

	st       *store.Store
	byARN    *store.Prepared // one certificate's record
	standing generationCache // records read for Standing
	region   string
	account  string
}

// NewService migrates the certificate tables and returns the service for
// one region and account.
func NewService(ctx context.Context, st *store.Store, region, account string) (*Service, error) {
	if err := st.Migrate(ctx, component, migrations); err != nil {
		return nil, err
	}
	return &Service{st: st, byARN: st.Prepare(`SELECT ` + recordColumns + ` FROM acm_certificate WHERE arn=?`), region: region, account: account}, nil
}

// Region is the region the service's certificates live in.
func (s *Service) Region() string { return s.region }

// Account is the account that owns the service's certificates.
func (s *Service) Account() string { return s.account }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) inUse(ctx context.Context, arn string) ([]string, error) {
	if s.InUse == nil {
		return []string{}, nil
	}
	users, err := s.InUse(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("certificate: who uses %s: %w", arn, err)
	}
	if users == nil {
		users = []string{}
	}
	return users, nil
}

// arnPattern is the model's pattern for every CertificateArn input.
var arnPattern = regexp.MustCompile(`^arn:[\w+=/,.@-]+:acm:[\w+=/,.@-]*:[0-9]+:[\w+=,.@-]+(/[\w+=,.@-]+)*$`)

// CheckARN applies the model's constraints to a CertificateArn input.
func CheckARN(arn string) error {
	if arn == "" {
		return invalid("1 validation error detected: Value null at 'certificateArn' failed to satisfy constraint: Member must not be null")
	}
	if len(arn) < 20 || len(arn) > 2048 || !arnPattern.MatchString(arn) {
		return fault.Coded(fault.Invalid, "InvalidArnException", "The ARN %q is not a valid certificate ARN.", arn)
	}
	return nil
}

func (s *Service) newARN() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("arn:aws:acm:%s:%s:certificate/%s-%s-%s-%s-%s", s.region, s.account, h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
}

func notFound(arn string) error {
	return fault.Coded(fault.NotFound, "ResourceNotFoundException", "Could not find certificate %s.", arn)
}

// Tag is an ACM tag. A nil Value is a tag without a value; on removal it
// matches the key whatever its value.
type Tag struct {
	Key   string
	Value *string
}

// ImportInput is ImportCertificate's input. The byte fields hold PEM text; a
// nil CertificateChain means none.
type ImportInput struct {
	Certificate      []byte
	PrivateKey       []byte
	CertificateChain []byte
	// CertificateArn re-imports over an existing imported certificate,
	// keeping its ARN.
	CertificateArn string
	Tags           []Tag
}

// Import validates a certificate, its private key and chain as ACM does and
// stores them, returning the certificate's ARN.
func (s *Service) Import(ctx context.Context, in ImportInput) (string, error) {
	if in.CertificateArn != "" {
		if err := CheckARN(in.CertificateArn); err != nil {
			return "", err
		}
		if len(in.Tags) > 0 {
			return "", invalid("You cannot add tags when re-importing a certificate; use AddTagsToCertificate.")
		}
	}
	if err := checkTags(in.Tags, true); err != nil {
		return "", err
	}
	now := s.now()
	b, err := validateImport(in.Certificate, in.PrivateKey, in.CertificateChain, now)
	if err != nil {
		return "", err
	}
	arn := in.CertificateArn
	if arn == "" {
		arn = s.newARN()
	}
	domain := domainName(b.leaf)
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		if in.CertificateArn == "" {
			res, err := tx.ExecContext(ctx, `INSERT INTO acm_certificate
				(arn, type, key_algorithm, domain_name, not_before, not_after, created_at, imported_at, certificate_pem, chain_pem, private_key_pem)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				arn, TypeImported, b.keyAlg, domain, b.leaf.NotBefore.Unix(), b.leaf.NotAfter.Unix(),
				now.UnixMilli(), now.UnixMilli(), b.leafPEM, b.chainPEM, b.keyPEM)
			if err != nil {
				return fmt.Errorf("certificate: insert: %w", err)
			}
			id, err := res.LastInsertId()
			if err != nil {
				return fmt.Errorf("certificate: insert: %w", err)
			}
			return putTags(ctx, tx, id, in.Tags)
		}
		var typ, keyAlg, oldPEM string
		err := tx.QueryRowContext(ctx, `SELECT type, key_algorithm, certificate_pem FROM acm_certificate WHERE arn=?`, arn).
			Scan(&typ, &keyAlg, &oldPEM)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(arn)
		}
		if err != nil {
			return fmt.Errorf("certificate: read %s: %w", arn, err)
		}
		if typ != TypeImported {
			return invalid("Certificate %s is of type %s; only IMPORTED certificates can be re-imported.", arn, typ)
		}
		if keyAlg != b.keyAlg {
			return invalid("The key algorithm of the new certificate (%s) must match that of the certificate being replaced (%s).", b.keyAlg, keyAlg)
		}
		old, err := parseLeafPEM(oldPEM)
		if err != nil {
			return err
		}
		if err := checkReimportUsages(old, b.leaf); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE acm_certificate SET domain_name=?, not_before=?, not_after=?, imported_at=?,
			certificate_pem=?, chain_pem=?, private_key_pem=? WHERE arn=?`,
			domain, b.leaf.NotBefore.Unix(), b.leaf.NotAfter.Unix(), now.UnixMilli(), b.leafPEM, b.chainPEM, b.keyPEM, arn)
		if err != nil {
			return fmt.Errorf("certificate: update %s: %w", arn, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return arn, nil
}

// checkReimportUsages applies ACM's re-import rule: key usages and extended
// key usages may be added but not removed (client authentication excepted,
// since public CAs stopped issuing it in 2025; a certificate without the
// extensions constrains nothing, so any replacement keeps its usages).
func checkReimportUsages(old, next *x509.Certificate) error {
	nextKU := keyUsagesOf(next)
	for _, u := range keyUsagesOf(old) {
		// ANY stands for "no extension", not a usage someone relies on.
		if u != "ANY" && !slices.Contains(nextKU, u) && !slices.Contains(nextKU, "ANY") {
			return invalid("The new certificate must keep the key usage %s of the certificate being replaced.", u)
		}
	}
	nextEKU := extendedKeyUsagesOf(next)
	has := func(u ExtendedKeyUsage) bool {
		for _, n := range nextEKU {
			if n == u || n.Name == "ANY" || n.Name == "NONE" {
				return true
			}
		}
		return false
	}
	for _, u := range extendedKeyUsagesOf(old) {
		if u.Name == "NONE" || u.Name == "ANY" || u.Name == "TLS_WEB_CLIENT_AUTHENTICATION" {
			continue
		}
		if !has(u) {
			return invalid("The new certificate must keep the extended key usage %s of the certificate being replaced.", u.Name)
		}
	}
	return nil
}

// record is one stored certificate row.
type record struct {
	id                     int64
	arn, typ, keyAlg       string
	domain                 string
	notBefore, notAfter    time.Time
	createdAt, importedAt  time.Time
	issuedAt               time.Time
	certPEM, chainPEM, key string
	ctLogging              string
	// leaf is nil while a requested certificate is not issued.
	leaf *x509.Certificate

	lifecycle        string   // stored status of requested certificates; "" for imported ones
	names            []string // requested names, DomainName first
	validationMethod string
	validated        []string // validation record bases seen
	renewalRequested bool
	renewalStatus    string
	renewalMissing   []string
	renewalUpdatedAt time.Time
	failureReason    string
	exportable       bool // issued by Portico's own CA
	exported         bool
	expiryEventDay   string
	revokedAt        time.Time
	revocationReason string
}

const recordColumns = `id, arn, type, key_algorithm, domain_name, not_before, not_after, created_at, imported_at,
	certificate_pem, chain_pem, private_key_pem, ct_logging,
	lifecycle, names, validation_method, validated, issued_at, renewal_requested, renewal_status, renewal_missing, renewal_updated_at,
	failure_reason, exportable, exported, expiry_event_day, revoked_at, revocation_reason`

type scanner interface{ Scan(dest ...any) error }

func scanRecord(row scanner) (*record, error) {
	var (
		r                                record
		nb, na, created                  int64
		imported, issued, renewalUpdated sql.NullInt64
		revoked                          sql.NullInt64
		names, validated, renewalMissing string
	)
	if err := row.Scan(&r.id, &r.arn, &r.typ, &r.keyAlg, &r.domain, &nb, &na, &created, &imported,
		&r.certPEM, &r.chainPEM, &r.key, &r.ctLogging,
		&r.lifecycle, &names, &r.validationMethod, &validated, &issued, &r.renewalRequested, &r.renewalStatus, &renewalMissing, &renewalUpdated,
		&r.failureReason, &r.exportable, &r.exported, &r.expiryEventDay, &revoked, &r.revocationReason); err != nil {
		return nil, err
	}
	r.createdAt = time.UnixMilli(created).UTC()
	if imported.Valid {
		r.importedAt = time.UnixMilli(imported.Int64).UTC()
	}
	if issued.Valid {
		r.issuedAt = time.UnixMilli(issued.Int64).UTC()
	}
	if renewalUpdated.Valid {
		r.renewalUpdatedAt = time.UnixMilli(renewalUpdated.Int64).UTC()
	}
	if revoked.Valid {
		r.revokedAt = time.UnixMilli(revoked.Int64).UTC()
	}
	for _, f := range []struct {
		text string
		into *[]string
	}{{names, &r.names}, {validated, &r.validated}, {renewalMissing, &r.renewalMissing}} {
		if f.text == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.text), f.into); err != nil {
			return nil, fmt.Errorf("certificate: stored names of %s do not parse: %v", r.arn, err)
		}
	}
	if r.certPEM == "" {
		// Requested and not issued: no certificate, no dates.
		return &r, nil
	}
	r.notBefore, r.notAfter = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC()
	leaf, err := parseLeafPEM(r.certPEM)
	if err != nil {
		return nil, err
	}
	r.leaf = leaf
	return &r, nil
}

func parseLeafPEM(s string) (*x509.Certificate, error) {
	if c, ok := parsedLeaves.get(s); ok {
		return c, nil
	}
	certs, err := parseCertificates([]byte(s), "stored certificate")
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("certificate: stored certificate does not parse: %v", err)
	}
	parsedLeaves.put(s, certs[0])
	return certs[0], nil
}

// parsedLeaves keeps stored certificates parsed: every read of a record
// (DescribeDomainConfiguration checks each server certificate) would
// otherwise parse its PEM again. A stored PEM never changes meaning, so
// the PEM text is the key; callers do not modify a parsed certificate.
var parsedLeaves = leafCache{max: 4096}

type leafCache struct {
	max int
	mu  sync.Mutex
	m   map[string]*x509.Certificate
}

func (c *leafCache) get(pem string) (*x509.Certificate, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[pem]
	return v, ok
}

func (c *leafCache) put(pem string, cert *x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		// Start over rather than track use: the account's certificates
		// refill it at once, and old versions of renewed ones drop out.
		c.m = make(map[string]*x509.Certificate)
	}
	c.m[pem] = cert
}

func (s *Service) load(ctx context.Context, arn string) (*record, error) {
	if err := CheckARN(arn); err != nil {
		return nil, err
	}
	r, err := scanRecord(s.byARN.QueryRowContext(ctx, arn))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(arn)
	}
	if err != nil {
		return nil, fmt.Errorf("certificate: read %s: %w", arn, err)
	}
	return r, nil
}

// status is the stored status of a requested certificate that is not
// issued; otherwise ISSUED until the certificate expires.
func (r *record) status(now time.Time) string {
	if r.lifecycle != "" && r.lifecycle != StatusIssued {
		return r.lifecycle
	}
	if r.leaf == nil {
		return StatusPendingValidation
	}
	if now.After(r.notAfter) {
		return StatusExpired
	}
	return StatusIssued
}

// Detail is everything DescribeCertificate reports about a certificate.
type Detail struct {
	CertificateArn          string
	DomainName              string
	SubjectAlternativeNames []string
	Serial                  string // colon-separated lowercase hex bytes
	Subject                 string
	Issuer                  string
	CreatedAt               time.Time
	ImportedAt              time.Time // zero unless Type is IMPORTED
	IssuedAt                time.Time // zero unless an AMAZON_ISSUED certificate was issued
	Status                  string
	// FailureReason is an ACM FailureReason when Status is FAILED.
	FailureReason string
	// RevokedAt and RevocationReason are set when Status is REVOKED.
	RevokedAt          time.Time
	RevocationReason   string
	NotBefore          time.Time
	NotAfter           time.Time
	KeyAlgorithm       string // enum spelling, e.g. RSA_2048
	SignatureAlgorithm string // e.g. SHA256WITHRSA
	InUseBy            []string
	Type               string
	KeyUsages          []string
	ExtendedKeyUsages  []ExtendedKeyUsage
	RenewalEligibility string
	// DomainValidationOptions has one entry per name of a requested
	// certificate, in SAN order; nil for imported certificates.
	DomainValidationOptions []DomainValidation
	// RenewalSummary is set once a renewal of a requested certificate began.
	RenewalSummary *RenewalSummary
	// CertificateTransparencyLoggingPreference is ENABLED or DISABLED.
	CertificateTransparencyLoggingPreference string
}

// Describe returns the certificate's details.
func (s *Service) Describe(ctx context.Context, arn string) (*Detail, error) {
	r, err := s.load(ctx, arn)
	if err != nil {
		return nil, err
	}
	users, err := s.inUse(ctx, arn)
	if err != nil {
		return nil, err
	}
	now := s.now()
	d := &Detail{
		CertificateArn:                           r.arn,
		DomainName:                               r.domain,
		CreatedAt:                                r.createdAt,
		ImportedAt:                               r.importedAt,
		IssuedAt:                                 r.issuedAt,
		Status:                                   r.status(now),
		FailureReason:                            r.failureReason,
		RevokedAt:                                r.revokedAt,
		RevocationReason:                         r.revocationReason,
		NotBefore:                                r.notBefore,
		NotAfter:                                 r.notAfter,
		KeyAlgorithm:                             r.keyAlg,
		InUseBy:                                  users,
		Type:                                     r.typ,
		KeyUsages:                                []string{},
		ExtendedKeyUsages:                        []ExtendedKeyUsage{},
		RenewalEligibility:                       r.renewalEligibility(now, len(users) > 0),
		CertificateTransparencyLoggingPreference: r.ctLogging,
	}
	if c := r.leaf; c != nil {
		d.DomainName = domainName(c)
		d.SubjectAlternativeNames = subjectAlternativeNames(c)
		d.Serial = serialString(c.SerialNumber)
		d.Subject = c.Subject.String()
		d.Issuer = issuerName(c)
		d.SignatureAlgorithm = signatureAlgorithmName(c.SignatureAlgorithm)
		d.KeyUsages = keyUsagesOf(c)
		d.ExtendedKeyUsages = extendedKeyUsagesOf(c)
	}
	if r.typ == TypeAmazonIssued {
		d.DomainName = r.names[0]
		d.SubjectAlternativeNames = append([]string(nil), r.names...)
		if r.leaf != nil {
			d.Issuer = IssuerName
		}
		d.DomainValidationOptions = s.domainValidations(r, r.validated, r.lifecycle == StatusIssued)
		if r.renewalStatus != "" {
			missing := r.renewalMissing
			seen := []string{}
			for _, n := range r.names {
				if b := validationBase(n); !slices.Contains(missing, b) {
					seen = append(seen, b)
				}
			}
			d.RenewalSummary = &RenewalSummary{
				RenewalStatus:           r.renewalStatus,
				DomainValidationOptions: s.domainValidations(r, seen, false),
				UpdatedAt:               r.renewalUpdatedAt,
			}
			if r.renewalStatus == RenewalFailed {
				d.RenewalSummary.RenewalStatusReason = "OTHER"
			}
		}
	}
	return d, nil
}

// renewalEligibility is ELIGIBLE for an issued, unexpired, requested
// certificate that something uses or that was exported (ACM's rule for
// DNS-validated public and exported private certificates); imported
// certificates are never eligible.
func (r *record) renewalEligibility(now time.Time, inUse bool) string {
	if r.typ == TypeAmazonIssued && r.status(now) == StatusIssued && (inUse || r.exported) {
		return RenewalEligible
	}
	return RenewalIneligible
}

// Get returns the certificate and its chain (issuer first) as PEM. chainPEM is
// empty when none was imported.
func (s *Service) Get(ctx context.Context, arn string) (certPEM, chainPEM string, err error) {
	r, err := s.load(ctx, arn)
	if err != nil {
		return "", "", err
	}
	if err := r.requireIssued(s.now()); err != nil {
		return "", "", err
	}
	return r.certPEM, r.chainPEM, nil
}

// requireIssued refuses certificates that have no certificate yet.
func (r *record) requireIssued(now time.Time) error {
	if r.leaf != nil {
		return nil
	}
	if st := r.status(now); st != StatusPendingValidation {
		return fault.Coded(fault.Invalid, "InvalidStateException", "Certificate %s is %s; it was never issued.", r.arn, st)
	}
	return fault.Coded(fault.Conflict, "RequestInProgressException", "Certificate %s is not yet issued: it is waiting for DNS validation.", r.arn)
}

// Delete removes a certificate and its key. It is refused while anything uses
// the certificate.
func (s *Service) Delete(ctx context.Context, arn string) error {
	if err := CheckARN(arn); err != nil {
		return err
	}
	users, err := s.inUse(ctx, arn)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return fault.Coded(fault.Conflict, "ResourceInUseException", "Certificate %s in account %s is in use.", arn, s.account)
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM acm_certificate WHERE arn=?`, arn).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(arn)
		}
		if err != nil {
			return fmt.Errorf("certificate: read %s: %w", arn, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM acm_certificate_tag WHERE certificate_id=?`, id); err != nil {
			return fmt.Errorf("certificate: delete tags of %s: %w", arn, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM acm_certificate WHERE id=?`, id); err != nil {
			return fmt.Errorf("certificate: delete %s: %w", arn, err)
		}
		return nil
	})
	return err
}

// domainName is the certificate's primary name: its subject CN, or its first
// DNS (then IP) subject alternative name.
func domainName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	if len(c.IPAddresses) > 0 {
		return c.IPAddresses[0].String()
	}
	return ""
}

// subjectAlternativeNames lists the DNS and IP SANs in certificate order, or
// the domain name when the certificate has none.
func subjectAlternativeNames(c *x509.Certificate) []string {
	out := make([]string, 0, len(c.DNSNames)+len(c.IPAddresses))
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		if d := domainName(c); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func serialString(n *big.Int) string {
	b := n.Bytes()
	if len(b) == 0 {
		b = []byte{0}
	}
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = hex.EncodeToString([]byte{x})
	}
	return strings.Join(parts, ":")
}

// issuerName reports the issuer as ACM does for imported certificates: the
// issuing organisation (e.g. "Let's Encrypt"), else its common name, else
// the whole distinguished name.
func issuerName(c *x509.Certificate) string {
	if len(c.Issuer.Organization) > 0 {
		return c.Issuer.Organization[0]
	}
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

// ipOf parses name as an IP address, or returns nil.
func ipOf(name string) net.IP { return net.ParseIP(name) }
