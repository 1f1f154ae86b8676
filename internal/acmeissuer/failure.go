package acmeissuer

import (
	"github.com/go-acme/lego/v5/acme"

	"github.com/portico-iot/portico/internal/certificate"
)

// permanentProblems maps the ACME problem types (RFC 8555 6.7) that the
// same order would meet again to the closest ACM FailureReason. A request
// failing with one of them is FAILED at once instead of being retried until
// its 72 hours run out.
//
// Left out on purpose, so retried: connection, dns, tls and serverInternal
// (the network or the CA may recover), rateLimited, badNonce,
// orderNotReady; and the account problems (accountDoesNotExist,
// externalAccountRequired, invalidContact, unsupportedContact), which are
// Portico's configuration, not the certificate's: once the operator fixes
// --acme-* and restarts, the pending requests go through.
var permanentProblems = map[string]string{
	// CAA records at the name forbid this CA.
	acme.CaaErrorType: "CAA_ERROR",
	// The CA's policy will not issue for the name (a blocked domain).
	acme.RejectedIdentifierErrorType: "DOMAIN_NOT_ALLOWED",
	// Not a name the CA issues for at all (an IP address, a bad label):
	// lego speaks correct ACME, so "malformed" is about the identifier.
	acme.UnsupportedIdentifierErrorType: "INVALID_PUBLIC_DOMAIN",
	acme.MalformedErrorType:             "INVALID_PUBLIC_DOMAIN",
	// The CA looked and did not find the challenge although Portico saw the
	// validation record: its view of DNS (public DNS, the delegation of the
	// validation zone) denies what Portico's shows.
	acme.UnauthorizedErrorType:      "DOMAIN_VALIDATION_DENIED",
	acme.IncorrectResponseErrorType: "DOMAIN_VALIDATION_DENIED",
	// The CA wants something of a person.
	acme.UserActionRequiredErrorType: "ADDITIONAL_VERIFICATION_REQUIRED",
	// The CSR or its key is refused: the same key algorithm would be again.
	acme.BadCSRErrorType:                certificate.FailureOther,
	acme.BadPublicKeyErrorType:          certificate.FailureOther,
	acme.BadSignatureAlgorithmErrorType: certificate.FailureOther,
	acme.InvalidProfileErrorType:        certificate.FailureOther,
}

// reasonOrder ranks reasons when an order failed for several: the most
// specific one is reported.
var reasonOrder = []string{"CAA_ERROR", "DOMAIN_NOT_ALLOWED", "INVALID_PUBLIC_DOMAIN", "DOMAIN_VALIDATION_DENIED",
	"ADDITIONAL_VERIFICATION_REQUIRED", certificate.FailureOther}

// classify returns err as a *certificate.IssueFailure when one of the ACME
// problems in it (lego joins one per name, and a compound problem holds
// sub-problems) is permanent, and err unchanged otherwise (retried).
func classify(err error) error {
	best := -1
	for _, p := range problems(err) {
		types := []string{p.Type}
		for _, sp := range p.SubProblems {
			types = append(types, sp.Type)
		}
		for _, t := range types {
			reason, ok := permanentProblems[t]
			if !ok {
				continue
			}
			for i, r := range reasonOrder {
				if r == reason && (best < 0 || i < best) {
					best = i
				}
			}
		}
	}
	if best < 0 {
		return err
	}
	return &certificate.IssueFailure{Reason: reasonOrder[best], Err: err}
}

// problems collects every ACME problem in err's tree.
func problems(err error) []*acme.ProblemDetails {
	var out []*acme.ProblemDetails
	var walk func(error, int)
	walk = func(e error, depth int) {
		if e == nil || depth > 32 {
			return
		}
		if p, ok := e.(*acme.ProblemDetails); ok {
			out = append(out, p)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c, depth+1)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		}
	}
	walk(err, 0)
	return out
}
