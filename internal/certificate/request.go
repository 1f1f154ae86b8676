package certificate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// IssuerName is the Issuer that DescribeCertificate reports for the
// certificates Portico issues (ACM says "Amazon").
const IssuerName = "Portico"

// DefaultValidationZone is the zone under which validation records point
// when the service names none.
const DefaultValidationZone = "acm-validations.portico.internal"

// Validation methods and statuses.
const (
	ValidationDNS   = "DNS"
	ValidationEmail = "EMAIL"
	ValidationHTTP  = "HTTP"

	ValidationPending = "PENDING_VALIDATION"
	ValidationSuccess = "SUCCESS"
	ValidationFailed  = "FAILED"
)

// Renewal statuses (ACM RenewalStatus).
const (
	RenewalPendingAutoRenewal = "PENDING_AUTO_RENEWAL"
	RenewalPendingValidation  = "PENDING_VALIDATION"
	RenewalSuccess            = "SUCCESS"
	RenewalFailed             = "FAILED"
)

// RequestableKeyAlgorithms are the key algorithms RequestCertificate accepts;
// the others can only be imported.
var RequestableKeyAlgorithms = []string{KeyRSA2048, KeyECPrime256v1, KeyECSecp384r1}

// IdempotencyWindow is how long an idempotency token returns the same ARN.
const IdempotencyWindow = time.Hour

// MaxNames is the model's limit on SubjectAlternativeNames.
const MaxNames = 100

// RequestInput is RequestCertificate's input.
type RequestInput struct {
	DomainName              string
	SubjectAlternativeNames []string
	// ValidationMethod is DNS; "" means DNS too (Portico sends no mail).
	ValidationMethod string
	IdempotencyToken string
	// KeyAlgorithm is one of RequestableKeyAlgorithms; "" means RSA_2048.
	KeyAlgorithm string
	// DomainValidationOptions (email validation only) must name requested
	// names; Portico checks that and otherwise ignores them.
	DomainValidationOptions []string
	// CertificateTransparencyLoggingPreference is ENABLED (default) or DISABLED.
	CertificateTransparencyLoggingPreference string
	// CertificateAuthorityArn asks for a private certificate; unsupported.
	CertificateAuthorityArn string
	Tags                    []Tag
}

// ResourceRecord is the DNS record that proves control of a name.
type ResourceRecord struct {
	Name  string // with a trailing dot
	Type  string // always CNAME
	Value string // with a trailing dot
}

// DomainValidation is one name's validation state.
type DomainValidation struct {
	DomainName       string
	ValidationDomain string
	ValidationStatus string
	ValidationMethod string
	ResourceRecord   ResourceRecord
}

// RenewalSummary reports a renewal of a requested certificate.
type RenewalSummary struct {
	RenewalStatus           string
	DomainValidationOptions []DomainValidation
	RenewalStatusReason     string
	UpdatedAt               time.Time
}

// requestNamePattern is the model's pattern for DomainName and SANs.
var requestNamePattern = regexp.MustCompile(`^(\*\.)?(([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9])\.)+([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z0-9])$`)

var tokenPattern = regexp.MustCompile(`^\w{1,32}$`)

func invalidParameter(format string, args ...any) error {
	return fault.Coded(fault.Invalid, "InvalidParameterException", format, args...)
}

func checkRequestName(member, name string) error {
	if len(name) < 1 || len(name) > 253 {
		return invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length between 1 and 253", name, member)
	}
	if !requestNamePattern.MatchString(name) || strings.Count(name, "*") > 1 {
		return invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\*\\.)?(((?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\\.)+((?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])", name, member)
	}
	return nil
}

// check validates the input and returns the names to certify, DomainName
// first, without duplicates.
func (in *RequestInput) check() ([]string, error) {
	if in.DomainName == "" {
		return nil, invalid("1 validation error detected: Value null at 'domainName' failed to satisfy constraint: Member must not be null")
	}
	if err := checkRequestName("domainName", in.DomainName); err != nil {
		return nil, err
	}
	if len(in.DomainName) > 64 {
		return nil, invalidParameter("The first domain name can be no longer than 64 characters (it becomes the certificate's common name); put %q in SubjectAlternativeNames instead.", in.DomainName)
	}
	if in.SubjectAlternativeNames != nil && (len(in.SubjectAlternativeNames) < 1 || len(in.SubjectAlternativeNames) > MaxNames) {
		return nil, invalid("1 validation error detected: Value at 'subjectAlternativeNames' failed to satisfy constraint: Member must have length between 1 and %d", MaxNames)
	}
	names := []string{strings.ToLower(in.DomainName)}
	for i, n := range in.SubjectAlternativeNames {
		if err := checkRequestName(fmt.Sprintf("subjectAlternativeNames.%d.member", i+1), n); err != nil {
			return nil, err
		}
		if n = strings.ToLower(n); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) > MaxNames {
		return nil, fault.Coded(fault.LimitExceeded, "LimitExceededException", "A certificate can name at most %d domains; this request names %d.", MaxNames, len(names))
	}
	switch in.ValidationMethod {
	case "", ValidationDNS:
	case ValidationEmail, ValidationHTTP:
		return nil, invalidParameter("Portico validates domain ownership by DNS only; %s validation is not supported. Use --validation-method DNS.", in.ValidationMethod)
	default:
		return nil, invalid("1 validation error detected: Value '%s' at 'validationMethod' failed to satisfy constraint: Member must satisfy enum value set: [EMAIL, DNS, HTTP]", in.ValidationMethod)
	}
	if in.IdempotencyToken != "" && !tokenPattern.MatchString(in.IdempotencyToken) {
		return nil, invalid("1 validation error detected: Value '%s' at 'idempotencyToken' failed to satisfy constraint: Member must satisfy regular expression pattern: \\w+ and have length between 1 and 32", in.IdempotencyToken)
	}
	if in.KeyAlgorithm != "" {
		if err := checkEnum("keyAlgorithm", []string{in.KeyAlgorithm}, KeyAlgorithms); err != nil {
			return nil, err
		}
		if !slices.Contains(RequestableKeyAlgorithms, in.KeyAlgorithm) {
			return nil, invalidParameter("The key algorithm %s can only be imported; request one of %s.", in.KeyAlgorithm, strings.Join(RequestableKeyAlgorithms, ", "))
		}
	}
	if p := in.CertificateTransparencyLoggingPreference; p != "" {
		if err := checkEnum("options.certificateTransparencyLoggingPreference", []string{p}, []string{"ENABLED", "DISABLED"}); err != nil {
			return nil, err
		}
	}
	if in.CertificateAuthorityArn != "" {
		return nil, invalidParameter("Portico has no private certificate authorities (ACM PCA); omit CertificateAuthorityArn.")
	}
	for _, d := range in.DomainValidationOptions {
		if !slices.Contains(names, strings.ToLower(d)) {
			return nil, fault.Coded(fault.Invalid, "InvalidDomainValidationOptionsException",
				"The domain %s in DomainValidationOptions is not one of the requested domain names.", d)
		}
	}
	if err := checkTags(in.Tags, true); err != nil {
		return nil, err
	}
	return names, nil
}

// Request records a certificate request for DNS validation and returns its
// ARN; the Validator issues it once every name's validation record is
// visible. The same IdempotencyToken within IdempotencyWindow returns the
// first request's ARN.
func (s *Service) Request(ctx context.Context, in RequestInput) (string, error) {
	names, err := in.check()
	if err != nil {
		return "", err
	}
	keyAlg := in.KeyAlgorithm
	if keyAlg == "" {
		keyAlg = KeyRSA2048
	}
	ct := in.CertificateTransparencyLoggingPreference
	if ct == "" {
		ct = "ENABLED"
	}
	namesJSON, _ := json.Marshal(names)
	now := s.now()
	arn := s.newARN()
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		if in.IdempotencyToken != "" {
			var prior string
			err := tx.QueryRowContext(ctx, `SELECT arn FROM acm_certificate WHERE type=? AND idempotency_token=? AND created_at>? ORDER BY id DESC LIMIT 1`,
				TypeAmazonIssued, in.IdempotencyToken, now.Add(-IdempotencyWindow).UnixMilli()).Scan(&prior)
			if err == nil {
				arn = prior
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("certificate: idempotency token: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO acm_certificate
			(arn, type, key_algorithm, domain_name, not_before, not_after, created_at, certificate_pem, private_key_pem, ct_logging,
			 lifecycle, names, validation_method, validated, idempotency_token)
			VALUES (?, ?, ?, ?, 0, 0, ?, '', '', ?, ?, ?, ?, '[]', ?)`,
			arn, TypeAmazonIssued, keyAlg, names[0], now.UnixMilli(), ct,
			StatusPendingValidation, string(namesJSON), ValidationDNS, in.IdempotencyToken)
		if err != nil {
			return fmt.Errorf("certificate: insert request: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("certificate: insert request: %w", err)
		}
		return putTags(ctx, tx, id, in.Tags)
	})
	if err != nil {
		return "", err
	}
	return arn, nil
}

// validationBase is the name whose control a validation record proves: the
// name without its wildcard label, so *.example.com and example.com share
// one record, as in ACM.
func validationBase(name string) string {
	return strings.TrimPrefix(normalizeName(name), "*.")
}

func (s *Service) validationZone() string {
	if s.ValidationZone != "" {
		return strings.TrimSuffix(strings.ToLower(s.ValidationZone), ".")
	}
	return DefaultValidationZone
}

// ValidationRecord returns the CNAME that proves control of name:
//
//	_acme-challenge.<base>.  CNAME  _<32 hex>.<validation zone>.
//
// where base is name without a leading "*." and the hex is derived from the
// account and base, so the record is stable: one record serves every later
// certificate and renewal for the name. Its owner name is the one ACME DNS-01
// looks up, so the same record also delegates DNS-01 challenges to the
// validation zone that Portico serves (the acme-dns pattern).
func (s *Service) ValidationRecord(name string) ResourceRecord {
	base := validationBase(name)
	sum := sha256.Sum256([]byte("portico/acm-validation\x00" + s.account + "\x00" + base))
	return ResourceRecord{
		Name:  "_acme-challenge." + base + ".",
		Type:  "CNAME",
		Value: "_" + hex.EncodeToString(sum[:16]) + "." + s.validationZone() + ".",
	}
}

// domainValidations lists the validation state per name, in SAN order;
// names whose record base is in seen (or all, when all is set) succeeded.
func (s *Service) domainValidations(r *record, seen []string, all bool) []DomainValidation {
	out := make([]DomainValidation, 0, len(r.names))
	for _, n := range r.names {
		st := ValidationPending
		if all || slices.Contains(seen, validationBase(n)) {
			st = ValidationSuccess
		}
		out = append(out, DomainValidation{
			DomainName:       n,
			ValidationDomain: n,
			ValidationStatus: st,
			ValidationMethod: ValidationDNS,
			ResourceRecord:   s.ValidationRecord(n),
		})
	}
	return out
}

// Renew asks for an issued, requested certificate to be re-issued under the
// same ARN. As in ACM it returns at once: the Validator renews it on its
// next pass if every validation record is still visible, and reports the
// outcome in RenewalSummary.
func (s *Service) Renew(ctx context.Context, arn string) error {
	r, err := s.load(ctx, arn)
	if err != nil {
		return err
	}
	now := s.now()
	if r.typ != TypeAmazonIssued {
		return invalid("Certificate %s is of type %s; only certificates that Portico issued can be renewed.", arn, r.typ)
	}
	if err := r.requireIssued(now); err != nil {
		return err
	}
	if st := r.status(now); st != StatusIssued {
		return fault.Coded(fault.Invalid, "InvalidStateException", "Certificate %s is %s and cannot be renewed; request a new certificate.", arn, st)
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE acm_certificate SET renewal_requested=1, renewal_status=?, renewal_updated_at=? WHERE arn=?`,
			RenewalPendingAutoRenewal, now.UnixMilli(), arn)
		if err != nil {
			return fmt.Errorf("certificate: renew %s: %w", arn, err)
		}
		return nil
	})
	return err
}
