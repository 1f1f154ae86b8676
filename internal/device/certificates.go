package device

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// CreateKeysAndCertificate generates an RSA 2048 key pair, has the device CA
// issue a certificate for it (CN "AWS IoT Certificate", valid until
// 2049-12-31T23:59:59Z, as AWS IoT does) and registers it, ACTIVE when
// setAsActive and INACTIVE otherwise. The private key is returned once and
// never stored.
func (s *Service) CreateKeysAndCertificate(ctx context.Context, setAsActive bool) (*KeysAndCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("device: generate key: %w", err)
	}
	der, err := s.ca.IssueClientUntil(key.Public(), GeneratedCommonName, GeneratedNotAfter)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("device: parse issued certificate: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, fmt.Errorf("device: encode public key: %w", err)
	}
	status := StatusInactive
	if setAsActive {
		status = StatusActive
	}
	id := CertificateID(der)
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		return s.insert(ctx, tx, cert, status, ModeDefault, "")
	})
	if err != nil {
		return nil, err
	}
	return &KeysAndCertificate{
		ARN:            s.ARN(id),
		ID:             id,
		CertificatePEM: encodePEM("CERTIFICATE", der),
		PublicKeyPEM:   encodePEM("PUBLIC KEY", pubDER),
		// AWS IoT hands out PKCS#1 ("RSA PRIVATE KEY"); device SDKs expect it.
		PrivateKeyPEM: encodePEM("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)),
	}, nil
}

// RegisterCertificateWithoutCA registers a device certificate whatever its
// issuer, in SNI_ONLY mode. status defaults to ACTIVE; ACTIVE, INACTIVE and
// REVOKED are accepted. A certificate registered already is a
// ResourceAlreadyExists fault naming it.
func (s *Service) RegisterCertificateWithoutCA(ctx context.Context, certificatePEM string, status Status) (*Certificate, error) {
	switch status {
	case "":
		status = StatusActive
	case StatusActive, StatusInactive, StatusRevoked:
	default:
		return nil, fault.Invalidf("status %s cannot be given to a certificate registration; use ACTIVE, INACTIVE or REVOKED", statusValue(status))
	}
	cert, err := parseCertificatePEM(certificatePEM)
	if err != nil {
		return nil, err
	}
	id := CertificateID(cert.Raw)
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM device_certificates WHERE id=?`, id).Scan(&one)
		if err == nil {
			return &fault.Error{Kind: fault.AlreadyExists, ResourceID: id, ResourceARN: s.ARN(id),
				Message: "The certificate is already provisioned or registered"}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: %w", err)
		}
		return s.insert(ctx, tx, cert, status, ModeSNIOnly, "")
	})
	if err != nil {
		return nil, err
	}
	return s.DescribeCertificate(ctx, id)
}

// insert adds a certificate; caID is the registered CA that signed it, ""
// for none.
func (s *Service) insert(ctx context.Context, tx *sql.Tx, cert *x509.Certificate, status Status, mode Mode, caID string) error {
	gen, err := newGenerationID()
	if err != nil {
		return err
	}
	now := s.now().UnixMilli()
	_, err = tx.ExecContext(ctx, `INSERT INTO device_certificates
		(id, der, status, mode, ca_certificate_id, owned_by, not_before, not_after,
		 created_ms, modified_ms, customer_version, generation_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
		CertificateID(cert.Raw), cert.Raw, string(status), string(mode), caID, s.account,
		cert.NotBefore.Unix(), cert.NotAfter.Unix(), now, now, gen)
	if err != nil {
		return fmt.Errorf("device: insert certificate: %w", err)
	}
	return nil
}

// DescribeCertificate returns the certificate with the given ID.
func (s *Service) DescribeCertificate(ctx context.Context, id string) (*Certificate, error) {
	id, err := validateID(id)
	if err != nil {
		return nil, err
	}
	row := s.st.DB().QueryRowContext(ctx, `SELECT id, der, status, mode, ca_certificate_id, owned_by,
		not_before, not_after, created_ms, modified_ms, customer_version, generation_id,
		transfer_target, transfer_message, transfer_ms
		FROM device_certificates WHERE id=?`, id)
	var (
		c                    Certificate
		der                  []byte
		status, mode         string
		notBefore, notAfter  int64
		createdMs, changedMs int64
		transfer             TransferData
		transferMs           int64
	)
	err = row.Scan(&c.ID, &der, &status, &mode, &c.CACertificateID, &c.OwnedBy,
		&notBefore, &notAfter, &createdMs, &changedMs, &c.CustomerVersion, &c.GenerationID,
		&transfer.TargetAccount, &transfer.Message, &transferMs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("device: describe certificate: %w", err)
	}
	c.ARN = s.ARN(c.ID)
	c.Status, c.Mode = Status(status), Mode(mode)
	c.PEM = encodePEM("CERTIFICATE", der)
	c.NotBefore, c.NotAfter = time.Unix(notBefore, 0).UTC(), time.Unix(notAfter, 0).UTC()
	c.CreationDate, c.LastModifiedDate = time.UnixMilli(createdMs).UTC(), time.UnixMilli(changedMs).UTC()
	if transferMs != 0 {
		transfer.Date = time.UnixMilli(transferMs).UTC()
		c.Transfer = &transfer
	}
	return &c, nil
}

// ListCertificates returns one page of certificates ordered by creation date,
// newest first unless ascending. pageSize 0 means DefaultPageSize; marker is
// the NextMarker of the previous page, or empty for the first.
func (s *Service) ListCertificates(ctx context.Context, pageSize int, marker string, ascending bool) (*Page, error) {
	rows, next, err := s.pageOf(ctx, "device_certificates", "1", nil, pageSize, marker, ascending)
	if err != nil {
		return nil, err
	}
	page := &Page{Certificates: make([]Summary, 0, len(rows)), NextMarker: next}
	for _, r := range rows {
		page.Certificates = append(page.Certificates, Summary{ARN: s.ARN(r.id), ID: r.id, Status: Status(r.status),
			Mode: Mode(r.mode), CreationDate: r.created})
	}
	return page, nil
}

// A marker is the base64 of "<created_ms>:<id>" of the last certificate on
// the previous page: keyset pagination, stable while certificates come and go.
func encodeMarker(createdMs int64, id string) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(createdMs, 10) + ":" + id))
}

func decodeMarker(marker string) (int64, string, error) {
	bad := fault.Invalidf("marker %q is not a marker this service returned", marker)
	raw, err := base64.StdEncoding.DecodeString(marker)
	if err != nil {
		return 0, "", bad
	}
	ms, id, ok := strings.Cut(string(raw), ":")
	if !ok {
		return 0, "", bad
	}
	createdMs, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return 0, "", bad
	}
	if id, err = validateID(id); err != nil {
		return 0, "", bad
	}
	return createdMs, id, nil
}

// UpdateCertificate sets a certificate's status to ACTIVE, INACTIVE or
// REVOKED. REVOKED is final: moving a revoked certificate to another status
// is a CertificateStateException. Setting the status it has already changes
// nothing.
func (s *Service) UpdateCertificate(ctx context.Context, id string, newStatus Status) error {
	id, err := validateID(id)
	if err != nil {
		return err
	}
	switch newStatus {
	case StatusActive, StatusInactive, StatusRevoked:
	case "":
		return fault.Invalidf("newStatus is required")
	case StatusPendingTransfer, StatusPendingActivation, StatusRegisterInactive:
		return fault.Invalidf("status %s is used internally and cannot be set; use ACTIVE, INACTIVE or REVOKED", newStatus)
	default:
		return fault.Invalidf("1 validation error detected: Value '%s' at 'newStatus' failed to satisfy constraint: Member must satisfy enum value set: [ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE, PENDING_ACTIVATION]", newStatus)
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		current, err := currentStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		if current == newStatus {
			return errUnchanged
		}
		if current == StatusRevoked {
			return stateError("Certificate %s is REVOKED; a revoked certificate cannot be set to %s", id, newStatus)
		}
		if current == StatusPendingTransfer {
			return stateError("Certificate %s is PENDING_TRANSFER; it cannot change status until the transfer is cancelled (CancelCertificateTransfer)", id)
		}
		gen, err := newGenerationID()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE device_certificates SET status=?, modified_ms=?,
			customer_version=customer_version+1, generation_id=? WHERE id=?`,
			string(newStatus), s.now().UnixMilli(), gen, id)
		if err != nil {
			return fmt.Errorf("device: update certificate: %w", err)
		}
		return nil
	})
}

// errUnchanged rolls back an Update that would write nothing, so that
// subscribers are not woken for it.
var errUnchanged = errors.New("device: unchanged")

// update runs fn in one store transaction; fn returning errUnchanged is
// success.
func (s *Service) update(ctx context.Context, fn func(tx *sql.Tx) error) error {
	_, err := s.st.Update(ctx, fn)
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// deleteRows runs a DELETE in tx; deleting nothing is errUnchanged.
func deleteRows(ctx context.Context, tx *sql.Tx, what, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("device: %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errUnchanged
	}
	return nil
}

// existingCertificate returns the ID of the certificate that principal
// (member's certificate ARN) names, NotFound when there is none.
func (s *Service) existingCertificate(ctx context.Context, member, principal string) (string, error) {
	id, err := s.parseCertificatePrincipal(member, principal)
	if err != nil {
		return "", err
	}
	return id, certificateExists(ctx, s.st.DB(), id)
}

// certificateARNPage is a page of certificate ARNs from their IDs.
func (s *Service) certificateARNPage(ids []string, next string) *NamePage {
	page := &NamePage{Names: make([]string, 0, len(ids)), NextToken: next}
	for _, id := range ids {
		page.Names = append(page.Names, s.ARN(id))
	}
	return page
}

// DeleteCertificate deletes a certificate that is not ACTIVE (nor
// PENDING_TRANSFER). A certificate attached to a thing is refused with
// DeleteConflictException; so is one with policies attached, unless
// forceDelete, which detaches them.
func (s *Service) DeleteCertificate(ctx context.Context, id string, forceDelete bool) error {
	id, err := validateID(id)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		current, err := currentStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		switch current {
		case StatusActive:
			return stateError("Certificate %s is ACTIVE; deactivate it (UpdateCertificate to INACTIVE) before deleting it", id)
		case StatusPendingTransfer:
			return stateError("Certificate %s is PENDING_TRANSFER; cancel the transfer before deleting it", id)
		}
		var things, policies int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_thing_principals WHERE certificate_id=?`, id).Scan(&things); err != nil {
			return fmt.Errorf("device: delete certificate: %w", err)
		}
		if things > 0 {
			return fault.Coded(fault.Conflict, "DeleteConflictException",
				"Certificate %s is attached to %d thing(s); detach it (DetachThingPrincipal) before deleting it", id, things)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_policy_targets WHERE certificate_id=?`, id).Scan(&policies); err != nil {
			return fmt.Errorf("device: delete certificate: %w", err)
		}
		if policies > 0 && !forceDelete {
			return fault.Coded(fault.Conflict, "DeleteConflictException",
				"Certificate policies must be detached before deletion: certificate %s has %d policy(ies) attached (DetachPolicy, or forceDelete)", id, policies)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_policy_targets WHERE certificate_id=?`, id); err != nil {
			return fmt.Errorf("device: delete certificate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_certificates WHERE id=?`, id); err != nil {
			return fmt.Errorf("device: delete certificate: %w", err)
		}
		return nil
	})
	return err
}

func currentStatus(ctx context.Context, tx *sql.Tx, id string) (Status, error) {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM device_certificates WHERE id=?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound(id)
	}
	if err != nil {
		return "", fmt.Errorf("device: %w", err)
	}
	return Status(status), nil
}

// statusValue quotes a caller-supplied status for an error message.
func statusValue(s Status) string { return strconv.Quote(string(s)) }
