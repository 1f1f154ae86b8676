package zone

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// OwnZone is Portico's own zone for its base domain, which holds the IoT
// endpoint hostnames (<prefix>-ats.iot.<region>.<base-domain>, AWS_MANAGED
// domain names). It is not a hosted zone: GetHostedZone and ListHostedZones
// do not show it and it cannot be changed through the API. Alias record sets
// may target its names with AliasTarget.HostedZoneId = ID, as Route 53
// aliases target an AWS service's names with that service's zone ID.
type OwnZone struct {
	// ID is the hosted zone ID aliases name it by (OwnZoneID of the base domain).
	ID string
	// Name is the base domain.
	Name string
	// Serves reports whether the zone answers name (Route 53 form: lower
	// case, trailing dot) with records of type typ. It is called before the
	// change batch's transaction, never inside it.
	Serves func(ctx context.Context, name, typ string) (bool, error)
}

// ZoneRef names a zone the DNS server serves that aliases may target.
type ZoneRef struct {
	ID     string
	Origin string // DNS master-file syntax
}

// OwnZoneID is the stable hosted zone ID of Portico's own zone for
// baseDomain: "ZPORTICO" and 13 characters of a hash of the domain's
// Route 53 form, so that it never changes for a base domain and never
// collides with a generated ID (those start "Z" then 20 random characters).
func OwnZoneID(baseDomain string) string {
	name := baseDomain
	if n, err := parseName(baseDomain); err == nil {
		name = n.String()
	}
	sum := sha256.Sum256([]byte("portico-own-zone:" + name))
	return "ZPORTICO" + base32.StdEncoding.EncodeToString(sum[:])[:13]
}

// ownTarget is an alias target in the own zone: its name and type.
type ownTarget struct{ name, typ string }

// ownServed asks OwnZone.Serves about every alias of the batch that targets
// the own zone, before the batch's transaction.
func (s *Service) ownServed(ctx context.Context, batch ChangeBatch) (map[ownTarget]bool, error) {
	if s.Own == nil || s.Own.Serves == nil {
		return nil, nil
	}
	out := map[ownTarget]bool{}
	for _, c := range batch.Changes {
		a := c.RecordSet.Alias
		if a == nil || c.Action == ActionDelete || StripIDPrefix(strings.TrimSpace(a.HostedZoneID)) != s.Own.ID {
			continue
		}
		n, err := parseName(strings.TrimSpace(a.DNSName))
		if err != nil {
			continue // checkAlias reports it
		}
		k := ownTarget{n.String(), c.RecordSet.Type}
		if _, done := out[k]; done {
			continue
		}
		ok, err := s.Own.Serves(ctx, k.name, k.typ)
		if err != nil {
			return nil, fmt.Errorf("zone: endpoint name %s: %w", k.name, err)
		}
		out[k] = ok
	}
	return out, nil
}

// checkOwnAlias checks an alias into the own zone; prefix starts its messages.
func (b *batchState) checkOwnAlias(alias *AliasTarget, typ, prefix string) []string {
	ownName, err := parseName(b.own.Name)
	target, err2 := parseName(alias.DNSName)
	if err != nil || err2 != nil || !target.within(ownName) {
		return []string{prefix + ", but the alias target name does not lie within the target zone"}
	}
	if !b.ownServed[ownTarget{alias.DNSName, typ}] {
		return []string{prefix + ", but that target was not found: Portico serves no " + typ + " record for that endpoint hostname"}
	}
	return nil
}
