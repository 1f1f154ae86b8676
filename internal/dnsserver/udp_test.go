package dnsserver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestUDPAcceptRules sends over UDP what miekg's server rejects before a
// handler sees it: Portico's UDP loop answers the same way.
func TestUDPAcceptRules(t *testing.T) {
	src := &mutableSource{}
	src.set(testZones(t), 1)
	ts := startServer(t, src, 0)
	conn, err := net.Dial("udp", ts.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	exchange := func(m *dns.Msg) *dns.Msg {
		t.Helper()
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 65535)
		n, err := conn.Read(buf)
		if err != nil {
			return nil
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatalf("reply does not unpack: %v", err)
		}
		return r
	}
	update := new(dns.Msg)
	update.SetUpdate("yourcompany.com.")
	if r := exchange(update); r == nil || r.Rcode != dns.RcodeNotImplemented || r.Opcode != dns.OpcodeUpdate || r.Id != update.Id {
		t.Errorf("UPDATE answered %v, want NOTIMP", r)
	}
	two := new(dns.Msg)
	two.SetQuestion("iot.yourcompany.com.", dns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	if r := exchange(two); r == nil || r.Rcode != dns.RcodeFormatError || len(r.Question) != 0 {
		t.Errorf("two questions answered %v, want FORMERR", r)
	}
	resp := new(dns.Msg)
	resp.SetQuestion("iot.yourcompany.com.", dns.TypeA)
	resp.Response = true
	if r := exchange(resp); r != nil {
		t.Errorf("a response was answered: %v", r)
	}
	notify := new(dns.Msg)
	notify.SetNotify("yourcompany.com.")
	if r := exchange(notify); r == nil || r.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY answered %v, want NOTIMP (Portico is no secondary)", r)
	}
	// Still serving, many at once: every worker answers its own.
	for range 50 {
		q := new(dns.Msg)
		q.SetQuestion("host.yourcompany.com.", dns.TypeA)
		b, _ := q.Pack()
		conn.Write(b)
	}
	got := 0
	buf := make([]byte, 65535)
	for got < 50 {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Read(buf); err != nil {
			break
		}
		got++
	}
	if got != 50 {
		t.Errorf("%d of 50 queries answered", got)
	}
}

// FuzzUDPPacket feeds raw bytes to the UDP loop's handling: no panic, and a
// reply packs, matches the query's ID and fits the size limit.
func FuzzUDPPacket(f *testing.F) {
	srv := New(Config{TransferAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	srv.publish(buildSnapshot(transferZones(f), 1, nil, srv.cfg.Rand, nil, srv.logger))
	for _, m := range []*dns.Msg{
		new(dns.Msg).SetQuestion("iot.yourcompany.com.", dns.TypeA),
		new(dns.Msg).SetQuestion("big.yourcompany.com.", dns.TypeTXT),
		new(dns.Msg).SetAxfr("yourcompany.com."),
		new(dns.Msg).SetIxfr("yourcompany.com.", 0, "ns.", "mbox."),
		new(dns.Msg).SetNotify("yourcompany.com."),
		new(dns.Msg).SetUpdate("yourcompany.com."),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff})
	remote := netip.MustParseAddr("127.0.0.9")
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp := srv.answerPacket(raw, remote)
		if resp == nil {
			return
		}
		if len(raw) < 2 || resp.Id != uint16(raw[0])<<8|uint16(raw[1]) || !resp.Response {
			t.Fatalf("reply %v does not match the query", resp)
		}
		out, err := resp.Pack()
		if err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
		if len(out) > srv.maxUDP {
			t.Fatalf("UDP reply of %d octets", len(out))
		}
	})
}
