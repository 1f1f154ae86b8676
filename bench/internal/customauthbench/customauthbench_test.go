package customauthbench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
)

// TestMain lets this test binary serve as the load generator and the
// function server.
func TestMain(m *testing.M) { child.TestMain(m) }

// TestSmoke runs the scenario tiny, so the harness keeps working; it
// asserts what happened, never how fast.
func TestSmoke(t *testing.T) {
	o := Options{Domains: 2, Devices: 1, Conns: 2, Duration: 300 * time.Millisecond, Runs: 1, Max: 200, Sides: []string{SideMTLS, SideCustom, SideCustomSigned},
		StormDevices: 20, StormConns: []int{4}, StormDelay: 5 * time.Millisecond, StormRuns: 1, StormTimeout: 30 * time.Second}
	res, err := Execute(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 3 {
		t.Fatalf("%d runs, want 3", len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Completed == 0 || r.Errors != 0 {
			t.Errorf("%s: %d connects, %d errors (%s)", r.Side, r.Completed, r.Errors, r.FirstErr)
		}
	}
	if len(res.Storms) != 2 {
		t.Fatalf("%d storms, want 2 (slow and instant function)", len(res.Storms))
	}
	for _, s := range res.Storms {
		// Every device presents its own token: one function call each.
		if s.Completed != 20 || s.Errors != 0 || s.Function.Calls != 20 {
			t.Errorf("storm (function %v): %d connected, %d errors (%s), %d function calls", s.Delay, s.Completed, s.Errors, s.FirstErr, s.Function.Calls)
		}
	}
	md := res.Markdown()
	for _, want := range []string{"Cached custom authorizer / mTLS", "With token signing", "devices at once", "What bounds the numbers"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
