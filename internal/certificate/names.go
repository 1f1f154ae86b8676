package certificate

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

// ACM KeyAlgorithm enum values (the spelling of requests and list filters).
const (
	KeyRSA1024      = "RSA_1024"
	KeyRSA2048      = "RSA_2048"
	KeyRSA3072      = "RSA_3072"
	KeyRSA4096      = "RSA_4096"
	KeyECPrime256v1 = "EC_prime256v1"
	KeyECSecp384r1  = "EC_secp384r1"
	KeyECSecp521r1  = "EC_secp521r1"
)

// KeyAlgorithms lists every ACM key algorithm.
var KeyAlgorithms = []string{KeyRSA1024, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyECPrime256v1, KeyECSecp384r1, KeyECSecp521r1}

// DefaultListKeyTypes is what ListCertificates shows when the caller names no
// key types: ACM's Filters documentation says RSA_1024 and RSA_2048 only.
var DefaultListKeyTypes = []string{KeyRSA1024, KeyRSA2048}

// Certificate statuses (ACM CertificateStatus). Imported certificates are
// only ever ISSUED or EXPIRED.
const (
	StatusPendingValidation  = "PENDING_VALIDATION"
	StatusIssued             = "ISSUED"
	StatusInactive           = "INACTIVE"
	StatusExpired            = "EXPIRED"
	StatusValidationTimedOut = "VALIDATION_TIMED_OUT"
	StatusRevoked            = "REVOKED"
	StatusFailed             = "FAILED"
)

// Statuses lists every ACM certificate status.
var Statuses = []string{StatusPendingValidation, StatusIssued, StatusInactive, StatusExpired, StatusValidationTimedOut, StatusRevoked, StatusFailed}

// Certificate types (ACM CertificateType).
const (
	TypeImported     = "IMPORTED"
	TypeAmazonIssued = "AMAZON_ISSUED"
	TypePrivate      = "PRIVATE"
)

// Renewal eligibility values.
const (
	RenewalEligible   = "ELIGIBLE"
	RenewalIneligible = "INELIGIBLE"
)

// KeyUsageNames lists ACM's KeyUsageName enum.
var KeyUsageNames = []string{"DIGITAL_SIGNATURE", "NON_REPUDIATION", "KEY_ENCIPHERMENT", "DATA_ENCIPHERMENT",
	"KEY_AGREEMENT", "CERTIFICATE_SIGNING", "CRL_SIGNING", "ENCIPHER_ONLY", "DECIPHER_ONLY", "ANY", "CUSTOM"}

// ExtendedKeyUsageNames lists ACM's ExtendedKeyUsageName enum.
var ExtendedKeyUsageNames = []string{"TLS_WEB_SERVER_AUTHENTICATION", "TLS_WEB_CLIENT_AUTHENTICATION", "CODE_SIGNING",
	"EMAIL_PROTECTION", "TIME_STAMPING", "OCSP_SIGNING", "IPSEC_END_SYSTEM", "IPSEC_TUNNEL", "IPSEC_USER", "ANY", "NONE", "CUSTOM"}

var keyUsageBits = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "DIGITAL_SIGNATURE"},
	{x509.KeyUsageContentCommitment, "NON_REPUDIATION"},
	{x509.KeyUsageKeyEncipherment, "KEY_ENCIPHERMENT"},
	{x509.KeyUsageDataEncipherment, "DATA_ENCIPHERMENT"},
	{x509.KeyUsageKeyAgreement, "KEY_AGREEMENT"},
	{x509.KeyUsageCertSign, "CERTIFICATE_SIGNING"},
	{x509.KeyUsageCRLSign, "CRL_SIGNING"},
	{x509.KeyUsageEncipherOnly, "ENCIPHER_ONLY"},
	{x509.KeyUsageDecipherOnly, "DECIPHER_ONLY"},
}

// keyUsagesOf names the certificate's key usages as ACM does. A certificate
// without the extension may be used for anything, which ACM reports as ANY.
func keyUsagesOf(c *x509.Certificate) []string {
	if !hasExtension(c, oidKeyUsage) {
		return []string{"ANY"}
	}
	var out []string
	for _, u := range keyUsageBits {
		if c.KeyUsage&u.bit != 0 {
			out = append(out, u.name)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// ExtendedKeyUsage is one extended key usage: its ACM name and its OID.
type ExtendedKeyUsage struct {
	Name string
	OID  string
}

var extKeyUsageNames = map[x509.ExtKeyUsage]ExtendedKeyUsage{
	x509.ExtKeyUsageServerAuth:      {"TLS_WEB_SERVER_AUTHENTICATION", "1.3.6.1.5.5.7.3.1"},
	x509.ExtKeyUsageClientAuth:      {"TLS_WEB_CLIENT_AUTHENTICATION", "1.3.6.1.5.5.7.3.2"},
	x509.ExtKeyUsageCodeSigning:     {"CODE_SIGNING", "1.3.6.1.5.5.7.3.3"},
	x509.ExtKeyUsageEmailProtection: {"EMAIL_PROTECTION", "1.3.6.1.5.5.7.3.4"},
	x509.ExtKeyUsageIPSECEndSystem:  {"IPSEC_END_SYSTEM", "1.3.6.1.5.5.7.3.5"},
	x509.ExtKeyUsageIPSECTunnel:     {"IPSEC_TUNNEL", "1.3.6.1.5.5.7.3.6"},
	x509.ExtKeyUsageIPSECUser:       {"IPSEC_USER", "1.3.6.1.5.5.7.3.7"},
	x509.ExtKeyUsageTimeStamping:    {"TIME_STAMPING", "1.3.6.1.5.5.7.3.8"},
	x509.ExtKeyUsageOCSPSigning:     {"OCSP_SIGNING", "1.3.6.1.5.5.7.3.9"},
	x509.ExtKeyUsageAny:             {"ANY", "2.5.29.37.0"},
}

// extendedKeyUsagesOf names the certificate's extended key usages as ACM
// does, in certificate order; usages ACM has no name for are CUSTOM with
// their OID. A certificate without the extension reports NONE.
func extendedKeyUsagesOf(c *x509.Certificate) []ExtendedKeyUsage {
	if !hasExtension(c, oidExtKeyUsage) {
		return []ExtendedKeyUsage{{Name: "NONE"}}
	}
	// Walk the raw extension so that known and unknown usages keep their order.
	var oids []asn1.ObjectIdentifier
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			if _, err := asn1.Unmarshal(e.Value, &oids); err != nil {
				oids = nil
			}
		}
	}
	out := []ExtendedKeyUsage{}
	for _, oid := range oids {
		out = append(out, namedExtKeyUsage(oid))
	}
	return out
}

func namedExtKeyUsage(oid asn1.ObjectIdentifier) ExtendedKeyUsage {
	s := oid.String()
	for _, u := range extKeyUsageNames {
		if u.OID == s {
			return u
		}
	}
	return ExtendedKeyUsage{Name: "CUSTOM", OID: s}
}

var (
	oidKeyUsage    = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
)

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oid) {
			return true
		}
	}
	return false
}

// signatureAlgorithmName spells the certificate's signature algorithm as ACM
// does (SHA256WITHRSA, SHA384WITHECDSA, ...).
func signatureAlgorithmName(a x509.SignatureAlgorithm) string {
	switch a {
	case x509.SHA256WithRSAPSS:
		return "SHA256WITHRSAANDMGF1"
	case x509.SHA384WithRSAPSS:
		return "SHA384WITHRSAANDMGF1"
	case x509.SHA512WithRSAPSS:
		return "SHA512WITHRSAANDMGF1"
	case x509.PureEd25519:
		return "ED25519"
	}
	// Go spells the rest "SHA256-RSA", "ECDSA-SHA384", "MD5-RSA", ...
	s := a.String()
	if hash, ok := strings.CutPrefix(s, "ECDSA-"); ok {
		return strings.ReplaceAll(hash, "-", "") + "WITHECDSA"
	}
	if hash, ok := strings.CutSuffix(s, "-RSA"); ok {
		return strings.ReplaceAll(hash, "-", "") + "WITHRSA"
	}
	if hash, ok := strings.CutSuffix(s, "-DSA"); ok {
		return strings.ReplaceAll(hash, "-", "") + "WITHDSA"
	}
	return strings.ToUpper(s)
}
