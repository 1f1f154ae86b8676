package handshake

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
)

// TestMain lets this test binary serve as the load generator process.
func TestMain(m *testing.M) { child.TestMain(m) }

// TestSmoke runs the scenario tiny, so the harness keeps working; it
// asserts what happened, never how fast.
func TestSmoke(t *testing.T) {
	o := Options{Domains: 50, Devices: 5, Conns: 2, Duration: 300 * time.Millisecond, Runs: 1, Max: 200, Curve: "x25519",
		Sides: []string{SidePortico, SideBare, SideBareSNI}}
	res, err := Execute(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 3 {
		t.Fatalf("%d runs, want 3", len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Completed == 0 || r.Errors != 0 {
			t.Errorf("%s: %d handshakes completed, %d errors (%s)", r.Side, r.Completed, r.Errors, r.FirstErr)
		}
	}
	if md := res.Markdown(); !strings.Contains(md, "Portico / bare") {
		t.Errorf("report lacks the ratio:\n%s", md)
	}
}
