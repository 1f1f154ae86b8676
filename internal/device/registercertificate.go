package device

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// RegisterCertificate registers a device certificate signed by a registered
// CA certificate, in that CA's mode (DEFAULT or SNI_ONLY). The CA is the one
// in caCertificatePEM when given, otherwise the registered CA whose subject
// is the certificate's issuer and whose key signed it; the chain must
// verify now. status is ACTIVE, INACTIVE or REVOKED; when empty, the
// deprecated setAsActive decides (ACTIVE or INACTIVE).
func (s *Service) RegisterCertificate(ctx context.Context, certificatePEM, caCertificatePEM string, status Status, setAsActive bool) (*Certificate, error) {
	switch status {
	case "":
		status = StatusInactive
		if setAsActive {
			status = StatusActive
		}
	case StatusActive, StatusInactive, StatusRevoked:
	default:
		return nil, fault.Invalidf("status %s cannot be given to a certificate registration; use ACTIVE, INACTIVE or REVOKED", statusValue(status))
	}
	cert, err := parseCertificatePEM(certificatePEM)
	if err != nil {
		return nil, err
	}
	var named string // the ID of the CA in caCertificatePEM
	if caCertificatePEM != "" {
		ca, err := parseMemberPEM(caCertificatePEM, "caCertificatePem")
		if err != nil {
			return nil, err
		}
		named = CertificateID(ca.Raw)
	}
	id := CertificateID(cert.Raw)
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		ca, err := s.signingCA(ctx, tx, cert, named)
		if err != nil {
			return err
		}
		if ca.status != CAStatusActive {
			return stateError("CA certificate %s is %s; activate it (UpdateCACertificate --new-status ACTIVE) before registering certificates it signed", ca.id, ca.status)
		}
		if err := verifyChain(cert, ca.cert, s.now()); err != nil {
			return validationError("certificatePem does not verify against CA certificate %s: %v", ca.id, err)
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM device_certificates WHERE id=?`, id).Scan(&one)
		if err == nil {
			return &fault.Error{Kind: fault.AlreadyExists, ResourceID: id, ResourceARN: s.ARN(id),
				Message: "The certificate is already provisioned or registered"}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: %w", err)
		}
		return s.insert(ctx, tx, cert, status, ca.mode, ca.id)
	})
	if err != nil {
		return nil, err
	}
	return s.DescribeCertificate(ctx, id)
}

// registeredCA is a registered CA certificate as registration needs it.
type registeredCA struct {
	id     string
	cert   *x509.Certificate
	status CAStatus
	auto   AutoRegistration
	mode   Mode
}

// signingCA finds the registered CA that signed cert: the one with ID named
// when it is given, otherwise the only registered CA whose subject is the
// certificate's issuer and whose key verifies its signature.
func (s *Service) signingCA(ctx context.Context, tx *sql.Tx, cert *x509.Certificate, named string) (*registeredCA, error) {
	cas, err := readCAs(ctx, tx, named)
	if err != nil {
		return nil, err
	}
	if named != "" {
		if len(cas) == 0 {
			return nil, validationError("the CA certificate in caCertificatePem (%s) is not registered; register it first (RegisterCACertificate)", named)
		}
		return cas[0], nil
	}
	var found []*registeredCA
	for _, ca := range cas {
		if signs(ca.cert, cert) {
			found = append(found, ca)
		}
	}
	switch len(found) {
	case 0:
		return nil, validationError("certificatePem is not signed by a registered CA certificate (issuer %q); register the CA (RegisterCACertificate) or use RegisterCertificateWithoutCA", cert.Issuer.String())
	case 1:
		return found[0], nil
	}
	return nil, fault.Coded(fault.Conflict, "CertificateConflictException",
		"%d registered CA certificates have the subject and key that signed certificatePem; name the one to use in caCertificatePem", len(found))
}

// readCAs reads every registered CA certificate, or the one with ID only.
func readCAs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, only string) ([]*registeredCA, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, der, status, auto_registration, mode FROM device_ca_certificates
		WHERE ?='' OR id=? ORDER BY created_ms, id`, only, only)
	if err != nil {
		return nil, fmt.Errorf("device: read CA certificates: %w", err)
	}
	defer rows.Close()
	var out []*registeredCA
	for rows.Next() {
		var (
			ca                 registeredCA
			der                []byte
			status, auto, mode string
		)
		if err := rows.Scan(&ca.id, &der, &status, &auto, &mode); err != nil {
			return nil, fmt.Errorf("device: read CA certificates: %w", err)
		}
		if ca.cert, err = x509.ParseCertificate(der); err != nil {
			continue // stored after parsing; a stricter Go that refuses it signs nothing
		}
		ca.status, ca.auto, ca.mode = CAStatus(status), AutoRegistration(auto), Mode(mode)
		out = append(out, &ca)
	}
	return out, rows.Err()
}

// signs reports whether ca's subject is cert's issuer and ca's key made
// cert's signature.
func signs(ca, cert *x509.Certificate) bool {
	return string(ca.RawSubject) == string(cert.RawIssuer) &&
		ca.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) == nil
}

// verifyChain verifies cert against ca alone, at now, for any key usage:
// validity periods, signature, and the CA's name and path constraints.
func verifyChain(cert, ca *x509.Certificate, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// ListCertificatesByCA returns one page of the device certificates
// registered with the given CA, ordered by creation (newest first unless
// ascending). An unknown CA has none.
func (s *Service) ListCertificatesByCA(ctx context.Context, caID string, pageSize int, marker string, ascending bool) (*Page, error) {
	caID, err := validateMemberID(caID, "caCertificateId")
	if err != nil {
		return nil, err
	}
	rows, next, err := s.pageOf(ctx, "device_certificates", `ca_certificate_id=?`, []any{caID}, pageSize, marker, ascending)
	if err != nil {
		return nil, err
	}
	page := &Page{Certificates: make([]Summary, 0, len(rows)), NextMarker: next}
	for _, r := range rows {
		page.Certificates = append(page.Certificates, Summary{ARN: s.ARN(r.id), ID: r.id,
			Status: Status(r.status), Mode: Mode(r.mode), CreationDate: r.created})
	}
	return page, nil
}
