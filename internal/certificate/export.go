package certificate

import (
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"strings"

	"github.com/portico-iot/portico/internal/fault"
)

// Passphrase limits of ExportCertificate: the model's PassphraseBlob is 4
// to 128 bytes, and ACM's documentation allows "any ASCII character except
// #, $, or %".
const (
	MinPassphrase = 4
	MaxPassphrase = 128
)

// Exported is what ExportCertificate returns: PEM text, the private key
// encrypted with the caller's passphrase.
type Exported struct {
	Certificate      string
	CertificateChain string
	// PrivateKey is an "ENCRYPTED PRIVATE KEY" PEM block (PKCS #8, PBES2
	// with PBKDF2-HMAC-SHA256 and AES-256-CBC).
	PrivateKey string
}

func checkPassphrase(p []byte) error {
	if p == nil {
		return invalid("1 validation error detected: Value null at 'passphrase' failed to satisfy constraint: Member must not be null")
	}
	if len(p) < MinPassphrase || len(p) > MaxPassphrase {
		return invalid("1 validation error detected: Value at 'passphrase' failed to satisfy constraint: Member must have length between %d and %d", MinPassphrase, MaxPassphrase)
	}
	for _, c := range p {
		if c > 0x7e || c < 0x20 {
			return invalid("The passphrase must consist of printable ASCII characters.")
		}
		if strings.IndexByte("#$%", c) >= 0 {
			return invalid("The passphrase must not contain the characters #, $ or %%.")
		}
	}
	return nil
}

// Export returns a certificate, its chain and its private key encrypted with
// passphrase. As ACM exports only private-CA certificates, Portico exports
// only those its own CA issued: imported certificates and certificates from
// an ACME directory are refused. Exporting makes the certificate eligible
// for managed renewal even when nothing uses it, as in ACM.
func (s *Service) Export(ctx context.Context, arn string, passphrase []byte) (*Exported, error) {
	r, err := s.load(ctx, arn)
	if err != nil {
		return nil, err
	}
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	switch {
	case r.typ == TypeImported:
		return nil, invalid("Certificate %s is an imported certificate and cannot be exported; only certificates issued by Portico's private CA can be exported.", arn)
	case r.leaf == nil:
		return nil, r.requireIssued(s.now())
	case !r.exportable:
		return nil, invalid("Certificate %s was issued by a public (ACME) certificate authority and cannot be exported; only certificates issued by Portico's private CA can be exported.", arn)
	}
	if st := r.status(s.now()); st != StatusIssued {
		return nil, fault.Coded(fault.Invalid, "InvalidStateException", "Certificate %s is %s and cannot be exported.", arn, st)
	}
	key, err := parsePrivateKey([]byte(r.key))
	if err != nil {
		return nil, fmt.Errorf("certificate: stored private key of %s does not parse", arn)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certificate: encode key of %s: %w", arn, err)
	}
	enc, err := encryptPKCS8(der, passphrase)
	if err != nil {
		return nil, fmt.Errorf("certificate: encrypt key of %s: %w", arn, err)
	}
	if !r.exported {
		_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE acm_certificate SET exported=1 WHERE id=?`, r.id)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("certificate: mark %s exported: %w", arn, err)
		}
	}
	return &Exported{Certificate: r.certPEM, CertificateChain: r.chainPEM, PrivateKey: string(enc)}, nil
}
