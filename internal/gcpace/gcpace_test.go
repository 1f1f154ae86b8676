package gcpace

import (
	"context"
	"io"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

func TestDefaultHeadroom(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct{ memory, want uint64 }{
		{0, 512 * mib},
		{24 << 30, 512 * mib},
		{1 << 30, 128 * mib},
	} {
		if got := DefaultHeadroom(tc.memory); got != tc.want {
			t.Errorf("DefaultHeadroom(%d MiB) = %d MiB, want %d MiB", tc.memory/mib, got/mib, tc.want/mib)
		}
	}
	if availableMemory() == 0 {
		t.Error("no memory size read from /proc/meminfo")
	}
}

func TestPercent(t *testing.T) {
	p := Policy{Headroom: 256 << 20}
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		busy bool
		live uint64
		want int
	}{
		{"quiet", false, 50 * mib, 100},
		{"busy, small heap", true, 64 * mib, 400},
		{"busy, heap past the headroom", true, 512 * mib, 100},
		{"busy, before the first cycle", true, 0, 6400},
	} {
		if got := p.Percent(tc.busy, tc.live); got != tc.want {
			t.Errorf("%s: Percent = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestBusy(t *testing.T) {
	p := Policy{BusyRate: 1000}
	for _, tc := range []struct {
		name     string
		wasBusy  bool
		messages uint64
		want     bool
	}{
		{"quiet stays quiet", false, 999, false},
		{"traffic makes it busy", false, 1000, true},
		{"busy through a dip", true, 500, true},
		{"busy until half the rate", true, 499, false},
	} {
		if got := p.Busy(tc.wasBusy, tc.messages, time.Second); got != tc.want {
			t.Errorf("%s: Busy = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := p.Busy(false, 2000, 2*time.Second); !got {
		t.Error("the rate is per second of the window")
	}
}

func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s (GOGC now %d)", what, gogc())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunFollowsTraffic: messages flowing raise the GC percent; when they
// stop, and when Run ends, the default comes back.
func TestRunFollowsTraffic(t *testing.T) {
	t.Setenv("GOGC", "") // Run steps aside only for a GOGC that says something
	defer debug.SetGCPercent(debug.SetGCPercent(DefaultPercent))
	var moved atomic.Uint64
	flowing := atomic.Bool{}
	flowing.Store(true)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				if flowing.Load() {
					moved.Add(100) // 100,000 a second
				}
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, Policy{Interval: 50 * time.Millisecond, BusyRate: 10000, Headroom: 1 << 30}, moved.Load, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	waitFor(t, "GOGC raised while messages flow", func() bool { return gogc() > DefaultPercent })
	flowing.Store(false)
	waitFor(t, "GOGC back to the default once they stop", func() bool { return gogc() == DefaultPercent })
	flowing.Store(true)
	waitFor(t, "GOGC raised again", func() bool { return gogc() > DefaultPercent })
	cancel()
	<-done
	if got := gogc(); got != DefaultPercent {
		t.Fatalf("GOGC %d after Run ended, want the default", got)
	}
}

// TestRunLeavesAnOperatorsGOGC: with GOGC set, Run changes nothing.
func TestRunLeavesAnOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "150")
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	var moved atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			moved.Add(1000)
			time.Sleep(time.Millisecond)
		}
	}()
	Run(ctx, Policy{Interval: 20 * time.Millisecond, BusyRate: 10}, moved.Load, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if got := gogc(); got != 150 {
		t.Fatalf("GOGC %d, want the operator's 150", got)
	}
}
