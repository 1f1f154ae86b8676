package dnsserver

import (
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzQuery feeds raw bytes through the path a UDP query takes: unpack,
// answer from a snapshot, pack. It must never panic, and what it sends must
// be a well-formed reply that fits the size limit.
func FuzzQuery(f *testing.F) {
	srv := New(Config{})
	zones := testZones(f)
	// Routed answers too: per-query weighted choices and an alias.
	zones[0].Groups = []RecordGroup{
		{Name: "w.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
			member(f, "a", "", 1, "w.yourcompany.com. 60 IN A 192.0.2.1"),
			member(f, "b", "", 2, "w.yourcompany.com. 60 IN A 192.0.2.2"),
		}},
		{Name: "*.alias.yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: &Alias{Zone: "yourcompany.com.", Name: "w.yourcompany.com."}}}},
		// Latency: per-client answers, one region unhealthy, an alias to a weighted group.
		{Name: "lat.yourcompany.com.", Type: dns.TypeA, Policy: PolicyLatency, Members: []Member{
			{ID: "east", Region: "us-east-1", Records: []dns.RR{mustRR(f, "lat.yourcompany.com. 60 IN A 192.0.2.1")}, Down: true},
			{ID: "west", Region: "us-west-2", Records: []dns.RR{mustRR(f, "lat.yourcompany.com. 60 IN A 192.0.2.2")}},
			{ID: "eu", Region: "eu-west-1", Alias: &Alias{Zone: "yourcompany.com.", Name: "w.yourcompany.com."}},
		}},
	}
	table, err := NewLatencyTable([]LatencyEntry{
		{netip.MustParsePrefix("10.1.0.0/16"), "us-east-1"}, {netip.MustParsePrefix("10.2.0.0/16"), "us-west-2"},
		{netip.MustParsePrefix("10.2.3.0/24"), "eu-west-1"}, {netip.MustParsePrefix("2001:db8::/32"), "eu-west-1"},
	})
	if err != nil {
		f.Fatal(err)
	}
	srv.snap.Store(buildSnapshot(zones, 1, nil, srv.cfg.Rand, table, srv.logger))
	seed := func(name string, qtype uint16, edns int) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edns > 0 {
			m.SetEdns0(uint16(edns), true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("iot.yourcompany.com.", dns.TypeA, 0)
	seed("www.yourcompany.com.", dns.TypeAAAA, 1232)
	seed("big.yourcompany.com.", dns.TypeTXT, 4096)
	seed("x.sub.yourcompany.com.", dns.TypeA, 0)
	seed("a.b.dev.yourcompany.com.", dns.TypeANY, 0)
	seed("loop1.yourcompany.com.", dns.TypeA, 0)
	seed("nope.portico.internal.", dns.TypeMX, 512)
	seed("example.org.", dns.TypeA, 0)
	seed("w.yourcompany.com.", dns.TypeA, 0)
	seed("x.alias.yourcompany.com.", dns.TypeANY, 0)
	// EDNS Client Subnet: IPv4 and IPv6 subnets, a /0, a scope set in the
	// query (FORMERR), two options.
	ecsSeed := func(name string, family uint16, source, scope uint8, addr string, twice bool) {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.SetEdns0(1232, false)
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, SourceScope: scope,
			Address: netip.MustParseAddr(addr).AsSlice()}
		m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		if twice {
			m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ecsSeed("lat.yourcompany.com.", 1, 24, 0, "10.1.2.0", false)
	ecsSeed("lat.yourcompany.com.", 1, 24, 0, "10.2.3.0", false)
	ecsSeed("lat.yourcompany.com.", 2, 56, 0, "2001:db8:1::", false)
	ecsSeed("lat.yourcompany.com.", 1, 0, 0, "0.0.0.0", false)
	ecsSeed("lat.yourcompany.com.", 1, 24, 16, "10.1.2.0", false)
	ecsSeed("iot.yourcompany.com.", 1, 32, 0, "10.2.3.4", true)
	seed("lat.yourcompany.com.", dns.TypeANY, 1232)
	f.Add([]byte{0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, raw []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			return // the miekg server answers FORMERR or drops it before the handler
		}
		for _, udp := range []bool{true, false} {
			resp := srv.respond(req, udp, netip.MustParseAddr("192.0.2.53"))
			if resp == nil {
				if !req.Response {
					t.Fatal("no reply to a query")
				}
				continue
			}
			if resp.Id != req.Id || !resp.Response {
				t.Fatalf("reply %d does not match query %d", resp.Id, req.Id)
			}
			out, err := resp.Pack()
			if err != nil {
				t.Fatalf("reply does not pack: %v\n%v", err, resp)
			}
			if udp {
				limit := minUDPSize
				if opt := req.IsEdns0(); opt != nil {
					limit = max(minUDPSize, min(int(opt.UDPSize()), srv.maxUDP))
				}
				if len(out) > limit {
					t.Fatalf("UDP reply of %d octets exceeds %d", len(out), limit)
				}
			}
		}
	})
}

// FuzzTransfer feeds raw bytes through the zone-transfer path of an allowed
// secondary: no panic, and every message sent packs and matches the query.
func FuzzTransfer(f *testing.F) {
	srv := New(Config{TransferAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Now: func() time.Time { return time.Unix(0, 0) }})
	// Two versions (serials 1 and 2), so that IXFR from 1 is incremental.
	srv.publish(buildSnapshot(transferZones(f), 1, nil, srv.cfg.Rand, nil, srv.logger))
	changed := transferZones(f)
	changed[0].Records = append(changed[0].Records[:3], mustRR(f, "new.yourcompany.com. 60 IN A 192.0.2.99"))
	srv.publish(buildSnapshot(changed, 2, nil, srv.cfg.Rand, nil, srv.logger))
	for _, q := range []*dns.Msg{
		new(dns.Msg).SetAxfr("yourcompany.com."),
		new(dns.Msg).SetAxfr("portico.internal."),
		new(dns.Msg).SetAxfr("iot.yourcompany.com."),
		new(dns.Msg).SetIxfr("yourcompany.com.", 0, "ns.", "mbox."),
		new(dns.Msg).SetIxfr("yourcompany.com.", 1, "ns.", "mbox."),
		new(dns.Msg).SetIxfr("YourCompany.COM.", 4000000000, "ns.", "mbox."),
	} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	remote := netip.MustParseAddr("127.0.0.9")
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			return
		}
		if !srv.transferRequest(req, remote) {
			return
		}
		for _, udp := range []bool{true, false} {
			msgs := srv.transferReplies(req, udp)
			if len(msgs) == 0 {
				t.Fatal("no reply to a transfer request")
			}
			for _, m := range msgs {
				if m.Id != req.Id || !m.Response {
					t.Fatalf("reply %d does not match query %d", m.Id, req.Id)
				}
				out, err := m.Pack()
				if err != nil {
					t.Fatalf("reply does not pack: %v", err)
				}
				if udp && len(out) > minUDPSize {
					t.Fatalf("UDP reply of %d octets", len(out))
				}
			}
		}
	})
}

// FuzzNotifyReply feeds raw bytes to the parser of secondaries' replies to
// NOTIFY: no panic, and only NOTIFY responses are accepted.
func FuzzNotifyReply(f *testing.F) {
	m := new(dns.Msg).SetNotify("yourcompany.com.")
	r := new(dns.Msg).SetReply(m)
	for _, msg := range []*dns.Msg{m, r, new(dns.Msg).SetQuestion("yourcompany.com.", dns.TypeSOA)} {
		b, err := msg.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		reply, ok := parseNotifyReply(raw)
		if !ok {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(raw); err != nil || !m.Response || m.Opcode != dns.OpcodeNotify || m.Id != reply.id {
			t.Fatalf("accepted %v as a NOTIFY reply", m)
		}
	})
}
