// Package gcpace gives the garbage collector room while the broker is moving
// many messages, so that a cycle comes every few seconds instead of several
// times a second.
//
// Each message costs the broker a few KiB of short-lived garbage. With the
// runtime's default (GOGC=100: the heap may grow by the live heap before the
// next cycle) a busy broker collects several times a second, and on a
// machine with few cores every cycle takes a quarter of the CPU for tens of
// milliseconds: messages queue behind it, and delivery latency's 99th
// percentile is the length of a cycle (measured in docs/tuning.md). While
// messages flow faster than Policy.BusyRate, Run lets the heap grow by
// Policy.Headroom between cycles; when they slow down it gives the runtime
// its default back.
//
// Only message traffic opens the headroom. A fleet reconnecting at once also
// allocates fast, but what it allocates lives on (each connection's state):
// with more garbage between cycles, those objects end up scattered over
// partly-used pages, and an idle fleet's memory grows by half
// (docs/tuning.md). A process started with GOGC set is left alone.
package gcpace

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/memtrim"
)

// DefaultPercent is the runtime's own GOGC default, restored when traffic
// slows down.
const DefaultPercent = 100

// Policy says when and how far to let the heap grow. Zero values pick the
// defaults.
type Policy struct {
	// Interval is how often the message counter and the live heap are read
	// (default 250 ms: traffic gets its headroom within a quarter second).
	Interval time.Duration
	// BusyRate is the message rate (published and delivered, per second)
	// from which the broker counts as busy (default 5,000). Headroom is
	// kept until the rate falls under half of it.
	BusyRate float64
	// Headroom is how much the heap may grow between cycles while busy, or
	// the live heap if that is more (GOGC=100). The default is an eighth of
	// the memory the process may use (the machine's, or its cgroup's limit
	// when lower), at most 512 MiB: at 50,000 messages a second a cycle
	// every few seconds.
	Headroom uint64
}

func (p *Policy) defaults() {
	if p.Interval == 0 {
		p.Interval = 250 * time.Millisecond
	}
	if p.BusyRate == 0 {
		p.BusyRate = 5000
	}
	if p.Headroom == 0 {
		p.Headroom = DefaultHeadroom(availableMemory())
	}
}

// minHeap is the smallest live heap the runtime paces for (4 MiB at
// GOGC=100); before the first cycle the live heap reads 0.
const minHeap = 4 << 20

// maxHeadroom bounds the default headroom.
const maxHeadroom = 512 << 20

// DefaultHeadroom is the headroom for a process that may use memory bytes
// (0: unknown).
func DefaultHeadroom(memory uint64) uint64 {
	if memory == 0 {
		return maxHeadroom
	}
	return min(maxHeadroom, memory/8)
}

// availableMemory is the machine's memory, or the cgroup's limit when it is
// lower; 0 when neither can be read.
func availableMemory() uint64 {
	var total uint64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					total = kib << 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && (total == 0 || limit < total) {
			total = limit // "max" (no limit) does not parse
		}
	}
	return total
}

// Percent is the GOGC value for a live heap of live bytes, busy or not.
func (p Policy) Percent(busy bool, live uint64) int {
	p.defaults()
	live = max(live, minHeap)
	if !busy || p.Headroom <= live {
		return DefaultPercent
	}
	return int(p.Headroom * 100 / live)
}

// Busy says whether the broker counts as busy after moving messages in
// window, given whether it was busy before (the hysteresis keeps a rate
// near the threshold from flipping the setting every interval).
func (p Policy) Busy(wasBusy bool, messages uint64, window time.Duration) bool {
	p.defaults()
	if window <= 0 {
		return wasBusy
	}
	rate := float64(messages) / window.Seconds()
	if wasBusy {
		return rate >= p.BusyRate/2
	}
	return rate >= p.BusyRate
}

// Run adjusts the GC percent as the policy says until ctx ends, then
// restores the default. messages returns the broker's count of messages
// moved so far. With GOGC set in the environment it does nothing.
func Run(ctx context.Context, p Policy, messages func() uint64, logger *slog.Logger) {
	if os.Getenv("GOGC") != "" {
		logger.Debug("GOGC is set: the GC percent is left as it says")
		return
	}
	p.defaults()
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	percent := DefaultPercent
	defer func() {
		if percent != DefaultPercent {
			debug.SetGCPercent(DefaultPercent)
		}
	}()
	busy := false
	prev, prevAt := messages(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, now := messages(), time.Now()
		moved := uint64(0)
		if cur >= prev {
			moved = cur - prev
		}
		wasBusy := busy
		busy = p.Busy(busy, moved, now.Sub(prevAt))
		prev, prevAt = cur, now
		if want := p.Percent(busy, memtrim.Read().Live); differs(want, percent) {
			debug.SetGCPercent(want)
			percent = want
		}
		if busy != wasBusy {
			logger.Debug("GC headroom", "busy", busy, "gogc_percent", percent, "messages_per_second", float64(moved)/p.Interval.Seconds())
		}
	}
}

// differs says whether a new percent is worth setting: the live heap moves
// a little from cycle to cycle, and the goal need not follow each move.
func differs(want, cur int) bool {
	if want == DefaultPercent || cur == DefaultPercent {
		return want != cur
	}
	d := want - cur
	return d > cur/8 || -d > cur/8
}
