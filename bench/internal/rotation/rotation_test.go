package rotation

import (
	"context"
	"testing"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
)

// TestMain lets this test binary serve as the fleet process.
func TestMain(m *testing.M) { child.TestMain(m) }

// TestSmoke runs the scenario tiny: every device must survive the
// rotations and every poller must see each new certificate. No timing is
// asserted beyond the scenario's own bound on the wait.
func TestSmoke(t *testing.T) {
	o := Options{Domains: 50, Devices: 5, Fleet: 20, Concurrency: 4, Rotations: 2, Pollers: 2,
		PollEvery: 10 * time.Millisecond, Gap: 50 * time.Millisecond, Wait: 10 * time.Second}
	res, err := Execute(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Connected != o.Fleet || res.Dropped() != 0 {
		t.Fatalf("%d of %d connected, %d dropped (%s)", res.Connected, o.Fleet, res.Dropped(), res.After.FirstErr)
	}
	if res.Missed != 0 || len(res.Samples()) != o.Rotations*o.Pollers {
		t.Fatalf("%d observations missed of %d", res.Missed, o.Rotations*o.Pollers)
	}
}
