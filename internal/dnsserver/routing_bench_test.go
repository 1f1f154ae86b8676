package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkRespond measures one answer per routing policy, without the
// network: failover and aliases are resolved at snapshot time and should cost
// what a static record does; weighted adds one random draw.
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
	srv := New(Config{})
	srv.snap.Store(buildSnapshot(zones, 1, nil, srv.cfg.Rand, srv.logger))
	for _, name := range []string{"host.yourcompany.com.", "fo.yourcompany.com.", "w.yourcompany.com.", "yourcompany.com."} {
		req := new(dns.Msg)
		req.SetQuestion(name, dns.TypeA)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if resp := srv.respond(req, true); len(resp.Answer) == 0 {
					b.Fatal("no answer")
				}
			}
		})
	}
}
