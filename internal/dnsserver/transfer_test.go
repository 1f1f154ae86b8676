package dnsserver

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// transferZones is testZones plus a failover pair and a weighted pair.
func transferZones(t testing.TB) []Zone {
	zones := testZones(t)
	zones[0].Groups = []RecordGroup{
		{Name: "fo.yourcompany.com.", Type: dns.TypeA, Policy: PolicyFailover, Members: []Member{
			member(t, "east", "hc-east", 0, "fo.yourcompany.com. 60 IN A 192.0.2.21"),
			{ID: "west", HealthCheck: "hc-west", Secondary: true, Records: []dns.RR{mustRR(t, "fo.yourcompany.com. 60 IN A 192.0.2.22")}},
		}},
		{Name: "w.yourcompany.com.", Type: dns.TypeA, Policy: PolicyWeighted, Members: []Member{
			member(t, "a", "", 1, "w.yourcompany.com. 60 IN A 192.0.2.31"),
			member(t, "b", "", 3, "w.yourcompany.com. 60 IN A 192.0.2.32"),
			member(t, "z", "", 0, "w.yourcompany.com. 60 IN A 192.0.2.33"),
		}},
	}
	return zones
}

// clock is a settable clock for serials.
type clock struct{ unix atomic.Int64 }

func (c *clock) now() time.Time { return time.Unix(c.unix.Load(), 0) }

func allowLoopback(c *Config) { c.TransferAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

// axfr transfers zone over TCP with miekg's client and returns its records
// as strings, the SOA first and last.
func axfr(t *testing.T, addr, zone string, qtype uint16, serial uint32) ([]string, error) {
	t.Helper()
	m := new(dns.Msg)
	if qtype == dns.TypeIXFR {
		m.SetIxfr(zone, serial, "ns.example.", "hostmaster.example.")
	} else {
		m.SetAxfr(zone)
	}
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second}
	env, err := tr.In(m, addr)
	if err != nil {
		return nil, err
	}
	var out []string
	for e := range env {
		if e.Error != nil {
			return out, e.Error
		}
		out = append(out, rrStrings(e.RR)...)
	}
	return out, nil
}

func TestAXFR(t *testing.T) {
	src := &mutableSource{}
	src.set(transferZones(t), 1)
	health := &healthMap{m: map[string]bool{}}
	clk := &clock{}
	clk.unix.Store(1_800_000_000)
	ts := startServer(t, src, 0, allowLoopback, func(c *Config) { c.Health = health; c.Now = clk.now })

	got, err := axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeAXFR, 0)
	if err != nil {
		t.Fatal(err)
	}
	soa := "yourcompany.com.\t900\tIN\tSOA\tns1.portico.example. hostmaster.portico.example. 1800000000 7200 900 1209600 86400"
	if len(got) < 2 || got[0] != soa || got[len(got)-1] != soa {
		t.Fatalf("transfer does not start and end with the SOA %q:\n%s", soa, strings.Join(got, "\n"))
	}
	for _, want := range []string{
		"yourcompany.com.\t172800\tIN\tNS\tns1.portico.example.",
		"fo.yourcompany.com.\t60\tIN\tA\t192.0.2.21",
		"w.yourcompany.com.\t60\tIN\tA\t192.0.2.31",
		"w.yourcompany.com.\t60\tIN\tA\t192.0.2.32",
		"*.dev.yourcompany.com.\t60\tIN\tTXT\t\"wild\"",
		"sub.yourcompany.com.\t3600\tIN\tNS\tns.sub.yourcompany.com.",
		"ns.sub.yourcompany.com.\t3600\tIN\tA\t192.0.2.53",
		"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("transfer lacks %q", want)
		}
	}
	for _, unwanted := range []string{"192.0.2.22", "192.0.2.33", "portico.internal.\t"} {
		for _, rr := range got {
			if strings.Contains(rr, unwanted) {
				t.Errorf("transfer has %q", rr)
			}
		}
	}
	// 18 records between the two SOAs (the big TXT records span messages).
	if n := len(got); n != 20 {
		t.Errorf("transfer has %d records:\n%s", n, strings.Join(got, "\n"))
	}
	// The other zone transfers on its own.
	sys, err := axfr(t, ts.tcpAddr, "portico.internal.", dns.TypeAXFR, 0)
	if err != nil || len(sys) != 5 {
		t.Errorf("portico.internal transfer: %v\n%s", err, strings.Join(sys, "\n"))
	}

	// A health change alters the served content: a new serial, the
	// SECONDARY in the transfer, and queries agree.
	clk.unix.Store(1_800_000_000) // a clock that did not move: previous + 1
	health.set("hc-east", false)
	ts.HealthChanged()
	got, err = axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeAXFR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got[0], " 1800000001 ") {
		t.Errorf("serial after a health change: %s", got[0])
	}
	if !slices.Contains(got, "fo.yourcompany.com.\t60\tIN\tA\t192.0.2.22") || slices.Contains(got, "fo.yourcompany.com.\t60\tIN\tA\t192.0.2.21") {
		t.Errorf("failover pair after the PRIMARY failed:\n%s", strings.Join(got, "\n"))
	}
	resp := ts.query(t, "udp", "yourcompany.com.", dns.TypeSOA, 0)
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.SOA).Serial != 1800000001 {
		t.Errorf("SOA query: %v", resp.Answer)
	}
	neg := ts.query(t, "udp", "nope.yourcompany.com.", dns.TypeA, 0)
	if len(neg.Ns) != 1 || neg.Ns[0].(*dns.SOA).Serial != 1800000001 {
		t.Errorf("negative answer's SOA: %v", neg.Ns)
	}
	// The same health again: same content, same serial.
	ts.HealthChanged()
	if s := ts.query(t, "tcp", "yourcompany.com.", dns.TypeSOA, 0).Answer[0].(*dns.SOA).Serial; s != 1800000001 {
		t.Errorf("serial moved without a change: %d", s)
	}
	// A record change with the clock ahead: the Unix time.
	clk.unix.Store(1_800_000_100)
	zones := transferZones(t)
	zones[0].Records = append(zones[0].Records, mustRR(t, "new.yourcompany.com. 60 IN A 192.0.2.99"))
	src.set(zones, 2)
	if err := ts.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err = axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeAXFR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got[0], " 1800000100 ") || !slices.Contains(got, "new.yourcompany.com.\t60\tIN\tA\t192.0.2.99") {
		t.Errorf("after a change:\n%s", strings.Join(got, "\n"))
	}
	// The system zone did not change: its serial did not either.
	if s := ts.query(t, "udp", "portico.internal.", dns.TypeSOA, 0).Answer[0].(*dns.SOA).Serial; s != 1800000000 {
		t.Errorf("unchanged zone's serial moved to %d", s)
	}
}

func TestIXFR(t *testing.T) {
	src := &mutableSource{}
	src.set(transferZones(t), 1)
	ts := startServer(t, src, 0, allowLoopback)
	// The test clock is the epoch: the stored serial 1 is served.
	full, err := axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeIXFR, 0)
	if err != nil || len(full) != 20 {
		t.Errorf("IXFR from serial 0: %v, %d records", err, len(full))
	}
	// Up to date: the SOA alone.
	m := new(dns.Msg)
	m.SetIxfr("yourcompany.com.", 1, "ns.example.", "hostmaster.example.")
	for _, network := range []string{"tcp", "udp"} {
		addr := ts.tcpAddr
		if network == "udp" {
			addr = ts.udpAddr
		}
		resp, _, err := (&dns.Client{Net: network, Timeout: 5 * time.Second}).Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s IXFR up to date: %v", network, resp)
		}
	}
	// Over UDP when behind: the SOA alone too (the secondary retries over TCP).
	m.SetIxfr("yourcompany.com.", 0, "ns.example.", "hostmaster.example.")
	resp, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, ts.udpAddr)
	if err != nil || len(resp.Answer) != 1 || resp.Answer[0].(*dns.SOA).Serial != 1 {
		t.Errorf("UDP IXFR behind: %v %v", err, resp)
	}
}

func TestTransferRefused(t *testing.T) {
	src := &mutableSource{}
	src.set(transferZones(t), 1)
	elsewhere := func(c *Config) { c.TransferAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }
	for _, tc := range []struct {
		name    string
		options []func(*Config)
		network string
		qname   string
		qtype   uint16
		rcode   int
	}{
		{"no allow list", nil, "tcp", "yourcompany.com.", dns.TypeAXFR, dns.RcodeRefused},
		{"address not allowed", []func(*Config){elsewhere}, "tcp", "yourcompany.com.", dns.TypeAXFR, dns.RcodeRefused},
		{"address not allowed, IXFR", []func(*Config){elsewhere}, "tcp", "yourcompany.com.", dns.TypeIXFR, dns.RcodeRefused},
		{"AXFR over UDP", []func(*Config){allowLoopback}, "udp", "yourcompany.com.", dns.TypeAXFR, dns.RcodeRefused},
		{"not a zone apex", []func(*Config){allowLoopback}, "tcp", "iot.yourcompany.com.", dns.TypeAXFR, dns.RcodeNotAuth},
		{"not a zone", []func(*Config){allowLoopback}, "tcp", "example.org.", dns.TypeAXFR, dns.RcodeNotAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, src, 0, tc.options...)
			resp := ts.query(t, tc.network, tc.qname, tc.qtype, 0)
			if resp.Rcode != tc.rcode || len(resp.Answer) != 0 {
				t.Errorf("rcode %s, %d answers; want %s", dns.RcodeToString[resp.Rcode], len(resp.Answer), dns.RcodeToString[tc.rcode])
			}
		})
	}
}

// fakeSecondary records the NOTIFY messages it receives and acknowledges
// them from the ack-th on.
type fakeSecondary struct {
	conn net.PacketConn
	ack  int

	mu  sync.Mutex
	got []*dns.Msg
}

func startSecondary(t *testing.T, ack int) *fakeSecondary {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSecondary{conn: conn, ack: ack}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) != nil {
				continue
			}
			f.mu.Lock()
			f.got = append(f.got, m)
			count := len(f.got)
			f.mu.Unlock()
			if count >= f.ack {
				r := new(dns.Msg)
				r.SetReply(m)
				b, _ := r.Pack()
				conn.WriteTo(b, from)
			}
		}
	}()
	return f
}

func (f *fakeSecondary) messages() []*dns.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *fakeSecondary) addr() netip.AddrPort {
	return f.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNotify(t *testing.T) {
	src := &mutableSource{}
	src.set(transferZones(t)[:1], 1)
	patient := startSecondary(t, 3) // acknowledges the third message
	silent := startSecondary(t, 1000)
	clk := &clock{}
	clk.unix.Store(1_800_000_000)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{PacketConn: pc, Listener: ln, Source: src, Now: clk.now,
		Notify: []netip.AddrPort{patient.addr(), silent.addr()}})
	srv.notify.interval = 20 * time.Millisecond
	changes := make(chan struct{}, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- srv.Run(ctx, changes) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// Start-up announces every zone; retries stop at the acknowledgement.
	waitFor(t, "three NOTIFY messages", func() bool { return len(patient.messages()) >= 3 })
	waitFor(t, "the silent secondary's retries", func() bool { return len(silent.messages()) >= notifyAttempts })
	time.Sleep(400 * time.Millisecond) // longer than the remaining retry intervals
	if n := len(patient.messages()); n != 3 {
		t.Errorf("patient secondary got %d messages, want 3 (retries end at the acknowledgement)", n)
	}
	if n := len(silent.messages()); n != notifyAttempts {
		t.Errorf("silent secondary got %d messages, want %d (bounded retries)", n, notifyAttempts)
	}
	for _, m := range patient.messages() {
		if m.Opcode != dns.OpcodeNotify || !m.Authoritative || len(m.Question) != 1 ||
			m.Question[0].Name != "yourcompany.com." || m.Question[0].Qtype != dns.TypeSOA ||
			len(m.Answer) != 1 || m.Answer[0].(*dns.SOA).Serial != 1_800_000_000 {
			t.Errorf("NOTIFY message: %v", m)
		}
	}
	// The same content again: no NOTIFY.
	changes <- struct{}{}
	time.Sleep(100 * time.Millisecond)
	if n := len(patient.messages()); n != 3 {
		t.Errorf("a reload without a change sent NOTIFY (%d messages)", n)
	}
	// A change: a NOTIFY with the new serial, acknowledged at once now.
	zones := transferZones(t)[:1]
	zones[0].Records = append(zones[0].Records, mustRR(t, "new.yourcompany.com. 60 IN A 192.0.2.99"))
	src.set(zones, 2)
	changes <- struct{}{}
	waitFor(t, "the NOTIFY of the change", func() bool { return len(patient.messages()) >= 4 })
	time.Sleep(100 * time.Millisecond)
	msgs := patient.messages()
	if len(msgs) != 4 || msgs[3].Answer[0].(*dns.SOA).Serial != 1_800_000_001 {
		t.Errorf("after the change: %d messages, last %v", len(msgs), msgs[len(msgs)-1])
	}
}

func TestSerialLess(t *testing.T) {
	for _, tc := range []struct {
		a, b uint32
		less bool
	}{
		{1, 2, true}, {2, 1, false}, {1, 1, false},
		{0xffffffff, 0, true}, {0, 0xffffffff, false},
		{1, 1_800_000_000, true}, {2_026_112_801, 1_800_000_000, false},
	} {
		if got := serialLess(tc.a, tc.b); got != tc.less {
			t.Errorf("serialLess(%d, %d) = %v", tc.a, tc.b, got)
		}
	}
}

func TestAXFRLargeZone(t *testing.T) {
	z := StaticZone("big.example.", []string{"ns1.big.example."}, 7)
	for i := range 3000 {
		z.Records = append(z.Records, mustRR(t, "h"+strconv.Itoa(i)+".big.example. 60 IN A 192.0.2.1"))
	}
	src := &mutableSource{}
	src.set([]Zone{z}, 1)
	ts := startServer(t, src, 0, allowLoopback)
	m := new(dns.Msg)
	m.SetAxfr("big.example.")
	env, err := (&dns.Transfer{ReadTimeout: 5 * time.Second}).In(m, ts.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	messages, records := 0, 0
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		messages++
		records += len(e.RR)
	}
	if records != 3000+1+2 || messages < 2 {
		t.Errorf("%d records in %d messages; want 3003 in several", records, messages)
	}
}

func TestIXFRIncremental(t *testing.T) {
	src := &mutableSource{}
	src.set(transferZones(t), 1)
	health := &healthMap{m: map[string]bool{}}
	clk := &clock{}
	clk.unix.Store(1_800_000_000)
	ts := startServer(t, src, 0, allowLoopback, func(c *Config) { c.Health = health; c.Now = clk.now })

	// Version 2: a record added, one deleted. Version 3: the PRIMARY fails.
	zones := transferZones(t)
	zones[0].Records = slices.DeleteFunc(zones[0].Records, func(rr dns.RR) bool { return rr.Header().Name == "www.yourcompany.com." })
	zones[0].Records = append(zones[0].Records, mustRR(t, "new.yourcompany.com. 60 IN A 192.0.2.99"))
	src.set(zones, 2)
	if err := ts.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	health.set("hc-east", false)
	ts.HealthChanged()

	soa := func(serial int) string {
		return "yourcompany.com.\t900\tIN\tSOA\tns1.portico.example. hostmaster.portico.example. " + strconv.Itoa(serial) + " 7200 900 1209600 86400"
	}
	for _, tc := range []struct {
		from uint32
		want []string
	}{
		{1_800_000_000, []string{soa(1_800_000_002), soa(1_800_000_000),
			"fo.yourcompany.com.\t60\tIN\tA\t192.0.2.21",
			"www.yourcompany.com.\t300\tIN\tCNAME\tiot.yourcompany.com.",
			soa(1_800_000_002),
			"fo.yourcompany.com.\t60\tIN\tA\t192.0.2.22",
			"new.yourcompany.com.\t60\tIN\tA\t192.0.2.99",
			soa(1_800_000_002)}},
		{1_800_000_001, []string{soa(1_800_000_002), soa(1_800_000_001),
			"fo.yourcompany.com.\t60\tIN\tA\t192.0.2.21",
			soa(1_800_000_002),
			"fo.yourcompany.com.\t60\tIN\tA\t192.0.2.22",
			soa(1_800_000_002)}},
	} {
		got, err := axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeIXFR, tc.from)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("IXFR from %d:\n%s\nwant:\n%s", tc.from, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
	// A serial never served: the whole zone.
	got, err := axfr(t, ts.tcpAddr, "yourcompany.com.", dns.TypeIXFR, 1_799_999_999)
	if err != nil || len(got) != 20 || got[0] != soa(1_800_000_002) {
		t.Errorf("IXFR from an unknown serial: %v, %d records", err, len(got))
	}
}

func TestVersionsBounded(t *testing.T) {
	src := &mutableSource{}
	src.set(transferZones(t), 1)
	ts := startServer(t, src, 0, allowLoopback)
	for i := range 2 * maxVersions {
		zones := transferZones(t)
		zones[0].Records = append(zones[0].Records, mustRR(t, "v.yourcompany.com. 60 IN TXT \""+strconv.Itoa(i)+"\""))
		src.set(zones, uint64(i+2))
		if err := ts.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	zi := ts.snap.Load().zones["yourcompany.com."]
	if len(zi.versions) != maxVersions {
		t.Errorf("%d versions kept, want %d", len(zi.versions), maxVersions)
	}
	for i := 1; i < len(zi.versions); i++ {
		if !serialLess(zi.versions[i].soa.Serial, zi.versions[i-1].soa.Serial) {
			t.Errorf("versions out of order: %d then %d", zi.versions[i-1].soa.Serial, zi.versions[i].soa.Serial)
		}
	}
}
