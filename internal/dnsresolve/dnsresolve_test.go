package dnsresolve

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeResolver is a tiny recursive resolver on loopback: it answers CNAME
// questions from a map, refuses queries without RD, and can truncate every
// UDP answer or answer SERVFAIL.
type fakeResolver struct {
	cnames   map[string]string
	truncate bool
	servfail bool
	udp, tcp atomic.Int32 // queries seen per transport
	addr     string
}

func startResolver(t *testing.T, f *fakeResolver) *fakeResolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	f.addr = pc.LocalAddr().String()
	handler := func(proto string, counter *atomic.Int32) dns.HandlerFunc {
		return func(w dns.ResponseWriter, req *dns.Msg) {
			counter.Add(1)
			m := new(dns.Msg)
			m.SetReply(req)
			m.RecursionAvailable = true
			q := req.Question[0]
			switch {
			case !req.RecursionDesired:
				m.Rcode = dns.RcodeRefused
			case f.servfail:
				m.Rcode = dns.RcodeServerFailure
			case f.truncate && proto == "udp":
				m.Truncated = true
			default:
				target, ok := f.cnames[strings.ToLower(q.Name)]
				if !ok {
					m.Rcode = dns.RcodeNameError
					break
				}
				m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target})
			}
			w.WriteMsg(m)
		}
	}
	us := &dns.Server{PacketConn: pc, Handler: handler("udp", &f.udp)}
	ts := &dns.Server{Listener: ln, Handler: handler("tcp", &f.tcp)}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return f
}

func TestLookupCNAME(t *testing.T) {
	f := startResolver(t, &fakeResolver{cnames: map[string]string{
		"_acme-challenge.iot.example.com.": "_abc.acm-validations.portico.internal.",
	}})
	r := &Resolver{Servers: []string{f.addr}, Timeout: time.Second}
	target, found, err := r.LookupCNAME(t.Context(), "_ACME-challenge.iot.example.com")
	if err != nil || !found || target != "_abc.acm-validations.portico.internal." {
		t.Fatalf("LookupCNAME = %q, %v, %v", target, found, err)
	}
	_, found, err = r.LookupCNAME(t.Context(), "_acme-challenge.other.example.com.")
	if err != nil || found {
		t.Fatalf("NXDOMAIN: found %v, err %v", found, err)
	}
	if f.tcp.Load() != 0 {
		t.Errorf("%d TCP queries without truncation", f.tcp.Load())
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	f := startResolver(t, &fakeResolver{truncate: true, cnames: map[string]string{"a.example.": "b.example."}})
	r := &Resolver{Servers: []string{f.addr}, Timeout: time.Second}
	target, found, err := r.LookupCNAME(t.Context(), "a.example.")
	if err != nil || !found || target != "b.example." {
		t.Fatalf("LookupCNAME = %q, %v, %v", target, found, err)
	}
	if f.udp.Load() != 1 || f.tcp.Load() != 1 {
		t.Errorf("queries: %d UDP, %d TCP; want 1 and 1", f.udp.Load(), f.tcp.Load())
	}
}

func TestFailingResolverSkipped(t *testing.T) {
	bad := startResolver(t, &fakeResolver{servfail: true})
	good := startResolver(t, &fakeResolver{cnames: map[string]string{"a.example.": "b.example."}})
	r := &Resolver{Servers: []string{bad.addr, good.addr}, Timeout: time.Second}
	if target, found, err := r.LookupCNAME(t.Context(), "a.example."); err != nil || !found || target != "b.example." {
		t.Fatalf("LookupCNAME = %q, %v, %v", target, found, err)
	}
	r.Servers = []string{bad.addr}
	_, _, err := r.LookupCNAME(t.Context(), "a.example.")
	if err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("only a failing resolver: err = %v", err)
	}
}

func TestSilentResolverTimesOut(t *testing.T) {
	// A socket that reads and never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r := &Resolver{Servers: []string{pc.LocalAddr().String()}, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, _, err = r.LookupCNAME(t.Context(), "a.example.")
	if err == nil {
		t.Fatal("no error from a silent resolver")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a 200ms timeout", d)
	}
	if _, _, err := (&Resolver{}).LookupCNAME(context.Background(), "a.example."); err != ErrNoServers {
		t.Errorf("no servers: %v", err)
	}
}

func TestLookupCNAMEChain(t *testing.T) {
	f := startResolver(t, &fakeResolver{cnames: map[string]string{
		"a.example.":  "b.example.",
		"b.example.":  "c.example.",
		"l1.example.": "l2.example.",
		"l2.example.": "l1.example.",
	}})
	for i := range 20 {
		f.cnames["long"+string(rune('a'+i))+".example."] = "long" + string(rune('a'+i+1)) + ".example."
	}
	r := &Resolver{Servers: []string{f.addr}, Timeout: time.Second, MaxChain: 5}
	for _, c := range []struct {
		name string
		want []string
	}{
		{"a.example.", []string{"b.example.", "c.example."}},
		{"c.example.", nil},
		{"l1.example.", []string{"l2.example."}},
		{"longa.example.", []string{"longb.example.", "longc.example.", "longd.example.", "longe.example.", "longf.example."}},
	} {
		got, err := r.LookupCNAMEChain(t.Context(), c.name)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("chain of %s = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

func TestFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("search example.com\nnameserver 127.0.0.53\nnameserver ::1\noptions edns0\n"), 0o644)
	got, err := FromResolvConf(path)
	if err != nil || !slices.Equal(got, []string{"127.0.0.53:53", "[::1]:53"}) {
		t.Fatalf("FromResolvConf = %v, %v", got, err)
	}
	os.WriteFile(path, []byte("search example.com\n"), 0o644)
	if _, err := FromResolvConf(path); err == nil {
		t.Error("a resolv.conf without nameservers accepted")
	}
}
