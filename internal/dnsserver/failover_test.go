package dnsserver

import (
	"context"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// healthMap is a Health a test flips.
type healthMap struct {
	mu sync.Mutex
	m  map[string]bool
}

func (h *healthMap) Healthy(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[id]
	return !ok || v
}

func (h *healthMap) set(id string, v bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[id] = v
}

func TestFailoverChoice(t *testing.T) {
	p := []dns.RR{mustRR(t, "iot.yourcompany.com. 60 IN A 192.0.2.1")}
	s := []dns.RR{mustRR(t, "iot.yourcompany.com. 60 IN A 192.0.2.2")}
	h := &healthMap{m: map[string]bool{}}
	cases := []struct {
		name          string
		g             FailoverGroup
		pOK, sOK      bool
		wantSecondary bool
	}{
		{"primary healthy", FailoverGroup{FailoverMember{p, "P"}, FailoverMember{s, "S"}}, true, true, false},
		{"primary unhealthy", FailoverGroup{FailoverMember{p, "P"}, FailoverMember{s, "S"}}, false, true, true},
		{"both unhealthy: primary", FailoverGroup{FailoverMember{p, "P"}, FailoverMember{s, "S"}}, false, false, false},
		{"secondary without check", FailoverGroup{FailoverMember{p, "P"}, FailoverMember{s, ""}}, false, false, true},
		{"primary without check never fails over", FailoverGroup{FailoverMember{p, ""}, FailoverMember{s, "S"}}, false, true, false},
		{"secondary alone, unhealthy", FailoverGroup{Secondary: FailoverMember{s, "S"}}, false, false, true},
		{"primary alone, unhealthy", FailoverGroup{Primary: FailoverMember{p, "P"}}, false, false, false},
	}
	for _, tc := range cases {
		h.set("P", tc.pOK)
		h.set("S", tc.sOK)
		got := tc.g.choose(h)
		want := p
		if tc.wantSecondary {
			want = s
		}
		if len(got) != 1 || got[0] != want[0] {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}

func TestFailoverAnswersFollowHealth(t *testing.T) {
	zones := testZones(t)
	zones[0].Failover = []FailoverGroup{{
		Primary:   FailoverMember{Records: []dns.RR{mustRR(t, "fo.yourcompany.com. 60 IN A 192.0.2.1")}, HealthCheck: "hc-p"},
		Secondary: FailoverMember{Records: []dns.RR{mustRR(t, "fo.yourcompany.com. 60 IN A 192.0.2.2")}},
	}}
	src := &mutableSource{}
	src.set(zones, 1)
	h := &healthMap{m: map[string]bool{}}
	ts := startServer(t, src, 0, func(c *Config) { c.Health = h })
	answer := func() string {
		resp := ts.query(t, "udp", "fo.yourcompany.com.", dns.TypeA, 0)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("answer %v", resp)
		}
		return resp.Answer[0].(*dns.A).A.String()
	}
	if got := answer(); got != "192.0.2.1" {
		t.Fatalf("healthy primary: %s", got)
	}
	h.set("hc-p", false)
	ts.HealthChanged()
	if got := answer(); got != "192.0.2.2" {
		t.Fatalf("unhealthy primary: %s", got)
	}
	h.set("hc-p", true)
	ts.HealthChanged()
	if got := answer(); got != "192.0.2.1" {
		t.Fatalf("primary back: %s", got)
	}
	// The source is not consulted on a health change.
	src.mu.Lock()
	src.err = context.Canceled
	src.mu.Unlock()
	h.set("hc-p", false)
	ts.HealthChanged()
	if got := answer(); got != "192.0.2.2" {
		t.Fatalf("after source failure: %s", got)
	}
}
