// Package mqttbench is issue 8's MQTT data-plane scenarios, Portico side
// by side with mosquitto 2.0 in one run, same certificates (mutual TLS 1.3,
// ECDSA P-256), loopback only:
//
//   - throughput, QoS 0 and QoS 1, 1->1 and N->N, and fan-out 1->100:
//     deliveries per second in a closed loop, and every message counted;
//   - latency p50/p99, open loop at half the lower of the two peaks;
//   - idle MQTT-over-TLS connections: server RSS per connection.
//
// Portico runs in a process of its own (bench/internal/porticoproc), as
// mosquitto does, and the load generator in a third, so each server's CPU
// time and RSS are its own.
package mqttbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/cpuprof"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/mosquitto"
	"github.com/portico-iot/portico/bench/internal/porticoproc"
	"github.com/portico-iot/portico/bench/internal/procstat"
)

// Side names.
const (
	SidePortico   = "portico"
	SideMosquitto = "mosquitto"
)

var sides = []string{SidePortico, SideMosquitto}

// Options shape the scenarios.
type Options struct {
	Domains, Devices int           // bench material (shared with the handshake scenario's cache)
	Runs             int           // rounds; each runs every case on both sides, order alternating
	Duration         time.Duration // bound on each throughput run's publishing time
	Messages         int           // bound on each throughput run's messages (all publishers)
	Pairs            int           // N of N->N
	Fanout           int           // subscribers of the fan-out topic
	Window           int           // closed loop: undelivered messages per publisher
	FanoutWindow     int
	Payload          int
	Inflight         int // QoS 1 unacknowledged PUBLISHes per publisher (AWS's and Portico's 100)
	LatencyDuration  time.Duration
	IdleSteps        []int // connections held, cumulative
	IdleRuns         int
	Parallel         int    // idle connections set up at once
	Profile          bool   // CPU-profile Portico during its throughput runs
	ProfileDir       string // keep the profiles (<case>-<round>.prof) here
	Only             []string
	Log              io.Writer
}

// Defaults are what bench/cmd/mqtt uses without flags.
func Defaults() Options {
	return Options{Domains: 10000, Devices: 1000, Runs: 3, Duration: 2 * time.Second, Messages: 2_000_000, Pairs: 8, Fanout: 100,
		Window: 1000, FanoutWindow: 100, Payload: 64, Inflight: 100, LatencyDuration: 3 * time.Second,
		IdleSteps: []int{2000, 5000, 15000}, IdleRuns: 3, Parallel: 32, Profile: true, Log: os.Stderr}
}

// Case is one throughput configuration.
type Case struct {
	Name  string
	Label string
	Goal  float64 // Portico/mosquitto at least
	Spec  flowSpec
}

// Cases are the throughput configurations for o.
func (o Options) Cases() []Case {
	base := flowSpec{Duration: o.Duration, Payload: o.Payload, Inflight: o.Inflight}
	mk := func(pubs, subs int, qos byte, window int) flowSpec {
		s := base
		s.Publishers, s.SubsPerTopic, s.QoS, s.Window = pubs, subs, qos, window
		s.Messages = max(1, o.Messages/pubs)
		return s
	}
	return []Case{
		{"qos0-1to1", "QoS 0, 1->1", 1.5, mk(1, 1, 0, o.Window)},
		{"qos1-1to1", "QoS 1, 1->1", 1.0, mk(1, 1, 1, o.Window)},
		{fmt.Sprintf("qos0-%dto%d", o.Pairs, o.Pairs), fmt.Sprintf("QoS 0, %d->%d", o.Pairs, o.Pairs), 1.5, mk(o.Pairs, 1, 0, o.Window)},
		{fmt.Sprintf("qos1-%dto%d", o.Pairs, o.Pairs), fmt.Sprintf("QoS 1, %d->%d", o.Pairs, o.Pairs), 1.0, mk(o.Pairs, 1, 1, o.Window)},
		{fmt.Sprintf("fanout-qos0-1to%d", o.Fanout), fmt.Sprintf("fan-out QoS 0, 1->%d", o.Fanout), 1.0, mk(1, o.Fanout, 0, o.FanoutWindow)},
		{fmt.Sprintf("fanout-qos1-1to%d", o.Fanout), fmt.Sprintf("fan-out QoS 1, 1->%d", o.Fanout), 1.0, mk(1, o.Fanout, 1, o.FanoutWindow)},
	}
}

// FlowRun is one measured run of one case on one side.
type FlowRun struct {
	Case, Side string
	N          int
	Result     flowResult
	ServerCPU  time.Duration
	ClientCPU  time.Duration
	Load       string
}

// IdleRun is one side's idle-connection measurement in one round.
type IdleRun struct {
	MemoryBefore porticoproc.Memory   // Portico: its runtime's view before the first step
	Memory       []porticoproc.Memory // and after each step
	Side         string
	N            int
	Before       uint64 // RSS with no connection
	Held         []int  // per step
	RSS          []uint64
	Failed       int
	FirstErr     string
}

// PerConn is the RSS growth per held connection at step i, in bytes.
func (r IdleRun) PerConn(i int) float64 {
	if i >= len(r.Held) || r.Held[i] == 0 {
		return 0
	}
	return (float64(r.RSS[i]) - float64(r.Before)) / float64(r.Held[i])
}

// Result is the scenarios' outcome.
type Result struct {
	Options      Options
	Mosquitto    string // version
	MosquittoCfg string
	Flows        []FlowRun
	Latency      []FlowRun
	LatencyRate  map[string]float64 // case -> messages/s offered
	Idle         []IdleRun
	// Profile is Portico's CPU per case and category, summed over runs;
	// ProfileTop is `go tool pprof -top` of the QoS 0 1->1 runs.
	Profile    map[string]map[string]time.Duration
	ProfileTop map[string]string
	// HeapTop is `go tool pprof -top` (in-use bytes) of Portico holding the
	// most idle connections, first round.
	HeapTop                   string
	UptimeBefore, UptimeAfter string
}

func (o Options) wants(part string) bool {
	if len(o.Only) == 0 {
		return true
	}
	for _, p := range o.Only {
		if p == part {
			return true
		}
	}
	return false
}

// Execute runs the scenarios.
func Execute(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if !mosquitto.Available() {
		return nil, fmt.Errorf("mqtt: %s not installed (Debian package mosquitto)", mosquitto.Binary)
	}
	if o.Runs < 1 || o.Pairs < 1 || o.Fanout < 1 || o.Window < 1 || o.FanoutWindow < 1 {
		return nil, fmt.Errorf("mqtt: runs, pairs, fanout and windows must be positive")
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "mqtt: "+format+"\n", args...) }
	res := &Result{Options: o, Mosquitto: mosquitto.Version(), LatencyRate: map[string]float64{},
		Profile: map[string]map[string]time.Duration{}, ProfileTop: map[string]string{}, UptimeBefore: machine.Uptime()}
	set, _, err := material.Load(o.Domains, o.Devices)
	if err != nil {
		return nil, err
	}
	machine.RaiseNoFile(1 << 20)

	// A deadline no run outlives, whatever happens.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	load, err := child.Start(ctx, loadRole)
	if err != nil {
		return nil, err
	}
	defer load.Kill()
	if err := load.Send(loadSetup{Domains: o.Domains, Devices: o.Devices}); err != nil {
		return nil, err
	}
	var ready result
	if err := load.Recv(&ready, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}
	ask := func(req request, timeout time.Duration) (result, error) {
		req.ServerName = material.DomainName(0)
		var out result
		if err := load.Send(req); err != nil {
			return out, err
		}
		if err := load.Recv(&out, timeout); err != nil {
			return out, fmt.Errorf("load generator: %w", err)
		}
		return out, nil
	}

	if o.wants("flow") || o.wants("latency") {
		if err := res.flows(ctx, o, set, ask, logf); err != nil {
			return nil, err
		}
	}
	if o.wants("idle") {
		if err := res.idle(ctx, o, set, ask, logf); err != nil {
			return nil, err
		}
	}
	load.Send(request{Kind: kindQuit})
	load.Wait(10 * time.Second)
	res.UptimeAfter = machine.Uptime()
	return res, nil
}

type askFunc func(request, time.Duration) (result, error)

type target struct {
	addr string
	pid  int
}

// flows runs the throughput cases, then the latency runs, against one
// long-lived server per side.
func (res *Result) flows(ctx context.Context, o Options, set *material.Set, ask askFunc, logf func(string, ...any)) error {
	mq, err := mosquitto.Start(ctx, mosquitto.Options{Server: set.Domains[0], CA: set.CA.Cert, MaxInflight: o.Inflight})
	if err != nil {
		return err
	}
	defer mq.Close()
	res.MosquittoCfg = mq.Config
	pt, err := porticoproc.Start(ctx, o.Domains, o.Devices)
	if err != nil {
		return err
	}
	defer pt.Close()
	targets := map[string]target{SidePortico: {pt.Addr, pt.PID}, SideMosquitto: {mq.Addr, mq.PID}}
	logf("portico (pid %d) on %s, %s (pid %d) on %s", pt.PID, pt.Addr, res.Mosquitto, mq.PID, mq.Addr)

	profDir := o.ProfileDir
	if profDir == "" {
		if profDir, err = os.MkdirTemp("", "portico-bench-mqtt-prof-"); err != nil {
			return err
		}
		defer os.RemoveAll(profDir)
	}
	seq := 0
	measure := func(side string, c Case, n int, spec flowSpec, profile bool) (FlowRun, error) {
		seq++
		t := targets[side]
		run := FlowRun{Case: c.Name, Side: side, N: n, Load: machine.LoadAverage()}
		var profPath string
		if profile && side == SidePortico {
			profPath = filepath.Join(profDir, fmt.Sprintf("%s-%d.prof", c.Name, n))
			if err := pt.StartProfile(profPath); err != nil {
				return run, err
			}
		}
		cpu0, _ := procstat.CPU(t.pid)
		out, err := ask(request{Kind: kindFlow, Addr: t.addr, Tag: fmt.Sprintf("r%d%s", seq, side[:1]), Flow: spec}, spec.Duration+2*time.Minute)
		cpu1, _ := procstat.CPU(t.pid)
		if profPath != "" {
			if err := pt.StopProfile(); err != nil {
				return run, err
			}
		}
		if err != nil {
			return run, err
		}
		run.Result, run.ServerCPU, run.ClientCPU = out.Flow, cpu1-cpu0, out.ClientCPU
		if profPath != "" {
			if split, err := cpuprof.Split(ctx, profPath); err == nil {
				if res.Profile[c.Name] == nil {
					res.Profile[c.Name] = map[string]time.Duration{}
				}
				for k, v := range split {
					res.Profile[c.Name][k] += v
				}
			} else {
				logf("profile not split: %v", err)
			}
		}
		r := run.Result
		logf("%-20s run %d %-9s %8.0f msg/s sent %d received %d lost %d stalls %d, server CPU %.1f µs/msg, client CPU %.1f µs/msg, errors %d %s(load %s)",
			c.Name, n, side, r.Rate(), r.Sent, r.Received, r.Lost(), r.Stalls, perMsg(run.ServerCPU, r.Received), perMsg(run.ClientCPU, r.Received), r.Errors, r.FirstErr, run.Load)
		return run, nil
	}

	cases := o.Cases()
	if o.wants("flow") {
		// Warm-up: both servers' first connections and allocations.
		for _, side := range sides {
			w := cases[0].Spec
			w.Duration = time.Second
			if _, err := measure(side, Case{Name: "warm-up"}, 0, w, false); err != nil {
				return err
			}
		}
		for n := 1; n <= o.Runs; n++ {
			for ci, c := range cases {
				for k := range sides {
					side := sides[(k+n+ci)%len(sides)]
					if err := ctx.Err(); err != nil {
						return err
					}
					run, err := measure(side, c, n, c.Spec, o.Profile)
					if err != nil {
						return err
					}
					res.Flows = append(res.Flows, run)
				}
			}
		}
		for _, name := range []string{cases[0].Name, cases[1].Name} {
			if top, err := pprofTop(ctx, filepath.Join(profDir, name+"-*.prof"), 14); err == nil {
				res.ProfileTop[name] = top
			} else {
				logf("pprof -top %s: %v", name, err)
			}
		}
	}

	if o.wants("latency") && o.wants("flow") {
		for _, c := range cases[:2] {
			// A side that lost messages has no valid peak (it stalled): the
			// rate comes from the sides that delivered everything.
			var peaks, all []float64
			for _, side := range sides {
				m := res.Median(c.Name, side, rateOf)
				all = append(all, m)
				if lost, _ := res.Lost(false, c.Name, side); lost == 0 {
					peaks = append(peaks, m)
				}
			}
			if len(peaks) == 0 {
				peaks = all
			}
			res.LatencyRate[c.Name] = slices.Min(peaks) / 2
		}
		for n := 1; n <= o.Runs; n++ {
			for ci, c := range cases[:2] {
				spec := c.Spec
				spec.Rate, spec.Latency, spec.Duration = res.LatencyRate[c.Name], true, o.LatencyDuration
				spec.Messages = int(spec.Rate*o.LatencyDuration.Seconds()) + 1
				for k := range sides {
					side := sides[(k+n+ci)%len(sides)]
					run, err := measure(side, Case{Name: c.Name}, n, spec, false)
					if err != nil {
						return err
					}
					r := run.Result
					logf("  latency p50 %v p99 %v p99.9 %v max %v over %d", r.P50, r.P99, r.P999, r.Max, r.Samples)
					res.Latency = append(res.Latency, run)
				}
			}
		}
	}
	return nil
}

func perMsg(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(n)
}

// idle measures RSS per idle connection on a fresh server per side and
// round, so nothing the throughput runs left behind counts.
func (res *Result) idle(ctx context.Context, o Options, set *material.Set, ask askFunc, logf func(string, ...any)) error {
	for n := 1; n <= o.IdleRuns; n++ {
		for k := range sides {
			side := sides[(k+n)%len(sides)]
			run, err := res.idleOnce(ctx, o, set, side, n, ask, logf)
			if err != nil {
				return err
			}
			res.Idle = append(res.Idle, run)
		}
	}
	return nil
}

// IdleSettle is how long after its last connection a server's RSS is read:
// idle means the steady state an idle fleet lives in. A C server is there
// at once; Portico parks a connection after a second of quiet and returns
// what a burst of handshakes left free after a second without allocation,
// so it takes a few seconds (at 2 s, the last thousands of connections of a
// step were still on their goroutines).
const IdleSettle = 5 * time.Second

func (res *Result) idleOnce(ctx context.Context, o Options, set *material.Set, side string, n int, ask askFunc, logf func(string, ...any)) (IdleRun, error) {
	run := IdleRun{Side: side, N: n}
	var t target
	var pt *porticoproc.Server
	switch side {
	case SidePortico:
		var err error
		if pt, err = porticoproc.Start(ctx, o.Domains, o.Devices); err != nil {
			return run, err
		}
		defer pt.Close()
		t = target{pt.Addr, pt.PID}
	case SideMosquitto:
		mq, err := mosquitto.Start(ctx, mosquitto.Options{Server: set.Domains[0], CA: set.CA.Cert, MaxInflight: o.Inflight})
		if err != nil {
			return run, err
		}
		defer mq.Close()
		t = target{mq.Addr, mq.PID}
	}
	defer ask(request{Kind: kindIdleRelease}, time.Minute)
	const settle = IdleSettle
	time.Sleep(settle)
	var err error
	if run.Before, err = procstat.RSS(t.pid); err != nil {
		return run, err
	}
	// Portico's heap before and after the connections, once: the
	// difference is what the connections hold. Taken around the RSS
	// readings, not between them (the profile's GC would move them).
	var heapDir string
	if pt != nil && res.HeapTop == "" {
		if heapDir, err = os.MkdirTemp("", "portico-bench-heap-"); err != nil {
			return run, err
		}
		defer os.RemoveAll(heapDir)
		if err := pt.HeapProfile(filepath.Join(heapDir, "base.prof")); err != nil {
			return run, err
		}
		if run.MemoryBefore, err = pt.Memory(); err != nil {
			return run, err
		}
		time.Sleep(settle)
		if run.Before, err = procstat.RSS(t.pid); err != nil {
			return run, err
		}
	}
	for _, step := range o.IdleSteps {
		out, err := ask(request{Kind: kindIdleHold, Addr: t.addr, Tag: fmt.Sprintf("i%d%s", n, side[:1]), Conns: step, Parallel: o.Parallel}, 5*time.Minute)
		if err != nil {
			return run, err
		}
		time.Sleep(settle)
		rss, err := procstat.RSS(t.pid)
		if err != nil {
			return run, err
		}
		run.Held, run.RSS = append(run.Held, out.Held), append(run.RSS, rss)
		run.Failed += out.Failed
		if run.FirstErr == "" {
			run.FirstErr = out.FirstErr
		}
		logf("idle run %d %-9s %5d held (%d failed) in %v: RSS %d MiB -> %d MiB, %.1f KiB/conn %s",
			n, side, out.Held, out.Failed, out.Elapsed.Round(time.Millisecond), run.Before>>20, rss>>20, run.PerConn(len(run.Held)-1)/1024, out.FirstErr)
		if pt != nil {
			m, err := pt.Memory()
			if err != nil {
				return run, err
			}
			run.Memory = append(run.Memory, m)
			logf("idle run %d %-9s %5d held: Go heap in use %d MiB, heap free (GC slack) %d MiB, stacks %d MiB, runtime %d MiB, %d goroutines",
				n, side, out.Held, m.HeapInuse>>20, m.HeapFree>>20, m.StackInuse>>20, m.RuntimeOther>>20, m.Goroutines)
		}
	}
	if heapDir != "" {
		path := filepath.Join(heapDir, "held.prof")
		if err := pt.HeapProfile(path); err != nil {
			return run, err
		}
		if res.HeapTop, err = pprofTop(ctx, path, 12, "-sample_index=inuse_space", "-diff_base="+filepath.Join(heapDir, "base.prof")); err != nil {
			logf("heap profile: %v", err)
		}
	}
	return run, nil
}
