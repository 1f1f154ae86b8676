package dnsserver

import (
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// maxCNAMEChain bounds how many CNAMEs one answer follows.
const maxCNAMEChain = 8

// Sizes of answers: 512 octets without EDNS (RFC 1035), the client's EDNS
// buffer size otherwise, capped by Config.MaxUDPSize.
const (
	minUDPSize     = dns.MinMsgSize
	defaultUDPSize = 1232 // DNS flag day 2020: avoids IP fragmentation
)

// respond computes the reply to req, or nil when nothing must be sent (req is
// itself a response). udp selects UDP size limits and truncation; client is
// the resolver's address, which latency answers use when the query carries
// no EDNS Client Subnet.
func (s *Server) respond(req *dns.Msg, udp bool, client netip.Addr) *dns.Msg {
	if req.Response {
		return nil
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Compress = true

	opts := 0
	for _, rr := range req.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	size := minUDPSize
	var ecs *dns.EDNS0_SUBNET
	if opt := req.IsEdns0(); opt != nil {
		if opts > 1 || opt.Hdr.Name != "." {
			resp.Rcode = dns.RcodeFormatError
			return resp
		}
		resp.SetEdns0(uint16(s.maxUDP), opt.Do())
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			return resp
		}
		size = max(minUDPSize, min(int(opt.UDPSize()), s.maxUDP))
		var ok bool
		if ecs, ok = clientSubnet(opt); !ok {
			resp.Rcode = dns.RcodeFormatError
			return resp
		}
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	case len(req.Question) != 1 || len(req.Answer) > 0 || len(req.Ns) > 0:
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	q := req.Question[0]
	switch {
	case q.Qclass != dns.ClassINET:
		resp.Rcode = dns.RcodeRefused
		return resp
	case q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR:
		// Transfers to allowed secondaries never get here (ServeDNS).
		resp.Rcode = dns.RcodeRefused
		return resp
	case q.Qtype == dns.TypeOPT || q.Qtype == dns.TypeTSIG || q.Qtype == dns.TypeTKEY:
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	snap := s.snap.Load()
	if snap == nil {
		resp.Rcode = dns.RcodeServerFailure
		return resp
	}
	qs := query{rnd: snap.rand, table: snap.latency, client: client, region: unknownRegion}
	if ecs != nil {
		qs.client = ecsClient(ecs)
	}
	snap.resolve(resp, lowerASCII(q.Name), q.Qtype, &qs)
	if ecs != nil {
		// RFC 7871 section 7.2.1: echo the option with the scope the
		// answer holds for; 0 when it did not depend on the client.
		scope := uint8(0)
		if qs.latency && qs.client.IsValid() {
			scope = uint8(qs.scope)
		}
		resp.IsEdns0().Option = append(resp.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET,
			Family: ecs.Family, SourceNetmask: ecs.SourceNetmask, SourceScope: scope, Address: ecs.Address})
	}

	if udp {
		resp.Truncate(size)
	} else {
		resp.Truncate(dns.MaxMsgSize)
	}
	return resp
}

// outcome classifies a lookup inside one zone.
type outcome int

const (
	outAnswer   outcome = iota // rrs answer the question
	outCNAME                   // rrs is a CNAME to follow
	outNoData                  // the name exists without records of the type
	outNXDomain                // the name does not exist
	outReferral                // the name is at or below a delegation; rrs are its NS records
)

// resolve fills resp for a canonical qname.
func (s *snapshot) resolve(resp *dns.Msg, qname string, qtype uint16, q *query) {
	z := s.findZone(qname)
	if z == nil {
		resp.Rcode = dns.RcodeRefused
		return
	}
	resp.Authoritative = true
	name := qname
	// The names of the chain so far, to stop at a loop: a chain is short
	// (maxCNAMEChain), so an array beats a map allocated per query.
	var seen [maxCNAMEChain]string
	seen[0] = qname
	for hop := 0; ; hop++ {
		out, rrs := z.lookup(name, qtype, q)
		switch out {
		case outAnswer:
			resp.Answer = append(resp.Answer, rrs...)
			return
		case outNoData:
			resp.Ns = append(resp.Ns, z.negative)
			return
		case outNXDomain:
			resp.Rcode = dns.RcodeNameError
			resp.Ns = append(resp.Ns, z.negative)
			return
		case outReferral:
			if hop == 0 {
				resp.Authoritative = false
			}
			resp.Ns = append(resp.Ns, rrs...)
			resp.Extra = append(resp.Extra, z.glue(rrs, q)...)
			return
		}
		// A CNAME: answer it, then what its target holds if that is ours too,
		// so that a stub resolver gets the whole chain in one answer.
		resp.Answer = append(resp.Answer, rrs...)
		target := lowerASCII(rrs[0].(*dns.CNAME).Target)
		if hop+1 >= maxCNAMEChain || slices.Contains(seen[:hop+1], target) {
			return
		}
		seen[hop+1] = target
		if z = s.findZone(target); z == nil {
			return
		}
		name = target
	}
}

// lookup finds name (canonical, inside z) and says what answers qtype there.
func (z *zoneIndex) lookup(name string, qtype uint16, q *query) (outcome, []dns.RR) {
	// Walk down from the origin towards name: stop at a delegation, or where
	// the tree ends (the closest encloser) for NXDOMAIN or a wildcard.
	offsets := dns.Split(name)
	below := len(offsets) - z.labels // labels of name under the origin
	encloser := z.origin
	for i := below - 1; i >= 0; i-- {
		suffix := name[offsets[i]:]
		nd := z.nodes[suffix]
		if nd == nil {
			return z.wildcard(name, encloser, qtype, q)
		}
		if ns := nd.sets[dns.TypeNS]; ns != nil {
			return outReferral, ns.records(q)
		}
		encloser = suffix
	}
	nd := z.nodes[name]
	if nd == nil {
		return outNXDomain, nil
	}
	return nd.answer(qtype, "", q)
}

// wildcard answers a name that does not exist from the wildcard at its
// closest encloser (RFC 4592), or says NXDOMAIN.
func (z *zoneIndex) wildcard(name, encloser string, qtype uint16, q *query) (outcome, []dns.RR) {
	source := "*." + encloser
	if encloser == "." {
		source = "*."
	}
	nd := z.nodes[source]
	if nd == nil {
		return outNXDomain, nil
	}
	return nd.answer(qtype, name, q)
}

// answer picks the records of a node for qtype. A non-empty owner means the
// node is a wildcard and its records are synthesized for that owner.
func (nd *node) answer(qtype uint16, owner string, q *query) (outcome, []dns.RR) {
	if len(nd.sets) == 0 {
		return outNoData, nil
	}
	cname := nd.sets[dns.TypeCNAME]
	var set *rrset
	out := outAnswer
	switch {
	case qtype == dns.TypeANY:
		// RFC 8482: answer ANY with one record set, not all of them.
		set = cname
		if set == nil {
			lowest := uint16(0)
			for t := range nd.sets {
				if lowest == 0 || t < lowest {
					lowest = t
				}
			}
			set = nd.sets[lowest]
		}
	case nd.sets[qtype] != nil:
		set = nd.sets[qtype]
	case cname != nil:
		set, out = cname, outCNAME
	default:
		return outNoData, nil
	}
	rrs := set.records(q)
	if owner == "" {
		// Shared with the snapshot: callers only append it to their own slices.
		return out, rrs
	}
	synth := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		synth[i] = dns.Copy(rr)
		synth[i].Header().Name = owner
	}
	return out, synth
}

// glue returns the address records the zone holds for the name servers of a
// referral.
func (z *zoneIndex) glue(ns []dns.RR, q *query) []dns.RR {
	var out []dns.RR
	for _, rr := range ns {
		nd := z.nodes[lowerASCII(rr.(*dns.NS).Ns)]
		if nd == nil {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if set := nd.sets[t]; set != nil {
				out = append(out, set.records(q)...)
			}
		}
	}
	return out
}
