package dnsserver

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func testLatencyTable(t testing.TB) *LatencyTable {
	t.Helper()
	table, err := ParseLatencyTable(strings.NewReader(`[
		{"prefix": "10.1.0.0/16", "region": "us-east-1"},
		{"prefix": "10.2.0.0/16", "region": "us-west-2"},
		{"prefix": "10.2.3.0/24", "region": "eu-west-1"},
		{"prefix": "127.0.0.0/8", "region": "us-west-2"},
		{"prefix": "2001:db8::/32", "region": "eu-west-1"},
		{"prefix": "10.9.9.9", "region": "ap-south-1"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestLatencyTableLookup(t *testing.T) {
	table := testLatencyTable(t)
	if got := strings.Join(table.Regions(), ","); got != "us-east-1,us-west-2,eu-west-1,ap-south-1" {
		t.Errorf("regions = %s", got)
	}
	for _, tc := range []struct {
		addr, region string
		scope        int
	}{
		{"10.1.2.3", "us-east-1", 16},
		{"10.1.255.255", "us-east-1", 16},
		{"10.2.4.1", "us-west-2", 22}, // 10.2.3.0/24 splits 10.2.0.0/16 where 10.2.4.1 parts from it
		{"10.2.128.1", "us-west-2", 17},
		{"10.2.3.200", "eu-west-1", 24},
		{"10.9.9.9", "ap-south-1", 32},
		{"10.9.9.8", "", 32},
		{"192.0.2.1", "", 1},
		{"127.0.0.1", "us-west-2", 8},
		{"::ffff:10.1.0.1", "us-east-1", 16},
		{"2001:db8:1::1", "eu-west-1", 32},
		{"2001:db9::1", "", 32},
	} {
		region, scope := table.Lookup(netip.MustParseAddr(tc.addr))
		if region != tc.region || scope != tc.scope {
			t.Errorf("%s: region %q scope %d, want %q scope %d", tc.addr, region, scope, tc.region, tc.scope)
		}
	}
	for _, bad := range []string{`[{"prefix": "10.0.0.0/8"}]`, `[{"prefix": "10.0.0.0/33", "region": "x"}]`,
		`[{"prefix": "10.0.0.0/8", "region": "a"}, {"prefix": "10.1.0.0/8", "region": "b"}]`, `{"prefix": 1}`,
		`[{"prefix": "10.0.0.0/8", "region": "a", "weight": 1}]`} {
		if _, err := ParseLatencyTable(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	var none *LatencyTable
	if r, s := none.Lookup(netip.MustParseAddr("10.1.0.1")); r != "" || s != 0 {
		t.Error("a nil table maps a client")
	}
}

// latencyZones: lat.yourcompany.com answers by region; us-east-1 carries
// health check hc-east, ap-south-1 (outside the table's first regions) has
// no check; the apex aliases lat.
func latencyZones(t testing.TB) []Zone {
	zones := testZones(t)
	zones[0].Groups = []RecordGroup{
		{Name: "lat.yourcompany.com.", Type: dns.TypeA, Policy: PolicyLatency, Members: []Member{
			{ID: "east", Region: "us-east-1", HealthCheck: "hc-east", Records: []dns.RR{mustRR(t, "lat.yourcompany.com. 60 IN A 192.0.2.1")}},
			{ID: "west", Region: "us-west-2", HealthCheck: "hc-west", Records: []dns.RR{mustRR(t, "lat.yourcompany.com. 60 IN A 192.0.2.2")}},
			{ID: "sydney", Region: "ap-southeast-2", Records: []dns.RR{mustRR(t, "lat.yourcompany.com. 60 IN A 192.0.2.4")}},
		}},
		{Name: "yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: &Alias{Zone: "yourcompany.com.", Name: "lat.yourcompany.com.", EvaluateTargetHealth: true}}}},
	}
	return zones
}

// ecsQuery asks with an EDNS Client Subnet option (subnet "" for none) and
// returns the single address answered and the ECS scope (-1: no option).
func ecsQuery(t *testing.T, network, addr, name, subnet string) (string, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	if subnet != "" {
		p := netip.MustParsePrefix(subnet)
		family := uint16(1)
		if p.Addr().Is6() {
			family = 2
		}
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family,
			SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, subnet, err)
	}
	got := addresses(resp.Answer)
	if resp.Rcode != dns.RcodeSuccess || len(got) != 1 {
		t.Fatalf("%s %s %s: %v", network, name, subnet, resp)
	}
	scope := -1
	if opt := resp.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				if e.SourceNetmask != m.IsEdns0().Option[0].(*dns.EDNS0_SUBNET).SourceNetmask {
					t.Errorf("ECS source prefix not echoed: %v", e)
				}
				scope = int(e.SourceScope)
			}
		}
	}
	return got[0], scope
}

func TestLatencyAnswers(t *testing.T) {
	health := &healthMap{m: map[string]bool{}}
	src := &mutableSource{}
	src.set(latencyZones(t), 1)
	ts := startServer(t, src, 0, func(c *Config) { c.Health = health; c.Latency = testLatencyTable(t) })
	ask := func(name, subnet, want string, wantScope int) {
		t.Helper()
		for _, network := range []string{"udp", "tcp"} {
			addr := ts.udpAddr
			if network == "tcp" {
				addr = ts.tcpAddr
			}
			got, scope := ecsQuery(t, network, addr, name, subnet)
			if got != want || scope != wantScope {
				t.Errorf("%s %s from %s: %s scope %d, want %s scope %d", network, name, subnet, got, scope, want, wantScope)
			}
		}
	}
	ask("lat.yourcompany.com.", "10.1.2.0/24", "192.0.2.1", 16)
	ask("lat.yourcompany.com.", "10.2.200.0/24", "192.0.2.2", 17)
	// No ECS: the resolver's address (127.0.0.1, us-west-2 in the table); no option back.
	ask("lat.yourcompany.com.", "", "192.0.2.2", -1)
	// A region without a set (eu-west-1), no region, a /0: the fallback
	// order is the table's regions, us-east-1 first.
	ask("lat.yourcompany.com.", "10.2.3.0/24", "192.0.2.1", 24)
	ask("lat.yourcompany.com.", "192.0.2.0/24", "192.0.2.1", 1)
	ask("lat.yourcompany.com.", "0.0.0.0/0", "192.0.2.1", 0)
	ask("lat.yourcompany.com.", "2001:db8:aa::/48", "192.0.2.1", 32)
	// The apex alias answers as its target, per client.
	ask("yourcompany.com.", "10.1.2.0/24", "192.0.2.1", 16)
	ask("yourcompany.com.", "10.2.200.0/24", "192.0.2.2", 17)
	// Answers that do not depend on the client carry scope 0.
	ask("www.yourcompany.com.", "10.1.2.0/24", "192.0.2.10", 0)

	// us-east-1 fails: its clients fall through to the next healthy region
	// in table order (us-west-2). Every client now gets us-west-2: the
	// answer no longer depends on the client (scope 0).
	health.set("hc-east", false)
	ts.HealthChanged()
	ask("lat.yourcompany.com.", "10.1.2.0/24", "192.0.2.2", 0)
	ask("yourcompany.com.", "192.0.2.0/24", "192.0.2.2", 0)
	// Both table regions down: the set of a region the table does not name.
	health.set("hc-west", false)
	ts.HealthChanged()
	ask("lat.yourcompany.com.", "10.1.2.0/24", "192.0.2.4", 0)
	// Every set unhealthy (a down member has no last resort beyond its
	// group): each client's own region again.
	src.set(func() []Zone {
		z := latencyZones(t)
		z[0].Groups[0].Members[2].HealthCheck = "hc-sydney"
		return z
	}(), 2)
	health.set("hc-sydney", false)
	ts.Reload(t.Context())
	ask("lat.yourcompany.com.", "10.1.2.0/24", "192.0.2.1", 16)
	ask("lat.yourcompany.com.", "10.2.200.0/24", "192.0.2.2", 17)
	ask("lat.yourcompany.com.", "192.0.2.0/24", "192.0.2.1", 1)
}

func TestClientSubnetErrors(t *testing.T) {
	srv := New(Config{Latency: testLatencyTable(t)})
	srv.snap.Store(buildSnapshot(latencyZones(t), 1, nil, srv.cfg.Rand, srv.cfg.Latency, srv.logger))
	for _, tc := range []struct {
		name string
		ecs  []*dns.EDNS0_SUBNET
	}{
		{"scope in a query", []*dns.EDNS0_SUBNET{{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, SourceScope: 8, Address: net.IPv4(10, 1, 2, 0)}}},
		{"unknown family", []*dns.EDNS0_SUBNET{{Code: dns.EDNS0SUBNET, Family: 3, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0)}}},
		{"two options", []*dns.EDNS0_SUBNET{{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0)},
			{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 1, 2, 0)}}},
	} {
		m := new(dns.Msg)
		m.SetQuestion("lat.yourcompany.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		for _, e := range tc.ecs {
			m.IsEdns0().Option = append(m.IsEdns0().Option, e)
		}
		if resp := srv.respond(m, true, netip.MustParseAddr("127.0.0.1")); resp.Rcode != dns.RcodeFormatError {
			t.Errorf("%s: rcode %s, want FORMERR", tc.name, dns.RcodeToString[resp.Rcode])
		}
	}
}

// TestLatencyDig asks with dig's +subnet over UDP and TCP: the answer and
// the CLIENT-SUBNET scope dig prints.
func TestLatencyDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig is not installed (bind9-dnsutils) and CI=true")
		}
		t.Skip("dig is not installed")
	}
	src := &mutableSource{}
	src.set(latencyZones(t), 1)
	health := &healthMap{m: map[string]bool{}}
	ts := startServer(t, src, 0, func(c *Config) { c.Health = health; c.Latency = testLatencyTable(t) })
	_, port, _ := net.SplitHostPort(ts.tcpAddr)
	_, udpPort, _ := net.SplitHostPort(ts.udpAddr)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(dig, append([]string{"@127.0.0.1", "+norecurse", "+time=5", "+tries=1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return strings.Join(strings.Fields(string(out)), " ")
	}
	for _, transport := range [][]string{{"-p", udpPort, "+notcp"}, {"-p", port, "+tcp"}} {
		text := run(append(transport, "+subnet=10.1.2.0/24", "lat.yourcompany.com", "A")...)
		for _, want := range []string{"CLIENT-SUBNET: 10.1.2.0/24/16", "lat.yourcompany.com. 60 IN A 192.0.2.1"} {
			if !strings.Contains(text, want) {
				t.Errorf("dig %v lacks %q: %s", transport, want, text)
			}
		}
	}
	health.set("hc-east", false)
	ts.HealthChanged()
	text := run("-p", port, "+tcp", "+subnet=10.1.2.0/24", "yourcompany.com", "A")
	if !strings.Contains(text, "yourcompany.com. 60 IN A 192.0.2.2") {
		t.Errorf("unhealthy us-east-1: %s", text)
	}
}

// TestLatencyTransfer: a secondary gets a latency name as clients of no
// region see it, and follows when that answer changes.
func TestLatencyTransfer(t *testing.T) {
	health := &healthMap{m: map[string]bool{}}
	src := &mutableSource{}
	src.set(latencyZones(t), 1)
	ts := startServer(t, src, 0, allowLoopback, func(c *Config) { c.Health = health; c.Latency = testLatencyTable(t) })
	has := func(want string) {
		t.Helper()
		records, err := axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeAXFR, 0)
		if err != nil {
			t.Fatal(err)
		}
		var lat []string
		for _, r := range records {
			if strings.HasPrefix(r, "lat.yourcompany.com.\t") {
				lat = append(lat, strings.Join(strings.Fields(r), " "))
			}
		}
		if strings.Join(lat, "|") != want {
			t.Errorf("latency name transferred as %q, want %q", lat, want)
		}
	}
	has("lat.yourcompany.com. 60 IN A 192.0.2.1")
	health.set("hc-east", false)
	ts.HealthChanged()
	has("lat.yourcompany.com. 60 IN A 192.0.2.2")
}
