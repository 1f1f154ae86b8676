// Package authorizer holds AWS IoT custom authorizers: their registry
// (Create/Update/Describe/List/Delete, the account default, tags) and their
// invocation (token signature check, the event sent to the user's function,
// validation of its answer into a Decision the gateway can use). The
// function itself is called through Functions, which cmd/portico wires to
// internal/function.
package authorizer

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/tagging"
)

// ResourceType is the resource type in an authorizer's ARN
// (arn:aws:iot:<region>:<account>:authorizer/<name>).
const ResourceType = "authorizer"

// Statuses.
const (
	Active   = "ACTIVE"
	Inactive = "INACTIVE"
)

// Limits.
const (
	MaxSigningKeys = 2
	MinRSABits     = 2048
	MaxPageSize    = 250
)

// Functions resolves and calls user functions.
type Functions interface {
	// FunctionName checks that a Lambda ARN names a registered function
	// and returns its name; anything else is fault.Invalid.
	FunctionName(ctx context.Context, arn string) (name string, err error)
	// Invoke calls the named function with the JSON of event.
	Invoke(ctx context.Context, name string, event any) ([]byte, error)
}

// Authorizer is one custom authorizer.
type Authorizer struct {
	Name                 string
	ARN                  string
	FunctionARN          string
	TokenKeyName         string
	SigningPublicKeys    map[string]string // key name → PEM
	Status               string
	SigningDisabled      bool
	EnableCachingForHTTP bool
	Created, Modified    time.Time

	// verifyKeys are SigningPublicKeys parsed, by key name, once when the
	// authorizer is read, so that a connection does not parse PEM.
	verifyKeys []*rsa.PublicKey
}

// parsedKeys returns the signing keys parsed, in key-name order (keys that
// do not parse are left out: they were validated when stored).
func (a *Authorizer) parsedKeys() []*rsa.PublicKey {
	if a.verifyKeys != nil || len(a.SigningPublicKeys) == 0 {
		return a.verifyKeys
	}
	names := make([]string, 0, len(a.SigningPublicKeys))
	for n := range a.SigningPublicKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	keys := make([]*rsa.PublicKey, 0, len(names))
	for _, n := range names {
		if k, err := ParsePublicKey(n, a.SigningPublicKeys[n]); err == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// Input creates or updates an authorizer; nil members are absent.
type Input struct {
	FunctionARN          *string
	TokenKeyName         *string
	SigningPublicKeys    map[string]string
	Status               *string
	SigningDisabled      *bool
	EnableCachingForHTTP *bool
	Tags                 []tagging.Tag
}

// Config configures the service.
type Config struct {
	Region, Account string
	Now             func() time.Time
}

// Service manages authorizers.
type Service struct {
	st    *store.Store
	fn    Functions
	cfg   Config
	cache resultCache
}

var migrations = []string{`
CREATE TABLE authorizers (
  name TEXT PRIMARY KEY,
  function_arn TEXT NOT NULL,
  token_key_name TEXT NOT NULL DEFAULT '',
  signing_keys TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL,
  signing_disabled INTEGER NOT NULL,
  caching_http INTEGER NOT NULL,
  tags TEXT NOT NULL DEFAULT '[]',
  created INTEGER NOT NULL,
  modified INTEGER NOT NULL
);
CREATE TABLE authorizer_default (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL);
`}

// NewService opens the authorizer service.
func NewService(ctx context.Context, st *store.Store, fn Functions, cfg Config) (*Service, error) {
	if err := st.Migrate(ctx, "authorizer", migrations); err != nil {
		return nil, err
	}
	return &Service{st: st, fn: fn, cfg: cfg}, nil
}

func (s *Service) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// ARN returns the ARN of the authorizer with this name.
func (s *Service) ARN(name string) string {
	return "arn:aws:iot:" + s.cfg.Region + ":" + s.cfg.Account + ":authorizer/" + name
}

var nameRE = regexp.MustCompile(`^[\w=,@-]{1,128}$`)
var tokenKeyRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fault.Invalidf("1 validation error detected: Value '%s' at 'authorizerName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w=,@-]+", name)
	}
	return nil
}

// ParsePublicKey parses a token signing key: a PEM PUBLIC KEY (or RSA
// PUBLIC KEY) holding an RSA key of at least MinRSABits.
func ParsePublicKey(name, text string) (*rsa.PublicKey, error) {
	b, _ := pem.Decode([]byte(text))
	if b == nil {
		return nil, fault.Invalidf("token signing public key %q is not PEM", name)
	}
	var pub any
	var err error
	switch b.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
	default:
		return nil, fault.Invalidf("token signing public key %q is a PEM %q block, not PUBLIC KEY", name, b.Type)
	}
	if err != nil {
		return nil, fault.Invalidf("token signing public key %q does not parse: %v", name, err)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fault.Invalidf("token signing public key %q is not an RSA key", name)
	}
	if k.N.BitLen() < MinRSABits {
		return nil, fault.Invalidf("token signing public key %q has %d bits; at least %d are required", name, k.N.BitLen(), MinRSABits)
	}
	return k, nil
}

// apply validates in and applies it to a.
func (s *Service) apply(ctx context.Context, a *Authorizer, in Input) error {
	if in.FunctionARN != nil {
		if _, err := s.fn.FunctionName(ctx, *in.FunctionARN); err != nil {
			return err
		}
		a.FunctionARN = *in.FunctionARN
	}
	if in.TokenKeyName != nil {
		if !tokenKeyRE.MatchString(*in.TokenKeyName) {
			return fault.Invalidf("tokenKeyName %q must be 1 to 128 letters, digits, hyphens or underscores", *in.TokenKeyName)
		}
		a.TokenKeyName = *in.TokenKeyName
	}
	if in.SigningPublicKeys != nil {
		if len(in.SigningPublicKeys) > MaxSigningKeys {
			return fault.Coded(fault.LimitExceeded, "", "at most %d token signing public keys, not %d", MaxSigningKeys, len(in.SigningPublicKeys))
		}
		for n, k := range in.SigningPublicKeys {
			if _, err := ParsePublicKey(n, k); err != nil {
				return err
			}
		}
		a.SigningPublicKeys = in.SigningPublicKeys
	}
	if in.Status != nil {
		if *in.Status != Active && *in.Status != Inactive {
			return fault.Invalidf("status must be ACTIVE or INACTIVE, not %q", *in.Status)
		}
		a.Status = *in.Status
	}
	if in.EnableCachingForHTTP != nil {
		a.EnableCachingForHTTP = *in.EnableCachingForHTTP
	}
	if !a.SigningDisabled && (a.TokenKeyName == "" || len(a.SigningPublicKeys) == 0) {
		return fault.Invalidf("tokenKeyName and tokenSigningPublicKeys are required unless signingDisabled is true")
	}
	return nil
}

// Create creates an authorizer; Status defaults to ACTIVE.
func (s *Service) Create(ctx context.Context, name string, in Input) (Authorizer, error) {
	if err := checkName(name); err != nil {
		return Authorizer{}, err
	}
	if in.FunctionARN == nil {
		return Authorizer{}, fault.Invalidf("authorizerFunctionArn is required")
	}
	if err := tagging.Validate(in.Tags); err != nil {
		return Authorizer{}, err
	}
	now := s.now()
	a := Authorizer{Name: name, ARN: s.ARN(name), Status: Active, SigningPublicKeys: map[string]string{}, Created: now, Modified: now}
	if in.SigningDisabled != nil {
		a.SigningDisabled = *in.SigningDisabled
	}
	if err := s.apply(ctx, &a, in); err != nil {
		return Authorizer{}, err
	}
	tags := in.Tags
	if tags == nil {
		tags = []tagging.Tag{}
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var n int
		tx.QueryRowContext(ctx, `SELECT count(*) FROM authorizers WHERE name=?`, name).Scan(&n)
		if n > 0 {
			return &fault.Error{Kind: fault.AlreadyExists, Message: fmt.Sprintf("Authorizer %s already exists", name), ResourceID: name, ResourceARN: a.ARN}
		}
		return s.write(ctx, tx, a, &tags)
	})
	return a, err
}

func (s *Service) write(ctx context.Context, tx *sql.Tx, a Authorizer, tags *[]tagging.Tag) error {
	keys, _ := json.Marshal(a.SigningPublicKeys)
	_, err := tx.ExecContext(ctx, `INSERT INTO authorizers (name, function_arn, token_key_name, signing_keys, status, signing_disabled, caching_http, created, modified)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET function_arn=excluded.function_arn, token_key_name=excluded.token_key_name,
		signing_keys=excluded.signing_keys, status=excluded.status, caching_http=excluded.caching_http, modified=excluded.modified`,
		a.Name, a.FunctionARN, a.TokenKeyName, string(keys), a.Status, a.SigningDisabled, a.EnableCachingForHTTP, a.Created.UnixMilli(), a.Modified.UnixMilli())
	if err != nil {
		return fmt.Errorf("authorizer: write %s: %w", a.Name, err)
	}
	if tags != nil {
		b, _ := json.Marshal(*tags)
		if _, err := tx.ExecContext(ctx, `UPDATE authorizers SET tags=? WHERE name=?`, string(b), a.Name); err != nil {
			return fmt.Errorf("authorizer: tag %s: %w", a.Name, err)
		}
	}
	return nil
}

// Update changes an authorizer (signingDisabled is immutable: in's is
// ignored).
func (s *Service) Update(ctx context.Context, name string, in Input) (Authorizer, error) {
	var a Authorizer
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = s.get(ctx, tx, name); err != nil {
			return err
		}
		in.SigningDisabled = nil
		if err := s.apply(ctx, &a, in); err != nil {
			return err
		}
		a.Modified = s.now()
		return s.write(ctx, tx, a, nil)
	})
	return a, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

const columns = `name, function_arn, token_key_name, signing_keys, status, signing_disabled, caching_http, created, modified`

type scanner interface{ Scan(...any) error }

func (s *Service) scan(r scanner) (Authorizer, error) {
	var a Authorizer
	var keys string
	var created, modified int64
	if err := r.Scan(&a.Name, &a.FunctionARN, &a.TokenKeyName, &keys, &a.Status, &a.SigningDisabled, &a.EnableCachingForHTTP, &created, &modified); err != nil {
		return a, err
	}
	a.ARN = s.ARN(a.Name)
	a.SigningPublicKeys = map[string]string{}
	json.Unmarshal([]byte(keys), &a.SigningPublicKeys)
	a.Created, a.Modified = time.UnixMilli(created), time.UnixMilli(modified)
	a.verifyKeys = a.parsedKeys()
	return a, nil
}

func (s *Service) get(ctx context.Context, q queryer, name string) (Authorizer, error) {
	a, err := s.scan(q.QueryRowContext(ctx, `SELECT `+columns+` FROM authorizers WHERE name=?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fault.NotFoundf("Authorizer %s not found", name)
	}
	if err != nil {
		return a, fmt.Errorf("authorizer: read %s: %w", name, err)
	}
	return a, nil
}

// Get returns an authorizer by name.
func (s *Service) Get(ctx context.Context, name string) (Authorizer, error) {
	return s.get(ctx, s.st.DB(), name)
}

// Exists reports whether an authorizer exists (for domain configurations'
// authorizerConfig).
func (s *Service) Exists(ctx context.Context, name string) (bool, error) {
	_, err := s.Get(ctx, name)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	return err == nil, err
}

// ListInput pages ListAuthorizers.
type ListInput struct {
	PageSize  int
	Marker    string
	Ascending bool
	Status    string
}

// List returns a page of authorizers by name (descending unless
// Ascending, as ListPolicies) and the marker of the next page.
func (s *Service) List(ctx context.Context, in ListInput) ([]Authorizer, string, error) {
	if in.Status != "" && in.Status != Active && in.Status != Inactive {
		return nil, "", fault.Invalidf("status must be ACTIVE or INACTIVE, not %q", in.Status)
	}
	size := in.PageSize
	if size == 0 {
		size = 25
	}
	rows, err := s.st.DB().QueryContext(ctx, `SELECT `+columns+` FROM authorizers ORDER BY name`)
	if err != nil {
		return nil, "", fmt.Errorf("authorizer: list: %w", err)
	}
	defer rows.Close()
	var all []Authorizer
	for rows.Next() {
		a, err := s.scan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("authorizer: list: %w", err)
		}
		if in.Status == "" || a.Status == in.Status {
			all = append(all, a)
		}
	}
	if !in.Ascending {
		sort.Slice(all, func(i, j int) bool { return all[i].Name > all[j].Name })
	}
	start := 0
	if in.Marker != "" {
		start = -1
		for i, a := range all {
			if a.Name == in.Marker {
				start = i
			}
		}
		if start < 0 {
			return nil, "", fault.Invalidf("marker %q was not returned by ListAuthorizers", in.Marker)
		}
	}
	end := min(start+size, len(all))
	next := ""
	if end < len(all) {
		next = all[end].Name
	}
	return all[start:end], next, nil
}

// Delete removes an INACTIVE authorizer that is not the account default.
// InUse, when set, names the domain configurations that use it.
func (s *Service) Delete(ctx context.Context, name string, inUse func(ctx context.Context, name string) ([]string, error)) error {
	if inUse != nil {
		users, err := inUse(ctx, name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return fault.Conflictf("Authorizer %s is used by domain configuration(s) %s", name, strings.Join(users, ", "))
		}
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		a, err := s.get(ctx, tx, name)
		if err != nil {
			return err
		}
		if a.Status != Inactive {
			return fault.Conflictf("Authorizer %s is %s; set it INACTIVE before deleting it", name, a.Status)
		}
		var def string
		tx.QueryRowContext(ctx, `SELECT name FROM authorizer_default WHERE id=1`).Scan(&def)
		if def == name {
			return fault.Conflictf("Authorizer %s is the default authorizer; clear it first", name)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM authorizers WHERE name=?`, name)
		return err
	})
	return err
}

// SetDefault makes an authorizer the account default.
func (s *Service) SetDefault(ctx context.Context, name string) (Authorizer, error) {
	var a Authorizer
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = s.get(ctx, tx, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO authorizer_default (id, name) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name`, name)
		return err
	})
	return a, err
}

// Default returns the account default authorizer; none is fault.NotFound.
func (s *Service) Default(ctx context.Context) (Authorizer, error) {
	var name string
	err := s.st.DB().QueryRowContext(ctx, `SELECT name FROM authorizer_default WHERE id=1`).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return Authorizer{}, fault.NotFoundf("No default authorizer is set")
	}
	if err != nil {
		return Authorizer{}, fmt.Errorf("authorizer: read default: %w", err)
	}
	return s.Get(ctx, name)
}

// ClearDefault removes the account default; none is fault.NotFound.
func (s *Service) ClearDefault(ctx context.Context) error {
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM authorizer_default WHERE id=1`)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("No default authorizer is set")
		}
		return nil
	})
	return err
}

// TagResource adds tags to the authorizer with this ARN.
func (s *Service) TagResource(ctx context.Context, arn string, tags []tagging.Tag) error {
	return s.changeTags(ctx, arn, func(e []tagging.Tag) ([]tagging.Tag, error) { return tagging.Apply(e, tags) })
}

// UntagResource removes tags by key.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return s.changeTags(ctx, arn, func(e []tagging.Tag) ([]tagging.Tag, error) { return tagging.Remove(e, keys) })
}

// ListTagsForResource returns the authorizer's tags.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) ([]tagging.Tag, error) {
	return s.readTags(ctx, s.st.DB(), arn)
}

func (s *Service) nameOf(arn string) (string, error) {
	prefix := s.ARN("")
	if !strings.HasPrefix(arn, prefix) || arn == prefix {
		return "", fault.NotFoundf("Authorizer %s not found", arn)
	}
	return strings.TrimPrefix(arn, prefix), nil
}

func (s *Service) readTags(ctx context.Context, q queryer, arn string) ([]tagging.Tag, error) {
	name, err := s.nameOf(arn)
	if err != nil {
		return nil, err
	}
	var raw string
	err = q.QueryRowContext(ctx, `SELECT tags FROM authorizers WHERE name=?`, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Authorizer %s not found", arn)
	}
	if err != nil {
		return nil, fmt.Errorf("authorizer: read tags of %s: %w", arn, err)
	}
	tags := []tagging.Tag{}
	json.Unmarshal([]byte(raw), &tags)
	return tags, nil
}

func (s *Service) changeTags(ctx context.Context, arn string, change func([]tagging.Tag) ([]tagging.Tag, error)) error {
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		existing, err := s.readTags(ctx, tx, arn)
		if err != nil {
			return err
		}
		tags, err := change(existing)
		if err != nil {
			return err
		}
		name, _ := s.nameOf(arn)
		b, _ := json.Marshal(tags)
		_, err = tx.ExecContext(ctx, `UPDATE authorizers SET tags=? WHERE name=?`, string(b), name)
		return err
	})
	return err
}
