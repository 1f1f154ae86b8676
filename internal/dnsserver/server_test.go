package dnsserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("NewRR(%q): %v", s, err)
	}
	return rr
}

func bigTXT(t testing.TB, owner string, strings_ int) dns.RR {
	t.Helper()
	var parts []string
	for i := range strings_ {
		parts = append(parts, fmt.Sprintf(`"%03d-%s"`, i, strings.Repeat("x", 95)))
	}
	return mustRR(t, owner+" 60 IN TXT "+strings.Join(parts, " "))
}

// testZones is a customer hosted zone that points into Portico's own base
// domain, as the walking skeleton does.
func testZones(t testing.TB) []Zone {
	customer := Zone{Origin: "YourCompany.com", Records: []dns.RR{
		mustRR(t, "yourcompany.com. 900 IN SOA ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400"),
		mustRR(t, "yourcompany.com. 172800 IN NS ns1.portico.example."),
		mustRR(t, "iot.yourcompany.com. 300 IN CNAME a1b2-ats.iot.us-east-1.portico.internal."),
		mustRR(t, "www.yourcompany.com. 300 IN CNAME iot.yourcompany.com."),
		mustRR(t, "host.yourcompany.com. 60 IN A 192.0.2.1"),
		mustRR(t, "host.yourcompany.com. 60 IN A 192.0.2.2"),
		mustRR(t, "_mqtt._tcp.yourcompany.com. 60 IN SRV 0 0 8883 iot.yourcompany.com."),
		mustRR(t, "*.dev.yourcompany.com. 60 IN TXT \"wild\""),
		mustRR(t, "sub.yourcompany.com. 3600 IN NS ns.sub.yourcompany.com."),
		mustRR(t, "ns.sub.yourcompany.com. 3600 IN A 192.0.2.53"),
		mustRR(t, "loop1.yourcompany.com. 60 IN CNAME loop2.yourcompany.com."),
		mustRR(t, "loop2.yourcompany.com. 60 IN CNAME loop1.yourcompany.com."),
		mustRR(t, "ext.yourcompany.com. 60 IN CNAME www.example.net."),
		mustRR(t, "dangling.yourcompany.com. 60 IN CNAME missing.yourcompany.com."),
		bigTXT(t, "big.yourcompany.com.", 20),   // about 2 KB
		bigTXT(t, "medium.yourcompany.com.", 6), // about 600 octets
	}}
	system := StaticZone("portico.internal", []string{"ns1.portico.example"}, 1,
		mustRR(t, "a1b2-ats.iot.us-east-1.portico.internal. 60 IN A 192.0.2.10"),
		mustRR(t, "a1b2-ats.iot.us-east-1.portico.internal. 60 IN AAAA 2001:db8::10"),
	)
	return []Zone{customer, system}
}

// mutableSource is a Source whose zones a test can replace.
type mutableSource struct {
	mu    sync.Mutex
	zones []Zone
	gen   uint64
	err   error
}

func (m *mutableSource) Zones(context.Context) ([]Zone, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.zones, m.gen, m.err
}

func (m *mutableSource) set(zones []Zone, gen uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.zones, m.gen, m.err = zones, gen, nil
}

type testServer struct {
	*Server
	udpAddr, tcpAddr string
	changes          chan struct{}
}

// startServer runs a server on 127.0.0.1 sockets of port 0.
func startServer(t testing.TB, src Source, maxUDP int, options ...func(*Config)) *testServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A clock at the epoch keeps the stored serials (serials are never
	// lowered to a Unix time): the expected answers stay readable.
	cfg := Config{PacketConn: pc, Listener: ln, Source: src, MaxUDPSize: maxUDP, Now: func() time.Time { return time.Unix(0, 0) }}
	for _, o := range options {
		o(&cfg)
	}
	srv := New(cfg)
	changes := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, changes) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	ts := &testServer{Server: srv, udpAddr: pc.LocalAddr().String(), tcpAddr: ln.Addr().String(), changes: changes}
	// Run loads before it serves; wait for the first snapshot.
	deadline := time.Now().Add(5 * time.Second)
	for srv.snap.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("server did not load its zones")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ts
}

func (ts *testServer) query(t testing.TB, network, name string, qtype uint16, edns int) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if edns > 0 {
		m.SetEdns0(uint16(edns), false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	addr := ts.udpAddr
	if network == "tcp" {
		addr = ts.tcpAddr
	}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	if resp.Id != m.Id || !resp.Response {
		t.Fatalf("reply does not match the query: %v", resp)
	}
	return resp
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

func TestAnswers(t *testing.T) {
	src := &mutableSource{}
	src.set(testZones(t), 7)
	ts := startServer(t, src, 0)
	if ts.Served() != 7 {
		t.Errorf("Served() = %d, want 7", ts.Served())
	}
	const soa = "yourcompany.com.\t900\tIN\tSOA\tns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400"
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		aa        bool
		answer    []string
		authority []string
		extra     []string
	}{
		{name: "cname chain into the system zone", qname: "iot.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{
				"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.",
				"a1b2-ats.iot.us-east-1.portico.internal.\t60\tIN\tA\t192.0.2.10",
			}},
		{name: "case-insensitive", qname: "IOT.YourCompany.COM.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{
				"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.",
				"a1b2-ats.iot.us-east-1.portico.internal.\t60\tIN\tAAAA\t2001:db8::10",
			}},
		{name: "two-hop chain", qname: "www.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{
				"www.yourcompany.com.\t300\tIN\tCNAME\tiot.yourcompany.com.",
				"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.",
				"a1b2-ats.iot.us-east-1.portico.internal.\t60\tIN\tA\t192.0.2.10",
			}},
		{name: "cname asked for", qname: "iot.yourcompany.com.", qtype: dns.TypeCNAME, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal."}},
		{name: "exact", qname: "host.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"host.yourcompany.com.\t60\tIN\tA\t192.0.2.1", "host.yourcompany.com.\t60\tIN\tA\t192.0.2.2"}},
		{name: "nxdomain", qname: "nope.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			authority: []string{strings.Replace(soa, "\t900\t", "\t900\t", 1)}},
		{name: "nodata", qname: "host.yourcompany.com.", qtype: dns.TypeAAAA, rcode: dns.RcodeSuccess, aa: true,
			authority: []string{soa}},
		{name: "empty non-terminal", qname: "_tcp.yourcompany.com.", qtype: dns.TypeSRV, rcode: dns.RcodeSuccess, aa: true,
			authority: []string{soa}},
		{name: "srv", qname: "_mqtt._tcp.yourcompany.com.", qtype: dns.TypeSRV, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"_mqtt._tcp.yourcompany.com.\t60\tIN\tSRV\t0 0 8883 iot.yourcompany.com."}},
		{name: "negative ttl is the soa minimum", qname: "nope.portico.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			authority: []string{"portico.internal.\t60\tIN\tSOA\tns1.portico.example. hostmaster.portico.internal. 1 7200 900 1209600 60"}},
		{name: "apex ns", qname: "portico.internal.", qtype: dns.TypeNS, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"portico.internal.\t3600\tIN\tNS\tns1.portico.example."}},
		{name: "outside every zone", qname: "example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "parent of a zone", qname: "com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "wildcard", qname: "a.b.dev.yourcompany.com.", qtype: dns.TypeTXT, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"a.b.dev.yourcompany.com.\t60\tIN\tTXT\t\"wild\""}},
		{name: "wildcard nodata", qname: "a.dev.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			authority: []string{soa}},
		{name: "referral", qname: "x.sub.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: false,
			authority: []string{"sub.yourcompany.com.\t3600\tIN\tNS\tns.sub.yourcompany.com."},
			extra:     []string{"ns.sub.yourcompany.com.\t3600\tIN\tA\t192.0.2.53"}},
		{name: "cname loop ends", qname: "loop1.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"loop1.yourcompany.com.\t60\tIN\tCNAME\tloop2.yourcompany.com.", "loop2.yourcompany.com.\t60\tIN\tCNAME\tloop1.yourcompany.com."}},
		{name: "chain leaves portico", qname: "ext.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"ext.yourcompany.com.\t60\tIN\tCNAME\twww.example.net."}},
		{name: "chain to a missing name", qname: "dangling.yourcompany.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			answer:    []string{"dangling.yourcompany.com.\t60\tIN\tCNAME\tmissing.yourcompany.com."},
			authority: []string{soa}},
		{name: "any is minimal", qname: "host.yourcompany.com.", qtype: dns.TypeANY, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"host.yourcompany.com.\t60\tIN\tA\t192.0.2.1", "host.yourcompany.com.\t60\tIN\tA\t192.0.2.2"}},
		{name: "any at a cname", qname: "iot.yourcompany.com.", qtype: dns.TypeANY, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal."}},
		{name: "zone transfer refused", qname: "yourcompany.com.", qtype: dns.TypeAXFR, rcode: dns.RcodeRefused},
	}
	for _, tc := range tests {
		for _, network := range []string{"udp", "tcp"} {
			if tc.qtype == dns.TypeAXFR && network == "udp" {
				continue
			}
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				resp := ts.query(t, network, tc.qname, tc.qtype, 0)
				if resp.Rcode != tc.rcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
				}
				if resp.Authoritative != tc.aa {
					t.Errorf("AA = %v, want %v", resp.Authoritative, tc.aa)
				}
				if resp.RecursionAvailable || resp.Truncated {
					t.Errorf("RA = %v, TC = %v", resp.RecursionAvailable, resp.Truncated)
				}
				if resp.Question[0].Name != tc.qname {
					t.Errorf("question echoed as %q", resp.Question[0].Name)
				}
				check := func(section string, got []dns.RR, want []string) {
					if g := strings.Join(rrStrings(got), "\n"); g != strings.Join(want, "\n") {
						t.Errorf("%s:\n%s\nwant:\n%s", section, g, strings.Join(want, "\n"))
					}
				}
				check("answer", resp.Answer, tc.answer)
				check("authority", resp.Ns, tc.authority)
				check("additional", resp.Extra, tc.extra)
			})
		}
	}
}

func TestTruncationAndEDNS(t *testing.T) {
	src := &mutableSource{}
	src.set(testZones(t), 1)
	ts := startServer(t, src, 0)

	// Without EDNS a UDP answer is at most 512 octets.
	resp := ts.query(t, "udp", "medium.yourcompany.com.", dns.TypeTXT, 0)
	if !resp.Truncated || len(resp.Answer) != 0 {
		t.Errorf("600-octet answer without EDNS: TC=%v, %d answers; want truncated", resp.Truncated, len(resp.Answer))
	}
	if resp.IsEdns0() != nil {
		t.Error("OPT in the answer to a query without EDNS")
	}
	// EDNS0 with a 1232-octet buffer takes it whole.
	resp = ts.query(t, "udp", "medium.yourcompany.com.", dns.TypeTXT, 1232)
	if resp.Truncated || len(resp.Answer) != 1 {
		t.Errorf("600-octet answer with EDNS 1232: TC=%v, %d answers", resp.Truncated, len(resp.Answer))
	}
	opt := resp.IsEdns0()
	if opt == nil || opt.UDPSize() != 1232 || opt.Version() != 0 {
		t.Errorf("answer OPT = %v", opt)
	}
	// The client's 4096 is capped at the server's 1232.
	resp = ts.query(t, "udp", "big.yourcompany.com.", dns.TypeTXT, 4096)
	if !resp.Truncated {
		t.Error("2 KB answer over UDP not truncated")
	}
	if packed, _ := resp.Pack(); len(packed) > 1232 {
		t.Errorf("UDP answer of %d octets exceeds 1232", len(packed))
	}
	// TCP carries it.
	resp = ts.query(t, "tcp", "big.yourcompany.com.", dns.TypeTXT, 0)
	if resp.Truncated || len(resp.Answer) != 1 || len(resp.Answer[0].(*dns.TXT).Txt) != 20 {
		t.Errorf("TCP answer: TC=%v, %d answers", resp.Truncated, len(resp.Answer))
	}
	// An unknown EDNS version gets BADVERS.
	m := new(dns.Msg)
	m.SetQuestion("iot.yourcompany.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, ts.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 {
		t.Errorf("EDNS version 1: rcode %s", dns.RcodeToString[r.Rcode])
	}

	// A larger server limit lets the 2 KB answer through a 4096 buffer.
	big := startServer(t, src, 4096)
	resp = big.query(t, "udp", "big.yourcompany.com.", dns.TypeTXT, 4096)
	if resp.Truncated || len(resp.Answer) != 1 {
		t.Errorf("MaxUDPSize 4096: TC=%v, %d answers", resp.Truncated, len(resp.Answer))
	}
}

func TestMalformedQueries(t *testing.T) {
	src := &mutableSource{}
	src.set(testZones(t), 1)
	ts := startServer(t, src, 0)
	conn, err := net.Dial("udp", ts.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A header claiming one question followed by garbage: FORMERR.
	bad := []byte{0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff}
	if _, err := conn.Write(bad); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to a malformed query: %v", err)
	}
	var r dns.Msg
	if err := r.Unpack(buf[:n]); err != nil || r.Rcode != dns.RcodeFormatError || r.Id != 0x1234 {
		t.Errorf("malformed query answered %v (%v), want FORMERR", &r, err)
	}
	// Short junk gets no answer; the server keeps serving.
	conn.Write([]byte{1, 2, 3})
	resp := ts.query(t, "udp", "iot.yourcompany.com.", dns.TypeA, 0)
	if len(resp.Answer) != 2 {
		t.Errorf("server unwell after junk: %v", resp)
	}
	// Two questions: FORMERR.
	m := new(dns.Msg)
	m.SetQuestion("iot.yourcompany.com.", dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	r2, _, err := c.Exchange(m, ts.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s", dns.RcodeToString[r2.Rcode])
	}
	// Class CHAOS (version.bind) is refused.
	m = new(dns.Msg)
	m.SetQuestion("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	r3, _, err := c.Exchange(m, ts.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Rcode != dns.RcodeRefused {
		t.Errorf("CHAOS: %s", dns.RcodeToString[r3.Rcode])
	}
}

func TestReloadOnChange(t *testing.T) {
	src := &mutableSource{}
	src.set(testZones(t), 3)
	ts := startServer(t, src, 0)
	resp := ts.query(t, "udp", "new.yourcompany.com.", dns.TypeA, 0)
	if resp.Rcode != dns.RcodeNameError {
		t.Fatalf("before the change: %s", dns.RcodeToString[resp.Rcode])
	}
	zones := testZones(t)
	zones[0].Records = append(zones[0].Records, mustRR(t, "new.yourcompany.com. 60 IN A 192.0.2.77"))
	src.set(zones, 4)
	ts.changes <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for ts.Served() != 4 {
		if time.Now().After(deadline) {
			t.Fatal("the change was not served")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp = ts.query(t, "udp", "new.yourcompany.com.", dns.TypeA, 0)
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.77" {
		t.Errorf("after the change: %v", resp)
	}
	// A failing source keeps the old snapshot.
	src.mu.Lock()
	src.err = fmt.Errorf("database unavailable")
	src.mu.Unlock()
	if err := ts.Reload(context.Background()); err == nil {
		t.Error("Reload hid the source's error")
	}
	if ts.Served() != 4 {
		t.Errorf("Served() = %d after a failed reload", ts.Served())
	}
	// An older generation never replaces a newer one.
	src.set(testZones(t), 2)
	if err := ts.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ts.Served() != 4 {
		t.Errorf("Served() went back to %d", ts.Served())
	}
}

func TestBadZoneData(t *testing.T) {
	zones := []Zone{
		{Origin: "nosoa.example.", Records: []dns.RR{mustRR(t, "a.nosoa.example. 60 IN A 192.0.2.1")}},
		StaticZone("good.example", []string{"ns.good.example"}, 1,
			mustRR(t, "a.good.example. 60 IN A 192.0.2.1"),
			mustRR(t, "outside.example. 60 IN A 192.0.2.2"),
			&dns.A{Hdr: dns.RR_Header{Name: "notype.good.example.", Ttl: 60}, A: net.IPv4(192, 0, 2, 3)},
			&dns.A{Hdr: dns.RR_Header{Name: "wrongtype.good.example.", Rrtype: dns.TypeMX, Ttl: 60}, A: net.IPv4(192, 0, 2, 4)},
			mustRR(t, "a.good.example. 30 IN A 192.0.2.9"),
		),
		StaticZone("good.example", []string{"ns.other.example"}, 1, mustRR(t, "a.good.example. 60 IN A 198.51.100.1")),
	}
	snap := buildSnapshot(zones, 1, nil, nil, nil, New(Config{}).logger)
	if _, ok := snap.zones["nosoa.example."]; ok {
		t.Error("a zone without SOA is served")
	}
	good := snap.zones["good.example."]
	if good == nil {
		t.Fatal("good.example. not served")
	}
	for _, name := range []string{"outside.example.", "notype.good.example.", "wrongtype.good.example."} {
		if good.nodes[name] != nil {
			t.Errorf("bad record %s kept", name)
		}
	}
	set := good.nodes["a.good.example."].sets[dns.TypeA].static
	if len(set) != 2 || set[0].Header().Ttl != 30 || set[1].Header().Ttl != 30 {
		t.Errorf("a.good.example. = %v; want the first zone's two records with one TTL", set)
	}
}

// TestDig asks the real dig over UDP and TCP.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig is not installed (bind9-dnsutils) and CI=true")
		}
		t.Skip("dig is not installed")
	}
	src := &mutableSource{}
	src.set(testZones(t), 1)
	ts := startServer(t, src, 0)
	_, port, _ := net.SplitHostPort(ts.tcpAddr)
	_, udpPort, _ := net.SplitHostPort(ts.udpAddr)
	for _, args := range [][]string{
		{"-p", port, "+tcp"},
		{"-p", udpPort, "+notcp"},
	} {
		cmd := exec.Command(dig, append([]string{"@127.0.0.1", "+norecurse", "+time=5", "+tries=1"},
			append(args, "iot.yourcompany.com", "A")...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		text := string(out)
		for _, want := range []string{
			"status: NOERROR",
			" aa",
			"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.",
			"a1b2-ats.iot.us-east-1.portico.internal. 60 IN A 192.0.2.10",
		} {
			if !strings.Contains(strings.Join(strings.Fields(text), " "), strings.Join(strings.Fields(want), " ")) {
				t.Errorf("dig %v output lacks %q:\n%s", args, want, text)
			}
		}
	}
	// NXDOMAIN through dig too.
	out, err := exec.Command(dig, "@127.0.0.1", "-p", port, "+tcp", "+norecurse", "+time=5", "+tries=1", "nope.yourcompany.com", "A").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "status: NXDOMAIN") {
		t.Errorf("dig nope.yourcompany.com: %v\n%s", err, out)
	}
}

func TestListenAddrPortZero(t *testing.T) {
	src := &mutableSource{}
	src.set(testZones(t), 1)
	srv := New(Config{Addr: "127.0.0.1:0", Source: src})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	udp, tcp := srv.UDPAddr().(*net.UDPAddr), srv.TCPAddr().(*net.TCPAddr)
	if udp.Port != tcp.Port || !udp.IP.IsLoopback() {
		t.Errorf("udp %v, tcp %v: want one loopback port", udp, tcp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, nil) }()
	ts := &testServer{Server: srv, udpAddr: udp.String(), tcpAddr: tcp.String()}
	for srv.snap.Load() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if resp := ts.query(t, "udp", "iot.yourcompany.com.", dns.TypeA, 0); len(resp.Answer) != 2 {
		t.Errorf("answer %v", resp)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	// The sockets are released.
	pc, err := net.ListenPacket("udp", udp.String())
	if err != nil {
		t.Errorf("UDP port still held after Run returned: %v", err)
	} else {
		pc.Close()
	}
}
