package mqttbench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/stats"
)

// metric reads one number from a run.
// Metric reads one number from a run.
type Metric = metric

type metric func(FlowRun) float64

func rateOf(r FlowRun) float64 { return r.Result.Rate() }
func lostOf(r FlowRun) float64 { return float64(r.Result.Lost()) }
func p50Of(r FlowRun) float64  { return us(r.Result.P50) }
func p99Of(r FlowRun) float64  { return us(r.Result.P99) }
func serverCPUOf(r FlowRun) float64 {
	return perMsg(r.ServerCPU, r.Result.Received)
}
func clientCPUOf(r FlowRun) float64 {
	return perMsg(r.ClientCPU, r.Result.Received)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (res *Result) runs(latency bool) []FlowRun {
	if latency {
		return res.Latency
	}
	return res.Flows
}

// Median of m over the throughput runs of case on side.
func (res *Result) Median(c, side string, m metric) float64 { return res.median(false, c, side, m) }

// LatencyMedian is Median over the latency runs.
func (res *Result) LatencyMedian(c, side string, m metric) float64 {
	return res.median(true, c, side, m)
}

func (res *Result) median(latency bool, c, side string, m metric) float64 {
	var xs []float64
	for _, r := range res.runs(latency) {
		if r.Case == c && r.Side == side {
			xs = append(xs, m(r))
		}
	}
	return stats.Median(xs)
}

// Lost is the total of lost deliveries over every run of case on side.
func (res *Result) Lost(latency bool, c, side string) (lost, expected int64) {
	for _, r := range res.runs(latency) {
		if r.Case == c && r.Side == side {
			lost += r.Result.Lost()
			expected += r.Result.Expected
		}
	}
	return lost, expected
}

// Ratio is the median over rounds of Portico's m over mosquitto's in the
// same round (runs next to each other share the background load).
func (res *Result) Ratio(latency bool, c string, m metric) float64 {
	byRound := map[int]map[string]FlowRun{}
	for _, r := range res.runs(latency) {
		if r.Case != c {
			continue
		}
		if byRound[r.N] == nil {
			byRound[r.N] = map[string]FlowRun{}
		}
		byRound[r.N][r.Side] = r
	}
	var xs []float64
	for _, pair := range byRound {
		p, okp := pair[SidePortico]
		q, okq := pair[SideMosquitto]
		if okp && okq && m(q) > 0 {
			xs = append(xs, m(p)/m(q))
		}
	}
	return stats.Median(xs)
}

// IdlePerConn is the median RSS per connection (bytes) at step i.
func (res *Result) IdlePerConn(side string, i int) float64 {
	var xs []float64
	for _, r := range res.Idle {
		if r.Side == side && i < len(r.Held) {
			xs = append(xs, r.PerConn(i))
		}
	}
	return stats.Median(xs)
}

// IdleRatio is the median over rounds of Portico's RSS per connection over
// mosquitto's at step i.
func (res *Result) IdleRatio(i int) float64 {
	byRound := map[int]map[string]IdleRun{}
	for _, r := range res.Idle {
		if byRound[r.N] == nil {
			byRound[r.N] = map[string]IdleRun{}
		}
		byRound[r.N][r.Side] = r
	}
	var xs []float64
	for _, pair := range byRound {
		p, okp := pair[SidePortico]
		q, okq := pair[SideMosquitto]
		if okp && okq && q.PerConn(i) > 0 {
			xs = append(xs, p.PerConn(i)/q.PerConn(i))
		}
	}
	return stats.Median(xs)
}

// pprofTop is `go tool pprof -top` over the profiles matching glob
// (merged), n lines, headers dropped.
func pprofTop(ctx context.Context, glob string, n int, flags ...string) (string, error) {
	paths, err := filepath.Glob(glob)
	if err != nil || len(paths) == 0 {
		return "", fmt.Errorf("no profiles match %s", glob)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	args := append([]string{"tool", "pprof", "-top", "-nodecount=" + strconv.Itoa(n)}, flags...)
	out, err := exec.CommandContext(ctx, "go", append(args, paths...)...).Output()
	if err != nil {
		return "", err
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") || strings.HasPrefix(line, "Type:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimSpace(strings.Join(keep, "\n")), nil
}

// Exported metrics, for the report's prose.
var (
	RatePerSecond   = rateOf
	P99             = p99Of
	ServerCPUPerMsg = serverCPUOf
)

// Stalls is the total of stalls over the throughput runs of case on side.
func (res *Result) Stalls(c, side string) int64 { return res.stalls(false, c, side) }

// Delivered is Portico's deliveries over the throughput runs of case (the
// profiles' denominator).
func (res *Result) Delivered(c string) int64 {
	var n int64
	for _, r := range res.Flows {
		if r.Case == c && r.Side == SidePortico {
			n += r.Result.Received
		}
	}
	return n
}

// LatencyCases are the cases measured for latency.
func (res *Result) LatencyCases() []Case { return res.latencyCases() }

// ClientCPUPerMsg is the load generator's CPU per delivered message (µs).
var ClientCPUPerMsg = clientCPUOf

// ServerCores is the server's CPU time over the run's length: how many
// cores it kept busy (mosquitto, single-threaded, cannot pass 1).
var ServerCores metric = func(r FlowRun) float64 {
	if r.Result.Elapsed <= 0 {
		return 0
	}
	return r.ServerCPU.Seconds() / r.Result.Elapsed.Seconds()
}

// IdleMemory says, for Portico's first round at step i, what its Go runtime
// gained per held connection: heap in use, GC slack (heap kept free) and
// goroutine stacks; "" without that measurement.
func (res *Result) IdleMemory(i int) string {
	for _, r := range res.Idle {
		if r.Side != SidePortico || i >= len(r.Memory) || i >= len(r.Held) || r.Held[i] == 0 {
			continue
		}
		per := func(after, before uint64) float64 {
			return (float64(after) - float64(before)) / float64(r.Held[i]) / 1024
		}
		m, b := r.Memory[i], r.MemoryBefore
		return fmt.Sprintf("%.1f KiB of heap in use, %.1f KiB of heap kept free (GC slack), %.1f KiB of goroutine stacks (%d goroutines for %d connections)",
			per(m.HeapInuse, b.HeapInuse), per(m.HeapFree, b.HeapFree), per(m.StackInuse, b.StackInuse), m.Goroutines-b.Goroutines, r.Held[i])
	}
	return ""
}
