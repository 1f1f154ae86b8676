package pki

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSPValidity is how long an OCSP response from OCSPResponse stays current
// (its nextUpdate).
const OCSPValidity = time.Hour

// ErrNotIssuer is returned by OCSPResponse for a request about a
// certificate of another issuer: RFC 6960's "unauthorized" answer.
var ErrNotIssuer = errors.New("pki: the OCSP request names another issuer")

// OCSPResponse answers an OCSP request (RFC 6960) about a certificate of this
// CA with a response signed by the key of the certificate's issuer, which
// the request names (the responder is the issuer, so no responder
// certificate is embedded): the intermediate for its leaves, the root for
// the intermediate and for leaves the root issued before the intermediate
// existed. The answer is "revoked" for a serial on the revocation list,
// "good" for a serial that issuer issued (see Issued), "unknown" otherwise. thisUpdate is now, to the minute, and nextUpdate OCSPValidity
// later. The response uses the request's hash algorithm for the certificate
// identifier. A request naming another issuer gets ErrNotIssuer; a CA whose
// key is neither ECDSA nor RSA cannot sign OCSP responses.
func (c *CA) OCSPResponse(req *ocsp.Request) ([]byte, error) {
	if req == nil || req.SerialNumber == nil {
		return nil, errors.New("pki: OCSP request without a certificate serial number")
	}
	var s *signer
	for _, cand := range []*signer{c.inter, c.root} {
		if isIssuer(cand.cert, req) {
			s = cand
			break
		}
	}
	if s == nil {
		return nil, ErrNotIssuer
	}
	// ocsp.CreateResponse sets producedAt to the current minute.
	thisUpdate := c.now().UTC().Truncate(time.Minute)
	tmpl := ocsp.Response{
		SerialNumber: req.SerialNumber,
		IssuerHash:   req.HashAlgorithm,
		ThisUpdate:   thisUpdate,
		NextUpdate:   thisUpdate.Add(OCSPValidity),
	}
	if r, ok := c.Revoked(req.SerialNumber); ok {
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = r.RevokedAt
		tmpl.RevocationReason = r.Reason
	} else if s.issued(req.SerialNumber) {
		tmpl.Status = ocsp.Good
	} else {
		tmpl.Status = ocsp.Unknown
	}
	der, err := ocsp.CreateResponse(s.cert, s.cert, tmpl, s.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign OCSP response: %w", err)
	}
	return der, nil
}

// isIssuer reports whether the request's issuer name and key hashes are
// those of cert (RFC 6960 section 4.1.1, CertID).
func isIssuer(cert *x509.Certificate, req *ocsp.Request) bool {
	if !req.HashAlgorithm.Available() {
		return false
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	h := req.HashAlgorithm.New()
	h.Write(cert.RawSubject)
	if !bytes.Equal(h.Sum(nil), req.IssuerNameHash) {
		return false
	}
	h.Reset()
	h.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(h.Sum(nil), req.IssuerKeyHash)
}
