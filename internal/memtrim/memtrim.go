// Package memtrim gives the operating system back the memory a burst of
// work leaves free once the process has gone quiet.
//
// A fleet reconnecting at once (a failover, a restart, a network outage
// ending) makes the gateway do thousands of TLS handshakes in seconds, and
// each leaves tens of KiB of garbage. The Go runtime sizes its heap goal
// at twice the live heap and keeps free memory up to that goal mapped, for
// the next burst; with every device connected and idle nothing allocates,
// no GC runs again, and that memory stays resident for as long as the
// fleet stays quiet: a third or more of the gateway's RSS. Run watches the
// runtime's own metrics and, when allocation has all but stopped while a
// large amount of free heap is still mapped, returns it
// (debug.FreeOSMemory). A busy process is left alone: its heap is in use,
// and the runtime's scavenger manages it.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Policy says when to trim. Zero values pick the defaults.
type Policy struct {
	// Interval is how often the metrics are read, and the window over
	// which quiet is judged (default 1 s).
	Interval time.Duration
	// QuietRate is the allocation rate, in bytes per second, under which
	// the process counts as quiet (default 4 MiB/s), or more for a
	// process with much to give back (see Due).
	QuietRate uint64
	// MinFree is the memory worth returning (free heap, and the garbage a
	// GC would free): at least this many bytes (default 16 MiB) and at
	// least a tenth of the live heap.
	MinFree uint64
}

func (p *Policy) defaults() {
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
// start), and two samples a window (Interval) apart:
//
//   - something to give back: Reclaimable at least MinFree and a tenth of
//     the live heap;
//   - a burst since the last trim: at least MinFree and half the live heap
//     allocated (each trim costs a full GC);
//   - quiet: less allocated in the window than QuietRate allows, or than an
//     eighth of what is reclaimable. mochi copies its whole client table
//     every second (about 240 bytes per client), so the allowance grows
//     with the fleet.
func (p Policy) Due(trimmed, start, cur Sample, window time.Duration) bool {
	p.defaults()
	if window <= 0 || cur.Allocs < start.Allocs || start.Allocs < trimmed.Allocs {
		return false
	}
	r := cur.Reclaimable()
	if r < p.MinFree || r < cur.Live/10 {
		return false
	}
	if burst := cur.Allocs - trimmed.Allocs; burst < p.MinFree || burst < cur.Live/2 {
		return false
	}
	allowed := max(uint64(float64(p.QuietRate)*window.Seconds()), r/8)
	return cur.Allocs-start.Allocs < allowed
}

// Run trims as the policy says until ctx ends.
func Run(ctx context.Context, p Policy, logger *slog.Logger) {
	p.defaults()
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
		prev, prevAt = cur, now
	}
}
