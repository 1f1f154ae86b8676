// Package zonedns turns the hosted zones of internal/zone into what the DNS
// server serves: simple records, and failover groups whose answer the server
// picks by health. It keeps the two packages independent of each other.
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
	for _, z := range data.Zones {
		rrs, err := z.RRs()
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.ID, err)
		}
		dz := dnsserver.Zone{Origin: z.Origin, Records: rrs}
		for _, g := range z.FailoverGroups() {
			rg := dnsserver.RecordGroup{Name: g.Name, Type: dns.StringToType[g.Type], Policy: dnsserver.PolicyFailover}
			for _, rs := range []*zone.RecordSet{g.Primary, g.Secondary} {
				if rs == nil {
					continue
				}
				rrs, err := rs.RRs()
				if err != nil {
					return nil, fmt.Errorf("zone %s: %w", z.ID, err)
				}
				rg.Members = append(rg.Members, dnsserver.Member{ID: rs.SetIdentifier, Records: rrs,
					HealthCheck: rs.HealthCheckID, Secondary: rs.Failover == zone.FailoverSecondary})
			}
			dz.Groups = append(dz.Groups, rg)
		}
		out = append(out, dz)
	}
	return out, nil
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
