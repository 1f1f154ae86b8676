package certificate

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/pki"
)

// Resolver answers whether a validation record is visible. The wiring
// implements it over Portico's own zones (and, for names it is not
// authoritative for, over the configured DNS resolvers).
type Resolver interface {
	// LookupCNAME returns the target of the CNAME record at name (a fully
	// qualified name with a trailing dot); found is false when there is none.
	LookupCNAME(ctx context.Context, name string) (target string, found bool, err error)
}

// ChainResolver is a Resolver that can follow CNAME chains: a record is
// then visible when any target of the chain at its name is the expected
// value (the operator may point _acme-challenge.<name> at a name of their
// own that points on to Portico's validation zone).
type ChainResolver interface {
	Resolver
	// LookupCNAMEChain returns the targets of the chain starting at name,
	// in order. With an error it may still return the targets found before
	// it.
	LookupCNAMEChain(ctx context.Context, name string) ([]string, error)
}

// Issuer signs certificates for validated names.
type Issuer interface {
	// Issue returns a TLS server certificate for key's public half naming
	// names (the first is the subject common name; wildcards allowed), and
	// the chain that certifies it, issuer first. Both are PEM.
	Issue(ctx context.Context, key crypto.Signer, names []string) (certPEM, chainPEM []byte, err error)
}

// ExportableIssuer is implemented by issuers whose certificates may be
// exported with their private key (ACM exports private-CA certificates
// only): Portico's own CA, not an ACME directory.
type ExportableIssuer interface {
	AllowsExport() bool
}

// FailureOther is ACM's catch-all FailureReason.
const FailureOther = "OTHER"

// IssueFailure is a refusal to issue that retrying will not change (the
// CA rejected the names, or answered with something unusable): the request
// becomes FAILED with Reason. Any other issuer error is taken as transient
// and retried on the next pass until the validation time-out.
type IssueFailure struct {
	// Reason is an ACM FailureReason; "" means OTHER.
	Reason string
	Err    error
}

func (e *IssueFailure) Error() string { return e.Err.Error() }
func (e *IssueFailure) Unwrap() error { return e.Err }

// failureReason returns the ACM FailureReason of err and whether err is a
// permanent IssueFailure.
func failureReason(err error) (string, bool) {
	var f *IssueFailure
	if !errors.As(err, &f) {
		return FailureOther, false
	}
	if f.Reason == "" {
		return FailureOther, true
	}
	return f.Reason, true
}

// DefaultValidity is how long the certificates of CAIssuer last when it is
// given no validity: ACM's public certificates last 198 days since 2026.
const DefaultValidity = 198 * 24 * time.Hour

// CAIssuer issues with one of Portico's own CAs (the server CA).
type CAIssuer struct {
	CA *pki.CA
	// Validity is the certificates' lifetime; 0 means DefaultValidity.
	Validity time.Duration
	// Options are added to every certificate, e.g. pki.WithRevocationURLs.
	Options []pki.IssueOption
}

// AllowsExport implements ExportableIssuer: Portico's own CA plays ACM's
// private CA, whose certificates ACM exports.
func (CAIssuer) AllowsExport() bool { return true }

// Issue implements Issuer. The built-in CA's refusals are permanent: the
// same names would be refused again.
func (c CAIssuer) Issue(_ context.Context, key crypto.Signer, names []string) ([]byte, []byte, error) {
	validity := c.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	der, err := c.CA.IssueServer(key.Public(), names, nil, validity, c.Options...)
	if err != nil {
		return nil, nil, &IssueFailure{Reason: FailureOther, Err: err}
	}
	// The chain is the intermediate, then the root: what ACM's GetCertificate
	// returns for a private CA's certificate (the issuing CA up to the root).
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), c.CA.ChainPEM(), nil
}

// Validator completes requested certificates: it checks their validation
// records, issues them once every record is visible, times out requests
// after ValidationTimeout, and renews issued certificates (on request, and
// RenewBefore their expiry while they are in use).
type Validator struct {
	Service  *Service
	Resolver Resolver
	Issuer   Issuer
	// Now is the clock; nil means the service's.
	Now func() time.Time
	// Interval is the time between passes; 0 means one minute. A store
	// change (a new request, a new record in a Portico zone) also starts one.
	Interval time.Duration
	// ValidationTimeout is 72 hours when 0, as in ACM.
	ValidationTimeout time.Duration
	// RenewBefore is how long before expiry managed renewal starts; 0
	// means 60 days, as in ACM.
	RenewBefore time.Duration
	// Logger gets one line per issuance, renewal and time-out; never keys.
	Logger *slog.Logger
}

func (v *Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return v.Service.now()
}

func (v *Validator) logger() *slog.Logger {
	if v.Logger != nil {
		return v.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Run makes passes until ctx ends.
func (v *Validator) Run(ctx context.Context) error {
	interval := v.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	changes, cancel := v.Service.st.Subscribe()
	defer cancel()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := v.Tick(ctx); err != nil && ctx.Err() == nil {
			v.logger().Warn("certificate validation pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-changes:
		}
	}
}

// pending is what a pass needs of one requested certificate.
type pending struct {
	arn, lifecycle, keyAlg string
	names, validated       []string
	createdAt, notAfter    time.Time
	renewalRequested       bool
	renewalStatus          string
	renewalMissing         []string
	exported               bool
}

// Tick makes one pass over the requested certificates. Lookups and
// issuance happen outside store transactions.
func (v *Validator) Tick(ctx context.Context) error {
	rows, err := v.Service.st.DB().QueryContext(ctx, `SELECT arn, lifecycle, key_algorithm, names, validated, created_at, not_after,
		renewal_requested, renewal_status, renewal_missing, exported FROM acm_certificate WHERE type=? AND lifecycle IN (?, ?) ORDER BY id`,
		TypeAmazonIssued, StatusPendingValidation, StatusIssued)
	if err != nil {
		return fmt.Errorf("certificate: validation pass: %w", err)
	}
	var list []pending
	for rows.Next() {
		var (
			p                         pending
			names, validated, missing string
			created, notAfter         int64
		)
		if err := rows.Scan(&p.arn, &p.lifecycle, &p.keyAlg, &names, &validated, &created, &notAfter,
			&p.renewalRequested, &p.renewalStatus, &missing, &p.exported); err != nil {
			rows.Close()
			return fmt.Errorf("certificate: validation pass: %w", err)
		}
		_ = json.Unmarshal([]byte(names), &p.names)
		_ = json.Unmarshal([]byte(validated), &p.validated)
		if missing != "" {
			_ = json.Unmarshal([]byte(missing), &p.renewalMissing)
		}
		p.createdAt, p.notAfter = time.UnixMilli(created), time.Unix(notAfter, 0)
		list = append(list, p)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("certificate: validation pass: %w", err)
	}
	var errs []error
	for _, p := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var err error
		if p.lifecycle == StatusPendingValidation {
			err = v.validate(ctx, p)
		} else {
			err = v.maybeRenew(ctx, p)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("certificate: validation pass: %d certificate(s) failed, first: %w", len(errs), errs[0])
	}
	return nil
}

// bases lists the distinct validation record bases of names, in order.
func bases(names []string) []string {
	var out []string
	for _, n := range names {
		if b := validationBase(n); !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	return out
}

// visible returns the bases whose record resolves to its value.
func (v *Validator) visible(ctx context.Context, names []string, skip []string) ([]string, error) {
	var seen []string
	for _, b := range bases(names) {
		if slices.Contains(skip, b) {
			seen = append(seen, b)
			continue
		}
		rr := v.Service.ValidationRecord(b)
		ok, err := v.resolves(ctx, rr)
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", rr.Name, err)
		}
		if ok {
			seen = append(seen, b)
		}
	}
	return seen, nil
}

// resolves reports whether the validation record's name leads to its value.
func (v *Validator) resolves(ctx context.Context, rr ResourceRecord) (bool, error) {
	matches := func(target string) bool { return strings.EqualFold(strings.TrimSuffix(target, ".")+".", rr.Value) }
	if cr, ok := v.Resolver.(ChainResolver); ok {
		chain, err := cr.LookupCNAMEChain(ctx, rr.Name)
		if slices.ContainsFunc(chain, matches) {
			return true, nil // an error further down the chain does not matter
		}
		return false, err
	}
	target, found, err := v.Resolver.LookupCNAME(ctx, rr.Name)
	if err != nil {
		return false, err
	}
	return found && matches(target), nil
}

func (v *Validator) validate(ctx context.Context, p pending) error {
	now := v.now()
	timeout := v.ValidationTimeout
	if timeout <= 0 {
		timeout = 72 * time.Hour
	}
	seen, err := v.visible(ctx, p.names, p.validated)
	if err != nil {
		return fmt.Errorf("%s: %w", p.arn, err)
	}
	all := len(seen) == len(bases(p.names))
	if !all && !now.Before(p.createdAt.Add(timeout)) {
		v.logger().Info("certificate validation timed out", "arn", p.arn, "names", p.names)
		return v.update(ctx, `UPDATE acm_certificate SET lifecycle=?, validated=? WHERE arn=? AND lifecycle=?`,
			StatusValidationTimedOut, jsonList(seen), p.arn, StatusPendingValidation)
	}
	if !all {
		if len(seen) == len(p.validated) {
			return nil // nothing new: no write, no wake-up
		}
		return v.update(ctx, `UPDATE acm_certificate SET validated=? WHERE arn=? AND lifecycle=?`,
			jsonList(seen), p.arn, StatusPendingValidation)
	}
	b, err := v.issue(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reason, permanent := failureReason(err)
		if !permanent && now.Before(p.createdAt.Add(timeout)) {
			return fmt.Errorf("%s: %w", p.arn, err) // transient: the next pass retries
		}
		// ACM's FAILED is terminal: the operator sees why and requests again.
		v.logger().Warn("certificate issuance failed", "arn", p.arn, "names", p.names, "reason", reason, "err", err)
		return v.update(ctx, `UPDATE acm_certificate SET lifecycle=?, failure_reason=?, validated=? WHERE arn=? AND lifecycle=?`,
			StatusFailed, reason, jsonList(seen), p.arn, StatusPendingValidation)
	}
	if err := v.update(ctx, `UPDATE acm_certificate SET lifecycle=?, validated=?, certificate_pem=?, chain_pem=?, private_key_pem=?,
		not_before=?, not_after=?, issued_at=?, exportable=? WHERE arn=? AND lifecycle=?`,
		StatusIssued, jsonList(seen), b.certPEM, b.chainPEM, b.keyPEM, b.leaf.NotBefore.Unix(), b.leaf.NotAfter.Unix(),
		now.UnixMilli(), v.exportable(), p.arn, StatusPendingValidation); err != nil {
		return err
	}
	v.logger().Info("certificate issued", "arn", p.arn, "names", p.names, "not_after", b.leaf.NotAfter)
	return nil
}

func (v *Validator) maybeRenew(ctx context.Context, p pending) error {
	now := v.now()
	if now.After(p.notAfter) {
		return nil // expired: ineligible
	}
	if !p.renewalRequested {
		if p.renewalStatus == RenewalFailed {
			return nil // refused for good; RenewCertificate tries again
		}
		before := v.RenewBefore
		if before <= 0 {
			before = 60 * 24 * time.Hour
		}
		if now.Before(p.notAfter.Add(-before)) {
			return nil
		}
		users, err := v.Service.inUse(ctx, p.arn)
		if err != nil {
			return err
		}
		if len(users) == 0 && !p.exported {
			return nil // unused and never exported: ineligible for managed renewal
		}
	}
	seen, err := v.visible(ctx, p.names, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", p.arn, err)
	}
	all := bases(p.names)
	if len(seen) < len(all) {
		var missing []string
		for _, b := range all {
			if !slices.Contains(seen, b) {
				missing = append(missing, b)
			}
		}
		if p.renewalStatus == RenewalPendingValidation && slices.Equal(missing, p.renewalMissing) {
			return nil
		}
		v.logger().Warn("certificate renewal blocked: validation records missing", "arn", p.arn, "missing", missing)
		return v.update(ctx, `UPDATE acm_certificate SET renewal_status=?, renewal_missing=?, renewal_updated_at=? WHERE arn=? AND lifecycle=?`,
			RenewalPendingValidation, jsonList(missing), now.UnixMilli(), p.arn, StatusIssued)
	}
	b, err := v.issue(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, permanent := failureReason(err); !permanent {
			return fmt.Errorf("%s: %w", p.arn, err) // transient: the next pass retries
		}
		// The certificate keeps serving until it expires; RenewalSummary says why.
		v.logger().Warn("certificate renewal failed", "arn", p.arn, "names", p.names, "err", err)
		return v.update(ctx, `UPDATE acm_certificate SET renewal_requested=0, renewal_status=?, renewal_updated_at=? WHERE arn=? AND lifecycle=?`,
			RenewalFailed, now.UnixMilli(), p.arn, StatusIssued)
	}
	if err := v.update(ctx, `UPDATE acm_certificate SET certificate_pem=?, chain_pem=?, private_key_pem=?, not_before=?, not_after=?,
		issued_at=?, exportable=?, renewal_requested=0, renewal_status=?, renewal_missing='[]', renewal_updated_at=? WHERE arn=? AND lifecycle=?`,
		b.certPEM, b.chainPEM, b.keyPEM, b.leaf.NotBefore.Unix(), b.leaf.NotAfter.Unix(), now.UnixMilli(), v.exportable(),
		RenewalSuccess, now.UnixMilli(), p.arn, StatusIssued); err != nil {
		return err
	}
	v.logger().Info("certificate renewed", "arn", p.arn, "names", p.names, "not_after", b.leaf.NotAfter)
	return nil
}

type issued struct {
	certPEM, chainPEM, keyPEM string
	leaf                      *x509.Certificate
}

// exportable reports whether the Issuer's certificates may be exported.
func (v *Validator) exportable() bool {
	e, ok := v.Issuer.(ExportableIssuer)
	return ok && e.AllowsExport()
}

// issue generates a key of the requested algorithm and has the Issuer
// certify it. It runs outside any store transaction. An issuer that
// answers with something unusable would do so again: that is permanent.
func (v *Validator) issue(ctx context.Context, p pending) (*issued, error) {
	key, err := generateKey(p.keyAlg)
	if err != nil {
		return nil, &IssueFailure{Err: err}
	}
	certPEM, chainPEM, err := v.Issuer.Issue(ctx, key, p.names)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	certs, err := parseCertificates(certPEM, "issued certificate")
	if err != nil || len(certs) != 1 {
		return nil, &IssueFailure{Err: fmt.Errorf("issuer returned an unusable certificate: %v", err)}
	}
	if !publicKeyEqual(certs[0].PublicKey, key.Public()) {
		return nil, &IssueFailure{Err: fmt.Errorf("issuer returned a certificate for another key")}
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, &IssueFailure{Err: fmt.Errorf("encode key: %w", err)}
	}
	return &issued{
		certPEM:  string(certPEM),
		chainPEM: string(chainPEM),
		keyPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		leaf:     certs[0],
	}, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case KeyECPrime256v1:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECSecp384r1:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return nil, fmt.Errorf("cannot generate a %s key", alg)
}

func (v *Validator) update(ctx context.Context, query string, args ...any) error {
	_, err := v.Service.st.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("certificate: update: %w", err)
	}
	return nil
}

func jsonList(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}
