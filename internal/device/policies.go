package device

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/policy"
)

// Limits of the policy registry, from AWS IoT's quotas.
const (
	// MaxPolicyVersions is how many versions a policy keeps.
	MaxPolicyVersions = 5
	// MaxPoliciesPerTarget is how many policies one certificate may have
	// attached.
	MaxPoliciesPerTarget = 10
	// MaxPolicyTags is how many tags CreatePolicy takes.
	MaxPolicyTags = 50
)

// Policy is an IoT policy with its default version, as GetPolicy shows it.
type Policy struct {
	Name             string
	ARN              string
	Document         string
	DefaultVersionID string
	CreationDate     time.Time
	LastModifiedDate time.Time
	GenerationID     string
}

// PolicyVersion is one version of a policy.
type PolicyVersion struct {
	PolicyName   string
	PolicyARN    string
	VersionID    string
	Document     string
	IsDefault    bool
	CreationDate time.Time
	// LastModifiedDate and GenerationID are the policy's.
	LastModifiedDate time.Time
	GenerationID     string
}

// PolicySummary names a policy in lists.
type PolicySummary struct {
	Name string
	ARN  string
}

// PolicyPage is one page of ListPolicies or ListAttachedPolicies.
type PolicyPage struct {
	Policies   []PolicySummary
	NextMarker string
}

// PolicyTag is a tag given to CreatePolicy.
type PolicyTag struct{ Key, Value string }

var policyNameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)

// PolicyARN returns the ARN of the policy with the given name.
func (s *Service) PolicyARN(name string) string {
	return "arn:aws:iot:" + s.region + ":" + s.account + ":policy/" + name
}

func validatePolicyName(name string) error {
	if name == "" {
		return fault.Invalidf("1 validation error detected: Value null at 'policyName' failed to satisfy constraint: Member must not be null")
	}
	if len(name) > 128 {
		return fault.Invalidf("1 validation error detected: Value '%s' at 'policyName' failed to satisfy constraint: Member must have length less than or equal to 128", name)
	}
	if !policyNameRE.MatchString(name) {
		return fault.Invalidf("1 validation error detected: Value '%s' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", name)
	}
	return nil
}

func validateVersionID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 {
		return 0, fault.Invalidf("1 validation error detected: Value '%s' at 'policyVersionId' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]+", id)
	}
	return n, nil
}

// parseDocument validates a policy document with internal/policy.
func parseDocument(doc string) (*policy.Document, error) {
	d, err := policy.Parse(doc)
	if err != nil {
		return nil, fault.Coded(fault.Invalid, "MalformedPolicyException", "The policy document is malformed: %s", err.Error())
	}
	return d, nil
}

func policyNotFound(name string) error {
	return fault.NotFoundf("Policy %s does not exist", name)
}

func versionNotFound(name string, v int64) error {
	return fault.NotFoundf("Policy %s has no version %d", name, v)
}

// CreatePolicy creates a policy whose version 1 is document, the default.
func (s *Service) CreatePolicy(ctx context.Context, name, document string, tags []PolicyTag) (*PolicyVersion, error) {
	if err := validatePolicyName(name); err != nil {
		return nil, err
	}
	if _, err := parseDocument(document); err != nil {
		return nil, err
	}
	if len(tags) > MaxPolicyTags {
		return nil, fault.Invalidf("a policy can have at most %d tags, not %d", MaxPolicyTags, len(tags))
	}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return nil, fault.Invalidf("tag keys must be 1 to 128 characters and values at most 256")
		}
	}
	now := s.now().UnixMilli()
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM device_policies WHERE name=?`, name).Scan(&one)
		if err == nil {
			return &fault.Error{Kind: fault.AlreadyExists, ResourceID: name, ResourceARN: s.PolicyARN(name),
				Message: fmt.Sprintf("Policy %s already exists", name)}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: create policy: %w", err)
		}
		gen, err := newGenerationID()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_policies (name, default_version, next_version, created_ms, modified_ms, generation_id)
			VALUES (?, 1, 2, ?, ?, ?)`, name, now, now, gen); err != nil {
			return fmt.Errorf("device: create policy: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_policy_versions (policy_name, version, document, created_ms)
			VALUES (?, 1, ?, ?)`, name, document, now); err != nil {
			return fmt.Errorf("device: create policy: %w", err)
		}
		for _, t := range tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_policy_tags (policy_name, key, value) VALUES (?, ?, ?)
				ON CONFLICT (policy_name, key) DO UPDATE SET value=excluded.value`, name, t.Key, t.Value); err != nil {
				return fmt.Errorf("device: create policy: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &PolicyVersion{PolicyName: name, PolicyARN: s.PolicyARN(name), VersionID: "1", Document: document, IsDefault: true}, nil
}

type policyRow struct {
	defaultVersion, nextVersion int64
	created, modified           int64
	generationID                string
}

func (s *Service) policyRow(ctx context.Context, q queryer, name string) (*policyRow, error) {
	var p policyRow
	err := q.QueryRowContext(ctx, `SELECT default_version, next_version, created_ms, modified_ms, generation_id
		FROM device_policies WHERE name=?`, name).Scan(&p.defaultVersion, &p.nextVersion, &p.created, &p.modified, &p.generationID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, policyNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("device: policy: %w", err)
	}
	return &p, nil
}

// GetPolicy returns a policy with its default version's document.
func (s *Service) GetPolicy(ctx context.Context, name string) (*Policy, error) {
	if err := validatePolicyName(name); err != nil {
		return nil, err
	}
	v, err := s.policyVersion(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	return &Policy{Name: name, ARN: v.PolicyARN, Document: v.Document, DefaultVersionID: v.VersionID,
		CreationDate: v.CreationDate, LastModifiedDate: v.LastModifiedDate, GenerationID: v.GenerationID}, nil
}

// policyVersion reads a version; 0 means the default one. Its CreationDate
// is the policy's for the default version through GetPolicy.
func (s *Service) policyVersion(ctx context.Context, name string, version int64) (*PolicyVersion, error) {
	db := s.st.DB()
	p, err := s.policyRow(ctx, db, name)
	if err != nil {
		return nil, err
	}
	byPolicy := version == 0
	if byPolicy {
		version = p.defaultVersion
	}
	var doc string
	var created int64
	err = db.QueryRowContext(ctx, `SELECT document, created_ms FROM device_policy_versions WHERE policy_name=? AND version=?`,
		name, version).Scan(&doc, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, versionNotFound(name, version)
	}
	if err != nil {
		return nil, fmt.Errorf("device: policy version: %w", err)
	}
	if byPolicy {
		created = p.created
	}
	return &PolicyVersion{PolicyName: name, PolicyARN: s.PolicyARN(name), VersionID: strconv.FormatInt(version, 10),
		Document: doc, IsDefault: version == p.defaultVersion, CreationDate: time.UnixMilli(created).UTC(),
		LastModifiedDate: time.UnixMilli(p.modified).UTC(), GenerationID: p.generationID}, nil
}

// GetPolicyVersion returns one version of a policy.
func (s *Service) GetPolicyVersion(ctx context.Context, name, versionID string) (*PolicyVersion, error) {
	if err := validatePolicyName(name); err != nil {
		return nil, err
	}
	v, err := validateVersionID(versionID)
	if err != nil {
		return nil, err
	}
	return s.policyVersion(ctx, name, v)
}

// ListPolicies returns one page of policies ordered by name (descending
// unless ascending, as ListCertificates orders). pageSize 0 means
// DefaultPageSize.
func (s *Service) ListPolicies(ctx context.Context, pageSize int, marker string, ascending bool) (*PolicyPage, error) {
	limit, after, err := policyPageArgs(pageSize, marker)
	if err != nil {
		return nil, err
	}
	query := `SELECT name FROM device_policies`
	var args []any
	if marker != "" {
		if ascending {
			query += ` WHERE name > ?`
		} else {
			query += ` WHERE name < ?`
		}
		args = append(args, after)
	}
	if ascending {
		query += ` ORDER BY name ASC`
	} else {
		query += ` ORDER BY name DESC`
	}
	names, next, err := s.listKeys(ctx, query, args, limit)
	if err != nil {
		return nil, err
	}
	return s.policyPage(names, next), nil
}

func (s *Service) policyPage(names []string, next string) *PolicyPage {
	page := &PolicyPage{Policies: make([]PolicySummary, 0, len(names)), NextMarker: next}
	for _, n := range names {
		page.Policies = append(page.Policies, PolicySummary{Name: n, ARN: s.PolicyARN(n)})
	}
	return page
}

func policyPageArgs(pageSize int, marker string) (int, string, error) {
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		return 0, "", fault.Invalidf("1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and %d", pageSize, MaxPageSize)
	}
	after := ""
	if marker != "" {
		var err error
		if after, err = decodeToken(marker); err != nil {
			return 0, "", err
		}
	}
	return pageSize, after, nil
}

// DeletePolicy deletes a policy and its default version. A policy attached
// to a certificate, or with versions besides the default, is refused with
// DeleteConflictException.
func (s *Service) DeletePolicy(ctx context.Context, name string) error {
	if err := validatePolicyName(name); err != nil {
		return err
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		p, err := s.policyRow(ctx, tx, name)
		if err != nil {
			return err
		}
		var targets, versions int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_policy_targets WHERE policy_name=?`, name).Scan(&targets); err != nil {
			return fmt.Errorf("device: delete policy: %w", err)
		}
		if targets > 0 {
			return fault.Coded(fault.Conflict, "DeleteConflictException",
				"The policy %s is attached to %d target(s); detach it (DetachPolicy) before deleting it", name, targets)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_policy_versions WHERE policy_name=? AND version<>?`,
			name, p.defaultVersion).Scan(&versions); err != nil {
			return fmt.Errorf("device: delete policy: %w", err)
		}
		if versions > 0 {
			return fault.Coded(fault.Conflict, "DeleteConflictException",
				"The policy %s has %d non-default version(s); delete them (DeletePolicyVersion) before deleting the policy", name, versions)
		}
		for _, q := range []string{
			`DELETE FROM device_policy_versions WHERE policy_name=?`,
			`DELETE FROM device_policy_tags WHERE policy_name=?`,
			`DELETE FROM device_policies WHERE name=?`,
		} {
			if _, err := tx.ExecContext(ctx, q, name); err != nil {
				return fmt.Errorf("device: delete policy: %w", err)
			}
		}
		return nil
	})
	return err
}

// CreatePolicyVersion adds a version to a policy, the default one when
// setAsDefault. A policy keeps at most five versions: a sixth is a
// VersionsLimitExceededException.
func (s *Service) CreatePolicyVersion(ctx context.Context, name, document string, setAsDefault bool) (*PolicyVersion, error) {
	if err := validatePolicyName(name); err != nil {
		return nil, err
	}
	if _, err := parseDocument(document); err != nil {
		return nil, err
	}
	var version int64
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		p, err := s.policyRow(ctx, tx, name)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_policy_versions WHERE policy_name=?`, name).Scan(&n); err != nil {
			return fmt.Errorf("device: create policy version: %w", err)
		}
		if n >= MaxPolicyVersions {
			return fault.Coded(fault.Conflict, "VersionsLimitExceededException",
				"The policy %s already has the maximum number of versions (%d); delete one (DeletePolicyVersion) first", name, MaxPolicyVersions)
		}
		version = p.nextVersion
		now := s.now().UnixMilli()
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_policy_versions (policy_name, version, document, created_ms)
			VALUES (?, ?, ?, ?)`, name, version, document, now); err != nil {
			return fmt.Errorf("device: create policy version: %w", err)
		}
		def := p.defaultVersion
		if setAsDefault {
			def = version
		}
		return s.touchPolicy(ctx, tx, name, def, version+1, now)
	})
	if err != nil {
		return nil, err
	}
	return &PolicyVersion{PolicyName: name, PolicyARN: s.PolicyARN(name), VersionID: strconv.FormatInt(version, 10),
		Document: document, IsDefault: setAsDefault}, nil
}

// touchPolicy records a change of a policy: its default and next versions,
// modification time and a new generation ID.
func (s *Service) touchPolicy(ctx context.Context, tx *sql.Tx, name string, defaultVersion, nextVersion, nowMs int64) error {
	gen, err := newGenerationID()
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE device_policies SET default_version=?, next_version=?, modified_ms=?, generation_id=?
		WHERE name=?`, defaultVersion, nextVersion, nowMs, gen, name); err != nil {
		return fmt.Errorf("device: update policy: %w", err)
	}
	return nil
}

// SetDefaultPolicyVersion makes a version the policy's default: the one in
// effect for the certificates it is attached to.
func (s *Service) SetDefaultPolicyVersion(ctx context.Context, name, versionID string) error {
	if err := validatePolicyName(name); err != nil {
		return err
	}
	v, err := validateVersionID(versionID)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		p, err := s.policyRow(ctx, tx, name)
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM device_policy_versions WHERE policy_name=? AND version=?`, name, v).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return versionNotFound(name, v)
		}
		if err != nil {
			return fmt.Errorf("device: set default policy version: %w", err)
		}
		if p.defaultVersion == v {
			return errUnchanged
		}
		return s.touchPolicy(ctx, tx, name, v, p.nextVersion, s.now().UnixMilli())
	})
}

// ListPolicyVersions returns every version of a policy, newest first.
func (s *Service) ListPolicyVersions(ctx context.Context, name string) ([]PolicyVersion, error) {
	if err := validatePolicyName(name); err != nil {
		return nil, err
	}
	db := s.st.DB()
	p, err := s.policyRow(ctx, db, name)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT version, created_ms FROM device_policy_versions WHERE policy_name=? ORDER BY version DESC`, name)
	if err != nil {
		return nil, fmt.Errorf("device: list policy versions: %w", err)
	}
	defer rows.Close()
	out := []PolicyVersion{}
	for rows.Next() {
		var v, created int64
		if err := rows.Scan(&v, &created); err != nil {
			return nil, fmt.Errorf("device: list policy versions: %w", err)
		}
		out = append(out, PolicyVersion{PolicyName: name, PolicyARN: s.PolicyARN(name), VersionID: strconv.FormatInt(v, 10),
			IsDefault: v == p.defaultVersion, CreationDate: time.UnixMilli(created).UTC()})
	}
	return out, rows.Err()
}

// DeletePolicyVersion deletes a version that is not the default one
// (DeleteConflictException otherwise; delete the policy instead).
func (s *Service) DeletePolicyVersion(ctx context.Context, name, versionID string) error {
	if err := validatePolicyName(name); err != nil {
		return err
	}
	v, err := validateVersionID(versionID)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		p, err := s.policyRow(ctx, tx, name)
		if err != nil {
			return err
		}
		if v == p.defaultVersion {
			return fault.Coded(fault.Conflict, "DeleteConflictException",
				"Version %d is the default version of policy %s; set another default (SetDefaultPolicyVersion) or delete the policy", v, name)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM device_policy_versions WHERE policy_name=? AND version=?`, name, v)
		if err != nil {
			return fmt.Errorf("device: delete policy version: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return versionNotFound(name, v)
		}
		return nil
	})
	return err
}

// AttachPolicy attaches a policy to a target: a certificate ARN. A
// certificate takes at most ten policies (LimitExceededException).
// Attaching again changes nothing.
func (s *Service) AttachPolicy(ctx context.Context, name, target string) error {
	if err := validatePolicyName(name); err != nil {
		return err
	}
	certID, err := s.parseCertificatePrincipal("target", target)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		if _, err := s.policyRow(ctx, tx, name); err != nil {
			return err
		}
		if err := certificateExists(ctx, tx, certID); err != nil {
			return err
		}
		var attached, n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(policy_name=?), 0) FROM device_policy_targets WHERE certificate_id=?`,
			name, certID).Scan(&n, &attached); err != nil {
			return fmt.Errorf("device: attach policy: %w", err)
		}
		if attached > 0 {
			return errUnchanged
		}
		if n >= MaxPoliciesPerTarget {
			return fault.New(fault.LimitExceeded, "The certificate %s already has the maximum of %d policies attached", target, MaxPoliciesPerTarget)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_policy_targets (policy_name, certificate_id, attached_ms) VALUES (?, ?, ?)`,
			name, certID, s.now().UnixMilli()); err != nil {
			return fmt.Errorf("device: attach policy: %w", err)
		}
		return nil
	})
}

// DetachPolicy detaches a policy from a target. Detaching what is not
// attached is not an error.
func (s *Service) DetachPolicy(ctx context.Context, name, target string) error {
	if err := validatePolicyName(name); err != nil {
		return err
	}
	certID, err := s.parseCertificatePrincipal("target", target)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil
		}
		return err
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		return deleteRows(ctx, tx, "detach policy", `DELETE FROM device_policy_targets WHERE policy_name=? AND certificate_id=?`, name, certID)
	})
}

// ListAttachedPolicies returns one page of the policies attached to a
// target (a certificate ARN), ordered by name.
func (s *Service) ListAttachedPolicies(ctx context.Context, target string, pageSize int, marker string) (*PolicyPage, error) {
	limit, after, err := policyPageArgs(pageSize, marker)
	if err != nil {
		return nil, err
	}
	certID, err := s.existingCertificate(ctx, "target", target)
	if err != nil {
		return nil, err
	}
	names, next, err := s.listKeys(ctx, `SELECT policy_name FROM device_policy_targets WHERE certificate_id=? AND policy_name > ? ORDER BY policy_name`,
		[]any{certID, after}, limit)
	if err != nil {
		return nil, err
	}
	return s.policyPage(names, next), nil
}

// ListTargetsForPolicy returns one page of the targets (certificate ARNs)
// a policy is attached to.
func (s *Service) ListTargetsForPolicy(ctx context.Context, name string, pageSize int, marker string) (*NamePage, error) {
	if err := validatePolicyName(name); err != nil {
		return nil, err
	}
	limit, after, err := policyPageArgs(pageSize, marker)
	if err != nil {
		return nil, err
	}
	if _, err := s.policyRow(ctx, s.st.DB(), name); err != nil {
		return nil, err
	}
	ids, next, err := s.listKeys(ctx, `SELECT certificate_id FROM device_policy_targets WHERE policy_name=? AND certificate_id > ? ORDER BY certificate_id`,
		[]any{name, after}, limit)
	if err != nil {
		return nil, err
	}
	return s.certificateARNPage(ids, next), nil
}

// NamedPolicy is a policy's default version, parsed, as evaluation needs it.
type NamedPolicy struct {
	Name      string
	ARN       string
	VersionID string
	Document  *policy.Document
}

// NamedPolicies returns the parsed default versions of the named policies
// (TestAuthorization's policyNamesToAdd).
func (s *Service) NamedPolicies(ctx context.Context, names []string) ([]NamedPolicy, error) {
	var out []NamedPolicy
	for _, n := range names {
		if err := validatePolicyName(n); err != nil {
			return nil, err
		}
		v, err := s.policyVersion(ctx, n, 0)
		if err != nil {
			return nil, err
		}
		d, err := policy.Parse(v.Document)
		if err != nil {
			return nil, fmt.Errorf("device: stored policy %s does not parse: %w", n, err)
		}
		out = append(out, NamedPolicy{Name: n, ARN: v.PolicyARN, VersionID: v.VersionID, Document: d})
	}
	return out, nil
}
