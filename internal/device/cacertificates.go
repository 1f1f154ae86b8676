package device

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/tagging"
)

// CAStatus is a registered CA certificate's status.
type CAStatus string

// CA certificate statuses from the IoT model.
const (
	CAStatusActive   CAStatus = "ACTIVE"
	CAStatusInactive CAStatus = "INACTIVE"
)

// AutoRegistration says whether a CA certificate registers the device
// certificates it signed when they first connect (just-in-time
// registration).
type AutoRegistration string

// Auto-registration statuses from the IoT model.
const (
	AutoRegistrationEnable  AutoRegistration = "ENABLE"
	AutoRegistrationDisable AutoRegistration = "DISABLE"
)

// RegistrationConfig is a CA certificate's provisioning template, kept and
// returned as given. Portico does not run provisioning templates
// (just-in-time provisioning): a CA with one still registers new device
// certificates PENDING_ACTIVATION and publishes the registration event.
type RegistrationConfig struct {
	TemplateBody string
	RoleARN      string
	TemplateName string
}

func (c *RegistrationConfig) empty() bool {
	return c == nil || c.TemplateBody == "" && c.RoleARN == "" && c.TemplateName == ""
}

// CACertificate is a registered CA certificate, as DescribeCACertificate
// shows it.
type CACertificate struct {
	ARN              string
	ID               string
	Status           CAStatus
	AutoRegistration AutoRegistration
	Mode             Mode
	PEM              string
	OwnedBy          string
	CreationDate     time.Time
	LastModifiedDate time.Time
	CustomerVersion  int
	GenerationID     string
	NotBefore        time.Time
	NotAfter         time.Time
	// RegistrationConfig is nil when the CA has none.
	RegistrationConfig *RegistrationConfig
}

// CASummary is a CA certificate as ListCACertificates shows it.
type CASummary struct {
	ARN          string
	ID           string
	Status       CAStatus
	CreationDate time.Time
}

// CAPage is one page of ListCACertificates. NextMarker is empty on the last
// page.
type CAPage struct {
	CACertificates []CASummary
	NextMarker     string
}

// RegisterCAInput is the input of RegisterCACertificate.
type RegisterCAInput struct {
	CACertificatePEM string
	// VerificationCertificatePEM is required in DEFAULT mode and must be
	// empty in SNI_ONLY mode.
	VerificationCertificatePEM string
	SetAsActive                bool
	AllowAutoRegistration      bool
	RegistrationConfig         *RegistrationConfig
	// Mode is DEFAULT ("" too) or SNI_ONLY.
	Mode Mode
	Tags []tagging.Tag
}

// UpdateCAInput is the input of UpdateCACertificate; empty members change
// nothing.
type UpdateCAInput struct {
	ID                     string
	NewStatus              CAStatus
	NewAutoRegistration    AutoRegistration
	RegistrationConfig     *RegistrationConfig
	RemoveAutoRegistration bool
}

// caMigration adds CA certificates, their tags, the account's registration
// code, and the index ListCertificatesByCA and DeleteCACertificate use.
const caMigration = `CREATE TABLE device_ca_certificates (
		id                TEXT PRIMARY KEY,  -- lowercase hex SHA-256 of der
		der               BLOB NOT NULL,
		status            TEXT NOT NULL,
		auto_registration TEXT NOT NULL,
		mode              TEXT NOT NULL,
		owned_by          TEXT NOT NULL,
		not_before        INTEGER NOT NULL,  -- unix seconds
		not_after         INTEGER NOT NULL,
		created_ms        INTEGER NOT NULL,  -- unix milliseconds
		modified_ms       INTEGER NOT NULL,
		customer_version  INTEGER NOT NULL,
		generation_id     TEXT NOT NULL,
		template_body     TEXT NOT NULL DEFAULT '',
		role_arn          TEXT NOT NULL DEFAULT '',
		template_name     TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX device_ca_certificates_by_creation ON device_ca_certificates (created_ms, id);
	CREATE TABLE device_ca_certificate_tags (
		ca_certificate_id TEXT NOT NULL,
		key               TEXT NOT NULL,
		value             TEXT NOT NULL,
		PRIMARY KEY (ca_certificate_id, key)
	);
	CREATE TABLE device_registration_code (
		account TEXT PRIMARY KEY,
		code    TEXT NOT NULL
	);
	CREATE INDEX device_certificates_by_ca ON device_certificates (ca_certificate_id, created_ms, id);`

// CAARN returns the ARN of the CA certificate with the given ID.
func (s *Service) CAARN(id string) string {
	return "arn:aws:iot:" + s.region + ":" + s.account + ":cacert/" + id
}

func caNotFound(id string) error {
	return fault.NotFoundf("The CA certificate %s does not exist", id)
}

// RegisterCACertificate registers a CA certificate. In DEFAULT mode the
// caller proves it holds the CA's key with a verification certificate whose
// subject CN is the account's registration code (GetRegistrationCode),
// signed by the CA; in SNI_ONLY mode no proof is asked for, and the device
// certificates the CA signs must be presented with SNI.
func (s *Service) RegisterCACertificate(ctx context.Context, in RegisterCAInput) (*CACertificate, error) {
	mode := in.Mode
	switch mode {
	case "":
		mode = ModeDefault
	case ModeDefault, ModeSNIOnly:
	default:
		return nil, fault.Invalidf("1 validation error detected: Value '%s' at 'certificateMode' failed to satisfy constraint: Member must satisfy enum value set: [DEFAULT, SNI_ONLY]", in.Mode)
	}
	if err := validateRegistrationConfig(in.RegistrationConfig); err != nil {
		return nil, err
	}
	if err := tagging.Validate(in.Tags); err != nil {
		return nil, err
	}
	ca, err := parseMemberPEM(in.CACertificatePEM, "caCertificate")
	if err != nil {
		return nil, err
	}
	if err := s.checkCA(ca); err != nil {
		return nil, err
	}
	switch {
	case mode == ModeSNIOnly && in.VerificationCertificatePEM != "":
		return nil, fault.Invalidf("verificationCertificate must be empty when certificateMode is SNI_ONLY")
	case mode == ModeDefault:
		if in.VerificationCertificatePEM == "" {
			return nil, fault.Invalidf("verificationCertificate is required when certificateMode is DEFAULT: sign a certificate whose common name is the registration code (GetRegistrationCode) with the CA's key")
		}
		if err := s.checkVerification(ctx, ca, in.VerificationCertificatePEM); err != nil {
			return nil, err
		}
	}
	status, auto := CAStatusInactive, AutoRegistrationDisable
	if in.SetAsActive {
		status = CAStatusActive
	}
	if in.AllowAutoRegistration {
		auto = AutoRegistrationEnable
	}
	rc := in.RegistrationConfig
	if rc == nil {
		rc = &RegistrationConfig{}
	}
	id := CertificateID(ca.Raw)
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM device_ca_certificates WHERE id=?`, id).Scan(&one)
		if err == nil {
			return &fault.Error{Kind: fault.AlreadyExists, ResourceID: id, ResourceARN: s.CAARN(id),
				Message: "The CA certificate is already registered"}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: register CA certificate: %w", err)
		}
		gen, err := newGenerationID()
		if err != nil {
			return err
		}
		now := s.now().UnixMilli()
		_, err = tx.ExecContext(ctx, `INSERT INTO device_ca_certificates
			(id, der, status, auto_registration, mode, owned_by, not_before, not_after,
			 created_ms, modified_ms, customer_version, generation_id, template_body, role_arn, template_name)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`,
			id, ca.Raw, string(status), string(auto), string(mode), s.account,
			ca.NotBefore.Unix(), ca.NotAfter.Unix(), now, now, gen, rc.TemplateBody, rc.RoleARN, rc.TemplateName)
		if err != nil {
			return fmt.Errorf("device: register CA certificate: %w", err)
		}
		for _, t := range in.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_ca_certificate_tags (ca_certificate_id, key, value) VALUES (?, ?, ?)`,
				id, t.Key, t.Value); err != nil {
				return fmt.Errorf("device: register CA certificate tags: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.DescribeCACertificate(ctx, id)
}

// checkCA refuses a certificate that cannot be a CA now: one whose basic
// constraints say it is not a CA, or outside its validity. A version 1
// certificate (no extensions) is accepted, as OpenSSL makes them.
func (s *Service) checkCA(ca *x509.Certificate) error {
	if ca.BasicConstraintsValid && !ca.IsCA {
		return validationError("caCertificate is not a CA certificate: its basic constraints say CA:FALSE")
	}
	if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return validationError("caCertificate may not sign certificates: its key usage lacks keyCertSign")
	}
	return checkValidity(ca, "caCertificate", s.now())
}

func checkValidity(c *x509.Certificate, member string, now time.Time) error {
	if now.Before(c.NotBefore) {
		return validationError("%s is not valid before %s", member, c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return validationError("%s expired at %s", member, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkVerification checks the proof of possession of a CA's key: a
// certificate signed by the CA whose subject CN is the registration code.
func (s *Service) checkVerification(ctx context.Context, ca *x509.Certificate, text string) error {
	v, err := parseMemberPEM(text, "verificationCertificate")
	if err != nil {
		return err
	}
	code, err := s.registrationCode(ctx)
	if err != nil {
		return err
	}
	if code == "" || !equalFoldASCII(v.Subject.CommonName, code) {
		return fault.Coded(fault.Invalid, "RegistrationCodeValidationException",
			"The verification certificate's common name %q is not this account's registration code; get it with GetRegistrationCode",
			v.Subject.CommonName)
	}
	// CheckSignature, not CheckSignatureFrom: the latter also requires v3
	// basic constraints, which checkCA has judged already.
	if err := ca.CheckSignature(v.SignatureAlgorithm, v.RawTBSCertificate, v.Signature); err != nil {
		return validationError("The verification certificate is not signed by the CA certificate's key: %v", err)
	}
	return checkValidity(v, "verificationCertificate", s.now())
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// validateRegistrationConfig checks a registrationConfig against the model.
func validateRegistrationConfig(c *RegistrationConfig) error {
	if c == nil {
		return nil
	}
	if len(c.TemplateBody) > 10240 {
		return fault.Invalidf("1 validation error detected: Value at 'registrationConfig.templateBody' failed to satisfy constraint: Member must have length less than or equal to 10240")
	}
	if c.RoleARN != "" && (len(c.RoleARN) < 20 || len(c.RoleARN) > 2048) {
		return fault.Invalidf("1 validation error detected: Value '%s' at 'registrationConfig.roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", c.RoleARN)
	}
	if c.TemplateName != "" {
		if err := checkTemplateName(c.TemplateName, "registrationConfig.templateName"); err != nil {
			return err
		}
	}
	return nil
}

// checkTemplateName applies the model's TemplateName shape.
func checkTemplateName(name, member string) error {
	ok := len(name) >= 1 && len(name) <= 36
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
	}
	if !ok {
		return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length between 1 and 36 and satisfy regular expression pattern: ^[0-9A-Za-z_-]+$", name, member)
	}
	return nil
}

// DescribeCACertificate returns the CA certificate with the given ID.
func (s *Service) DescribeCACertificate(ctx context.Context, id string) (*CACertificate, error) {
	id, err := validateID(id)
	if err != nil {
		return nil, err
	}
	var (
		c                    CACertificate
		der                  []byte
		status, auto, mode   string
		notBefore, notAfter  int64
		createdMs, changedMs int64
		rc                   RegistrationConfig
	)
	err = s.st.DB().QueryRowContext(ctx, `SELECT id, der, status, auto_registration, mode, owned_by,
		not_before, not_after, created_ms, modified_ms, customer_version, generation_id,
		template_body, role_arn, template_name
		FROM device_ca_certificates WHERE id=?`, id).Scan(&c.ID, &der, &status, &auto, &mode, &c.OwnedBy,
		&notBefore, &notAfter, &createdMs, &changedMs, &c.CustomerVersion, &c.GenerationID,
		&rc.TemplateBody, &rc.RoleARN, &rc.TemplateName)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, caNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("device: describe CA certificate: %w", err)
	}
	c.ARN = s.CAARN(c.ID)
	c.Status, c.AutoRegistration, c.Mode = CAStatus(status), AutoRegistration(auto), Mode(mode)
	c.PEM = encodePEM("CERTIFICATE", der)
	c.CreationDate = time.UnixMilli(createdMs).UTC()
	c.LastModifiedDate = time.UnixMilli(changedMs).UTC()
	c.NotBefore, c.NotAfter = time.Unix(notBefore, 0).UTC(), time.Unix(notAfter, 0).UTC()
	if !rc.empty() {
		c.RegistrationConfig = &rc
	}
	return &c, nil
}

// ListCACertificates returns one page of CA certificates ordered by creation
// (newest first unless ascending), only those whose provisioning template
// is templateName when it is given.
func (s *Service) ListCACertificates(ctx context.Context, pageSize int, marker string, ascending bool, templateName string) (*CAPage, error) {
	if templateName != "" {
		if err := checkTemplateName(templateName, "templateName"); err != nil {
			return nil, err
		}
	}
	where, args := `?='' OR template_name=?`, []any{templateName, templateName}
	rows, next, err := s.pageOf(ctx, "device_ca_certificates", where, args, pageSize, marker, ascending)
	if err != nil {
		return nil, err
	}
	page := &CAPage{CACertificates: make([]CASummary, 0, len(rows)), NextMarker: next}
	for _, r := range rows {
		page.CACertificates = append(page.CACertificates, CASummary{ARN: s.CAARN(r.id), ID: r.id,
			Status: CAStatus(r.status), CreationDate: r.created})
	}
	return page, nil
}

// UpdateCACertificate changes a CA certificate's status, auto-registration
// status or provisioning template. A request that changes nothing writes
// nothing.
func (s *Service) UpdateCACertificate(ctx context.Context, in UpdateCAInput) error {
	id, err := validateID(in.ID)
	if err != nil {
		return err
	}
	switch in.NewStatus {
	case "", CAStatusActive, CAStatusInactive:
	default:
		return fault.Invalidf("1 validation error detected: Value '%s' at 'newStatus' failed to satisfy constraint: Member must satisfy enum value set: [ACTIVE, INACTIVE]", in.NewStatus)
	}
	switch in.NewAutoRegistration {
	case "", AutoRegistrationEnable, AutoRegistrationDisable:
	default:
		return fault.Invalidf("1 validation error detected: Value '%s' at 'newAutoRegistrationStatus' failed to satisfy constraint: Member must satisfy enum value set: [ENABLE, DISABLE]", in.NewAutoRegistration)
	}
	if err := validateRegistrationConfig(in.RegistrationConfig); err != nil {
		return err
	}
	if in.RemoveAutoRegistration && !in.RegistrationConfig.empty() {
		return fault.Invalidf("registrationConfig and removeAutoRegistration cannot be given together")
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		var (
			status, auto string
			rc           RegistrationConfig
		)
		err := tx.QueryRowContext(ctx, `SELECT status, auto_registration, template_body, role_arn, template_name
			FROM device_ca_certificates WHERE id=?`, id).Scan(&status, &auto, &rc.TemplateBody, &rc.RoleARN, &rc.TemplateName)
		if errors.Is(err, sql.ErrNoRows) {
			return caNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("device: update CA certificate: %w", err)
		}
		next := struct {
			status, auto string
			rc           RegistrationConfig
		}{status, auto, rc}
		if in.NewStatus != "" {
			next.status = string(in.NewStatus)
		}
		if in.NewAutoRegistration != "" {
			next.auto = string(in.NewAutoRegistration)
		}
		if in.RemoveAutoRegistration {
			next.rc = RegistrationConfig{}
		} else if in.RegistrationConfig != nil {
			next.rc = *in.RegistrationConfig
		}
		if next.status == status && next.auto == auto && next.rc == rc {
			return errUnchanged
		}
		gen, err := newGenerationID()
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE device_ca_certificates SET status=?, auto_registration=?,
			template_body=?, role_arn=?, template_name=?, modified_ms=?,
			customer_version=customer_version+1, generation_id=? WHERE id=?`,
			next.status, next.auto, next.rc.TemplateBody, next.rc.RoleARN, next.rc.TemplateName,
			s.now().UnixMilli(), gen, id)
		if err != nil {
			return fmt.Errorf("device: update CA certificate: %w", err)
		}
		return nil
	})
}

// DeleteCACertificate deletes an INACTIVE CA certificate that no registered
// device certificate names as its CA; either condition unmet is a
// CertificateStateException saying what to do first.
func (s *Service) DeleteCACertificate(ctx context.Context, id string) error {
	id, err := validateID(id)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM device_ca_certificates WHERE id=?`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return caNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("device: delete CA certificate: %w", err)
		}
		if CAStatus(status) == CAStatusActive {
			return stateError("CA certificate %s is ACTIVE; deactivate it (UpdateCACertificate --new-status INACTIVE) before deleting it", id)
		}
		var signed int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_certificates WHERE ca_certificate_id=?`, id).Scan(&signed); err != nil {
			return fmt.Errorf("device: delete CA certificate: %w", err)
		}
		if signed > 0 {
			return stateError("CA certificate %s signed %d registered certificate(s); delete them (ListCertificatesByCA, DeleteCertificate) before deleting the CA certificate", id, signed)
		}
		for _, q := range []string{`DELETE FROM device_ca_certificate_tags WHERE ca_certificate_id=?`, `DELETE FROM device_ca_certificates WHERE id=?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("device: delete CA certificate: %w", err)
			}
		}
		return nil
	})
	return err
}
