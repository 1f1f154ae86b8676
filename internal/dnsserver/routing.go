package dnsserver

import (
	"github.com/miekg/dns"
)

// Policy is how the server chooses among the members of a RecordGroup
// (Route 53 routing policies).
type Policy int

const (
	// PolicySimple answers its one member: an alias record, or a record
	// set whose health check matters only to aliases that evaluate it.
	PolicySimple Policy = iota
	// PolicyFailover answers the PRIMARY while it is healthy, else a
	// healthy SECONDARY, else the PRIMARY (last resort). Decided when the
	// snapshot is built, so it costs a query what a static record costs.
	PolicyFailover
	// PolicyWeighted answers one member per query, chosen with probability
	// weight/sum among the healthy members of non-zero weight.
	PolicyWeighted
	// PolicyMultiValue answers up to MaxMultiValue healthy members.
	PolicyMultiValue
	// PolicyLatency answers the member of the client's region
	// (Config.Latency) while it is healthy, else the first healthy member
	// in the fallback order (latency.go). Decided per snapshot for every
	// region; a query only looks its client up.
	PolicyLatency
)

// MaxMultiValue is how many members a multivalue answer holds at most.
const MaxMultiValue = 8

// maxAliasDepth bounds how many aliases one answer goes through; deeper
// chains (and loops) answer nothing.
const maxAliasDepth = 8

// RecordGroup is the record sets of one owner name and type that the server
// chooses between by a routing policy and health.
type RecordGroup struct {
	Name   string // owner name, inside the zone
	Type   uint16
	Policy Policy
	// Members are the record sets of the group. A simple group has one.
	Members []Member
}

// Member is one record set of a group: its own records, or an alias.
type Member struct {
	// ID names the member in logs (Route 53's SetIdentifier).
	ID string
	// Records are the member's records (ignored when Alias is set). Their
	// owner and type are the group's.
	Records []dns.RR
	// Alias, when set, makes the member answer with whatever the target
	// name of the same type answers, renamed to the group's name.
	Alias *Alias
	// HealthCheck is the health check's id; empty means always healthy.
	HealthCheck string
	// Weight is the member's weight in a PolicyWeighted group.
	Weight uint8
	// Secondary marks the SECONDARY of a PolicyFailover group (false is
	// the PRIMARY).
	Secondary bool
	// Region is the member's region in a PolicyLatency group.
	Region string
	// Down makes the member unhealthy whatever its health check says (an
	// endpoint hostname whose domain configuration is disabled).
	Down bool
}

// Alias points a member at another name served by this server.
type Alias struct {
	// Zone is the origin of the served zone holding the target.
	Zone string
	// Name is the target's owner name.
	Name string
	// EvaluateTargetHealth makes the member unhealthy when the target has
	// no healthy records (Route 53's alias health inheritance).
	EvaluateTargetHealth bool
}

// RandN returns a uniformly random number in [0, n); n > 0. It is called
// concurrently by queries.
type RandN func(n uint32) uint32

// rrset is what one owner name answers for one type: static records, or a
// choice made per query (weighted, more than MaxMultiValue multivalue
// members, latency).
type rrset struct {
	static []dns.RR
	pick   *picker
	// latency holds the answer per region of the latency table, then the
	// answer for clients of no region (latencyChoice).
	latency []*rrset
}

// dynamic reports whether the answer is chosen per query.
func (s *rrset) dynamic() bool { return s.pick != nil || s.latency != nil }

// picker chooses per query among options.
type picker struct {
	options []*rrset
	// cum are the cumulative weights of options for a weighted choice;
	// nil means take limit options at random (multivalue).
	cum   []uint32
	limit int
}

// records returns the records to answer with. The result is shared with the
// snapshot: callers only append it to their own slices or copy it.
func (s *rrset) records(q *query) []dns.RR {
	switch {
	case s.latency != nil:
		i := q.clientRegion()
		if i < 0 || i >= len(s.latency)-1 {
			i = len(s.latency) - 1
		}
		return s.latency[i].records(q)
	case s.pick == nil:
		return s.static
	}
	return s.pick.choose(q)
}

func (p *picker) choose(q *query) []dns.RR {
	if p.cum != nil {
		total := p.cum[len(p.cum)-1]
		x := q.rnd(total)
		// Binary search the first cumulative weight above x.
		lo, hi := 0, len(p.cum)-1
		for lo < hi {
			mid := (lo + hi) / 2
			if p.cum[mid] > x {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return p.options[lo].records(q)
	}
	// A partial Fisher-Yates shuffle of the option indexes picks limit of
	// them without repetition.
	idx := make([]int, len(p.options))
	for i := range idx {
		idx[i] = i
	}
	var out []dns.RR
	for i := 0; i < p.limit && i < len(idx); i++ {
		j := i + int(q.rnd(uint32(len(idx)-i)))
		idx[i], idx[j] = idx[j], idx[i]
		out = append(out, p.options[idx[i]].records(q)...)
	}
	return out
}

// renamed returns a copy of s whose records are owned by owner: an alias
// answers with its target's records under its own name.
func (s *rrset) renamed(owner string) *rrset {
	out := &rrset{}
	if s.static != nil {
		out.static = make([]dns.RR, len(s.static))
		for i, rr := range s.static {
			c := dns.Copy(rr)
			c.Header().Name = owner
			out.static[i] = c
		}
	}
	if s.pick != nil {
		p := &picker{cum: s.pick.cum, limit: s.pick.limit, options: make([]*rrset, len(s.pick.options))}
		for i, o := range s.pick.options {
			p.options[i] = o.renamed(owner)
		}
		out.pick = p
	}
	if s.latency != nil {
		// Regions often share a set: rename each once.
		done := map[*rrset]*rrset{}
		out.latency = make([]*rrset, len(s.latency))
		for i, o := range s.latency {
			if done[o] == nil {
				done[o] = o.renamed(owner)
			}
			out.latency[i] = done[o]
		}
	}
	return out
}

// staticSet returns an rrset of fixed records, their TTLs made equal to the
// lowest (RFC 2181 section 5.2).
func staticSet(rrs []dns.RR) *rrset {
	if len(rrs) > 1 {
		low := rrs[0].Header().Ttl
		for _, rr := range rrs[1:] {
			low = min(low, rr.Header().Ttl)
		}
		for _, rr := range rrs {
			rr.Header().Ttl = low
		}
	}
	return &rrset{static: rrs}
}
