package certificate

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// Import size limits, from the ACM model (ImportCertificateRequest blobs).
const (
	MaxCertificateBytes = 32768
	MaxPrivateKeyBytes  = 5120
	MaxChainBytes       = 2097152
)

// validationCode is ACM's code for input it refuses on import.
const validationCode = "ValidationException"

func invalid(format string, args ...any) *fault.Error {
	return fault.Coded(fault.Invalid, validationCode, format, args...)
}

// bundle is an import that passed every check: the parsed leaf, chain and key
// and the canonical PEM to store.
type bundle struct {
	leaf     *x509.Certificate
	chain    []*x509.Certificate
	key      crypto.Signer
	leafPEM  string
	chainPEM string
	keyPEM   string
	keyAlg   string // ACM KeyAlgorithm enum spelling, e.g. RSA_2048
}

// validateImport applies ACM's import checks to PEM input at time now.
// Messages never quote key material.
func validateImport(certPEM, keyPEM, chainPEM []byte, now time.Time) (*bundle, error) {
	if err := checkSize("certificate", certPEM, MaxCertificateBytes, true); err != nil {
		return nil, err
	}
	if err := checkSize("privateKey", keyPEM, MaxPrivateKeyBytes, true); err != nil {
		return nil, err
	}
	if err := checkSize("certificateChain", chainPEM, MaxChainBytes, false); err != nil {
		return nil, err
	}

	leaves, err := parseCertificates(certPEM, "certificate")
	if err != nil {
		return nil, err
	}
	if len(leaves) > 1 {
		return nil, invalid("The certificate field contains more than one certificate. You can specify only one certificate in this field.")
	}
	leaf := leaves[0]
	if err := checkLeaf(leaf, now); err != nil {
		return nil, err
	}

	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	certAlg, ok := KeyAlgorithmOf(leaf.PublicKey)
	if !ok {
		return nil, invalid("The certificate's public key (%s) is not supported. ACM supports RSA 1024, 2048, 3072 and 4096 bit keys and EC P-256, P-384 and P-521 keys.", describePublicKey(leaf.PublicKey))
	}
	keyAlg, ok := KeyAlgorithmOf(key.Public())
	if !ok {
		return nil, invalid("The private key is not supported (%s). ACM supports RSA 1024, 2048, 3072 and 4096 bit keys and EC P-256, P-384 and P-521 keys.", describePublicKey(key.Public()))
	}
	pub, _ := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if certAlg != keyAlg || pub == nil || !pub.Equal(leaf.PublicKey) {
		return nil, invalid("The private key does not match the certificate's public key.")
	}

	var chain []*x509.Certificate
	if len(chainPEM) > 0 {
		chain, err = parseCertificates(chainPEM, "certificate chain")
		if err != nil {
			return nil, err
		}
		if err := verifyChain(leaf, chain, now); err != nil {
			return nil, err
		}
	}

	b := &bundle{leaf: leaf, chain: chain, key: key, keyPEM: string(keyPEM), keyAlg: keyAlg}
	b.leafPEM = encodeCertificates([]*x509.Certificate{leaf})
	b.chainPEM = encodeCertificates(chain)
	return b, nil
}

func checkSize(member string, b []byte, max int, required bool) error {
	switch {
	case b == nil && required:
		return invalid("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	case b == nil:
		return nil
	case len(b) < 1 || len(b) > max:
		return invalid("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length between 1 and %d (it has %d bytes)", member, max, len(b))
	}
	return nil
}

// parseCertificates decodes every PEM block of data, which must all be
// CERTIFICATE blocks, at least one, with nothing but whitespace around them.
func parseCertificates(data []byte, field string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := data
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, invalid("The %s must contain only PEM-encoded X.509 certificates; found a %q block.", field, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, invalid("The %s could not be parsed as an X.509 certificate: %v", field, err)
		}
		out = append(out, c)
		rest = next
	}
	if len(bytes.TrimSpace(rest)) > 0 || len(out) == 0 {
		if len(out) == 0 {
			return nil, invalid("The %s is not a PEM-encoded X.509 certificate.", field)
		}
		return nil, invalid("The %s contains data that is not PEM-encoded.", field)
	}
	return out, nil
}

// checkLeaf applies ACM's requirements on the certificate being imported.
func checkLeaf(c *x509.Certificate, now time.Time) error {
	if c.Version != 3 {
		return invalid("The certificate must be an X.509 version 3 certificate; it is version %d.", c.Version)
	}
	if len(c.Issuer.Names) == 0 && c.Issuer.String() == "" {
		return invalid("The certificate has an empty issuer.")
	}
	if c.Subject.CommonName == "" && len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 {
		return invalid("The certificate must contain a domain name or IP address in its subject common name or subject alternative names.")
	}
	for _, u := range c.OCSPServer {
		if len(u) > 1000 {
			return invalid("The certificate's OCSP URL is longer than 1000 characters.")
		}
	}
	if now.Before(c.NotBefore) {
		return invalid("The certificate is not valid yet: its validity starts at %s.", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return invalid("The certificate has expired: its validity ended at %s.", c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// parsePrivateKey accepts exactly one unencrypted PKCS#1, PKCS#8 or SEC1 key
// (an "EC PARAMETERS" block as written by openssl ecparam is tolerated).
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	var key crypto.Signer
	rest := data
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = next
		if _, encrypted := block.Headers["DEK-Info"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, invalid("The private key is encrypted. ACM imports only unencrypted private keys (no passphrase).")
		}
		var (
			parsed any
			err    error
		)
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "RSA PRIVATE KEY":
			parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			parsed, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		default:
			return nil, invalid("The private key must be a PEM-encoded PKCS#1, PKCS#8 or SEC1 private key; found a %q block.", block.Type)
		}
		if err != nil {
			return nil, invalid("The private key could not be parsed: %v", err)
		}
		if key != nil {
			return nil, invalid("The private key field contains more than one private key.")
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return nil, invalid("The private key type %T is not supported.", parsed)
		}
		key = signer
	}
	if key == nil {
		return nil, invalid("The private key is not a PEM-encoded private key.")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, invalid("The private key contains data that is not PEM-encoded.")
	}
	return key, nil
}

// verifyChain checks that chain is ordered as ACM requires (each certificate
// signs the one before it, starting with the leaf's issuer), does not contain
// the leaf, and that the leaf verifies against it at now. The chain's last
// certificate is the trust anchor, so a private CA or a chain that stops at an
// intermediate both work.
func verifyChain(leaf *x509.Certificate, chain []*x509.Certificate, now time.Time) error {
	for _, c := range chain {
		if bytes.Equal(c.Raw, leaf.Raw) {
			return invalid("The certificate chain must not contain the certificate itself.")
		}
	}
	child := leaf
	for i, parent := range chain {
		if err := child.CheckSignatureFrom(parent); err != nil {
			return invalid("The certificate chain does not verify the certificate: the chain must start with the immediate signing certificate, followed by any intermediates in order; certificate %d of the chain (%s) did not sign %s: %v",
				i+1, parent.Subject, child.Subject, err)
		}
		child = parent
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	inter := x509.NewCertPool()
	for _, c := range chain[:len(chain)-1] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return invalid("The certificate chain does not verify the certificate: %v", err)
	}
	return nil
}

func encodeCertificates(certs []*x509.Certificate) string {
	var buf bytes.Buffer
	for _, c := range certs {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.String()
}

// KeyAlgorithmOf returns the ACM KeyAlgorithm enum value (RSA_2048,
// EC_prime256v1, ...) of a public key, and false when ACM does not support it.
func KeyAlgorithmOf(pub crypto.PublicKey) (string, bool) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 1024, 2048, 3072, 4096:
			return fmt.Sprintf("RSA_%d", k.N.BitLen()), true
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyECPrime256v1, true
		case elliptic.P384():
			return KeyECSecp384r1, true
		case elliptic.P521():
			return KeyECSecp521r1, true
		}
	}
	return "", false
}

func describePublicKey(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + k.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", pub)
	}
}
