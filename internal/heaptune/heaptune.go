// Package heaptune sizes the Go heap for a gateway: room to grow while it
// is busy, memory back to the operating system once it is quiet.
//
// Busy: the Go runtime collects when the heap has grown by GOGC percent
// (100) of what was live after the last collection. A gateway's live heap
// is mostly its connections and registry, and its garbage is per message:
// with a small live heap, GC runs every few milliseconds under load, and
// each cycle's mark work takes a core away from delivering (it shows in
// the delivery latency's tail). Run lets the heap grow by at least
// Headroom (256 MiB) between collections, and by GOGC=100's own amount
// once the live heap is larger than that.
//
// Quiet: a fleet reconnecting at once (a failover, a restart, a network
// outage ending) makes the gateway do thousands of TLS handshakes in
// seconds, and each leaves tens of KiB of garbage. The runtime keeps free
// memory up to its heap goal mapped, for the next burst; with every device
// connected and idle nothing allocates, no GC runs again, and that memory
// stays resident for as long as the fleet stays quiet. When allocation has
// all but stopped while a large amount of memory could be freed, Run
// returns it (debug.FreeOSMemory).
//
// An operator who sets GOGC keeps it: Run then only trims.
package heaptune

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Policy says how much room to give and when to trim. Zero values pick
// the defaults.
type Policy struct {
	// Headroom is the least the heap may grow by between collections
	// (default 256 MiB), unless GOGC is set.
	Headroom uint64
	// Interval is how often the metrics are read (default 1 s).
	Interval time.Duration
	// QuietRate is the allocation rate, in bytes per second, under which
	// the process counts as quiet (default 4 MiB/s: an idle gateway's
	// health checks, sweeps and keep-alives allocate far less).
	QuietRate uint64
	// MinFree is the memory worth returning (free heap, and the garbage a
	// GC would free): at least this many bytes (default 16 MiB) and at
	// least a tenth of the live heap.
	MinFree uint64
}

func (p *Policy) defaults() {
	if p.Headroom == 0 {
		p.Headroom = 256 << 20
	}
	if p.Interval == 0 {
		p.Interval = time.Second
	}
	if p.QuietRate == 0 {
		p.QuietRate = 4 << 20
	}
	if p.MinFree == 0 {
		p.MinFree = 16 << 20
	}
}

// Sample is one reading of the runtime's heap.
type Sample struct {
	Free    uint64 // free heap still backed by memory
	Objects uint64 // heap objects, live or garbage not yet freed
	Live    uint64 // live heap at the last GC
	Allocs  uint64 // allocated since the process started
}

var names = []string{
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/allocs:bytes",
}

// Read reads the runtime's heap metrics.
func Read() Sample {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	get := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return Sample{Free: get(0), Objects: get(1), Live: get(2), Allocs: get(3)}
}

// Reclaimable is what a GC and a scavenge would give back: the free heap
// and the garbage among the objects.
func (s Sample) Reclaimable() uint64 {
	garbage := uint64(0)
	if s.Objects > s.Live {
		garbage = s.Objects - s.Live
	}
	return s.Free + garbage
}

// Due says whether to trim, given the sample at the last trim (or at the
// start), the previous sample, and the one taken interval later. Each trim
// costs a full GC, so another one waits for a burst: at least MinFree and
// a quarter of the live heap allocated since the last.
func (p Policy) Due(trimmed, prev, cur Sample, interval time.Duration) bool {
	p.defaults()
	if interval <= 0 || cur.Allocs < prev.Allocs || prev.Allocs < trimmed.Allocs {
		return false
	}
	if burst := cur.Allocs - trimmed.Allocs; burst < p.MinFree || burst < cur.Live/4 {
		return false
	}
	rate := float64(cur.Allocs-prev.Allocs) / interval.Seconds()
	r := cur.Reclaimable()
	return rate < float64(p.QuietRate) && r >= p.MinFree && r >= cur.Live/10
}

// GCPercent is the GOGC that lets a heap of live bytes grow by at least
// the headroom: between 100 (Go's default) and 1000.
func (p Policy) GCPercent(live uint64) int {
	p.defaults()
	if live == 0 {
		return maxPercent
	}
	pct := p.Headroom * 100 / live
	return int(min(max(pct, 100), maxPercent))
}

const maxPercent = 1000

// Run tunes and trims as the policy says until ctx ends.
func Run(ctx context.Context, p Policy, logger *slog.Logger) {
	p.defaults()
	_, fixed := os.LookupEnv("GOGC")
	percent := 100
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	prev, prevAt := Read(), time.Now()
	trimmed := prev
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, now := Read(), time.Now()
		if p.Due(trimmed, prev, cur, now.Sub(prevAt)) {
			debug.FreeOSMemory()
			after := Read()
			trimmed = after
			logger.Debug("returned free heap memory to the operating system",
				"reclaimable_before_bytes", cur.Reclaimable(), "free_after_bytes", after.Free, "live_bytes", after.Live)
			cur = after
		}
		if !fixed {
			// Only a change worth the pacer's recomputation.
			if want := p.GCPercent(cur.Live); want > percent*11/10 || want < percent*9/10 {
				debug.SetGCPercent(want)
				percent = want
			}
		}
		prev, prevAt = cur, now
	}
}
