package device

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/policy"
)

// Identity is a registered certificate as the TLS gateway needs it to
// authenticate a device, and as the broker needs it to authorize what the
// device does: the policies and things attached to the certificate, read
// when the snapshot was built.
type Identity struct {
	ID     string
	ARN    string
	Status Status
	Mode   Mode
	// CACertificateID is the registered CA that signed the certificate; ""
	// for none.
	CACertificateID string
	NotBefore       time.Time
	NotAfter        time.Time

	// Policies are the parsed default versions of the policies attached to
	// the certificate, ordered by name; PolicyNames are their names. Pass
	// Policies to policy.Evaluate. Shared with the snapshot: read only.
	Policies    []*policy.Document
	PolicyNames []string
	// Things are the things the certificate is attached to, ordered by
	// name. Shared with the snapshot: read only.
	Things []AttachedThing
	// Certificate holds the certificate's ${iot:Certificate.*} policy
	// variables.
	Certificate *policy.CertificateVars

	region, account string
}

// AttachedThing is a thing attached to a certificate, as policies see it.
type AttachedThing struct {
	Name       string
	TypeName   string
	Attributes map[string]string
	// Exclusive is true for an EXCLUSIVE_THING attachment.
	Exclusive bool
}

// PolicyEnv returns the policy context of a connection authenticated as this
// identity with the given MQTT client ID: the region and account of the
// registry, the client ID, the certificate's variables and the thing the
// connection acts as (policy.ResolveThing: the attached thing named like the
// client, or the one exclusively attached thing). Build it once per
// connection, add SourceIP and DomainName, and evaluate every request of the
// connection with it:
//
//	env := id.PolicyEnv(clientID)
//	policy.Evaluate(policy.NewRequest(env, policy.Connect, clientID), id.Policies)
//	policy.Evaluate(policy.NewRequest(env, policy.Publish, topic), id.Policies)
//	policy.Evaluate(policy.NewRequest(env, policy.Subscribe, filter), id.Policies)
//	policy.Evaluate(policy.NewRequest(env, policy.Receive, topic), id.Policies)
func (id *Identity) PolicyEnv(clientID string) *policy.Env {
	env := &policy.Env{Region: id.region, Account: id.account, ClientID: clientID, Certificate: id.Certificate}
	if len(id.Things) > 0 {
		things := make([]policy.Thing, len(id.Things))
		for i, t := range id.Things {
			things[i] = policy.Thing{Name: t.Name, TypeName: t.TypeName, Attributes: t.Attributes}
		}
		env.Thing = policy.ResolveThing(clientID, things, func(i int) bool { return id.Things[i].Exclusive })
	}
	return env
}

// Errors of Snapshot.Authenticate.
var (
	ErrUnknownCertificate     = errors.New("device: client certificate is not registered")
	ErrCertificateNotActive   = errors.New("device: client certificate is not ACTIVE")
	ErrCertificateExpired     = errors.New("device: client certificate has expired")
	ErrCertificateNotYetValid = errors.New("device: client certificate is not valid yet")
	ErrSNIRequired            = errors.New("device: client certificate is registered without a CA (SNI_ONLY) and the client sent no SNI")
	ErrCANotActive            = errors.New("device: client certificate was registered with a CA certificate that is not ACTIVE")
)

// Snapshot is an immutable view of every registered certificate, keyed by
// the SHA-256 of its DER, so that a TLS handshake authenticates a client
// certificate without touching the database. Build a new one when the store's
// change feed fires and swap it atomically. Safe for concurrent use.
type Snapshot struct {
	byHash map[[sha256.Size]byte]Identity
	// cas are the registered CA certificates by ID; issuers the same by
	// raw subject, for just-in-time registration.
	cas     map[string]*snapshotCA
	issuers map[string][]*snapshotCA
	// jitr queues just-in-time registrations; nil in an IdentityOf
	// snapshot.
	jitr *autoRegistrar
}

// Snapshot reads every registered certificate, with its attached policies
// and things, into a new Snapshot.
func (s *Service) Snapshot(ctx context.Context) (*Snapshot, error) {
	return s.snapshot(ctx, "")
}

// IdentityOf returns the identity of one certificate, given by ARN or ID,
// read from the database: what the snapshot would hold for it
// (TestAuthorization).
func (s *Service) IdentityOf(ctx context.Context, principal string) (Identity, error) {
	var id string
	var err error
	if strings.HasPrefix(principal, "arn:") {
		id, err = s.parseCertificatePrincipal("principal", principal)
	} else {
		id, err = validateID(principal)
	}
	if err != nil {
		return Identity{}, err
	}
	snap, err := s.snapshot(ctx, id)
	if err != nil {
		return Identity{}, err
	}
	for _, ident := range snap.byHash {
		return ident, nil
	}
	return Identity{}, notFound(id)
}

// snapshot builds a snapshot of every certificate, or of the one with the
// given ID.
func (s *Service) snapshot(ctx context.Context, only string) (*Snapshot, error) {
	db := s.st.DB()
	things, err := s.attachedThings(ctx, db, only)
	if err != nil {
		return nil, err
	}
	policies, err := s.attachedPolicies(ctx, only)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{byHash: map[[sha256.Size]byte]Identity{}}
	// Before the certificates' query: the store may have one connection,
	// which that query's open rows hold.
	if only == "" {
		if err := s.snapshotCAs(ctx, snap); err != nil {
			return nil, err
		}
	}
	query, args := `SELECT der, status, mode, ca_certificate_id, not_before, not_after FROM device_certificates`, []any{}
	if only != "" {
		query, args = query+` WHERE id=?`, append(args, only)
	}
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("device: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			der                 []byte
			status, mode, caID  string
			notBefore, notAfter int64
		)
		if err := rows.Scan(&der, &status, &mode, &caID, &notBefore, &notAfter); err != nil {
			return nil, fmt.Errorf("device: snapshot: %w", err)
		}
		id := CertificateID(der)
		ident := Identity{
			ID: id, ARN: s.ARN(id), Status: Status(status), Mode: Mode(mode), CACertificateID: caID,
			NotBefore: time.Unix(notBefore, 0).UTC(), NotAfter: time.Unix(notAfter, 0).UTC(),
			Things: things[id], region: s.region, account: s.account,
		}
		for _, p := range policies[id] {
			ident.Policies = append(ident.Policies, p.doc)
			ident.PolicyNames = append(ident.PolicyNames, p.name)
		}
		if cert, err := x509.ParseCertificate(der); err == nil {
			ident.Certificate = policy.NewCertificateVars(cert)
		}
		snap.byHash[sha256.Sum256(der)] = ident
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("device: snapshot: %w", err)
	}
	return snap, nil
}

type parsedPolicy struct {
	name string
	doc  *policy.Document
}

// attachedPolicies returns, per certificate ID, the parsed default versions
// of its policies, ordered by name. Each policy is parsed once.
func (s *Service) attachedPolicies(ctx context.Context, only string) (map[string][]parsedPolicy, error) {
	rows, err := s.st.DB().QueryContext(ctx, `SELECT t.certificate_id, p.name, p.default_version, v.document
		FROM device_policy_targets t
		JOIN device_policies p ON p.name = t.policy_name
		JOIN device_policy_versions v ON v.policy_name = p.name AND v.version = p.default_version
		WHERE ?='' OR t.certificate_id=?
		ORDER BY t.certificate_id, p.name`, only, only)
	if err != nil {
		return nil, fmt.Errorf("device: snapshot policies: %w", err)
	}
	defer rows.Close()
	parsed := map[string]*policy.Document{}
	out := map[string][]parsedPolicy{}
	for rows.Next() {
		var (
			id, name, doc string
			version       int64
		)
		if err := rows.Scan(&id, &name, &version, &doc); err != nil {
			return nil, fmt.Errorf("device: snapshot policies: %w", err)
		}
		key := name + "\x00" + strconv.FormatInt(version, 10)
		d, ok := parsed[key]
		if !ok {
			if d, err = policy.Parse(doc); err != nil {
				// Documents are validated when stored; one that no longer
				// parses (a stricter Portico) grants nothing.
				d = nil
			}
			parsed[key] = d
		}
		if d != nil {
			out[id] = append(out[id], parsedPolicy{name: name, doc: d})
		}
	}
	return out, rows.Err()
}

// Len is the number of certificates in the snapshot.
func (s *Snapshot) Len() int { return len(s.byHash) }

// Lookup finds the registered certificate whose DER is der, in any status.
func (s *Snapshot) Lookup(der []byte) (Identity, bool) {
	id, ok := s.byHash[sha256.Sum256(der)]
	return id, ok
}

// Authenticate decides whether a client certificate (its DER, as in
// tls.ConnectionState.PeerCertificates[0].Raw or the rawCerts[0] of
// VerifyPeerCertificate) may connect at now: it must be registered, ACTIVE and
// within its validity, the CA it was registered with (if any) must be
// ACTIVE, and a certificate registered without a CA needs the client to have
// sent SNI (serverName). The error is one of the Err* sentinels; the
// identity is returned whenever the certificate is known, so a refusal can
// be logged with its ID.
//
// An unknown certificate signed by a registered CA that auto-registers is
// queued for just-in-time registration (PENDING_ACTIVATION, then the
// registration event) and refused with ErrAutoRegistering; the registration
// happens after the handshake, never during it.
func (s *Snapshot) Authenticate(der []byte, serverName string, now time.Time) (Identity, error) {
	id, ok := s.Lookup(der)
	switch {
	case !ok:
		if s.jitr != nil {
			if cert, ca := s.autoRegistrationCA(der, now); ca != nil {
				s.jitr.enqueue(cert, ca.id)
				return Identity{ID: CertificateID(der), CACertificateID: ca.id}, ErrAutoRegistering
			}
		}
		return Identity{}, ErrUnknownCertificate
	case id.Status != StatusActive:
		return id, ErrCertificateNotActive
	case now.Before(id.NotBefore):
		return id, ErrCertificateNotYetValid
	case now.After(id.NotAfter):
		return id, ErrCertificateExpired
	case id.CACertificateID != "" && !s.caActive(id.CACertificateID):
		return id, ErrCANotActive
	case id.Mode == ModeSNIOnly && serverName == "":
		return id, ErrSNIRequired
	}
	return id, nil
}

// caActive reports whether the registered CA with the given ID is ACTIVE.
func (s *Snapshot) caActive(id string) bool {
	ca := s.cas[id]
	return ca != nil && ca.status == CAStatusActive
}

// snapshotCAs reads the registered CA certificates into snap and gives it
// the just-in-time registration queue.
func (s *Service) snapshotCAs(ctx context.Context, snap *Snapshot) error {
	cas, err := readCAs(ctx, s.st.DB(), "")
	if err != nil {
		return err
	}
	snap.cas = make(map[string]*snapshotCA, len(cas))
	snap.issuers = make(map[string][]*snapshotCA, len(cas))
	for _, ca := range cas {
		sc := &snapshotCA{id: ca.id, cert: ca.cert, status: ca.status, auto: ca.auto}
		snap.cas[ca.id] = sc
		snap.issuers[string(ca.cert.RawSubject)] = append(snap.issuers[string(ca.cert.RawSubject)], sc)
	}
	snap.jitr = s.jitr
	return nil
}
