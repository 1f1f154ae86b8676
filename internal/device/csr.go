package device

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"fmt"

	"github.com/portico-iot/portico/internal/fault"
)

// MaxCSRLength bounds certificateSigningRequest, as the IoT model does.
const MaxCSRLength = 4096

// IssuedCertificate is the result of CreateCertificateFromCSR.
type IssuedCertificate struct {
	ARN            string
	ID             string
	CertificatePEM string
}

// CreateCertificateFromCSR has the device CA sign a PKCS#10 request (its
// signature checked; RSA of at least 2048 bits or ECDSA on P-256, P-384 or
// P-521, as AWS IoT accepts) and registers the certificate, ACTIVE when
// setAsActive and INACTIVE otherwise. The certificate's common name is the
// request's, or AWS IoT's "AWS IoT Certificate" when it has none, and it
// ends when CreateKeysAndCertificate's do. The device keeps its private key.
func (s *Service) CreateCertificateFromCSR(ctx context.Context, csrPEM string, setAsActive bool) (*IssuedCertificate, error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	cn := csr.Subject.CommonName
	if cn == "" {
		cn = GeneratedCommonName
	}
	der, err := s.ca.IssueClientUntil(csr.PublicKey, cn, GeneratedNotAfter)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("device: parse issued certificate: %w", err)
	}
	status := StatusInactive
	if setAsActive {
		status = StatusActive
	}
	id := CertificateID(der)
	if _, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		return s.insert(ctx, tx, cert, status, ModeDefault, "")
	}); err != nil {
		return nil, err
	}
	return &IssuedCertificate{ARN: s.ARN(id), ID: id, CertificatePEM: encodePEM("CERTIFICATE", der)}, nil
}

// parseCSR reads exactly one PEM CERTIFICATE REQUEST whose signature
// verifies and whose key AWS IoT supports.
func parseCSR(text string) (*x509.CertificateRequest, error) {
	const member = "certificateSigningRequest"
	if text == "" {
		return nil, fault.Invalidf("%s is required", member)
	}
	if len(text) > MaxCSRLength {
		return nil, fault.Invalidf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, MaxCSRLength)
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, fault.Invalidf("%s is not a PEM-encoded certificate signing request", member)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fault.Invalidf("%s holds a PEM block of type %q, not CERTIFICATE REQUEST", member, block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fault.Invalidf("%s has unexpected data after the request", member)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fault.Invalidf("%s does not hold a valid PKCS#10 request: %v", member, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fault.Invalidf("the signature of %s does not verify: %v", member, err)
	}
	switch k := csr.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fault.Invalidf("the request's RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fault.Invalidf("the request's ECDSA curve is not supported (use P-256, P-384 or P-521)")
		}
	default:
		return nil, fault.Invalidf("the request's %v key is not supported (use RSA or ECDSA)", csr.PublicKeyAlgorithm)
	}
	return csr, nil
}
