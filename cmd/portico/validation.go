package main

import (
	"context"
	"strings"

	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/zone"
)

// zoneResolver answers the certificate validator's CNAME questions from
// Portico's own hosted zones, the way its DNS server would answer them.
type zoneResolver struct{ zones *zone.Service }

func (r zoneResolver) LookupCNAME(ctx context.Context, name string) (string, bool, error) {
	data, err := r.zones.Snapshot(ctx)
	if err != nil {
		return "", false, err
	}
	name = strings.ToLower(name)
	for _, z := range data.Zones {
		for _, rs := range z.RecordSets {
			if rs.Type == "CNAME" && rs.Name == name && len(rs.Values) > 0 {
				return rs.Values[0], true, nil
			}
		}
	}
	return "", false, nil
}

var _ certificate.Resolver = zoneResolver{}

// startValidation runs the ACM validator: certificates requested with DNS
// validation are issued by Portico's server CA once their validation records
// appear in Portico's zones, and renewed before they expire.
func (n *node) startValidation(ctx context.Context, ca *pki.CA, opts []pki.IssueOption) {
	v := &certificate.Validator{
		Service:  n.certs,
		Resolver: zoneResolver{n.zones},
		Issuer:   certificate.CAIssuer{CA: ca, Options: opts},
		Logger:   n.logger.With("component", "acm"),
	}
	go v.Run(ctx)
}
