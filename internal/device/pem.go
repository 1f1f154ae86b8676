package device

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"unicode/utf8"

	"github.com/portico-iot/portico/internal/fault"
)

// parseCertificatePEM parses the certificatePem of a registration: exactly one
// PEM CERTIFICATE block (text before it is tolerated, as OpenSSL does;
// anything but whitespace after it is not) holding one X.509 certificate
// whose key AWS IoT supports. A malformed input is an Invalid fault; a
// well-formed certificate IoT cannot use is a CertificateValidationException.
func parseCertificatePEM(text string) (*x509.Certificate, error) {
	if text == "" {
		return nil, fault.Invalidf("certificatePem is required")
	}
	if n := utf8.RuneCountInString(text); n > MaxPEMLength {
		return nil, fault.Invalidf("1 validation error detected: Value at 'certificatePem' failed to satisfy constraint: Member must have length less than or equal to %d", MaxPEMLength)
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, fault.Invalidf("certificatePem is not a PEM-encoded certificate")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fault.Invalidf("certificatePem holds a PEM block of type %q, not CERTIFICATE", block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, fault.Invalidf("certificatePem has PEM headers; a certificate block carries none")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fault.Invalidf("certificatePem must hold exactly one certificate, not a chain")
		}
		return nil, fault.Invalidf("certificatePem has unexpected data after the certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fault.Invalidf("certificatePem does not hold a valid X.509 certificate: %v", err)
	}
	if err := checkSupportedKey(cert); err != nil {
		return nil, err
	}
	return cert, nil
}

// checkSupportedKey refuses keys that AWS IoT does not accept for device
// certificates (RSA of at least 2048 bits, ECDSA on P-256, P-384 or P-521).
func checkSupportedKey(cert *x509.Certificate) error {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return validationError("the certificate's RSA key has %d bits; at least 2048 are required", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return validationError("the certificate's ECDSA curve is not supported (use P-256, P-384 or P-521)")
		}
	default:
		return validationError("the certificate's %v key is not supported (use RSA or ECDSA)", cert.PublicKeyAlgorithm)
	}
	return nil
}

func validationError(format string, args ...any) error {
	return fault.Coded(fault.Invalid, "CertificateValidationException", format, args...)
}

func encodePEM(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
