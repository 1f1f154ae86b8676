package device

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/portico-iot/portico/internal/fault"
)

// Limits of the thing registry, from the IoT model and quotas.
const (
	// MaxAttributesWithoutType is how many attributes a thing without a
	// thing type may have.
	MaxAttributesWithoutType = 3
	// MaxAttributesWithType is how many attributes a thing with a thing
	// type may have.
	MaxAttributesWithType = 50
	// DefaultThingPageSize is ListThings', ListThingPrincipals' and
	// ListPrincipalThings' page size when none is given.
	DefaultThingPageSize = 50
	// MaxThingPageSize is the model's maximum maxResults.
	MaxThingPageSize = 250
)

// ThingPrincipalType is how a certificate is attached to a thing.
type ThingPrincipalType string

const (
	// NonExclusiveThing (the default) lets a certificate be attached to
	// several things.
	NonExclusiveThing ThingPrincipalType = "NON_EXCLUSIVE_THING"
	// ExclusiveThing makes the thing the only one the certificate is
	// attached to.
	ExclusiveThing ThingPrincipalType = "EXCLUSIVE_THING"
)

// Thing is a registry thing, as DescribeThing shows it.
type Thing struct {
	Name       string
	ID         string
	ARN        string
	TypeName   string
	Attributes map[string]string
	// Version starts at 1 and grows with every update.
	Version int64
}

// ThingInput is what CreateThing and UpdateThing take.
type ThingInput struct {
	TypeName string
	// Attributes is the attributePayload's attributes; nil when absent.
	Attributes map[string]string
	// Merge is the attributePayload's merge flag: add to (and, with an empty
	// value, remove from) the existing attributes instead of replacing them.
	Merge bool
	// RemoveThingType (UpdateThing) removes the thing's type.
	RemoveThingType bool
	// ExpectedVersion (UpdateThing, DeleteThing), when not nil, must be the
	// thing's current version.
	ExpectedVersion *int64
	// BillingGroupName is not supported; giving one is refused.
	BillingGroupName string
}

// ThingFilter selects things for ListThings.
type ThingFilter struct {
	AttributeName  string
	AttributeValue string
	// PrefixValue matches attribute values starting with AttributeValue.
	PrefixValue bool
	TypeName    string
}

// ThingPage is one page of ListThings.
type ThingPage struct {
	Things    []Thing
	NextToken string
}

// NamePage is one page of names or ARNs (ListThingPrincipals,
// ListPrincipalThings).
type NamePage struct {
	Names     []string
	NextToken string
}

var (
	thingNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_-]+$`)
	attrNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]+$`)
	attrValueRE = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#=\[\]-]*$`)
)

// ThingARN returns the ARN of the thing with the given name.
func (s *Service) ThingARN(name string) string {
	return "arn:aws:iot:" + s.region + ":" + s.account + ":thing/" + name
}

func validateThingName(member, name string) error {
	if name == "" {
		return fault.Invalidf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	if len(name) > 128 {
		return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 128", name, member)
	}
	if !thingNameRE.MatchString(name) {
		return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+", name, member)
	}
	return nil
}

func validateAttributes(attrs map[string]string) error {
	for k, v := range attrs {
		if k == "" || len(k) > 128 || !attrNameRE.MatchString(k) {
			return fault.Invalidf("attribute name %q must be 1 to 128 characters of [a-zA-Z0-9_.,@/:#-]", k)
		}
		if len(v) > 800 || !attrValueRE.MatchString(v) {
			return fault.Invalidf("the value of attribute %q must be at most 800 characters of [a-zA-Z0-9_.,@/:#=[]-]", k)
		}
	}
	return nil
}

func checkAttributeCount(typeName string, attrs map[string]string) error {
	max := MaxAttributesWithoutType
	if typeName != "" {
		max = MaxAttributesWithType
	}
	if len(attrs) > max {
		if typeName == "" {
			return fault.Invalidf("a thing without a thing type can have at most %d attributes; it would have %d", max, len(attrs))
		}
		return fault.Invalidf("a thing can have at most %d attributes; it would have %d", max, len(attrs))
	}
	return nil
}

func thingNotFound(name string) error {
	return fault.NotFoundf("Thing %s cannot be found.", name)
}

func versionConflict(name string, expected, actual int64) error {
	return fault.Coded(fault.Conflict, "VersionConflictException",
		"The version for thing %s does not match the expected version: expected %d, current %d.", name, expected, actual)
}

// CreateThing creates a thing. Creating it again with the same type and
// attributes succeeds and returns it unchanged; with different ones it is a
// ResourceAlreadyExists fault.
func (s *Service) CreateThing(ctx context.Context, name string, in ThingInput) (*Thing, error) {
	if err := validateThingName("thingName", name); err != nil {
		return nil, err
	}
	if in.TypeName != "" {
		if err := validateThingName("thingTypeName", in.TypeName); err != nil {
			return nil, err
		}
	}
	if in.BillingGroupName != "" {
		return nil, fault.Invalidf("billing groups are not supported by Portico; create the thing without billingGroupName")
	}
	// Empty values mean "no attribute" on create, as on a merge.
	attrs := map[string]string{}
	for k, v := range in.Attributes {
		if v != "" {
			attrs[k] = v
		}
	}
	if err := validateAttributes(in.Attributes); err != nil {
		return nil, err
	}
	if err := checkAttributeCount(in.TypeName, attrs); err != nil {
		return nil, err
	}
	var out *Thing
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		existing, err := s.thing(ctx, tx, name)
		if err == nil {
			if existing.TypeName == in.TypeName && maps.Equal(existing.Attributes, attrs) {
				out = existing
				return errUnchanged
			}
			return &fault.Error{Kind: fault.AlreadyExists, ResourceID: existing.ID, ResourceARN: existing.ARN,
				Message: fmt.Sprintf("Thing %s already exists in account with different attributes", name)}
		}
		if !fault.Is(err, fault.NotFound) {
			return err
		}
		id, err := newGenerationID()
		if err != nil {
			return err
		}
		blob, _ := json.Marshal(attrs)
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_things (name, id, type_name, attributes, version, created_ms)
			VALUES (?, ?, ?, ?, 1, ?)`, name, id, in.TypeName, string(blob), s.now().UnixMilli()); err != nil {
			return fmt.Errorf("device: create thing: %w", err)
		}
		out = &Thing{Name: name, ID: id, ARN: s.ThingARN(name), TypeName: in.TypeName, Attributes: attrs, Version: 1}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, err
	}
	return out, nil
}

// queryer is what reads need: the database or a transaction.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Service) thing(ctx context.Context, q queryer, name string) (*Thing, error) {
	var (
		t    Thing
		blob string
	)
	err := q.QueryRowContext(ctx, `SELECT name, id, type_name, attributes, version FROM device_things WHERE name=?`, name).
		Scan(&t.Name, &t.ID, &t.TypeName, &blob, &t.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, thingNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("device: thing: %w", err)
	}
	t.ARN = s.ThingARN(t.Name)
	if err := json.Unmarshal([]byte(blob), &t.Attributes); err != nil {
		return nil, fmt.Errorf("device: thing %s attributes: %w", name, err)
	}
	return &t, nil
}

// DescribeThing returns the thing with the given name.
func (s *Service) DescribeThing(ctx context.Context, name string) (*Thing, error) {
	if err := validateThingName("thingName", name); err != nil {
		return nil, err
	}
	return s.thing(ctx, s.st.DB(), name)
}

// UpdateThing changes a thing's type and attributes. With ExpectedVersion
// set, a thing at another version is a VersionConflictException.
func (s *Service) UpdateThing(ctx context.Context, name string, in ThingInput) error {
	if err := validateThingName("thingName", name); err != nil {
		return err
	}
	if in.TypeName != "" {
		if err := validateThingName("thingTypeName", in.TypeName); err != nil {
			return err
		}
		if in.RemoveThingType {
			return fault.Invalidf("thingTypeName and removeThingType cannot both be given")
		}
	}
	if err := validateAttributes(in.Attributes); err != nil {
		return err
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		t, err := s.thing(ctx, tx, name)
		if err != nil {
			return err
		}
		if in.ExpectedVersion != nil && *in.ExpectedVersion != t.Version {
			return versionConflict(name, *in.ExpectedVersion, t.Version)
		}
		typeName := t.TypeName
		switch {
		case in.RemoveThingType:
			typeName = ""
		case in.TypeName != "":
			typeName = in.TypeName
		}
		attrs := t.Attributes
		if in.Attributes != nil {
			if !in.Merge {
				attrs = map[string]string{}
			}
			for k, v := range in.Attributes {
				if v == "" {
					delete(attrs, k)
				} else {
					attrs[k] = v
				}
			}
		}
		if err := checkAttributeCount(typeName, attrs); err != nil {
			return err
		}
		blob, _ := json.Marshal(attrs)
		_, err = tx.ExecContext(ctx, `UPDATE device_things SET type_name=?, attributes=?, version=version+1 WHERE name=?`,
			typeName, string(blob), name)
		if err != nil {
			return fmt.Errorf("device: update thing: %w", err)
		}
		return nil
	})
	return err
}

// DeleteThing deletes a thing. A thing that does not exist is not an error,
// as with AWS. A thing with certificates attached is refused: detach them
// first.
func (s *Service) DeleteThing(ctx context.Context, name string, expectedVersion *int64) error {
	if err := validateThingName("thingName", name); err != nil {
		return err
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		t, err := s.thing(ctx, tx, name)
		if fault.Is(err, fault.NotFound) {
			return errUnchanged
		}
		if err != nil {
			return err
		}
		if expectedVersion != nil && *expectedVersion != t.Version {
			return versionConflict(name, *expectedVersion, t.Version)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM device_thing_principals WHERE thing_name=?`, name).Scan(&n); err != nil {
			return fmt.Errorf("device: delete thing: %w", err)
		}
		if n > 0 {
			return fault.Invalidf("Cannot delete thing %s: it has %d principal(s) attached; detach them with DetachThingPrincipal first", name, n)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_things WHERE name=?`, name); err != nil {
			return fmt.Errorf("device: delete thing: %w", err)
		}
		return nil
	})
}

// ListThings returns one page of things ordered by name. maxResults 0 means
// DefaultThingPageSize; nextToken is the previous page's NextToken.
func (s *Service) ListThings(ctx context.Context, f ThingFilter, maxResults int, nextToken string) (*ThingPage, error) {
	limit, after, err := pageArgs(maxResults, nextToken, "maxResults")
	if err != nil {
		return nil, err
	}
	if f.AttributeValue != "" && f.AttributeName == "" {
		return nil, fault.Invalidf("attributeValue needs attributeName")
	}
	if f.TypeName != "" {
		if err := validateThingName("thingTypeName", f.TypeName); err != nil {
			return nil, err
		}
	}
	query := `SELECT name, id, type_name, attributes, version FROM device_things WHERE name > ?`
	args := []any{after}
	if f.TypeName != "" {
		query += ` AND type_name = ?`
		args = append(args, f.TypeName)
	}
	query += ` ORDER BY name`
	rows, err := s.st.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("device: list things: %w", err)
	}
	defer rows.Close()
	page := &ThingPage{Things: []Thing{}}
	for rows.Next() {
		var (
			t    Thing
			blob string
		)
		if err := rows.Scan(&t.Name, &t.ID, &t.TypeName, &blob, &t.Version); err != nil {
			return nil, fmt.Errorf("device: list things: %w", err)
		}
		if err := json.Unmarshal([]byte(blob), &t.Attributes); err != nil {
			return nil, fmt.Errorf("device: thing %s attributes: %w", t.Name, err)
		}
		if f.AttributeName != "" {
			v, ok := t.Attributes[f.AttributeName]
			switch {
			case !ok:
				continue
			case f.PrefixValue && !strings.HasPrefix(v, f.AttributeValue):
				continue
			case !f.PrefixValue && f.AttributeValue != "" && v != f.AttributeValue:
				continue
			}
		}
		if len(page.Things) == limit {
			page.NextToken = encodeToken(page.Things[limit-1].Name)
			break
		}
		t.ARN = s.ThingARN(t.Name)
		page.Things = append(page.Things, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("device: list things: %w", err)
	}
	return page, nil
}

// pageArgs validates a page size (0 means the default) and decodes a token.
func pageArgs(size int, token, member string) (limit int, after string, err error) {
	if size == 0 {
		size = DefaultThingPageSize
	}
	if size < 1 || size > MaxThingPageSize {
		return 0, "", fault.Invalidf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value between 1 and %d", size, member, MaxThingPageSize)
	}
	if token != "" {
		if after, err = decodeToken(token); err != nil {
			return 0, "", err
		}
	}
	return size, after, nil
}

// Tokens of the thing and policy lists are the base64 of the last key of the
// previous page: keyset pagination, stable while entries come and go.
func encodeToken(key string) string { return base64.StdEncoding.EncodeToString([]byte(key)) }

func decodeToken(token string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil || len(raw) == 0 {
		return "", fault.Invalidf("the token %q is not one this service returned", token)
	}
	return string(raw), nil
}

// parseCertificatePrincipal reads a principal that must be a certificate of
// this registry: its ARN (arn:aws:iot:<region>:<account>:cert/<id>). It
// returns the certificate ID.
func (s *Service) parseCertificatePrincipal(member, principal string) (string, error) {
	if principal == "" {
		return "", fault.Invalidf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	parts := strings.SplitN(principal, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "iot" || !strings.HasPrefix(parts[5], "cert/") {
		return "", fault.Invalidf("%s %q is not a certificate ARN (arn:aws:iot:<region>:<account>:cert/<certificateId>); Portico's principals are X.509 certificates", member, principal)
	}
	id, err := validateID(strings.TrimPrefix(parts[5], "cert/"))
	if err != nil {
		return "", fault.Invalidf("%s %q does not hold a valid certificate ID", member, principal)
	}
	if parts[3] != s.region || parts[4] != s.account {
		return "", fault.NotFoundf("The certificate %s does not exist in region %s of account %s", principal, s.region, s.account)
	}
	return id, nil
}

func certificateExists(ctx context.Context, q queryer, id string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM device_certificates WHERE id=?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	return nil
}

// AttachThingPrincipal attaches a certificate (by ARN) to a thing. An
// EXCLUSIVE_THING attachment requires the certificate to be attached to no
// other thing, and a certificate attached exclusively cannot be attached to
// another thing. Attaching again changes only the type.
func (s *Service) AttachThingPrincipal(ctx context.Context, thingName, principal string, typ ThingPrincipalType) error {
	if err := validateThingName("thingName", thingName); err != nil {
		return err
	}
	switch typ {
	case "":
		typ = NonExclusiveThing
	case NonExclusiveThing, ExclusiveThing:
	default:
		return fault.Invalidf("1 validation error detected: Value '%s' at 'thingPrincipalType' failed to satisfy constraint: Member must satisfy enum value set: [EXCLUSIVE_THING, NON_EXCLUSIVE_THING]", typ)
	}
	certID, err := s.parseCertificatePrincipal("principal", principal)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		if _, err := s.thing(ctx, tx, thingName); err != nil {
			return err
		}
		if err := certificateExists(ctx, tx, certID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT thing_name, exclusive FROM device_thing_principals WHERE certificate_id=?`, certID)
		if err != nil {
			return fmt.Errorf("device: attach thing principal: %w", err)
		}
		var others []string
		otherExclusive := false
		for rows.Next() {
			var name string
			var excl bool
			if err := rows.Scan(&name, &excl); err != nil {
				rows.Close()
				return fmt.Errorf("device: attach thing principal: %w", err)
			}
			if name != thingName {
				others = append(others, name)
				otherExclusive = otherExclusive || excl
			}
		}
		rows.Close()
		if otherExclusive {
			return fault.Invalidf("Principal %s is attached exclusively (EXCLUSIVE_THING) to thing %s; detach it first", principal, others[0])
		}
		if typ == ExclusiveThing && len(others) > 0 {
			return fault.Invalidf("Principal %s is already attached to thing %s; an EXCLUSIVE_THING attachment must be its only one", principal, others[0])
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO device_thing_principals (thing_name, certificate_id, exclusive, attached_ms)
			VALUES (?, ?, ?, ?) ON CONFLICT (thing_name, certificate_id) DO UPDATE SET exclusive=excluded.exclusive`,
			thingName, certID, typ == ExclusiveThing, s.now().UnixMilli())
		if err != nil {
			return fmt.Errorf("device: attach thing principal: %w", err)
		}
		return nil
	})
	return err
}

// DetachThingPrincipal detaches a certificate from a thing. The thing must
// exist; a certificate that is not attached to it is not an error.
func (s *Service) DetachThingPrincipal(ctx context.Context, thingName, principal string) error {
	if err := validateThingName("thingName", thingName); err != nil {
		return err
	}
	certID, err := s.parseCertificatePrincipal("principal", principal)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		if _, err := s.thing(ctx, tx, thingName); err != nil {
			return err
		}
		return deleteRows(ctx, tx, "detach thing principal", `DELETE FROM device_thing_principals WHERE thing_name=? AND certificate_id=?`, thingName, certID)
	})
}

// ListThingPrincipals returns one page of the certificate ARNs attached to a
// thing, ordered by certificate ID.
func (s *Service) ListThingPrincipals(ctx context.Context, thingName string, maxResults int, nextToken string) (*NamePage, error) {
	if err := validateThingName("thingName", thingName); err != nil {
		return nil, err
	}
	limit, after, err := pageArgs(maxResults, nextToken, "maxResults")
	if err != nil {
		return nil, err
	}
	if _, err := s.thing(ctx, s.st.DB(), thingName); err != nil {
		return nil, err
	}
	ids, next, err := s.listKeys(ctx, `SELECT certificate_id FROM device_thing_principals WHERE thing_name=? AND certificate_id > ? ORDER BY certificate_id`,
		[]any{thingName, after}, limit)
	if err != nil {
		return nil, err
	}
	return s.certificateARNPage(ids, next), nil
}

// ListPrincipalThings returns one page of the names of the things a
// certificate (by ARN) is attached to.
func (s *Service) ListPrincipalThings(ctx context.Context, principal string, maxResults int, nextToken string) (*NamePage, error) {
	limit, after, err := pageArgs(maxResults, nextToken, "maxResults")
	if err != nil {
		return nil, err
	}
	certID, err := s.existingCertificate(ctx, "principal", principal)
	if err != nil {
		return nil, err
	}
	names, next, err := s.listKeys(ctx, `SELECT thing_name FROM device_thing_principals WHERE certificate_id=? AND thing_name > ? ORDER BY thing_name`,
		[]any{certID, after}, limit)
	if err != nil {
		return nil, err
	}
	return &NamePage{Names: names, NextToken: next}, nil
}

// listKeys runs a query of one ordered key column and cuts it into a page.
func (s *Service) listKeys(ctx context.Context, query string, args []any, limit int) ([]string, string, error) {
	rows, err := s.st.DB().QueryContext(ctx, query+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("device: list: %w", err)
	}
	defer rows.Close()
	keys := []string{}
	next := ""
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, "", fmt.Errorf("device: list: %w", err)
		}
		if len(keys) == limit {
			next = encodeToken(keys[limit-1])
			break
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("device: list: %w", err)
	}
	return keys, next, nil
}

// attachedThings returns, per certificate ID, the things attached to it (for
// the snapshot).
func (s *Service) attachedThings(ctx context.Context, q queryer, only string) (map[string][]AttachedThing, error) {
	rows, err := q.QueryContext(ctx, `SELECT p.certificate_id, p.exclusive, t.name, t.type_name, t.attributes
		FROM device_thing_principals p JOIN device_things t ON t.name = p.thing_name
		WHERE ?='' OR p.certificate_id=? ORDER BY p.certificate_id, t.name`, only, only)
	if err != nil {
		return nil, fmt.Errorf("device: snapshot things: %w", err)
	}
	defer rows.Close()
	out := map[string][]AttachedThing{}
	for rows.Next() {
		var (
			id, blob string
			t        AttachedThing
		)
		if err := rows.Scan(&id, &t.Exclusive, &t.Name, &t.TypeName, &blob); err != nil {
			return nil, fmt.Errorf("device: snapshot things: %w", err)
		}
		if err := json.Unmarshal([]byte(blob), &t.Attributes); err != nil {
			return nil, fmt.Errorf("device: snapshot things: %w", err)
		}
		out[id] = append(out[id], t)
	}
	return out, rows.Err()
}
