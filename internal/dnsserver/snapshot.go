package dnsserver

import (
	"fmt"
	"log/slog"
	"reflect"

	"github.com/miekg/dns"
)

// snapshot is an immutable view of every served zone. Queries read it
// without locks; a reload builds a new one and swaps the pointer.
type snapshot struct {
	generation uint64
	zones      map[string]*zoneIndex // by canonical origin
	// rand makes the per-query choices of weighted and large multivalue
	// groups.
	rand RandN
	// latency maps clients to regions for latency groups (nil: none).
	latency *LatencyTable
}

// zoneIndex is one zone, indexed by canonical owner name.
type zoneIndex struct {
	origin string
	labels int
	// negative is the SOA put in the authority section of negative answers,
	// its TTL lowered to the SOA minimum (RFC 2308 section 5).
	negative *dns.SOA
	nodes    map[string]*node
	// soa is the apex SOA served (its serial set by Server.assignSerials),
	// transfer every other record a zone transfer sends, and digest the
	// hash of both that tells whether the content changed.
	soa      *dns.SOA
	transfer []dns.RR
	texts    []string // transfer's records in presentation form
	digest   [32]byte
	// versions are the zone's recent versions, newest (this one) first,
	// kept for incremental zone transfers (Server.assignSerials).
	versions []zoneVersion
}

// node is one owner name. Empty non-terminals (names that exist only because
// names below them do) have no record sets.
type node struct {
	sets map[uint16]*rrset
}

// canonicalName returns name fully qualified, ASCII letters in lower case and
// escapes written the way miekg/dns writes names it unpacks from the wire,
// so that it compares equal to names in queries.
func canonicalName(name string) (string, error) {
	var buf [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), buf[:], 0, nil, false)
	if err != nil {
		return "", err
	}
	for i := 0; i < n; {
		l := int(buf[i])
		if l == 0 {
			break
		}
		for j := i + 1; j <= i+l && j < n; j++ {
			if 'A' <= buf[j] && buf[j] <= 'Z' {
				buf[j] += 'a' - 'A'
			}
		}
		i += l + 1
	}
	out, _, err := dns.UnpackDomainName(buf[:n], 0)
	return out, err
}

// lowerASCII folds ASCII letters; names unpacked from the wire escape every
// other octet, so this is their canonical form.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// buildSnapshot indexes zones. A zone that cannot be served (no SOA, bad
// origin) is left out and logged; a record that cannot be packed or lies
// outside its zone is dropped and logged. One bad record never takes the
// other zones down. Record groups are resolved after every zone's records
// are indexed, since an alias may point into another zone.
func buildSnapshot(zones []Zone, generation uint64, health Health, rnd RandN, latency *LatencyTable, logger *slog.Logger) *snapshot {
	snap := &snapshot{generation: generation, zones: make(map[string]*zoneIndex, len(zones)), rand: rnd, latency: latency}
	buf := make([]byte, dns.MaxMsgSize)
	var served []Zone
	for _, z := range zones {
		origin, err := canonicalName(z.Origin)
		if err != nil {
			logger.Error("dns zone not served: bad origin", "origin", z.Origin, "err", err)
			continue
		}
		if _, dup := snap.zones[origin]; dup {
			logger.Warn("dns zone not served: another zone with this origin is served", "origin", origin)
			continue
		}
		zi, err := indexZone(origin, z.Records, buf, logger)
		if err != nil {
			logger.Error("dns zone not served", "origin", origin, "err", err)
			continue
		}
		snap.zones[origin] = zi
		served = append(served, z)
	}
	resolveGroups(snap, served, health, buf, logger)
	for _, zi := range snap.zones {
		zi.transferContent()
	}
	return snap
}

func indexZone(origin string, records []dns.RR, buf []byte, logger *slog.Logger) (*zoneIndex, error) {
	zi := &zoneIndex{origin: origin, labels: dns.CountLabel(origin), nodes: map[string]*node{}}
	static := map[*node]map[uint16][]dns.RR{}
	for _, rr := range records {
		clean, err := normalizeRR(rr, buf)
		if err != nil {
			logger.Warn("dns record dropped", "zone", origin, "record", fmt.Sprint(rr), "err", err)
			continue
		}
		owner := clean.Header().Name
		if !dns.IsSubDomain(origin, owner) {
			logger.Warn("dns record dropped: outside its zone", "zone", origin, "owner", owner)
			continue
		}
		typ := clean.Header().Rrtype
		if typ == dns.TypeSOA {
			if owner != origin {
				logger.Warn("dns record dropped: SOA below the zone apex", "zone", origin, "owner", owner)
				continue
			}
			if zi.negative != nil {
				logger.Warn("dns record dropped: second SOA", "zone", origin)
				continue
			}
			soa := dns.Copy(clean).(*dns.SOA)
			soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
			zi.negative = soa
		}
		nd := zi.node(owner)
		sets := static[nd]
		if sets == nil {
			sets = map[uint16][]dns.RR{}
			static[nd] = sets
		}
		duplicate := false
		for _, have := range sets[typ] {
			if dns.IsDuplicate(have, clean) {
				duplicate = true
				break
			}
		}
		if !duplicate {
			sets[typ] = append(sets[typ], clean)
		}
	}
	if zi.negative == nil {
		return nil, fmt.Errorf("zone %s has no SOA record", origin)
	}
	for nd, sets := range static {
		for typ, rrs := range sets {
			nd.sets[typ] = staticSet(rrs)
		}
	}
	return zi, nil
}

// node returns the node of a canonical owner inside the zone, creating it
// and every name between it and the origin: those exist as empty
// non-terminals if nothing else, so queries for them get NODATA, not
// NXDOMAIN.
func (zi *zoneIndex) node(owner string) *node {
	nd := zi.nodes[owner]
	if nd == nil {
		nd = &node{}
		zi.nodes[owner] = nd
	}
	if nd.sets == nil {
		nd.sets = map[uint16]*rrset{}
	}
	for name := owner; name != zi.origin; {
		off, end := dns.NextLabel(name, 0)
		if end {
			break
		}
		name = name[off:]
		if zi.nodes[name] == nil {
			zi.nodes[name] = &node{}
		}
	}
	return nd
}

// normalizeRR returns a private copy of rr with a canonical owner name, class
// IN and proven wire form: it is packed and unpacked, which also catches a
// header whose Rrtype does not match its Go type.
func normalizeRR(rr dns.RR, buf []byte) (dns.RR, error) {
	if rr == nil || rr.Header().Rrtype == 0 {
		return nil, fmt.Errorf("record without a type")
	}
	owner, err := canonicalName(rr.Header().Name)
	if err != nil {
		return nil, fmt.Errorf("owner name: %w", err)
	}
	c := dns.Copy(rr)
	c.Header().Name = owner
	c.Header().Class = dns.ClassINET
	off, err := dns.PackRR(c, buf, 0, nil, false)
	if err != nil {
		return nil, err
	}
	back, _, err := dns.UnpackRR(buf[:off], 0)
	if err != nil {
		return nil, err
	}
	if reflect.TypeOf(back) != reflect.TypeOf(c) {
		return nil, fmt.Errorf("header type %s does not match the record's Go type %T", dns.TypeToString[c.Header().Rrtype], rr)
	}
	return back, nil
}

// findZone returns the closest enclosing zone of a canonical name.
func (s *snapshot) findZone(name string) *zoneIndex {
	for off := 0; ; {
		if z := s.zones[name[off:]]; z != nil {
			return z
		}
		next, end := dns.NextLabel(name, off)
		if end {
			break
		}
		off = next
	}
	return s.zones["."]
}
