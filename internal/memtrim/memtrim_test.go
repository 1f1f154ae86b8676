package memtrim

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	p := Policy{}
	const mib = 1 << 20
	lastTrim := Sample{Allocs: 900 * mib}
	quiet := Sample{Free: 64 * mib, Objects: 100 * mib, Live: 100 * mib, Allocs: 1000 * mib}
	for _, tc := range []struct {
		name                string
		trimmed, start, cur Sample
		want                bool
	}{
		{"quiet with much to give back", lastTrim, Sample{Allocs: 999 * mib}, quiet, true},
		{"busy", lastTrim, Sample{Allocs: 900 * mib}, quiet, false},
		{"no burst since the last trim", Sample{Allocs: 990 * mib}, Sample{Allocs: 999 * mib}, quiet, false},
		{"burst under half the live heap", lastTrim, Sample{Allocs: 999 * mib},
			Sample{Free: 64 * mib, Objects: 300 * mib, Live: 300 * mib, Allocs: 1000 * mib}, false},
		{"little to give back", lastTrim, Sample{Allocs: 999 * mib},
			Sample{Free: 2 * mib, Objects: 100 * mib, Live: 100 * mib, Allocs: 1000 * mib}, false},
		{"little next to the live heap", Sample{}, Sample{Allocs: 999 * mib},
			Sample{Free: 20 * mib, Objects: 400 * mib, Live: 400 * mib, Allocs: 1000 * mib}, false},
		{"garbage counts", lastTrim, Sample{Allocs: 999 * mib},
			Sample{Free: 1 * mib, Objects: 200 * mib, Live: 100 * mib, Allocs: 1000 * mib}, true},
		// A big idle fleet: mochi's client-table copies allocate more than
		// QuietRate, little next to what a storm left.
		{"a large fleet's background allocation", Sample{}, Sample{Allocs: 994 * mib},
			Sample{Free: 200 * mib, Objects: 400 * mib, Live: 400 * mib, Allocs: 1000 * mib}, true},
		{"counter reset", lastTrim, Sample{Allocs: 2000 * mib}, quiet, false},
	} {
		if got := p.Due(tc.trimmed, tc.start, tc.cur, time.Second); got != tc.want {
			t.Errorf("%s: Due = %v, want %v", tc.name, got, tc.want)
		}
	}
}

var sink [][]byte

// TestRunReturnsBurstMemory: after a burst of allocation the process goes
// quiet; Run hands what the burst left free back to the operating system
// (without it, the runtime keeps it: the test fails).
func TestRunReturnsBurstMemory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, Policy{Interval: 50 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	time.Sleep(100 * time.Millisecond)
	for i := range 256 {
		sink = append(sink, make([]byte, 256<<10)) // 64 MiB
		sink[i][0] = 1
	}
	sink = nil
	runtime.GC() // the burst's memory is now free, and still mapped
	deadline := time.Now().Add(5 * time.Second)
	for Read().Reclaimable() >= 16<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("reclaimable still %d MiB 5 s after the burst", Read().Reclaimable()>>20)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
