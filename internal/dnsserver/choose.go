package dnsserver

import "github.com/miekg/dns"

// candidate is one member of a group, resolved for a snapshot.
type candidate struct {
	set       *rrset // nil when the member has nothing to answer with (a dangling alias)
	healthy   bool
	weight    uint8
	secondary bool
	region    string
}

// resolved is what one name and type answer with in a snapshot, and whether
// that counts as healthy for an alias evaluating it.
type resolved struct {
	set     *rrset // nil: nothing to answer
	healthy bool
}

// choose applies a routing policy to a group's members (reference C.8).
// Every decision that health alone settles is made here, once per snapshot;
// only weighted choices and large multivalue groups are left to the query.
func choose(policy Policy, members []candidate, regions []string) resolved {
	if policy == PolicyLatency {
		return latencyChoice(members, regions)
	}
	var usable, healthy []candidate
	for _, c := range members {
		if c.set == nil {
			continue
		}
		usable = append(usable, c)
		if c.healthy {
			healthy = append(healthy, c)
		}
	}
	if len(usable) == 0 {
		return resolved{}
	}
	switch policy {
	case PolicyFailover:
		var primary, secondary *candidate
		for i := range usable {
			if usable[i].secondary {
				secondary = &usable[i]
			} else {
				primary = &usable[i]
			}
		}
		switch {
		case primary != nil && primary.healthy:
			return resolved{primary.set, true}
		case secondary != nil && secondary.healthy:
			return resolved{secondary.set, true}
		case primary != nil:
			// Both unhealthy: Route 53 answers the PRIMARY (last resort).
			return resolved{primary.set, false}
		}
		return resolved{secondary.set, false}
	case PolicyWeighted:
		pool := healthy
		if len(pool) == 0 {
			pool = usable // last resort: every member, by weight
		}
		return resolved{weighted(pool), len(healthy) > 0}
	case PolicyMultiValue:
		pool := healthy
		if len(pool) == 0 {
			pool = usable // last resort: up to eight unhealthy ones
		}
		return resolved{multiValue(pool), len(healthy) > 0}
	}
	return resolved{usable[0].set, usable[0].healthy}
}

// weighted chooses among pool by weight; members of weight 0 only when every
// member's weight is 0, and then with equal probability.
func weighted(pool []candidate) *rrset {
	var options []*rrset
	var cum []uint32
	total := uint32(0)
	for _, c := range pool {
		if c.weight > 0 {
			total += uint32(c.weight)
			options = append(options, c.set)
			cum = append(cum, total)
		}
	}
	if total == 0 {
		for i, c := range pool {
			options = append(options, c.set)
			cum = append(cum, uint32(i+1))
		}
	}
	if len(options) == 1 {
		return options[0]
	}
	return &rrset{pick: &picker{options: options, cum: cum}}
}

// multiValue answers every member of pool, or MaxMultiValue of them chosen
// per query when there are more.
func multiValue(pool []candidate) *rrset {
	options := make([]*rrset, len(pool))
	dynamic := len(pool) > MaxMultiValue
	for i, c := range pool {
		options[i] = c.set
		dynamic = dynamic || c.set.dynamic()
	}
	if dynamic {
		return &rrset{pick: &picker{options: options, limit: MaxMultiValue}}
	}
	var all []dns.RR
	for _, o := range options {
		all = append(all, o.static...)
	}
	return &rrset{static: all}
}
