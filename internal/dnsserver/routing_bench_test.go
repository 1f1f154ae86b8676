package dnsserver

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkRespond measures one answer per routing policy, without the
// network: failover and aliases are resolved at snapshot time and should cost
// what a static record does; weighted adds one random draw, latency one
// binary search of the client table (lat: by the resolver's address;
// lat+ecs: by an EDNS Client Subnet, echoed with its scope).
func BenchmarkRespond(b *testing.B) {
	zones := testZones(b)
	zones[0].Groups = []RecordGroup{
		failoverGroup("fo.yourcompany.com.",
			Member{Records: []dns.RR{mustRR(b, "fo.yourcompany.com. 60 IN A 192.0.2.1")}, HealthCheck: "p"},
			Member{Records: []dns.RR{mustRR(b, "fo.yourcompany.com. 60 IN A 192.0.2.2")}}),
		{Name: "w.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
			member(b, "a", "", 1, "w.yourcompany.com. 60 IN A 192.0.2.1"),
			member(b, "b", "", 3, "w.yourcompany.com. 60 IN A 192.0.2.2"),
		}},
		{Name: "yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: &Alias{Zone: "yourcompany.com.", Name: "fo.yourcompany.com."}}}},
	}
	zones[0].Groups = append(zones[0].Groups, latencyZones(b)[0].Groups[0])
	srv := New(Config{Latency: testLatencyTable(b)})
	srv.snap.Store(buildSnapshot(zones, 1, nil, srv.cfg.Rand, srv.cfg.Latency, srv.logger))
	client := netip.MustParseAddr("10.2.200.1")
	for _, name := range []string{"host.yourcompany.com.", "fo.yourcompany.com.", "w.yourcompany.com.", "yourcompany.com.",
		"lat.yourcompany.com.", "lat+ecs.yourcompany.com."} {
		req := new(dns.Msg)
		if qname, ok := strings.CutPrefix(name, "lat+ecs."); ok {
			req.SetQuestion("lat."+qname, dns.TypeA)
			req.SetEdns0(1232, false)
			req.IsEdns0().Option = append(req.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
				SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0).To4()})
		} else {
			req.SetQuestion(name, dns.TypeA)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if resp := srv.respond(req, true, client); len(resp.Answer) == 0 {
					b.Fatal("no answer")
				}
			}
		})
	}
}
