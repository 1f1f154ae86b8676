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
	p := &rrset{static: []dns.RR{mustRR(t, "iot.yourcompany.com. 60 IN A 192.0.2.1")}}
	s := &rrset{static: []dns.RR{mustRR(t, "iot.yourcompany.com. 60 IN A 192.0.2.2")}}
	primary := func(ok bool) candidate { return candidate{set: p, healthy: ok} }
	secondary := func(ok bool) candidate { return candidate{set: s, healthy: ok, secondary: true} }
	cases := []struct {
		name          string
		members       []candidate
		wantSecondary bool
		wantHealthy   bool
	}{
		{"primary healthy", []candidate{primary(true), secondary(true)}, false, true},
		{"primary unhealthy", []candidate{primary(false), secondary(true)}, true, true},
		{"both unhealthy: primary", []candidate{primary(false), secondary(false)}, false, false},
		{"secondary alone, unhealthy", []candidate{secondary(false)}, true, false},
		{"primary alone, unhealthy", []candidate{primary(false)}, false, false},
		{"primary is a dangling alias", []candidate{{healthy: true}, secondary(false)}, true, false},
	}
	for _, tc := range cases {
		got := choose(PolicyFailover, tc.members, nil)
		want := p
		if tc.wantSecondary {
			want = s
		}
		if got.set != want || got.healthy != tc.wantHealthy {
			t.Errorf("%s: got %v healthy=%v", tc.name, got.set, got.healthy)
		}
	}
}

// failoverGroup is the zone data of a PRIMARY/SECONDARY pair.
func failoverGroup(name string, primary, secondary Member) RecordGroup {
	secondary.Secondary = true
	return RecordGroup{Name: name, Type: dns.TypeA, Policy: PolicyFailover, Members: []Member{primary, secondary}}
}

func TestFailoverAnswersFollowHealth(t *testing.T) {
	zones := testZones(t)
	zones[0].Groups = []RecordGroup{failoverGroup("fo.yourcompany.com.",
		Member{ID: "p", Records: []dns.RR{mustRR(t, "fo.yourcompany.com. 60 IN A 192.0.2.1")}, HealthCheck: "hc-p"},
		Member{ID: "s", Records: []dns.RR{mustRR(t, "fo.yourcompany.com. 60 IN A 192.0.2.2")}},
	)}
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
