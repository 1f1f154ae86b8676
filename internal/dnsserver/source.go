package dnsserver

import (
	"context"

	"github.com/miekg/dns"
)

// Zone is one zone the server is authoritative for.
type Zone struct {
	// Origin is the zone's name, fully qualified or not, any case.
	Origin string
	// Records are all records of the zone. Exactly one SOA at the origin is
	// required (a zone without one is not served); records whose owner is
	// outside Origin are ignored. Record headers need Rrtype set (dns.NewRR
	// and the dns.RR constructors of StaticZone's callers do).
	Records []dns.RR
	// Groups are record sets chosen by a routing policy and health
	// (failover, weighted, multivalue) and aliases. A group replaces any
	// record of its name and type in Records.
	Groups []RecordGroup
}

// Health tells the server whether a health check is healthy. It must be
// cheap and never touch the database (health.Checker.Healthy reads an
// atomic snapshot). Unknown ids should count as healthy.
type Health interface {
	Healthy(id string) bool
}

// HealthFunc adapts a function to Health.
type HealthFunc func(id string) bool

// Healthy calls f.
func (f HealthFunc) Healthy(id string) bool { return f(id) }

// Source supplies the zones to serve. The server calls it when it reloads,
// never while answering a query.
type Source interface {
	// Zones returns every zone and the store generation they reflect (the
	// data must be at least as new as that generation). When two zones
	// share an origin, the first one is served.
	Zones(ctx context.Context) (zones []Zone, generation uint64, err error)
}

// SourceFunc adapts a function to Source. Wiring combines sources with it:
// the hosted zones of the zone service, plus Portico's own zones (the base
// domain holding endpoint host names) from StaticZone.
type SourceFunc func(ctx context.Context) ([]Zone, uint64, error)

// Zones calls f.
func (f SourceFunc) Zones(ctx context.Context) ([]Zone, uint64, error) { return f(ctx) }

// Timers of StaticZone's SOA and NS records.
const (
	staticNSTTL  = 3600
	staticSOATTL = 300
	// staticNegativeTTL is the SOA minimum: how long resolvers cache "no
	// such name" in a system zone whose names come and go with configuration.
	staticNegativeTTL = 60
)

// StaticZone builds a zone that Portico itself owns (not a hosted zone): an
// SOA whose primary is the first name server, NS records for nameServers,
// and records. Use it for the base domain that holds endpoint host names:
//
//	a, _ := dns.NewRR("a1b2-ats.iot.us-east-1.portico.internal. 60 IN A 192.0.2.10")
//	z := dnsserver.StaticZone("portico.internal.", []string{"ns1.portico.internal."}, 1, a)
func StaticZone(origin string, nameServers []string, serial uint32, records ...dns.RR) Zone {
	origin = dns.Fqdn(origin)
	out := make([]dns.RR, 0, len(records)+len(nameServers)+1)
	primary := origin
	if len(nameServers) > 0 {
		primary = dns.Fqdn(nameServers[0])
	}
	out = append(out, &dns.SOA{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: staticSOATTL},
		Ns:  primary, Mbox: "hostmaster." + origin, Serial: serial,
		Refresh: 7200, Retry: 900, Expire: 1209600, Minttl: staticNegativeTTL,
	})
	for _, ns := range nameServers {
		out = append(out, &dns.NS{
			Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: staticNSTTL},
			Ns:  dns.Fqdn(ns),
		})
	}
	return Zone{Origin: origin, Records: append(out, records...)}
}
