package mqttbench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/mosquitto"
)

// TestMain lets this test binary serve as the load generator and as
// Portico's server process.
func TestMain(m *testing.M) { child.TestMain(m) }

// TestSmoke runs the scenarios tiny, so the harness keeps working; it
// asserts what happened, never how fast.
func TestSmoke(t *testing.T) {
	if !mosquitto.Available() {
		t.Skip("mosquitto not installed")
	}
	o := Defaults()
	o.Domains, o.Devices, o.Runs, o.Duration, o.Messages, o.Pairs, o.Fanout = 50, 5, 1, 300*time.Millisecond, 2000, 2, 3
	o.LatencyDuration, o.IdleSteps, o.IdleRuns, o.Profile, o.Log = 300*time.Millisecond, []int{10, 20}, 1, false, nil
	res, err := Execute(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * len(o.Cases()); len(res.Flows) != want {
		t.Fatalf("%d throughput runs, want %d", len(res.Flows), want)
	}
	for _, r := range res.Flows {
		if r.Result.Received == 0 || r.Result.Errors != 0 {
			t.Errorf("%s %s: %d delivered, %d errors (%s)", r.Case, r.Side, r.Result.Received, r.Result.Errors, r.Result.FirstErr)
		}
		// mosquitto is the reference: it must deliver everything, or the
		// harness miscounts. (Portico's QoS 1 stalls are what the
		// benchmark reports, not a harness failure.)
		if r.Side == SideMosquitto && r.Result.Lost() != 0 {
			t.Errorf("%s mosquitto: %d of %d lost", r.Case, r.Result.Lost(), r.Result.Expected)
		}
		if r.Side == SidePortico && r.Result.Lost() != 0 && r.Result.Stalls == 0 && strings.HasPrefix(r.Case, "qos0") {
			t.Errorf("%s portico: %d lost without a stall", r.Case, r.Result.Lost())
		}
	}
	if len(res.Latency) != 4 {
		t.Errorf("%d latency runs, want 4", len(res.Latency))
	}
	for _, r := range res.Idle {
		if r.Failed != 0 || len(r.Held) != 2 || r.Held[1] != 20 {
			t.Errorf("idle %s: held %v, %d failed (%s)", r.Side, r.Held, r.Failed, r.FirstErr)
		}
	}
	md := res.Markdown()
	for _, s := range []string{"Portico / mosquitto", "Latency at half the peak", "Idle MQTT-over-TLS connections"} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}
