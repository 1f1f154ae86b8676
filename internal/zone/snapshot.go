package zone

import (
	"context"
	"fmt"

	"github.com/miekg/dns"
)

// Data is every hosted zone with its record sets, read in one transaction.
type Data struct {
	// Generation is a store generation the data is at least as new as: a
	// DNS server answering from Data serves every change committed at or
	// before it.
	Generation uint64
	// Zones are ordered by creation, oldest first. Route 53 lets several
	// zones share a name; a single DNS server can serve only one of them,
	// and should serve the first.
	Zones []ZoneData
	// Own is Portico's own zone (Service.Own), which aliases may target; nil
	// if none. Its records come from elsewhere (the endpoint hostnames).
	Own *ZoneRef
}

// ZoneData is one hosted zone's content.
type ZoneData struct {
	ID   string
	Name string // Route 53 form: lower case, trailing dot, octal escapes
	// Origin is the zone name in DNS master-file syntax (as miekg/dns writes names).
	Origin     string
	RecordSets []RecordSet
}

// routed reports whether the DNS server must choose or resolve the set's
// answer rather than serve its records as they are: a routing policy, an
// alias, or a health check (which aliases evaluating target health read).
func (r RecordSet) routed() bool {
	return r.SetIdentifier != "" || r.Alias != nil || r.HealthCheckID != ""
}

// RRs returns every record of the zone's plain record sets: Groups returns
// the others, for the DNS server to choose between by health.
func (z ZoneData) RRs() ([]dns.RR, error) {
	var out []dns.RR
	for _, rs := range z.RecordSets {
		if rs.routed() {
			continue
		}
		rrs, err := rs.RRs()
		if err != nil {
			return nil, err
		}
		out = append(out, rrs...)
	}
	return out, nil
}

// Group is the record sets of one name and type that a routing policy
// chooses between, or a single alias or health-checked set.
type Group struct {
	Name, Type string
	Policy     string // PolicySimple, PolicyFailover, PolicyWeighted, PolicyLatency or PolicyMultiValue
	Sets       []*RecordSet
}

// Groups returns the zone's routed record sets grouped by name and type, in
// the zone's order.
func (z ZoneData) Groups() []Group {
	var out []Group
	index := map[[2]string]int{}
	for i := range z.RecordSets {
		rs := &z.RecordSets[i]
		if !rs.routed() {
			continue
		}
		k := [2]string{rs.Name, rs.Type}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, Group{Name: rs.Name, Type: rs.Type, Policy: rs.Policy()})
		}
		out[j].Sets = append(out[j].Sets, rs)
	}
	return out
}

// Snapshot reads all zones and record sets for the DNS server.
func (s *Service) Snapshot(ctx context.Context) (*Data, error) {
	// Read the generation before the data: the data is then at least that
	// new, so a change is never reported INSYNC before it is served.
	data := &Data{Generation: s.st.Generation()}
	if s.Own != nil {
		origin := s.Own.Name
		if n, err := parseName(s.Own.Name); err == nil {
			origin = n.presentation()
		}
		data.Own = &ZoneRef{ID: s.Own.ID, Origin: origin}
	}
	tx, err := s.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("zone: snapshot: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM zone_hosted_zones ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("zone: snapshot: %w", err)
	}
	index := map[string]int{}
	for rows.Next() {
		var z ZoneData
		if err := rows.Scan(&z.ID, &z.Name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("zone: snapshot: %w", err)
		}
		n, err := parseName(z.Name)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("zone: snapshot: zone %s: %w", z.ID, err)
		}
		z.Origin = n.presentation()
		index[z.ID] = len(data.Zones)
		data.Zones = append(data.Zones, z)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("zone: snapshot: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT zone_id, `+recordColumns+` FROM zone_record_sets
		ORDER BY zone_id, sort_key, type, set_identifier`)
	if err != nil {
		return nil, fmt.Errorf("zone: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var zoneID string
		rs, err := scanRecordSet(rows, &zoneID)
		if err != nil {
			return nil, fmt.Errorf("zone: snapshot: %w", err)
		}
		i, ok := index[zoneID]
		if !ok {
			continue
		}
		data.Zones[i].RecordSets = append(data.Zones[i].RecordSets, rs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("zone: snapshot: %w", err)
	}
	return data, nil
}
