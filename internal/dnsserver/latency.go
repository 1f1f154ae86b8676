package dnsserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Latency routing. Route 53 answers a latency name with the record set of
// the region closest to the resolver; Portico has no latency measurements,
// so an operator's table maps client subnets to regions (LatencyTable). The
// client is the EDNS Client Subnet of the query when present (RFC 7871),
// else the resolver's source address; the longest matching prefix wins.
//
// Everything health decides is decided per snapshot: a latency group keeps,
// for every region of the table and for "no region", the record set that
// answers (the region's own set if healthy, else the first healthy set in
// the fallback order). A query only finds its client's region: a binary
// search over the table's address blocks.

// LatencyEntry maps a client subnet to a region.
type LatencyEntry struct {
	Prefix netip.Prefix `json:"prefix"`
	Region string       `json:"region"`
}

// LatencyTable is an immutable map from client addresses to regions.
type LatencyTable struct {
	// regions in order of first appearance in the table: the fallback
	// order of latency answers.
	regions []string
	index   map[string]int
	v4, v6  []addrBlock
}

// addrBlock is a block of addresses that all map to the same region, as
// large as the table allows (the scope of an answer for them).
type addrBlock struct {
	start  u128
	region int // index into regions; -1 for none
	scope  uint8
}

// u128 is an address as a number: IPv4 in the low 32 bits.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// bit returns bit pos (0 = most significant) of a width-bit number.
func (a u128) bit(width, pos int) uint64 {
	i := width - 1 - pos
	if i >= 64 {
		return a.hi >> (i - 64) & 1
	}
	return a.lo >> i & 1
}

func (a u128) withBit(width, pos int) u128 {
	i := width - 1 - pos
	if i >= 64 {
		a.hi |= 1 << (i - 64)
	} else {
		a.lo |= 1 << i
	}
	return a
}

func addrKey(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var k u128
	for i := range 8 {
		k.hi = k.hi<<8 | uint64(b[i])
		k.lo = k.lo<<8 | uint64(b[8+i])
	}
	return k
}

// ParseLatencyTable reads the JSON form: [{"prefix": "10.1.0.0/16",
// "region": "us-east-1"}, ...].
func ParseLatencyTable(r io.Reader) (*LatencyTable, error) {
	var raw []struct {
		Prefix string `json:"prefix"`
		Region string `json:"region"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("latency table: %w", err)
	}
	entries := make([]LatencyEntry, 0, len(raw))
	for i, e := range raw {
		p, err := netip.ParsePrefix(strings.TrimSpace(e.Prefix))
		if err != nil {
			if a, err2 := netip.ParseAddr(strings.TrimSpace(e.Prefix)); err2 == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				return nil, fmt.Errorf("latency table: entry %d: %w", i+1, err)
			}
		}
		entries = append(entries, LatencyEntry{Prefix: p, Region: strings.TrimSpace(e.Region)})
	}
	return NewLatencyTable(entries)
}

// NewLatencyTable builds a table. Prefixes are masked; IPv4-mapped IPv6
// prefixes count as IPv4; a prefix listed twice is an error.
func NewLatencyTable(entries []LatencyEntry) (*LatencyTable, error) {
	t := &LatencyTable{index: map[string]int{}}
	type entry struct {
		start  u128
		bits   int
		region int
	}
	var v4, v6 []entry
	seen := map[netip.Prefix]bool{}
	for i, e := range entries {
		if e.Region == "" {
			return nil, fmt.Errorf("latency table: entry %d (%s) has no region", i+1, e.Prefix)
		}
		if !e.Prefix.IsValid() {
			return nil, fmt.Errorf("latency table: entry %d has no valid prefix", i+1)
		}
		p := e.Prefix
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		if seen[p] {
			return nil, fmt.Errorf("latency table: prefix %s is listed twice", p)
		}
		seen[p] = true
		r, ok := t.index[e.Region]
		if !ok {
			r = len(t.regions)
			t.index[e.Region] = r
			t.regions = append(t.regions, e.Region)
		}
		en := entry{addrKey(p.Addr()), p.Bits(), r}
		if p.Addr().Is4() {
			v4 = append(v4, en)
		} else {
			v6 = append(v6, en)
		}
	}
	// split partitions the block of depth bits at start into the largest
	// blocks no entry divides; region is the longest entry covering it,
	// inside the entries strictly inside it.
	var split func(out *[]addrBlock, width int, start u128, depth, region int, inside []entry)
	split = func(out *[]addrBlock, width int, start u128, depth, region int, inside []entry) {
		if len(inside) == 0 {
			*out = append(*out, addrBlock{start: start, region: region, scope: uint8(depth)})
			return
		}
		for b := range uint64(2) {
			child := start
			if b == 1 {
				child = start.withBit(width, depth)
			}
			childRegion := region
			var childInside []entry
			for _, e := range inside {
				if e.start.bit(width, depth) != b {
					continue
				}
				if e.bits == depth+1 {
					childRegion = e.region
				} else {
					childInside = append(childInside, e)
				}
			}
			split(out, width, child, depth+1, childRegion, childInside)
		}
	}
	for _, f := range []struct {
		width   int
		entries []entry
		out     *[]addrBlock
	}{{32, v4, &t.v4}, {128, v6, &t.v6}} {
		region := -1
		var inside []entry
		for _, e := range f.entries {
			if e.bits == 0 {
				region = e.region
			} else {
				inside = append(inside, e)
			}
		}
		split(f.out, f.width, u128{}, 0, region, inside)
	}
	return t, nil
}

// Regions returns the table's regions in order of first appearance.
func (t *LatencyTable) Regions() []string {
	if t == nil {
		return nil
	}
	return slices.Clone(t.regions)
}

// Lookup returns the region of a client address ("" for none) and the scope
// of that answer: the prefix length of the largest block around a that
// maps the same way.
func (t *LatencyTable) Lookup(a netip.Addr) (region string, scope int) {
	i, s := t.lookup(a)
	if i < 0 {
		return "", s
	}
	return t.regions[i], s
}

func (t *LatencyTable) lookup(a netip.Addr) (region int, scope int) {
	if t == nil || !a.IsValid() {
		return -1, 0
	}
	a = a.Unmap()
	blocks := t.v6
	if a.Is4() {
		blocks = t.v4
	}
	k := addrKey(a)
	// The last block starting at or before k.
	lo, hi := 0, len(blocks)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if k.less(blocks[mid].start) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	b := blocks[lo-1] // blocks[0] starts at 0: lo >= 1
	return b.region, int(b.scope)
}

// query is the per-query state of a choice that depends on the client.
type query struct {
	rnd    RandN
	table  *LatencyTable
	client netip.Addr // ECS address or the resolver's; invalid: no client information
	// region is the client's region index once looked up (-1: none),
	// unknownRegion before; scope its ECS scope.
	region int
	scope  int
	// latency records that an answer depended on the client's region.
	latency bool
}

const unknownRegion = -2

// clientRegion returns the client's region index, or -1 for none.
func (q *query) clientRegion() int {
	q.latency = true
	if q.region == unknownRegion {
		q.region, q.scope = q.table.lookup(q.client)
	}
	return q.region
}

// latencyChoice answers a latency group. byRegion[i] answers clients of
// the table's region i, and its last element clients of no region (or with
// no table). Fallback order: the table's regions in order, then the sets of
// regions the table does not name, in the group's order.
func latencyChoice(members []candidate, regions []string) resolved {
	var usable []candidate
	healthy := false
	for _, c := range members {
		if c.set != nil {
			usable = append(usable, c)
			healthy = healthy || c.healthy
		}
	}
	if len(usable) == 0 {
		return resolved{}
	}
	rank := func(c candidate) int {
		if i := slices.Index(regions, c.region); i >= 0 {
			return i
		}
		return len(regions)
	}
	slices.SortStableFunc(usable, func(a, b candidate) int { return rank(a) - rank(b) })
	firstHealthy := usable[0] // last resort: every set unhealthy
	for _, c := range usable {
		if c.healthy {
			firstHealthy = c
			break
		}
	}
	byRegion := make([]*rrset, len(regions)+1)
	same := true
	for i := range byRegion {
		byRegion[i] = firstHealthy.set
		if i < len(regions) {
			for _, c := range usable {
				if c.region == regions[i] && (c.healthy || !healthy) {
					byRegion[i] = c.set
				}
			}
		}
		same = same && byRegion[i] == byRegion[0]
	}
	if same {
		// Every client gets the same answer: no per-query work, scope 0.
		return resolved{byRegion[0], healthy}
	}
	return resolved{&rrset{latency: byRegion}, healthy}
}

// clientSubnet finds the EDNS Client Subnet option of a query. ok is false
// when the option is malformed (FORMERR): an unknown family, a source
// prefix longer than the address, or a scope set in a query (RFC 7871
// section 6).
func clientSubnet(opt *dns.OPT) (ecs *dns.EDNS0_SUBNET, ok bool) {
	if opt == nil {
		return nil, true
	}
	for _, o := range opt.Option {
		e, isECS := o.(*dns.EDNS0_SUBNET)
		if !isECS {
			continue
		}
		if ecs != nil {
			return nil, false // two options
		}
		switch {
		case e.Family == 1 && e.SourceNetmask <= 32 && e.Address.To4() != nil:
		case e.Family == 2 && e.SourceNetmask <= 128 && len(e.Address) == 16:
		default:
			return nil, false
		}
		if e.SourceScope != 0 {
			return nil, false
		}
		ecs = e
	}
	return ecs, true
}

// ecsClient is the client address an ECS option names: the address
// truncated to its source prefix; invalid for a source prefix of 0 (the
// client asked not to be located).
func ecsClient(e *dns.EDNS0_SUBNET) netip.Addr {
	if e.SourceNetmask == 0 {
		return netip.Addr{}
	}
	var a netip.Addr
	if e.Family == 1 {
		a, _ = netip.AddrFromSlice(e.Address.To4())
	} else {
		a, _ = netip.AddrFromSlice(e.Address.To16())
	}
	p, err := a.Prefix(int(e.SourceNetmask))
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}
