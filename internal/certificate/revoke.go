package certificate

import (
	"context"
	"crypto/x509"
	"database/sql"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// Revoker is the CA that issued Portico's own certificates (the server CA,
// a *pki.CA): it records revocations, which its OCSP responder and CRL then
// report.
type Revoker interface {
	// Revoke records serial as revoked with an RFC 5280 CRLReason code at
	// when, durably; revoking again keeps the first revocation.
	Revoke(serial *big.Int, reason int, when time.Time) error
	// Issuer is the CA certificate (intermediate, or the root for leaves
	// issued before the CA had an intermediate) that signed a leaf, or nil.
	Issuer(leaf *x509.Certificate) *x509.Certificate
}

// RevocationReasons maps ACM's RevocationReason enum to RFC 5280 CRLReason
// codes. REMOVE_FROM_CRL (8) is in the enum but only un-revokes a held
// certificate in delta CRLs; Revoke refuses it. SUPERCEDED is ACM's old
// spelling of SUPERSEDED.
var RevocationReasons = map[string]int{
	"UNSPECIFIED":            0,
	"KEY_COMPROMISE":         1,
	"CA_COMPROMISE":          2,
	"AFFILIATION_CHANGED":    3,
	"SUPERCEDED":             4,
	"SUPERSEDED":             4,
	"CESSATION_OF_OPERATION": 5,
	"CERTIFICATE_HOLD":       6,
	"REMOVE_FROM_CRL":        8,
	"PRIVILEGE_WITHDRAWN":    9,
	"A_A_COMPROMISE":         10,
}

// revocationReasonNames lists the enum in the model's order, for messages.
var revocationReasonNames = []string{"UNSPECIFIED", "KEY_COMPROMISE", "CA_COMPROMISE", "AFFILIATION_CHANGED", "SUPERCEDED", "SUPERSEDED",
	"CESSATION_OF_OPERATION", "CERTIFICATE_HOLD", "REMOVE_FROM_CRL", "PRIVILEGE_WITHDRAWN", "A_A_COMPROMISE"}

// Revoke revokes a certificate that Portico's own CA issued: the CA records
// the revocation first (its OCSP responder and CRL say revoked from then
// on), then the certificate becomes REVOKED with RevokedAt and
// RevocationReason. REVOKED is permanent: the certificate is no longer
// served by any domain configuration, renewed, exported or warned about.
//
// ACM revokes only certificates it can revoke at its CA (exported public
// ones, private ones); Portico likewise refuses imported certificates and
// those of an ACME directory, with ValidationException. Unlike ACM, a
// certificate in use by a domain configuration is revoked too (a key
// compromise cannot wait): the domain stops serving it at once.
// Revoking a REVOKED certificate again changes nothing.
func (s *Service) Revoke(ctx context.Context, arn, reason string) error {
	if err := CheckARN(arn); err != nil {
		return err
	}
	if reason == "" {
		return invalid("1 validation error detected: Value null at 'revocationReason' failed to satisfy constraint: Member must not be null")
	}
	code, ok := RevocationReasons[reason]
	if !ok {
		return invalid("1 validation error detected: Value '%s' at 'revocationReason' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			reason, strings.Join(revocationReasonNames, ", "))
	}
	if code == RevocationReasons["REMOVE_FROM_CRL"] {
		return invalid("REMOVE_FROM_CRL cannot revoke a certificate: it only takes a held certificate off a delta CRL, and Portico's revocations are permanent. Choose another RevocationReason.")
	}
	r, err := s.load(ctx, arn)
	if err != nil {
		return err
	}
	now := s.now()
	switch {
	case r.lifecycle == StatusRevoked:
		return nil
	case r.typ == TypeImported:
		return invalid("Certificate %s is an imported certificate and cannot be revoked through ACM; revoke it at the certificate authority that issued it, and delete it here.", arn)
	case r.leaf == nil:
		return r.requireIssued(now)
	case !r.exportable:
		return invalid("Certificate %s was issued by a public (ACME) certificate authority and cannot be revoked here; only certificates issued by Portico's private CA can be revoked. Delete it, or revoke it with an ACME client holding its key.", arn)
	}
	rev := s.Revoker
	if rev == nil {
		return fault.New(fault.Internal, "certificate: no CA is configured to revoke %s", arn)
	}
	if rev.Issuer(r.leaf) == nil {
		return invalid("Certificate %s was not issued by Portico's current server CA (was the CA replaced?) and cannot be revoked by it.", arn)
	}
	// The CA first: if the store write fails, the certificate is revoked
	// anyway (a retry finds it so, and the CA keeps the first revocation).
	if err := rev.Revoke(r.leaf.SerialNumber, code, now); err != nil {
		return fmt.Errorf("certificate: revoke %s at the CA: %w", arn, err)
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE acm_certificate SET lifecycle=?, revoked_at=?, revocation_reason=?, renewal_requested=0 WHERE id=?`,
			StatusRevoked, now.UnixMilli(), reason, r.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("certificate: mark %s revoked: %w", arn, err)
	}
	return nil
}
