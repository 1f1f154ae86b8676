package zone

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/fault"
)

// Change actions.
const (
	ActionCreate = "CREATE"
	ActionDelete = "DELETE"
	ActionUpsert = "UPSERT"
)

// Limits of one ChangeResourceRecordSets request (UPSERT counts twice).
const (
	MaxBatchRecords    = 1000
	MaxBatchValueChars = 32000
	MaxTTL             = 2147483647
)

// Record-set listing page sizes (Route 53: up to 300 at a time).
const (
	DefaultRecordPageSize = 300
	MaxRecordPageSize     = 300
)

// RecordSet is a stored resource record set.
type RecordSet struct {
	Name   string // lower case, trailing dot, octal escapes (\052 for '*')
	Type   string
	TTL    int64
	Values []string // as the caller wrote them; none for an alias
	// SetIdentifier names the set among those of its name and type with a
	// routing policy (Failover, Weight, Region or MultiValueAnswer); empty for
	// simple sets.
	SetIdentifier string
	// Failover is FailoverPrimary or FailoverSecondary on failover sets.
	Failover string
	// Weight is set on weighted sets (0 to MaxWeight).
	Weight *int64
	// MultiValueAnswer marks multivalue answer sets.
	MultiValueAnswer bool
	// Region is set on latency sets (one of LatencyRegions).
	Region string
	// HealthCheckID is the set's health check, if any.
	HealthCheckID string
	// Alias is set on alias record sets, which have no TTL and no Values.
	Alias *AliasTarget
}

// Failover roles.
const (
	FailoverPrimary   = "PRIMARY"
	FailoverSecondary = "SECONDARY"
)

// MaxSetIdentifier is the longest SetIdentifier Route 53 accepts.
const MaxSetIdentifier = 128

// identity is the "[name='…', type='…'(, set-identifier='…')]" of Route 53's messages.
func identity(name, typ, id string) string {
	if id == "" {
		return fmt.Sprintf("[name='%s', type='%s']", name, typ)
	}
	return fmt.Sprintf("[name='%s', type='%s', set-identifier='%s']", name, typ, id)
}

// RRs returns the DNS records of the set.
func (r RecordSet) RRs() ([]dns.RR, error) {
	owner, err := parseName(r.Name)
	if err != nil {
		return nil, fmt.Errorf("zone: record set %s: %w", r.Name, err)
	}
	out := make([]dns.RR, 0, len(r.Values))
	for _, v := range r.Values {
		rr, err := buildRR(owner, r.Type, uint32(r.TTL), v)
		if err != nil {
			return nil, fmt.Errorf("zone: record set %s %s: %w", r.Name, r.Type, err)
		}
		out = append(out, rr)
	}
	return out, nil
}

// RecordSetInput is a record set as a change names it. TTL and Values are
// nil when the request left them out.
type RecordSetInput struct {
	Name   string
	Type   string
	TTL    *int64
	Values []string
	// SetIdentifier, Failover, Region and HealthCheckID are empty when absent.
	SetIdentifier string
	Failover      string
	Region        string
	HealthCheckID string
	// Weight and MultiValueAnswer are nil when absent.
	Weight           *int64
	MultiValueAnswer *bool
	// Alias is nil unless the change names an AliasTarget.
	Alias *AliasTarget
}

// Change is one element of a change batch.
type Change struct {
	Action    string
	RecordSet RecordSetInput
}

// ChangeBatch is a ChangeResourceRecordSets request.
type ChangeBatch struct {
	Comment string
	Changes []Change
}

func validationError(format string, args ...any) error {
	return invalidInput("1 validation error detected: "+format, args...)
}

// checkStructure applies the request-shape rules Route 53 answers with
// InvalidInput before it looks at the zone.
func checkStructure(batch ChangeBatch) error {
	if len(batch.Comment) > 256 {
		return validationError("Value at 'changeBatch.comment' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	if len(batch.Changes) == 0 {
		return validationError("Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	records, chars := 0, 0
	for i, c := range batch.Changes {
		member := fmt.Sprintf("changeBatch.changes.%d.member", i+1)
		switch c.Action {
		case ActionCreate, ActionDelete, ActionUpsert:
		default:
			return validationError("Value '%s' at '%s.action' failed to satisfy constraint: Member must satisfy enum value set: [CREATE, DELETE, UPSERT]", c.Action, member)
		}
		rs := c.RecordSet
		if rs.Name == "" && rs.Type == "" {
			return invalidInput("Invalid request: ResourceRecordSet is required in Change with [Action=%s]", c.Action)
		}
		if !modelTypes[rs.Type] {
			return validationError("Value '%s' at '%s.resourceRecordSet.type' failed to satisfy constraint: Member must satisfy enum value set: [SOA, A, TXT, NS, CNAME, MX, NAPTR, PTR, SRV, SPF, AAAA, CAA, DS, TLSA, SSHFP, SVCB, HTTPS]", rs.Type, member)
		}
		if _, ok := supportedTypes[rs.Type]; !ok {
			return invalidInput("Portico does not support record sets of type %s yet (supported: A, AAAA, CAA, CNAME, MX, NS, PTR, SOA, SRV, TXT)", rs.Type)
		}
		name := rs.Name
		if n, err := parseName(rs.Name); err == nil {
			name = n.String()
		}
		setID := "null"
		if rs.SetIdentifier != "" {
			setID = rs.SetIdentifier
		}
		where := fmt.Sprintf("[Action=%s, Name=%s, Type=%s, SetIdentifier=%s]", c.Action, name, rs.Type, setID)
		switch {
		case rs.Alias != nil && (rs.TTL != nil || len(rs.Values) > 0):
			return invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in Change with %s", where)
		case rs.Alias == nil && (rs.TTL == nil || len(rs.Values) == 0):
			return invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with %s", where)
		}
		if len(rs.SetIdentifier) > MaxSetIdentifier {
			return validationError("Value '%s' at '%s.resourceRecordSet.setIdentifier' failed to satisfy constraint: Member must have length less than or equal to %d", rs.SetIdentifier, member, MaxSetIdentifier)
		}
		if len(rs.HealthCheckID) > 64 {
			return validationError("Value '%s' at '%s.resourceRecordSet.healthCheckId' failed to satisfy constraint: Member must have length less than or equal to 64", rs.HealthCheckID, member)
		}
		switch rs.Failover {
		case "", FailoverPrimary, FailoverSecondary:
		default:
			return validationError("Value '%s' at '%s.resourceRecordSet.failover' failed to satisfy constraint: Member must satisfy enum value set: [PRIMARY, SECONDARY]", rs.Failover, member)
		}
		if err := checkRouting(rs, member, where); err != nil {
			return err
		}
		if rs.TTL != nil && (*rs.TTL < 0 || *rs.TTL > MaxTTL) {
			return validationError("Value '%d' at '%s.resourceRecordSet.tTL' failed to satisfy constraint: Member must have value between 0 and %d", *rs.TTL, member, MaxTTL)
		}
		weight := 1
		if c.Action == ActionUpsert {
			weight = 2
		}
		records += weight * len(rs.Values)
		for _, v := range rs.Values {
			chars += weight * len(v)
		}
	}
	if records > MaxBatchRecords {
		return fault.Coded(fault.Invalid, "InvalidChangeBatch", "[Number of records limit of %d exceeded.]", MaxBatchRecords)
	}
	if chars > MaxBatchValueChars {
		return fault.Coded(fault.Invalid, "InvalidChangeBatch", "[Number of characters in record values limit of %d exceeded.]", MaxBatchValueChars)
	}
	return nil
}

// rrsetState is a record set in the working copy of a zone during a batch.
type rrsetState struct {
	set RecordSet
	rrs []dns.RR
}

// setKey identifies a record set under one owner name.
type setKey struct {
	typ, id string
}

// batchState is the copy of a zone a change batch is applied to, loaded one
// owner name at a time.
type batchState struct {
	ctx      context.Context
	tx       *sql.Tx
	zoneID   string
	zoneName domainName
	loaded   map[string]bool                   // owner names read from the store
	sets     map[string]map[setKey]*rrsetState // owner name → (type, set identifier) → set
	original map[string]map[setKey]bool        // owner name → sets that existed before the batch
	// own is Portico's own zone (nil if none), ownServed what it serves
	// among the batch's alias targets there.
	own       *OwnZone
	ownServed map[ownTarget]bool
}

func (b *batchState) load(name string) (map[setKey]*rrsetState, error) {
	if b.loaded[name] {
		return b.sets[name], nil
	}
	rows, err := b.tx.QueryContext(b.ctx, `SELECT `+recordColumns+` FROM zone_record_sets WHERE zone_id=? AND name=?`, b.zoneID, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sets := map[setKey]*rrsetState{}
	orig := map[setKey]bool{}
	for rows.Next() {
		rs, err := scanRecordSet(rows)
		if err != nil {
			return nil, err
		}
		rrs, err := rs.RRs()
		if err != nil {
			return nil, err
		}
		k := setKey{rs.Type, rs.SetIdentifier}
		sets[k] = &rrsetState{set: rs, rrs: rrs}
		orig[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b.loaded[name] = true
	b.sets[name] = sets
	b.original[name] = orig
	return sets, nil
}

// sameWeight reports whether two optional weights are equal.
func sameWeight(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// sameRecords reports whether a and b hold the same records, in any order.
func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if dns.IsDuplicate(x, y) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// ChangeResourceRecordSets applies a change batch all or nothing. Changes are
// checked in order against the state the earlier ones produce; every problem
// found is reported in one InvalidChangeBatch error, "[a, b]".
func (s *Service) ChangeResourceRecordSets(ctx context.Context, zoneID string, batch ChangeBatch) (*ChangeInfo, error) {
	zoneID = StripIDPrefix(zoneID)
	if err := checkStructure(batch); err != nil {
		return nil, err
	}
	if s.HealthCheckExists != nil {
		for _, c := range batch.Changes {
			id := c.RecordSet.HealthCheckID
			if id == "" || c.Action == ActionDelete {
				continue
			}
			ok, err := s.HealthCheckExists(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("zone: health check %s: %w", id, err)
			}
			if !ok {
				return nil, fault.Coded(fault.NotFound, "NoSuchHealthCheck", "A health check with id %s does not exist.", id)
			}
		}
	}
	ownServed, err := s.ownServed(ctx, batch)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, batch.Comment, func(tx *sql.Tx, _ string) error {
		var zoneText string
		err := tx.QueryRowContext(ctx, `SELECT name FROM zone_hosted_zones WHERE id=?`, zoneID).Scan(&zoneText)
		if errors.Is(err, sql.ErrNoRows) {
			return noSuchZone(zoneID)
		}
		if err != nil {
			return err
		}
		zoneName, err := parseName(zoneText)
		if err != nil {
			return fmt.Errorf("zone: stored zone name %q: %w", zoneText, err)
		}
		b := &batchState{ctx: ctx, tx: tx, zoneID: zoneID, zoneName: zoneName,
			loaded: map[string]bool{}, sets: map[string]map[setKey]*rrsetState{}, original: map[string]map[setKey]bool{},
			own: s.Own, ownServed: ownServed}
		var problems []string
		for _, c := range batch.Changes {
			p, err := b.apply(c)
			if err != nil {
				return err
			}
			problems = append(problems, p...)
		}
		if len(problems) > 0 {
			return fault.Coded(fault.Invalid, "InvalidChangeBatch", "[%s]", strings.Join(problems, ", "))
		}
		return b.write()
	})
}

// apply checks one change against the working state and, if it is valid,
// applies it there. It returns the problems found.
func (b *batchState) apply(c Change) ([]string, error) {
	in := c.RecordSet
	owner, err := parseName(in.Name)
	if err != nil {
		return []string{err.Error()}, nil
	}
	name := owner.String()
	zone := b.zoneName.String()
	if !owner.within(b.zoneName) {
		return []string{fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", name, zone)}, nil
	}
	var problems []string
	apex := owner.equal(b.zoneName)
	var ttlValue int64 // an alias has none
	if in.TTL != nil {
		ttlValue = *in.TTL
	}
	rrs := make([]dns.RR, 0, len(in.Values))
	for _, v := range in.Values {
		rr, err := buildRR(owner, in.Type, uint32(ttlValue), v)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		duplicate := false
		for _, prev := range rrs {
			if dns.IsDuplicate(prev, rr) {
				duplicate = true
			}
		}
		if duplicate {
			problems = append(problems, fmt.Sprintf("Duplicate Resource Record: '%s'", v))
			continue
		}
		rrs = append(rrs, rr)
	}
	if c.Action != ActionDelete {
		switch {
		case in.Type == "CNAME" && apex:
			problems = append(problems, fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted at apex in zone %s", name, zone))
		case in.Type == "SOA" && !apex:
			problems = append(problems, fmt.Sprintf("RRSet of type SOA with DNS name %s is not permitted because SOA records are only allowed at the apex of zone %s", name, zone))
		case in.Type == "NS" && owner.isWildcard():
			problems = append(problems, fmt.Sprintf("RRSet of type NS with DNS name %s is not permitted because wildcard NS records are not allowed in zone %s", name, zone))
		}
		if (in.Type == "CNAME" || in.Type == "SOA") && len(in.Values) > 1 {
			problems = append(problems, fmt.Sprintf("RRSet of type %s with DNS name %s must contain exactly one resource record", in.Type, name))
		}
	}
	if len(problems) > 0 {
		return problems, nil
	}
	var alias *AliasTarget
	if in.Alias != nil {
		if c.Action != ActionDelete {
			p, err := b.checkAlias(in, owner)
			if err != nil || len(p) > 0 {
				return p, err
			}
		}
		if alias, err = in.Alias.normalize(); err != nil {
			return []string{fmt.Sprintf("Tried to delete resource record set %s but the values provided do not match the current values",
				identity(name, in.Type, in.SetIdentifier))}, nil
		}
	}
	multivalue := in.MultiValueAnswer != nil && *in.MultiValueAnswer

	sets, err := b.load(name)
	if err != nil {
		return nil, err
	}
	id := identity(name, in.Type, in.SetIdentifier)
	key := setKey{in.Type, in.SetIdentifier}
	current := sets[key]
	switch c.Action {
	case ActionDelete:
		switch {
		case current == nil:
			return []string{"Tried to delete resource record set " + id + " but it was not found"}, nil
		case current.set.TTL != ttlValue || !sameRecords(current.rrs, rrs) ||
			current.set.Failover != in.Failover || current.set.HealthCheckID != in.HealthCheckID ||
			!sameWeight(current.set.Weight, in.Weight) || current.set.MultiValueAnswer != multivalue || current.set.Region != in.Region ||
			!current.set.Alias.equal(alias):
			return []string{"Tried to delete resource record set " + id + " but the values provided do not match the current values"}, nil
		case apex && in.Type == "NS":
			return []string{"A HostedZone must contain at least one NS record for the zone itself."}, nil
		case apex && in.Type == "SOA":
			return []string{"A HostedZone must contain exactly one SOA record."}, nil
		}
		delete(sets, key)
		return nil, nil
	case ActionCreate:
		if current != nil {
			return []string{"Tried to create resource record set " + id + " but it already exists"}, nil
		}
	}
	policy, weighted := in.policy(), 0
	if policy == PolicyWeighted {
		weighted = 1
	}
	for k, other := range sets {
		if k == key {
			continue
		}
		if k.typ == in.Type && other.set.Policy() == PolicyWeighted {
			weighted++
		}
		switch {
		case in.Type == "CNAME" && k.typ != "CNAME":
			return []string{fmt.Sprintf("RRSet of type CNAME with DNS name %s is not permitted as it conflicts with other records with the same DNS name in zone %s", name, zone)}, nil
		case in.Type != "CNAME" && k.typ == "CNAME":
			// The two spaces before CNAME are Route 53's own wording.
			return []string{fmt.Sprintf("RRSet of type %s with DNS name %s is not permitted because a conflicting RRSet of type  CNAME with the same DNS name already exists in zone %s", in.Type, name, zone)}, nil
		case k.typ != in.Type:
		case policyConflict(name, in.Type, in.SetIdentifier, policy, other.set.Policy()) != "":
			return []string{policyConflict(name, in.Type, in.SetIdentifier, policy, other.set.Policy())}, nil
		case in.Failover != "" && other.set.Failover == in.Failover:
			return []string{fmt.Sprintf("Tried to create resource record set %s but a %s failover record set with the same name and type already exists (set-identifier='%s')", id, in.Failover, k.id)}, nil
		case in.Region != "" && other.set.Region == in.Region:
			// Route 53 allows one latency set per region for a name and type.
			return []string{fmt.Sprintf("Tried to create resource record set %s but a latency record set for region %s with the same name and type already exists (set-identifier='%s')", id, in.Region, k.id)}, nil
		}
	}
	if weighted > MaxWeightedSets {
		return []string{fmt.Sprintf("Tried to create resource record set %s but a name and type can have at most %d weighted record sets", id, MaxWeightedSets)}, nil
	}
	values := append([]string(nil), in.Values...)
	var weight *int64
	if in.Weight != nil {
		w := *in.Weight
		weight = &w
	}
	sets[key] = &rrsetState{set: RecordSet{Name: name, Type: in.Type, TTL: ttlValue, Values: values,
		SetIdentifier: in.SetIdentifier, Failover: in.Failover, Region: in.Region, HealthCheckID: in.HealthCheckID,
		Weight: weight, MultiValueAnswer: multivalue, Alias: alias}, rrs: rrs}
	return nil, nil
}

// write stores the record sets the batch touched.
func (b *batchState) write() error {
	for name, sets := range b.sets {
		owner, err := parseName(name)
		if err != nil {
			return err
		}
		for _, st := range sets {
			if err := putRecordSet(b.ctx, b.tx, b.zoneID, owner, st.set); err != nil {
				return err
			}
		}
		for k := range b.original[name] {
			if sets[k] == nil {
				if _, err := b.tx.ExecContext(b.ctx, `DELETE FROM zone_record_sets
					WHERE zone_id=? AND name=? AND type=? AND set_identifier=?`, b.zoneID, name, k.typ, k.id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ListRecordSetsInput positions a ListResourceRecordSets page.
type ListRecordSetsInput struct {
	StartName       string
	StartType       string
	StartIdentifier string
	MaxItems        int // 0 means the default
}

// RecordSetPage is one page of ListResourceRecordSets.
type RecordSetPage struct {
	RecordSets  []RecordSet
	IsTruncated bool
	// NextName and NextType name the first set of the next page.
	NextName       string
	NextType       string
	NextIdentifier string
}

// ListResourceRecordSets lists a zone's record sets in Route 53's order: by
// name with labels reversed (com.example.www.) as ASCII, then by type.
func (s *Service) ListResourceRecordSets(ctx context.Context, zoneID string, in ListRecordSetsInput) (*RecordSetPage, error) {
	zoneID = StripIDPrefix(zoneID)
	startKey, startType := "", ""
	if in.StartType != "" && in.StartName == "" {
		return nil, invalidInput("The input is not valid: a record type (type) requires a record name (name)")
	}
	if in.StartName != "" {
		n, err := parseName(in.StartName)
		if err != nil {
			return nil, invalidInput("%s", err.Error())
		}
		startKey = n.sortKey()
	}
	if in.StartType != "" {
		if !modelTypes[in.StartType] {
			return nil, validationError("Value '%s' at 'startRecordType' failed to satisfy constraint: Member must satisfy enum value set: [SOA, A, TXT, NS, CNAME, MX, NAPTR, PTR, SRV, SPF, AAAA, CAA, DS, TLSA, SSHFP, SVCB, HTTPS]", in.StartType)
		}
		startType = in.StartType
	}
	limit := in.MaxItems
	if limit <= 0 {
		limit = DefaultRecordPageSize
	}
	limit = min(limit, MaxRecordPageSize)

	tx, err := s.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("zone: list record sets: %w", err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM zone_hosted_zones WHERE id=?`, zoneID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noSuchZone(zoneID)
	}
	if err != nil {
		return nil, fmt.Errorf("zone: list record sets: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+recordColumns+` FROM zone_record_sets
		WHERE zone_id=? AND (sort_key > ? OR (sort_key = ? AND (type > ? OR (type = ? AND set_identifier >= ?))))
		ORDER BY sort_key, type, set_identifier LIMIT ?`, zoneID, startKey, startKey, startType, startType, in.StartIdentifier, limit+1)
	if err != nil {
		return nil, fmt.Errorf("zone: list record sets: %w", err)
	}
	defer rows.Close()
	page := &RecordSetPage{RecordSets: []RecordSet{}}
	for rows.Next() {
		rs, err := scanRecordSet(rows)
		if err != nil {
			return nil, fmt.Errorf("zone: list record sets: %w", err)
		}
		if len(page.RecordSets) == limit {
			page.IsTruncated = true
			page.NextName, page.NextType, page.NextIdentifier = rs.Name, rs.Type, rs.SetIdentifier
			break
		}
		page.RecordSets = append(page.RecordSets, rs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("zone: list record sets: %w", err)
	}
	return page, nil
}
