// Package zonedns turns the hosted zones of internal/zone into what the DNS
// server serves: plain records, and record groups (failover, weighted,
// multivalue, latency, aliases) whose answers the server picks by policy and
// health. It keeps the two packages independent of each other.
package zonedns

import (
	"context"
	"fmt"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/zone"
)

// Zones converts a zone snapshot.
func Zones(data *zone.Data) ([]dnsserver.Zone, error) {
	out := make([]dnsserver.Zone, 0, len(data.Zones))
	// Aliases name their target's zone by ID; the server knows zones by origin.
	origins := make(map[string]string, len(data.Zones))
	for _, z := range data.Zones {
		if _, dup := origins[z.ID]; !dup {
			origins[z.ID] = z.Origin
		}
	}
	if data.Own != nil {
		// Aliases to endpoint hostnames: Portico's own zone, served beside.
		origins[data.Own.ID] = data.Own.Origin
	}
	for _, z := range data.Zones {
		rrs, err := z.RRs()
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.ID, err)
		}
		dz := dnsserver.Zone{Origin: z.Origin, Records: rrs}
		for _, g := range z.Groups() {
			rg, err := group(g, origins)
			if err != nil {
				return nil, fmt.Errorf("zone %s: %w", z.ID, err)
			}
			dz.Groups = append(dz.Groups, rg)
		}
		out = append(out, dz)
	}
	return out, nil
}

// policies maps zone routing policies to the server's.
var policies = map[string]dnsserver.Policy{
	zone.PolicySimple: dnsserver.PolicySimple, zone.PolicyFailover: dnsserver.PolicyFailover,
	zone.PolicyWeighted: dnsserver.PolicyWeighted, zone.PolicyMultiValue: dnsserver.PolicyMultiValue,
	zone.PolicyLatency: dnsserver.PolicyLatency,
}

// group converts one routed group; origins maps hosted zone IDs to origins.
func group(g zone.Group, origins map[string]string) (dnsserver.RecordGroup, error) {
	owner, err := zone.Presentation(g.Name)
	if err != nil {
		return dnsserver.RecordGroup{}, err
	}
	rg := dnsserver.RecordGroup{Name: owner, Type: dns.StringToType[g.Type], Policy: policies[g.Policy]}
	for _, rs := range g.Sets {
		m := dnsserver.Member{ID: rs.SetIdentifier, HealthCheck: rs.HealthCheckID, Secondary: rs.Failover == zone.FailoverSecondary,
			Region: rs.Region}
		if rs.Weight != nil {
			m.Weight = uint8(min(max(*rs.Weight, 0), 255))
		}
		if a := rs.Alias; a != nil {
			origin, ok := origins[a.HostedZoneID]
			if !ok {
				// The target zone was deleted: the alias answers nothing.
				continue
			}
			target, err := zone.Presentation(a.DNSName)
			if err != nil {
				return rg, err
			}
			m.Alias = &dnsserver.Alias{Zone: origin, Name: target, EvaluateTargetHealth: a.EvaluateTargetHealth}
		} else {
			rrs, err := rs.RRs()
			if err != nil {
				return rg, err
			}
			m.Records = rrs
		}
		rg.Members = append(rg.Members, m)
	}
	return rg, nil
}

// Source serves every hosted zone of zones, at the snapshot's generation.
func Source(zones *zone.Service) dnsserver.Source {
	return dnsserver.SourceFunc(func(ctx context.Context) ([]dnsserver.Zone, uint64, error) {
		data, err := zones.Snapshot(ctx)
		if err != nil {
			return nil, 0, err
		}
		out, err := Zones(data)
		return out, data.Generation, err
	})
}
