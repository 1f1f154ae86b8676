package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/acmeissuer"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/zone"
	"github.com/portico-iot/portico/internal/zonedns"
)

// endpointTTL is the TTL of Portico's own endpoint names: short, so that a
// change of advertised address reaches devices quickly.
const endpointTTL = 60

// startDNS binds the DNS server and starts serving the hosted zones plus
// Portico's own zone for the base domain. Run ends when ctx does; its result
// arrives on the returned channel.
func (n *node) startDNS(ctx context.Context) (<-chan error, error) {
	source := dnsserver.SourceFunc(func(ctx context.Context) ([]dnsserver.Zone, uint64, error) {
		data, err := n.zones.Snapshot(ctx)
		if err != nil {
			return nil, 0, err
		}
		own, err := n.ownZone(ctx, data.Generation)
		if err != nil {
			return nil, 0, err
		}
		hosted, err := zonedns.Zones(data)
		if err != nil {
			return nil, 0, err
		}
		// Portico's own zones come first: a hosted zone of the same name
		// must not hide the endpoint hostnames or the ACME challenges.
		zones := []dnsserver.Zone{own}
		if n.challenges != nil {
			zones = append(zones, n.validationZone(data.Generation))
		}
		return append(zones, hosted...), data.Generation, nil
	})
	if n.cfg.ACMEDirectory != "" {
		n.challenges = &acmeissuer.Challenges{}
	}
	latency, err := loadLatencyTable(n.cfg.LatencyTable)
	if err != nil {
		return nil, err
	}
	// Aliases may target the endpoint hostnames by the own zone's ID (set
	// before the API serves: run calls startDNS first).
	n.zones.Own = &zone.OwnZone{ID: zone.OwnZoneID(n.cfg.BaseDomain), Name: n.cfg.BaseDomain, Serves: n.servesEndpointName}
	n.logger.Info("endpoint hostnames can be alias targets", "hosted_zone_id", n.zones.Own.ID, "zone", n.cfg.BaseDomain)
	srv := dnsserver.New(dnsserver.Config{Addr: n.cfg.DNSAddr, Source: source, Health: n.checker, Latency: latency,
		Logger: n.logger.With("component", "dns"), TransferAllow: n.cfg.TransferAllow, Notify: n.cfg.NotifyTargets})
	if err := srv.Listen(); err != nil {
		return nil, fmt.Errorf("dns listener: %w", err)
	}
	n.dnsAddr = loopbackIfUnspecified(srv.UDPAddr())
	if n.challenges != nil {
		// A challenge record is served by the time Add returns.
		n.challenges.OnChange = func() {
			if err := srv.Reload(ctx); err != nil && ctx.Err() == nil {
				n.logger.Warn("dns reload for an ACME challenge failed", "err", err)
			}
		}
	}
	n.zones.Served = srv.Served
	// Failover answers are recomputed when a health check flips.
	n.checker.OnChange = srv.HealthChanged
	changes, cancel := n.store.Subscribe()
	checks, cancelChecks := n.store.Subscribe()
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- srv.Run(ctx, changes)
	}()
	go func() {
		defer cancelChecks()
		n.checker.Run(ctx, n.health.All, checks)
	}()
	return done, nil
}

// endpointHosts are the names of the own zone: the account's endpoint
// hostnames and the hostnames of AWS-managed domain configurations, each
// with whether it is served (its domain configuration ENABLED; iot:Data has
// none and always is).
func (n *node) endpointHosts(ctx context.Context) ([]string, map[string]bool, error) {
	var hosts []string
	served := map[string]bool{}
	for _, t := range []string{"iot:Data-ATS", "iot:Data", "iot:Jobs", "iot:CredentialProvider"} {
		host, err := n.endpoints.Hostname(t)
		if err != nil {
			return nil, nil, err
		}
		hosts = append(hosts, host)
		served[strings.ToLower(host)] = true
	}
	configs, err := n.endpoints.All(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range configs {
		host := strings.ToLower(c.DomainName)
		switch c.DomainType {
		case endpoint.TypeAWSManaged:
			hosts = append(hosts, c.DomainName)
			served[host] = c.Status == endpoint.StatusEnabled
		case endpoint.TypeEndpoint:
			served[host] = served[host] && c.Status == endpoint.StatusEnabled
		}
	}
	return hosts, served, nil
}

// servesEndpointName answers zone.OwnZone.Serves: whether the own zone has
// a record of type typ at name (Route 53 form), disabled names included.
func (n *node) servesEndpointName(ctx context.Context, name, typ string) (bool, error) {
	want := "A"
	if advertiseIP(n.cfg.AdvertiseAddr).To4() == nil {
		want = "AAAA"
	}
	if typ != want {
		return false, nil
	}
	_, served, err := n.endpointHosts(ctx)
	if err != nil {
		return false, err
	}
	_, ok := served[strings.TrimSuffix(name, ".")]
	return ok, nil
}

// ownZone is the base-domain zone: the account's endpoint hostnames and the
// hostnames of AWS-managed domain configurations, all at the advertised
// address. Its serial follows the store generation.
func (n *node) ownZone(ctx context.Context, generation uint64) (dnsserver.Zone, error) {
	hosts, served, err := n.endpointHosts(ctx)
	if err != nil {
		return dnsserver.Zone{}, err
	}
	ip := advertiseIP(n.cfg.AdvertiseAddr)
	records := make([]dns.RR, 0, len(hosts))
	var down []dnsserver.RecordGroup
	for _, host := range hosts {
		hdr := dns.RR_Header{Name: dns.Fqdn(host), Class: dns.ClassINET, Ttl: endpointTTL}
		var rr dns.RR
		if ip4 := ip.To4(); ip4 != nil {
			hdr.Rrtype = dns.TypeA
			rr = &dns.A{Hdr: hdr, A: ip4}
		} else {
			hdr.Rrtype = dns.TypeAAAA
			rr = &dns.AAAA{Hdr: hdr, AAAA: ip.To16()}
		}
		// Disabled ones resolve too (the gateway refuses them itself), but
		// count as unhealthy for aliases that evaluate target health.
		if !served[strings.ToLower(host)] {
			down = append(down, dnsserver.RecordGroup{Name: hdr.Name, Type: hdr.Rrtype,
				Members: []dnsserver.Member{{ID: host, Records: []dns.RR{rr}, Down: true}}})
			continue
		}
		records = append(records, rr)
	}
	z := dnsserver.StaticZone(n.cfg.BaseDomain, n.cfg.Nameservers, uint32(generation), records...)
	z.Groups = down
	return z, nil
}

// loadLatencyTable reads --latency-table (nil when unset); every region must
// be one Route 53 latency records may name.
func loadLatencyTable(path string) (*dnsserver.LatencyTable, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--latency-table: %w", err)
	}
	defer f.Close()
	table, err := dnsserver.ParseLatencyTable(f)
	if err != nil {
		return nil, fmt.Errorf("--latency-table %s: %w", path, err)
	}
	for _, r := range table.Regions() {
		if !zone.IsLatencyRegion(r) {
			return nil, fmt.Errorf("--latency-table %s: %q is not a Route 53 latency region (such as us-east-1)", path, r)
		}
	}
	return table, nil
}

// validationZone is the zone of the validation CNAMEs' targets
// (acm-validations...), holding the ACME DNS-01 challenges in flight.
func (n *node) validationZone(generation uint64) dnsserver.Zone {
	origin := n.certs.ValidationZone
	if origin == "" {
		origin = certificate.DefaultValidationZone
	}
	return dnsserver.StaticZone(origin, n.cfg.Nameservers, uint32(generation), n.challenges.Records()...)
}

// loopbackIfUnspecified turns a wildcard listen address into one a local
// client can dial.
func loopbackIfUnspecified(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			host = "127.0.0.1"
		} else {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
