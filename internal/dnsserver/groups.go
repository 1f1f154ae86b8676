package dnsserver

import (
	"log/slog"

	"github.com/miekg/dns"
)

// setKey names one record set of a snapshot: zone origin, owner, type (all
// canonical).
type setKey struct {
	zone, owner string
	typ         uint16
}

// groupResolver resolves the record groups of a snapshot being built. Aliases
// make groups depend on each other (across zones too), so each is resolved
// on demand, once, with loops cut.
type groupResolver struct {
	snap   *snapshot
	health Health
	buf    []byte
	logger *slog.Logger
	// regions are the latency table's regions (the fallback order).
	regions []string
	groups  map[setKey]*RecordGroup
	done    map[setKey]resolved
	active  map[setKey]bool // being resolved: meeting one again is a loop
}

// resolveGroups installs the answers of every zone's groups into the
// snapshot's nodes.
func resolveGroups(snap *snapshot, zones []Zone, health Health, buf []byte, logger *slog.Logger) {
	r := &groupResolver{snap: snap, health: health, buf: buf, logger: logger, regions: snap.latency.Regions(),
		groups: map[setKey]*RecordGroup{}, done: map[setKey]resolved{}, active: map[setKey]bool{}}
	var order []setKey
	for _, z := range zones {
		origin, _ := canonicalName(z.Origin) // checked by buildSnapshot
		for i := range z.Groups {
			g := &z.Groups[i]
			owner, err := canonicalName(g.Name)
			if err != nil || !dns.IsSubDomain(origin, owner) {
				logger.Warn("dns record group dropped: bad owner or outside its zone", "zone", origin, "owner", g.Name)
				continue
			}
			k := setKey{origin, owner, g.Type}
			if _, dup := r.groups[k]; dup {
				logger.Warn("dns record group dropped: a group of this name and type exists", "zone", origin, "owner", owner)
				continue
			}
			r.groups[k] = g
			order = append(order, k)
		}
	}
	for _, k := range order {
		res := r.resolve(k, 0)
		zi := snap.zones[k.zone]
		nd := zi.node(k.owner)
		if res.set == nil {
			// A dangling alias: the name exists, without records of the type.
			delete(nd.sets, k.typ)
			continue
		}
		nd.sets[k.typ] = res.set
	}
}

// resolve returns what a name and type answer with: a group's choice, or the
// zone's static records.
func (r *groupResolver) resolve(k setKey, depth int) resolved {
	if res, ok := r.done[k]; ok {
		return res
	}
	g := r.groups[k]
	if g == nil {
		zi := r.snap.zones[k.zone]
		if zi == nil {
			return resolved{}
		}
		nd := zi.nodes[k.owner]
		if nd == nil || nd.sets[k.typ] == nil {
			return resolved{}
		}
		// Records without a health check are healthy.
		return resolved{nd.sets[k.typ], true}
	}
	if r.active[k] || depth > maxAliasDepth {
		r.logger.Warn("dns alias loop or chain too deep: answers nothing", "owner", k.owner, "type", dns.TypeToString[k.typ])
		return resolved{}
	}
	r.active[k] = true
	members := make([]candidate, 0, len(g.Members))
	for _, m := range g.Members {
		members = append(members, r.member(k, m, depth))
	}
	delete(r.active, k)
	res := choose(g.Policy, members, r.regions)
	r.done[k] = res
	return res
}

// member resolves one member of the group k.
func (r *groupResolver) member(k setKey, m Member, depth int) candidate {
	c := candidate{healthy: !m.Down && (m.HealthCheck == "" || r.health == nil || r.health.Healthy(m.HealthCheck)),
		weight: m.Weight, secondary: m.Secondary, region: m.Region}
	if m.Alias == nil {
		var rrs []dns.RR
		for _, rr := range m.Records {
			clean, err := normalizeRR(rr, r.buf)
			if err != nil || clean.Header().Rrtype != k.typ {
				r.logger.Warn("dns record dropped from a group", "owner", k.owner, "member", m.ID, "record", rr, "err", err)
				continue
			}
			clean.Header().Name = k.owner
			rrs = append(rrs, clean)
		}
		if len(rrs) > 0 {
			c.set = staticSet(rrs)
		}
		return c
	}
	zone, err1 := canonicalName(m.Alias.Zone)
	target, err2 := canonicalName(m.Alias.Name)
	if err1 != nil || err2 != nil {
		return candidate{}
	}
	t := r.resolve(setKey{zone, target, k.typ}, depth+1)
	if t.set == nil {
		return candidate{}
	}
	c.set = t.set.renamed(k.owner)
	if m.Alias.EvaluateTargetHealth && !t.healthy {
		c.healthy = false
	}
	return c
}
