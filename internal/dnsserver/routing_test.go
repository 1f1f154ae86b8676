package dnsserver

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// seededRand is a deterministic RandN safe for concurrent queries.
func seededRand(seed uint64) RandN {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func(n uint32) uint32 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint32N(n)
	}
}

func member(t testing.TB, id, hc string, weight uint8, rr string) Member {
	return Member{ID: id, HealthCheck: hc, Weight: weight, Records: []dns.RR{mustRR(t, rr)}}
}

// addresses returns the A and AAAA addresses of an answer, sorted.
func addresses(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, a.A.String())
		case *dns.AAAA:
			out = append(out, a.AAAA.String())
		}
	}
	sort.Strings(out)
	return out
}

// countAnswers asks n times (alternating UDP and TCP) and counts each
// answer's single address.
func countAnswers(t *testing.T, ts *testServer, name string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		network := "udp"
		if i%2 == 1 {
			network = "tcp"
		}
		resp := ts.query(t, network, name, dns.TypeA, 0)
		got := addresses(resp.Answer)
		if resp.Rcode != dns.RcodeSuccess || len(got) != 1 || !resp.Authoritative {
			t.Fatalf("%s %s: %v", network, name, resp)
		}
		counts[got[0]]++
	}
	return counts
}

// within reports whether an observed count is within 5 standard deviations
// of a binomial expectation: a wrong distribution fails, chance does not.
func within(observed, n int, p float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(observed)-mean) <= 5*sd+1
}

func TestWeightedAnswers(t *testing.T) {
	zones := testZones(t)
	zones[0].Groups = []RecordGroup{
		{Name: "w.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
			member(t, "blue", "hc-blue", 1, "w.yourcompany.com. 60 IN A 192.0.2.1"),
			member(t, "green", "hc-green", 3, "w.yourcompany.com. 60 IN A 192.0.2.2"),
			member(t, "off", "", 0, "w.yourcompany.com. 60 IN A 192.0.2.3"),
		}},
		{Name: "zero.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
			member(t, "a", "", 0, "zero.yourcompany.com. 60 IN A 192.0.2.11"),
			member(t, "b", "", 0, "zero.yourcompany.com. 60 IN A 192.0.2.12"),
		}},
	}
	src := &mutableSource{}
	src.set(zones, 1)
	h := &healthMap{m: map[string]bool{}}
	ts := startServer(t, src, 0, func(c *Config) { c.Health = h; c.Rand = seededRand(1) })

	const n = 800
	counts := countAnswers(t, ts, "w.yourcompany.com.", n)
	if counts["192.0.2.3"] != 0 || !within(counts["192.0.2.1"], n, 0.25) || !within(counts["192.0.2.2"], n, 0.75) {
		t.Errorf("weights 1:3:0 answered %v of %d", counts, n)
	}
	counts = countAnswers(t, ts, "zero.yourcompany.com.", n)
	if !within(counts["192.0.2.11"], n, 0.5) || !within(counts["192.0.2.12"], n, 0.5) {
		t.Errorf("all-zero weights answered %v of %d, want equal shares", counts, n)
	}

	// An unhealthy member is dropped: green takes everything.
	h.set("hc-blue", false)
	ts.HealthChanged()
	if counts := countAnswers(t, ts, "w.yourcompany.com.", 50); counts["192.0.2.2"] != 50 {
		t.Errorf("blue unhealthy: %v", counts)
	}
	// Only the weight-0 member is healthy: it answers.
	h.set("hc-green", false)
	ts.HealthChanged()
	if counts := countAnswers(t, ts, "w.yourcompany.com.", 50); counts["192.0.2.3"] != 50 {
		t.Errorf("only weight 0 healthy: %v", counts)
	}
}

func TestWeightedAllUnhealthyLastResort(t *testing.T) {
	zones := testZones(t)
	zones[0].Groups = []RecordGroup{{Name: "w.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
		member(t, "blue", "hc-blue", 1, "w.yourcompany.com. 60 IN A 192.0.2.1"),
		member(t, "green", "hc-green", 1, "w.yourcompany.com. 60 IN A 192.0.2.2"),
	}}}
	src := &mutableSource{}
	src.set(zones, 1)
	h := &healthMap{m: map[string]bool{"hc-blue": false, "hc-green": false}}
	ts := startServer(t, src, 0, func(c *Config) { c.Health = h; c.Rand = seededRand(2) })
	const n = 400
	counts := countAnswers(t, ts, "w.yourcompany.com.", n)
	if !within(counts["192.0.2.1"], n, 0.5) || !within(counts["192.0.2.2"], n, 0.5) {
		t.Errorf("all unhealthy: %v, want both by weight (Route 53's last resort)", counts)
	}
}

func TestMultiValueAnswers(t *testing.T) {
	var many []Member
	for i := range 10 {
		hc := ""
		if i < 2 {
			hc = "hc-down"
		}
		ip := "192.0.2." + string(rune('0'+i))
		many = append(many, member(t, ip, hc, 0, "mv.yourcompany.com. 60 IN A "+ip))
	}
	zones := testZones(t)
	zones[0].Groups = []RecordGroup{
		{Name: "mv.yourcompany.com.", Type: dns.TypeA, Policy: PolicyMultiValue, Members: many},
		{Name: "few.yourcompany.com.", Type: dns.TypeA, Policy: PolicyMultiValue, Members: []Member{
			member(t, "a", "hc-down", 0, "few.yourcompany.com. 60 IN A 192.0.2.21"),
			member(t, "b", "", 0, "few.yourcompany.com. 60 IN A 192.0.2.22"),
			member(t, "c", "", 0, "few.yourcompany.com. 30 IN A 192.0.2.23"),
		}},
		{Name: "down.yourcompany.com.", Type: dns.TypeA, Policy: PolicyMultiValue, Members: []Member{
			member(t, "a", "hc-down", 0, "down.yourcompany.com. 60 IN A 192.0.2.31"),
			member(t, "b", "hc-down", 0, "down.yourcompany.com. 60 IN A 192.0.2.32"),
		}},
	}
	src := &mutableSource{}
	src.set(zones, 1)
	h := &healthMap{m: map[string]bool{"hc-down": false}}
	ts := startServer(t, src, 0, func(c *Config) { c.Health = h; c.Rand = seededRand(3) })

	// Ten members, two unhealthy: exactly the eight healthy ones.
	for _, network := range []string{"udp", "tcp"} {
		got := addresses(ts.query(t, network, "mv.yourcompany.com.", dns.TypeA, 0).Answer)
		if strings.Join(got, " ") != "192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8 192.0.2.9" {
			t.Errorf("%s: %v", network, got)
		}
	}
	// Ten healthy: eight of them, different ones across queries.
	h.set("hc-down", true)
	ts.HealthChanged()
	seen := map[string]bool{}
	for i := range 20 {
		got := addresses(ts.query(t, []string{"udp", "tcp"}[i%2], "mv.yourcompany.com.", dns.TypeA, 0).Answer)
		distinct := map[string]bool{}
		for _, a := range got {
			distinct[a] = true
			seen[a] = true
		}
		if len(got) != MaxMultiValue || len(distinct) != MaxMultiValue {
			t.Fatalf("all healthy: %v, want 8 distinct", got)
		}
	}
	if len(seen) != 10 {
		t.Errorf("20 answers of 8 among 10 covered only %d addresses", len(seen))
	}
	h.set("hc-down", false)
	ts.HealthChanged()
	if got := addresses(ts.query(t, "udp", "few.yourcompany.com.", dns.TypeA, 0).Answer); strings.Join(got, " ") != "192.0.2.22 192.0.2.23" {
		t.Errorf("few: %v", got)
	}
	if got := addresses(ts.query(t, "tcp", "down.yourcompany.com.", dns.TypeA, 0).Answer); strings.Join(got, " ") != "192.0.2.31 192.0.2.32" {
		t.Errorf("all unhealthy: %v, want them all (last resort)", got)
	}
}

func TestAliasAnswers(t *testing.T) {
	zones := testZones(t)
	other := StaticZone("other.example", []string{"ns1.portico.example"}, 1,
		mustRR(t, "target.other.example. 120 IN AAAA 2001:db8::1"))
	zones = append(zones, other)
	alias := func(zone, name string, evaluate bool) *Alias {
		return &Alias{Zone: zone, Name: name, EvaluateTargetHealth: evaluate}
	}
	zones[0].Groups = []RecordGroup{
		// The apex answers what the weighted www group answers.
		{Name: "yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: alias("yourcompany.com.", "w.yourcompany.com.", true)}}},
		{Name: "w.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
			member(t, "east", "hc-east", 1, "w.yourcompany.com. 60 IN A 192.0.2.1"),
			member(t, "west", "hc-west", 1, "w.yourcompany.com. 60 IN A 192.0.2.2"),
		}},
		// A simple alias to a static record.
		{Name: "host-alias.yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: alias("yourcompany.com.", "host.yourcompany.com.", false)}}},
		// Into another zone.
		{Name: "v6.yourcompany.com.", Type: dns.TypeAAAA, Members: []Member{{Alias: alias("other.example.", "target.other.example.", false)}}},
		// A CNAME alias is answered as a CNAME and followed.
		{Name: "c.yourcompany.com.", Type: dns.TypeCNAME, Members: []Member{{Alias: alias("yourcompany.com.", "iot.yourcompany.com.", false)}}},
		// Failover whose primary is an alias evaluating its target.
		failoverGroup("fo.yourcompany.com.",
			Member{ID: "p", Alias: alias("yourcompany.com.", "w.yourcompany.com.", true)},
			Member{ID: "s", Records: []dns.RR{mustRR(t, "fo.yourcompany.com. 60 IN A 192.0.2.99")}}),
		// A health-checked simple set answers regardless; an alias evaluating it inherits its health.
		{Name: "checked.yourcompany.com.", Type: dns.TypeA, Members: []Member{member(t, "", "hc-checked", 0, "checked.yourcompany.com. 60 IN A 192.0.2.77")}},
		failoverGroup("fo2.yourcompany.com.",
			Member{ID: "p", Alias: alias("yourcompany.com.", "checked.yourcompany.com.", true)},
			Member{ID: "s", Records: []dns.RR{mustRR(t, "fo2.yourcompany.com. 60 IN A 192.0.2.88")}}),
		// A loop and a dangling alias answer nothing.
		{Name: "loop1.alias.yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: alias("yourcompany.com.", "loop2.alias.yourcompany.com.", false)}}},
		{Name: "loop2.alias.yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: alias("yourcompany.com.", "loop1.alias.yourcompany.com.", false)}}},
		{Name: "dangling.alias.yourcompany.com.", Type: dns.TypeA, Members: []Member{{Alias: alias("yourcompany.com.", "nothing.yourcompany.com.", false)}}},
	}
	src := &mutableSource{}
	src.set(zones, 1)
	h := &healthMap{m: map[string]bool{}}
	ts := startServer(t, src, 0, func(c *Config) { c.Health = h; c.Rand = seededRand(4) })

	counts := countAnswers(t, ts, "yourcompany.com.", 200)
	if !within(counts["192.0.2.1"], 200, 0.5) || !within(counts["192.0.2.2"], 200, 0.5) {
		t.Errorf("apex alias to weighted: %v", counts)
	}
	resp := ts.query(t, "udp", "yourcompany.com.", dns.TypeA, 0)
	if a := resp.Answer[0].Header(); a.Name != "yourcompany.com." || a.Ttl != 60 {
		t.Errorf("apex alias answer header %v: want the alias name with the target's TTL", a)
	}
	// The apex keeps its SOA and NS beside the alias.
	if resp := ts.query(t, "tcp", "yourcompany.com.", dns.TypeSOA, 0); len(resp.Answer) != 1 {
		t.Errorf("apex SOA: %v", resp)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"host-alias.yourcompany.com.", dns.TypeA, "192.0.2.1 192.0.2.2"},
		{"v6.yourcompany.com.", dns.TypeAAAA, "2001:db8::1"},
		{"c.yourcompany.com.", dns.TypeA, "192.0.2.10"}, // c -> (alias) CNAME to the endpoint host
		{"fo.yourcompany.com.", dns.TypeA, ""},          // checked below: one of the weighted ones
	} {
		resp := ts.query(t, "udp", tc.name, tc.qtype, 0)
		got := strings.Join(addresses(resp.Answer), " ")
		if tc.want != "" && got != tc.want {
			t.Errorf("%s: %v", tc.name, resp.Answer)
		}
	}
	resp = ts.query(t, "udp", "c.yourcompany.com.", dns.TypeA, 0)
	if c, ok := resp.Answer[0].(*dns.CNAME); !ok || c.Hdr.Name != "c.yourcompany.com." || c.Target != "a1b2-ats.iot.us-east-1.portico.internal." {
		t.Errorf("CNAME alias: %v", resp.Answer)
	}
	if got := addresses(ts.query(t, "udp", "fo.yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 || got[0] == "192.0.2.99" {
		t.Errorf("failover alias with a healthy target: %v", got)
	}
	for _, name := range []string{"loop1.alias.yourcompany.com.", "dangling.alias.yourcompany.com."} {
		resp := ts.query(t, "tcp", name, dns.TypeA, 0)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 || len(resp.Ns) != 1 {
			t.Errorf("%s: want NODATA, got %v", name, resp)
		}
	}

	// Every weighted target unhealthy: the failover alias counts as unhealthy,
	// the secondary answers; the apex alias still answers (last resort).
	h.set("hc-east", false)
	h.set("hc-west", false)
	ts.HealthChanged()
	if got := addresses(ts.query(t, "udp", "fo.yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 || got[0] != "192.0.2.99" {
		t.Errorf("failover alias with an unhealthy target: %v", got)
	}
	if got := addresses(ts.query(t, "udp", "yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 {
		t.Errorf("apex alias with an unhealthy target: %v", got)
	}
	if got := addresses(ts.query(t, "udp", "fo2.yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 || got[0] != "192.0.2.77" {
		t.Errorf("failover alias to a healthy checked set: %v", got)
	}
	h.set("hc-checked", false)
	ts.HealthChanged()
	if got := addresses(ts.query(t, "udp", "fo2.yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 || got[0] != "192.0.2.88" {
		t.Errorf("failover alias to an unhealthy checked set: %v", got)
	}
	if got := addresses(ts.query(t, "udp", "checked.yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 || got[0] != "192.0.2.77" {
		t.Errorf("unhealthy simple set: %v, want it answered anyway", got)
	}
	// One target back: the primary alias answers again, with that target only.
	h.set("hc-west", true)
	ts.HealthChanged()
	if got := addresses(ts.query(t, "tcp", "fo.yourcompany.com.", dns.TypeA, 0).Answer); len(got) != 1 || got[0] != "192.0.2.2" {
		t.Errorf("failover alias, west healthy: %v", got)
	}
}
