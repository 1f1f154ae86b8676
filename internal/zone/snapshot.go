package zone

import (
	"context"
	"encoding/json"
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
}

// ZoneData is one hosted zone's content.
type ZoneData struct {
	ID   string
	Name string // Route 53 form: lower case, trailing dot, octal escapes
	// Origin is the zone name in DNS master-file syntax (as miekg/dns writes names).
	Origin     string
	RecordSets []RecordSet
}

// RRs returns every record of the zone's simple record sets. Failover sets
// are left out: FailoverGroups returns them, for the DNS server to choose
// between by health.
func (z ZoneData) RRs() ([]dns.RR, error) {
	var out []dns.RR
	for _, rs := range z.RecordSets {
		if rs.SetIdentifier != "" {
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

// FailoverGroup is the failover record sets of one name and type: at most
// one PRIMARY and one SECONDARY (either may be nil).
type FailoverGroup struct {
	Name, Type         string
	Primary, Secondary *RecordSet
}

// FailoverGroups returns the zone's failover record sets grouped by name and
// type, in the zone's order.
func (z ZoneData) FailoverGroups() []FailoverGroup {
	var out []FailoverGroup
	index := map[[2]string]int{}
	for i := range z.RecordSets {
		rs := &z.RecordSets[i]
		if rs.Failover == "" {
			continue
		}
		k := [2]string{rs.Name, rs.Type}
		j, ok := index[k]
		if !ok {
			j = len(out)
			index[k] = j
			out = append(out, FailoverGroup{Name: rs.Name, Type: rs.Type})
		}
		if rs.Failover == FailoverPrimary {
			out[j].Primary = rs
		} else {
			out[j].Secondary = rs
		}
	}
	return out
}

// Snapshot reads all zones and record sets for the DNS server.
func (s *Service) Snapshot(ctx context.Context) (*Data, error) {
	// Read the generation before the data: the data is then at least that
	// new, so a change is never reported INSYNC before it is served.
	data := &Data{Generation: s.st.Generation()}
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
	rows, err = tx.QueryContext(ctx, `SELECT zone_id, name, type, ttl, record_values, set_identifier, failover, health_check_id FROM zone_record_sets
		ORDER BY zone_id, sort_key, type, set_identifier`)
	if err != nil {
		return nil, fmt.Errorf("zone: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			zoneID, values string
			rs             RecordSet
		)
		if err := rows.Scan(&zoneID, &rs.Name, &rs.Type, &rs.TTL, &values, &rs.SetIdentifier, &rs.Failover, &rs.HealthCheckID); err != nil {
			return nil, fmt.Errorf("zone: snapshot: %w", err)
		}
		if err := json.Unmarshal([]byte(values), &rs.Values); err != nil {
			return nil, fmt.Errorf("zone: snapshot: values of %s %s: %w", rs.Name, rs.Type, err)
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
