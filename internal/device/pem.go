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
	return parseMemberPEM(text, "certificatePem")
}

// parseMemberPEM is parseCertificatePEM for the request member named member
// (caCertificate, verificationCertificate, ...), which its messages name.
func parseMemberPEM(text, member string) (*x509.Certificate, error) {
	if text == "" {
		return nil, fault.Invalidf("%s is required", member)
	}
	// The byte length bounds the rune count: a cheap check first, so that a
	// huge body is refused without being scanned.
	if len(text) > 4*MaxPEMLength || utf8.RuneCountInString(text) > MaxPEMLength {
		return nil, fault.Invalidf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member, MaxPEMLength)
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, fault.Invalidf("%s is not a PEM-encoded certificate", member)
	}
	if block.Type != "CERTIFICATE" {
		return nil, fault.Invalidf("%s holds a PEM block of type %q, not CERTIFICATE", member, block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, fault.Invalidf("%s has PEM headers; a certificate block carries none", member)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fault.Invalidf("%s must hold exactly one certificate, not a chain", member)
		}
		return nil, fault.Invalidf("%s has unexpected data after the certificate", member)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fault.Invalidf("%s does not hold a valid X.509 certificate: %v", member, err)
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
