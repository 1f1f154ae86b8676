package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/health"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
)

// TestDNSWiring runs startDNS: a latency record answered by --latency-table
// through ECS, an apex alias to the account's iot:Data-ATS hostname by the
// own zone's ID, and a failover PRIMARY alias to an AWS_MANAGED domain that
// fails over while its domain configuration is DISABLED.
func TestDNSWiring(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := storetest.New(t)
	endpoints, err := endpoint.NewService(ctx, st, nil, endpoint.Config{Region: apitest.Region, Account: apitest.Account, BaseDomain: "portico.internal"})
	if err != nil {
		t.Fatal(err)
	}
	zones, err := zone.NewService(ctx, st, []string{"ns1.portico.internal."})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := health.NewService(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(t.TempDir(), "latency.json")
	if err := os.WriteFile(table, []byte(`[{"prefix": "10.1.0.0/16", "region": "us-east-1"}, {"prefix": "10.2.0.0/16", "region": "us-west-2"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{cfg: config.Config{DNSAddr: "127.0.0.1:0", AdvertiseAddr: "192.0.2.200", BaseDomain: "portico.internal",
		Nameservers: []string{"ns1.portico.internal."}, LatencyTable: table},
		logger: apitest.Logger(), store: st, endpoints: endpoints, zones: zones, health: checks, checker: &health.Checker{}}
	done, err := n.startDNS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()

	ats, _ := endpoints.Hostname("iot:Data-ATS")
	managed, err := endpoints.Create(ctx, endpoint.CreateInput{Name: "fleet-managed", ServiceType: endpoint.ServiceData})
	if err != nil {
		t.Fatal(err)
	}
	z, err := zones.CreateHostedZone(ctx, zone.CreateHostedZoneInput{Name: "yourcompany.com", CallerReference: "wiring"})
	if err != nil {
		t.Fatal(err)
	}
	own := zone.OwnZoneID("portico.internal")
	ttl := int64(60)
	alias := func(name, target, setID, failover string) zone.Change {
		return zone.Change{Action: zone.ActionCreate, RecordSet: zone.RecordSetInput{Name: name, Type: "A", SetIdentifier: setID, Failover: failover,
			Alias: &zone.AliasTarget{HostedZoneID: own, DNSName: target, EvaluateTargetHealth: true}}}
	}
	latency := func(id, region, value string) zone.Change {
		return zone.Change{Action: zone.ActionCreate, RecordSet: zone.RecordSetInput{Name: "iot.yourcompany.com", Type: "A", TTL: &ttl,
			Values: []string{value}, SetIdentifier: id, Region: region}}
	}
	if _, err := zones.ChangeResourceRecordSets(ctx, z.HostedZone.ID, zone.ChangeBatch{Changes: []zone.Change{
		alias("yourcompany.com", ats, "", ""),
		alias("devices.yourcompany.com", managed.DomainName, "managed", zone.FailoverPrimary),
		{Action: zone.ActionCreate, RecordSet: zone.RecordSetInput{Name: "devices.yourcompany.com", Type: "A", TTL: &ttl,
			Values: []string{"192.0.2.99"}, SetIdentifier: "standby", Failover: zone.FailoverSecondary}},
		latency("east", "us-east-1", "192.0.2.1"),
		latency("west", "us-west-2", "192.0.2.2"),
	}}); err != nil {
		t.Fatal(err)
	}
	// An AAAA alias to the endpoint: Portico serves no AAAA for it (IPv4 advertised).
	if _, err := zones.ChangeResourceRecordSets(ctx, z.HostedZone.ID, zone.ChangeBatch{Changes: []zone.Change{
		{Action: zone.ActionCreate, RecordSet: zone.RecordSetInput{Name: "v6.yourcompany.com", Type: "AAAA",
			Alias: &zone.AliasTarget{HostedZoneID: own, DNSName: ats}}},
	}}); err == nil {
		t.Error("an AAAA alias to an IPv4 endpoint was accepted")
	}

	ask := func(name, subnet string) string {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		if subnet != "" {
			p := netip.MustParsePrefix(subnet)
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
				SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
		}
		// Both transports must agree; "" until the change is served.
		var got []string
		for _, network := range []string{"udp", "tcp"} {
			resp, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(m, n.dnsAddr)
			if err != nil {
				t.Fatalf("%s %s: %v", network, name, err)
			}
			if len(resp.Answer) != 1 {
				return ""
			}
			got = append(got, resp.Answer[0].(*dns.A).A.String())
		}
		if got[0] != got[1] {
			return ""
		}
		return got[0]
	}
	waitFor := func(name, subnet, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := ask(name, subnet)
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s from %q: %s, want %s", name, subnet, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("yourcompany.com", "", "192.0.2.200")
	waitFor("iot.yourcompany.com", "10.1.2.0/24", "192.0.2.1")
	waitFor("iot.yourcompany.com", "10.2.2.0/24", "192.0.2.2")
	waitFor("devices.yourcompany.com", "", "192.0.2.200")
	if _, err := endpoints.Update(ctx, endpoint.UpdateInput{Name: "fleet-managed", Status: endpoint.StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	waitFor("devices.yourcompany.com", "", "192.0.2.99")
	waitFor(managed.DomainName, "", "192.0.2.200") // still resolves itself
}

func TestLoadLatencyTable(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"typo.json": `[{"prefix": "10.0.0.0/8", "region": "us-east1"}]`, "bad.json": `[{"prefix": "x"}]`} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o600)
		if _, err := loadLatencyTable(path); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if table, err := loadLatencyTable(""); table != nil || err != nil {
		t.Errorf("no flag: %v %v", table, err)
	}
	if _, err := loadLatencyTable(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file was accepted")
	}
}
