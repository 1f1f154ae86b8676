package heaptune

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestDue(t *testing.T) {
	p := Policy{}
	const mib = 1 << 20
	quiet := Sample{Free: 64 * mib, Objects: 100 * mib, Live: 100 * mib, Allocs: 1000 * mib}
	for _, tc := range []struct {
		name      string
		prev, cur Sample
		want      bool
	}{
		{"no burst since the last trim", Sample{Allocs: 999 * mib}, Sample{Free: 64 * mib, Objects: 100 * mib, Live: 100 * mib, Allocs: 999*mib + 1}, false},
		{"quiet with much free", Sample{Allocs: 999 * mib}, quiet, true},
		{"busy", Sample{Allocs: 900 * mib}, quiet, false},
		{"little free", Sample{Allocs: 999 * mib}, Sample{Free: 2 * mib, Objects: 100 * mib, Live: 100 * mib, Allocs: 1000 * mib}, false},
		{"free small next to the live heap", Sample{Allocs: 999 * mib}, Sample{Free: 20 * mib, Objects: 400 * mib, Live: 400 * mib, Allocs: 1000 * mib}, false},
		{"garbage counts", Sample{Allocs: 999 * mib}, Sample{Free: 1 * mib, Objects: 200 * mib, Live: 100 * mib, Allocs: 1000 * mib}, true},
		{"counter reset", Sample{Allocs: 2000 * mib}, quiet, false},
	} {
		trimmed := Sample{Allocs: 900 * mib}
		if tc.name == "no burst since the last trim" {
			trimmed = Sample{Allocs: 990 * mib}
		}
		if got := p.Due(trimmed, tc.prev, tc.cur, time.Second); got != tc.want {
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

func TestGCPercent(t *testing.T) {
	p := Policy{}
	const mib = 1 << 20
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 1000},
		{16 * mib, 1000},
		{64 * mib, 400},
		{128 * mib, 200},
		{256 * mib, 100},
		{4096 * mib, 100},
	} {
		if got := p.GCPercent(tc.live); got != tc.want {
			t.Errorf("GCPercent(%d MiB) = %d, want %d", tc.live/mib, got, tc.want)
		}
	}
}

// TestRunSetsGCPercent: with GOGC unset, Run gives a small heap room to
// grow by the headroom.
func TestRunSetsGCPercent(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: Run leaves it")
	}
	defer debug.SetGCPercent(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, Policy{Interval: 20 * time.Millisecond, Headroom: 1 << 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		// SetGCPercent returns the setting it replaces.
		pct := debug.SetGCPercent(-1)
		debug.SetGCPercent(pct)
		if pct == maxPercent {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d, want %d for this test's small heap and 1 GiB of headroom", pct, maxPercent)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
