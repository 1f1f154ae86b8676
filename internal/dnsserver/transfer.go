package dnsserver

import (
	"cmp"
	"crypto/sha256"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// Zone transfers (RFC 5936 AXFR, RFC 1995 IXFR) let standard secondaries
// (Knot, NSD, BIND) serve Portico's zones.
//
// A secondary gets a snapshot of the answers Portico serves at the time of
// the transfer: a failover name transfers as the record set currently
// answered, a weighted group as every record of its current pool (the
// secondary answers them all, without weights), a multivalue group as
// every record currently eligible. Secondaries run no health checks; Portico
// bumps the zone's serial and sends NOTIFY when a health change alters what
// it serves, so they follow within a transfer.
//
// IXFR (RFC 1995) sends the difference between the secondary's version and
// the current one, condensed into one step, when the secondary's serial is
// among the last maxVersions served; an older or unknown serial gets the
// whole zone in an AXFR-style response (which RFC 1995 section 4 allows),
// and a secondary already up to date the single current SOA.

// transferChunk bounds the uncompressed size of the records in one message
// of a transfer (a message may hold 65535 octets).
const transferChunk = 16 * 1024

// transferContent computes what a transfer of zi sends between its two SOA
// records, in a stable order, and a digest of the zone's content (stored
// SOA included) that changes whenever the transferred content does.
func (zi *zoneIndex) transferContent() {
	origin := zi.nodes[zi.origin]
	if origin == nil || origin.sets[dns.TypeSOA] == nil || len(origin.sets[dns.TypeSOA].static) == 0 {
		return
	}
	zi.soa = origin.sets[dns.TypeSOA].static[0].(*dns.SOA)
	var rrs []dns.RR
	for _, nd := range zi.nodes {
		for typ, set := range nd.sets {
			if typ == dns.TypeSOA {
				continue
			}
			rrs = append(rrs, set.all()...)
		}
	}
	type keyed struct {
		text string
		rr   dns.RR
	}
	ks := make([]keyed, 0, len(rrs))
	for _, rr := range rrs {
		ks = append(ks, keyed{rr.String(), rr})
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := compareNames(a.rr.Header().Name, b.rr.Header().Name); c != 0 {
			return c
		}
		if c := cmp.Compare(a.rr.Header().Rrtype, b.rr.Header().Rrtype); c != 0 {
			return c
		}
		return cmp.Compare(a.text, b.text)
	})
	h := sha256.New()
	h.Write([]byte(zi.soa.String()))
	zi.transfer = make([]dns.RR, 0, len(ks))
	zi.texts = make([]string, 0, len(ks))
	for i, k := range ks {
		if i > 0 && k.text == ks[i-1].text {
			continue // the same record reached twice (a weighted pool sharing values)
		}
		h.Write([]byte{'\n'})
		h.Write([]byte(k.text))
		zi.transfer = append(zi.transfer, k.rr)
		zi.texts = append(zi.texts, k.text)
	}
	h.Sum(zi.digest[:0])
}

// compareNames orders owner names parents first, then by labels from the
// right, so a transfer lists a zone top-down.
func compareNames(a, b string) int {
	if a == b {
		return 0
	}
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := cmp.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(la), len(lb))
}

// all returns every record an rrset can answer with: a per-query choice
// contributes all of its options (a latency choice its answer for clients
// of no region).
func (s *rrset) all() []dns.RR {
	if s.latency != nil {
		// A latency name transfers as clients of no region see it:
		// secondaries know no client table.
		return s.latency[len(s.latency)-1].all()
	}
	if s.pick == nil {
		return s.static
	}
	var out []dns.RR
	for _, o := range s.pick.options {
		out = append(out, o.all()...)
	}
	return out
}

// serialState is the serial last served for a zone and the digest of the
// content it was served for.
type serialState struct {
	digest   [sha256.Size]byte
	serial   uint32
	versions []zoneVersion
}

// zoneVersion is what a zone served under one serial: enough to compute
// the difference to a later version.
type zoneVersion struct {
	soa     *dns.SOA
	records []dns.RR
	texts   []string
}

// Bounds of the versions kept per zone for incremental transfers: at most
// maxVersions, and no older version once maxVersionRecords records are kept.
const (
	maxVersions       = 8
	maxVersionRecords = 200_000
)

// assignSerials sets the served serial of every zone of snap: unchanged
// while the zone's content is, else the greatest (in serial arithmetic,
// RFC 1982) of the stored serial, the previous serial plus one and the
// current Unix time, so that serials keep increasing across restarts.
// It returns the zones whose serial differs from the previous snapshot's.
// Called under reloadMu.
func (s *Server) assignSerials(snap *snapshot) []notice {
	now := s.now()
	next := make(map[string]serialState, len(snap.zones))
	var changed []notice
	for origin, zi := range snap.zones {
		if zi.soa == nil {
			continue
		}
		stored := zi.soa.Serial
		prev, had := s.serials[origin]
		serial := prev.serial
		if !had || prev.digest != zi.digest {
			serial = stored
			if had && serialLess(serial, prev.serial+1) {
				serial = prev.serial + 1
			}
			if unix := uint32(now.Unix()); serialLess(serial, unix) {
				serial = unix
			}
		}
		zi.soa.Serial = serial
		zi.negative.Serial = serial
		versions := prev.versions
		if !had || serial != prev.serial {
			// A new version: keep it first, then the recent ones.
			versions = []zoneVersion{{soa: zi.soa, records: zi.transfer, texts: zi.texts}}
			kept := len(zi.transfer)
			for _, v := range prev.versions {
				if len(versions) == maxVersions || kept+len(v.records) > maxVersionRecords {
					break
				}
				versions = append(versions, v)
				kept += len(v.records)
			}
		}
		zi.versions = versions
		next[origin] = serialState{digest: zi.digest, serial: serial, versions: versions}
		if !had || serial != prev.serial {
			changed = append(changed, notice{zone: origin, soa: zi.soa})
		}
	}
	s.serials = next
	slices.SortFunc(changed, func(a, b notice) int { return cmp.Compare(a.zone, b.zone) })
	return changed
}

// serialLess reports a < b in serial number arithmetic (RFC 1982).
func serialLess(a, b uint32) bool {
	return a != b && int32(b-a) > 0
}

// transferRequest reports whether req asks for a zone transfer the server
// handles itself (rather than refusing it like any unsupported query): a
// well-formed AXFR or IXFR query from an allowed address.
func (s *Server) transferRequest(req *dns.Msg, remote netip.Addr) bool {
	if len(s.cfg.TransferAllow) == 0 || req.Response || req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return false
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET || (q.Qtype != dns.TypeAXFR && q.Qtype != dns.TypeIXFR) || len(req.Answer) > 0 {
		return false
	}
	// IXFR carries the secondary's SOA in the authority section.
	if len(req.Ns) > 1 || (len(req.Ns) == 1 && q.Qtype != dns.TypeIXFR) {
		return false
	}
	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opt := req.IsEdns0(); opts > 1 || (opt != nil && (opt.Version() != 0 || opt.Hdr.Name != ".")) {
		return false
	}
	return s.transferAllowed(remote)
}

// transferAllowed reports whether remote is in Config.TransferAllow.
func (s *Server) transferAllowed(remote netip.Addr) bool {
	remote = remote.Unmap()
	for _, p := range s.cfg.TransferAllow {
		if p.Contains(remote) {
			return true
		}
	}
	return false
}

// remoteAddr is the IP address of a client.
func remoteAddr(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	return ip.Unmap()
}

// transferReplies returns the messages answering a transfer request (one
// allowed by transferRequest), in order.
func (s *Server) transferReplies(req *dns.Msg, udp bool) []*dns.Msg {
	q := req.Question[0]
	reply := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Compress = true
		m.Authoritative = true
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(uint16(s.maxUDP), false)
		}
		return m
	}
	snap := s.snap.Load()
	if snap == nil {
		m := reply()
		m.Authoritative = false
		m.Rcode = dns.RcodeServerFailure
		return []*dns.Msg{m}
	}
	zi := snap.zones[lowerASCII(q.Name)]
	if zi == nil || zi.soa == nil {
		m := reply()
		m.Authoritative = false
		m.Rcode = dns.RcodeNotAuth
		return []*dns.Msg{m}
	}
	if udp && q.Qtype == dns.TypeAXFR {
		// AXFR is TCP only (RFC 5936 section 4.2).
		m := reply()
		m.Authoritative = false
		m.Rcode = dns.RcodeRefused
		return []*dns.Msg{m}
	}
	// The records of the reply: the whole zone between two SOAs, unless
	// an IXFR can be answered otherwise.
	records := append(append([]dns.RR{zi.soa}, zi.transfer...), zi.soa)
	if q.Qtype == dns.TypeIXFR {
		var have *dns.SOA
		if len(req.Ns) == 1 {
			have, _ = req.Ns[0].(*dns.SOA)
		}
		if udp || (have != nil && !serialLess(have.Serial, zi.soa.Serial)) {
			// Up to date, or over UDP: the current SOA alone (RFC 1995
			// section 2: the secondary then asks over TCP).
			m := reply()
			m.Answer = []dns.RR{zi.soa}
			return []*dns.Msg{m}
		}
		if have != nil {
			if diff := zi.difference(have.Serial); diff != nil {
				records = diff
			}
		}
	}
	var out []*dns.Msg
	m := reply()
	size := 0
	for _, rr := range records {
		n := dns.Len(rr)
		if size+n > transferChunk && len(m.Answer) > 0 {
			out = append(out, m)
			m = reply()
			m.Question = nil // only the first message repeats the question
			size = 0
		}
		m.Answer = append(m.Answer, rr)
		size += n
	}
	return append(out, m)
}

// difference returns the records of an incremental transfer from the
// version served under serial to the current one (RFC 1995 section 4, one
// condensed step): the current SOA, the old SOA, the records deleted, the
// current SOA, the records added, the current SOA. Nil when that version is
// no longer kept.
func (zi *zoneIndex) difference(serial uint32) []dns.RR {
	var old *zoneVersion
	for i := 1; i < len(zi.versions); i++ {
		if zi.versions[i].soa.Serial == serial {
			old = &zi.versions[i]
			break
		}
	}
	if old == nil {
		return nil
	}
	current := make(map[string]bool, len(zi.texts))
	for _, t := range zi.texts {
		current[t] = true
	}
	previous := make(map[string]bool, len(old.texts))
	out := []dns.RR{zi.soa, old.soa}
	for i, t := range old.texts {
		previous[t] = true
		if !current[t] {
			out = append(out, old.records[i])
		}
	}
	out = append(out, zi.soa)
	for i, t := range zi.texts {
		if !previous[t] {
			out = append(out, zi.transfer[i])
		}
	}
	return append(out, zi.soa)
}

// now is the server's clock.
func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}
