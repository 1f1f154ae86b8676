// Package customauthbench is the custom-authorizer scenario of issue 7:
//
//  1. MQTT connects per second through a cached authorizer decision (the
//     same token every time, so internal/authorizer's result cache answers)
//     versus MQTT connects per second with mTLS (ECDSA P-256 device
//     certificates), on the same gateway listener, in alternating runs;
//  2. a connect storm of devices that each present a distinct token (no
//     cache hits) against a user function that takes a fixed time per call,
//     compared with the bound the function imposes (calls in flight over the
//     call time) and with the same storm against a function that answers at
//     once, to tell whether Portico or the function limits it.
//
// The server side is Portico's real stack (gateway, broker, customauth,
// authorizer, function registry on a SQLite store in a temporary
// directory); the load generator and the user's function (an HTTP server)
// are two more processes, all on loopback.
package customauthbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/cpuprof"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/stats"
	"github.com/portico-iot/portico/internal/function"
)

// Side names of the rate comparison.
const (
	SideMTLS   = "mtls"
	SideCustom = "custom-cached"
	// SideCustomSigned is SideCustom through an authorizer with token
	// signing (AWS's default): the token and its RSA-SHA256 signature in
	// the username, verified on every connect before the cache is asked.
	SideCustomSigned = "custom-cached-signed"
)

// Goal is issue 7's: cached custom-auth connects at least 0.9x mTLS's.
const Goal = 0.9

// Options shape the scenario.
type Options struct {
	Domains, Devices int // bench material: domain configurations, device certificates
	// Rate comparison.
	Conns    int           // concurrent client goroutines
	Duration time.Duration // per measured run
	Runs     int           // rounds; each runs every side, order rotating
	Sides    []string      // SideMTLS and SideCustom (required), SideCustomSigned
	Warmup   time.Duration // one unmeasured run per side first
	Max      int64         // bound on attempts per run
	// Storm.
	StormDevices int           // devices per storm, each with its own token
	StormConns   []int         // devices connecting at once (one storm set each)
	StormDelay   time.Duration // the function's time per call
	StormRuns    int           // storms per (concurrency, delay)
	StormTimeout time.Duration // bound on one storm
	Profile      bool          // CPU-profile the server during measured runs and storms
	ProfileDir   string        // keep the profiles here
	// MutexProfile, if set, receives Portico's mutex contention profile
	// (every run and storm; sampling 1 in 10 contention events).
	MutexProfile string
	// NetHTTPDefaultClient makes the function registry call with
	// &http.Client{} (net/http's default transport: 2 idle connections per
	// host), as internal/function did before its own pool, for comparison.
	NetHTTPDefaultClient bool
	Log                  io.Writer
}

// Defaults are what bench/cmd/customauth uses without flags.
func Defaults() Options {
	return Options{Domains: 10, Devices: 1000, Conns: 16, Duration: 5 * time.Second, Runs: 5, Sides: []string{SideMTLS, SideCustom, SideCustomSigned}, Warmup: time.Second, Max: 1_000_000,
		StormDevices: 2000, StormConns: []int{2000, 4}, StormDelay: 10 * time.Millisecond, StormRuns: 3, StormTimeout: 60 * time.Second,
		Profile: true, Log: os.Stderr}
}

// Command is the command line that reproduces the options.
func (o Options) Command() string {
	return fmt.Sprintf("go run ./bench/cmd/customauth -domains %d -devices %d -conns %d -duration %v -runs %d -warmup %v -sides %s -storm-devices %d -storm-conns %s -storm-delay %v -storm-runs %d",
		o.Domains, o.Devices, o.Conns, o.Duration, o.Runs, o.Warmup, strings.Join(o.Sides, ","), o.StormDevices, joinInts(o.StormConns), o.StormDelay, o.StormRuns) + map[bool]string{true: " -net-http-default-client"}[o.NetHTTPDefaultClient]
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// Run is one measured run of one side.
type Run struct {
	Side      string
	N         int
	Completed int64
	Errors    int64
	FirstErr  string
	Elapsed   time.Duration
	Rate      float64 // connects (CONNACK accepted) per second
	ServerCPU time.Duration
	ClientCPU time.Duration
	P50, P99  time.Duration
	FnCalls   int64 // function calls during the run (0: the cache answered every connect)
	Load      string
	Profile   map[string]time.Duration
}

func (r Run) per(d time.Duration) time.Duration {
	if r.Completed == 0 {
		return 0
	}
	return d / time.Duration(r.Completed)
}

// Storm is one connect storm.
type Storm struct {
	N         int
	Conns     int
	Delay     time.Duration
	Devices   int
	Completed int64
	Errors    int64
	FirstErr  string
	Elapsed   time.Duration
	Rate      float64
	ServerCPU time.Duration // Portico's process during the storm
	ClientCPU time.Duration // the load generator's
	MutexWait time.Duration // Portico's goroutines blocked on locks (runtime/metrics)
	// MachineBusy is the share of the machine's CPU time that was busy
	// during the storm, all processes counted (/proc/stat).
	MachineBusy float64
	// FnFailures are the function calls Portico logged as failed, and
	// FnFirstFailure the first one's reason.
	FnFailures     int64
	FnFirstFailure string
	P50, P99       time.Duration
	Max            time.Duration
	Function       FunctionStats
	Load           string
	Profile        map[string]time.Duration
}

// Bound is the rate the function allows at the concurrency it saw: calls
// in flight at most, over the time per call (0 without a delay).
func (s Storm) Bound() float64 {
	if s.Delay <= 0 {
		return 0
	}
	return float64(s.Function.MaxInFlight) / s.Delay.Seconds()
}

// MachineCPU is the share of the machine's cores (nproc, as `nproc`
// printed it) that Portico, the load generator and the function used
// during the storm; 0 when unknown.
func (s Storm) MachineCPU(nproc string) float64 {
	n, _ := strconv.Atoi(strings.TrimSpace(nproc))
	if n <= 0 || s.Elapsed <= 0 {
		return 0
	}
	return float64(s.ServerCPU+s.ClientCPU+s.Function.CPU) / float64(time.Duration(n)*s.Elapsed)
}

// ClientBound is what the devices' concurrency allows with the function's
// delay alone: Conns over the delay.
func (s Storm) ClientBound() float64 {
	if s.Delay <= 0 {
		return 0
	}
	return float64(s.Conns) / s.Delay.Seconds()
}

// Result is the scenario's outcome.
type Result struct {
	Options      Options
	Machine      machine.Info
	UptimeBefore string
	UptimeAfter  string
	Took         time.Duration
	Runs         []Run
	Storms       []Storm
	// Revision is the code measured (set by the caller; "unknown" if not).
	Revision string
	// Dropped counts log records (refusals, failed calls) not printed.
	LogDropped int64
}

// Execute runs the scenario.
func Execute(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Domains < 1 || o.Devices < 1 || o.Conns < 1 || o.Runs < 1 || o.StormDevices < 0 || o.StormRuns < 0 {
		return nil, fmt.Errorf("customauth: domains, devices, conns and runs must be positive")
	}
	if len(o.Sides) == 0 {
		o.Sides = []string{SideMTLS, SideCustom}
	}
	for _, side := range o.Sides {
		if side != SideMTLS && side != SideCustom && side != SideCustomSigned {
			return nil, fmt.Errorf("customauth: unknown side %q", side)
		}
	}
	if !o.has(SideMTLS) || !o.has(SideCustom) {
		return nil, fmt.Errorf("customauth: sides %s and %s are required", SideMTLS, SideCustom)
	}
	start := time.Now()
	res := &Result{Options: o, Machine: machine.Describe(), UptimeBefore: machine.Uptime()}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "customauth: "+format+"\n", args...) }
	machine.RaiseNoFile(1 << 16)
	if o.MutexProfile != "" {
		runtime.SetMutexProfileFraction(10)
		defer func() {
			if err := writeProfile("mutex", o.MutexProfile); err != nil {
				logf("mutex profile: %v", err)
			}
			runtime.SetMutexProfileFraction(0)
		}()
	}

	set, generated, err := material.Load(o.Domains, o.Devices)
	if err != nil {
		return nil, err
	}
	logf("material: %d domain and %d device certificates (generated: %v)", o.Domains, o.Devices, generated)

	// Children outlive no run: ctx bounds them, and so does a deadline.
	total := time.Duration(2*(o.Runs+1))*(o.Duration+time.Minute) + time.Duration(len(o.StormConns)*2*o.StormRuns)*(o.StormTimeout+time.Minute) + 5*time.Minute
	cctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()

	fn, err := child.Start(cctx, functionRole)
	if err != nil {
		return nil, err
	}
	defer fn.Kill()
	secret := function.NewSecret()
	if err := fn.Send(functionSetup{Name: FunctionName, Secret: secret}); err != nil {
		return nil, err
	}
	var hello FunctionStats
	if err := fn.Recv(&hello, time.Minute); err != nil {
		return nil, fmt.Errorf("function server: %w", err)
	}
	fnDo := func(cmd functionCommand) (FunctionStats, error) {
		var st FunctionStats
		if err := fn.Send(cmd); err != nil {
			return st, err
		}
		if err := fn.Recv(&st, time.Minute); err != nil {
			return st, fmt.Errorf("function server: %w", err)
		}
		return st, nil
	}

	s, err := startStack(ctx, set, hello.URL, secret, o.NetHTTPDefaultClient, o.Log)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	runtime.GC()
	logf("gateway ALPN listener on %s, function %s at %s", s.Addr, FunctionName, hello.URL)

	cl, err := child.Start(cctx, clientRole)
	if err != nil {
		return nil, err
	}
	defer cl.Kill()
	if err := cl.Send(clientSetup{MaterialDomains: o.Domains, MaterialDevices: o.Devices, ServerName: material.DomainName(0), Authorizer: AuthorizerName,
		SignedQuery: s.SignedQuery}); err != nil {
		return nil, err
	}
	var rd clientReady
	if err := cl.Recv(&rd, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}
	ask := func(req clientRequest, timeout time.Duration) (clientResult, error) {
		var out clientResult
		if err := cl.Send(req); err != nil {
			return out, err
		}
		if err := cl.Recv(&out, timeout); err != nil {
			return out, fmt.Errorf("load generator: %w", err)
		}
		return out, nil
	}

	profDir := o.ProfileDir
	if o.Profile && profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			return nil, err
		}
	}
	if o.Profile && profDir == "" {
		if profDir, err = os.MkdirTemp("", "portico-bench-prof-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(profDir)
	}
	profiled := func(name string, f func() error) (map[string]time.Duration, error) {
		if !o.Profile {
			return nil, f()
		}
		p, err := cpuprof.Start(profDir, name)
		if err != nil {
			return nil, err
		}
		err = f()
		path := p.Stop()
		if err != nil {
			return nil, err
		}
		split, err := splitProfile(ctx, path)
		if err != nil {
			logf("profile %s not split: %v", name, err)
		}
		return split, nil
	}

	// 1. Cached decision versus mTLS.
	if _, err := fnDo(functionCommand{Op: "reset"}); err != nil {
		return nil, err
	}
	measure := func(side string, n int, d time.Duration, profile bool) (Run, error) {
		run := Run{Side: side, N: n, Load: machine.LoadAverage()}
		f0, err := fnDo(functionCommand{Op: "stats"})
		if err != nil {
			return run, err
		}
		var out clientResult
		cpu0 := machine.CPUTime()
		do := func() error {
			out, err = ask(clientRequest{Op: "rate", Addr: s.Addr, Side: side, Conns: o.Conns, Duration: d, Max: o.Max, Seed: uint64(n)}, d+time.Minute)
			return err
		}
		if profile {
			run.Profile, err = profiled(fmt.Sprintf("%s-%d", side, n), do)
		} else {
			err = do()
		}
		if err != nil {
			return run, err
		}
		run.ServerCPU = machine.CPUTime() - cpu0
		f1, err := fnDo(functionCommand{Op: "stats"})
		if err != nil {
			return run, err
		}
		run.FnCalls = f1.Calls - f0.Calls
		run.Completed, run.Errors, run.FirstErr, run.Elapsed = out.Completed, out.Errors, out.FirstErr, out.Elapsed
		run.ClientCPU, run.P50, run.P99 = out.ClientCPU, out.P50, out.P99
		if out.Elapsed > 0 {
			run.Rate = float64(out.Completed) / out.Elapsed.Seconds()
		}
		return run, nil
	}
	sides := o.Sides
	if o.Warmup > 0 {
		for _, side := range sides {
			w, err := measure(side, 0, o.Warmup, false)
			if err != nil {
				return nil, err
			}
			logf("warm-up %-13s %6.0f connects/s (errors %d%s, function calls %d)", side, w.Rate, w.Errors, errNote(w.FirstErr), w.FnCalls)
		}
	}
	for n := 1; n <= o.Runs; n++ {
		for k := range sides {
			side := sides[(k+n-1)%len(sides)]
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			run, err := measure(side, n, o.Duration, o.Profile)
			if err != nil {
				return nil, err
			}
			res.Runs = append(res.Runs, run)
			logf("run %d %-13s %6.0f connects/s, server CPU %4.0f µs/connect, p50 %v p99 %v, function calls %d, errors %d%s (load %s)",
				n, side, run.Rate, us(run.per(run.ServerCPU)), run.P50.Round(10*time.Microsecond), run.P99.Round(10*time.Microsecond),
				run.FnCalls, run.Errors, errNote(run.FirstErr), run.Load)
		}
	}

	// 2. Storms: every device a distinct token. Each concurrency runs
	// against the slow function and against one that answers at once,
	// alternating.
	delays := []time.Duration{o.StormDelay, 0}
	seq := 0
	for _, conns := range o.StormConns {
		for n := 1; n <= o.StormRuns; n++ {
			for k := range delays {
				delay := delays[(k+n-1)%len(delays)]
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				seq++
				st := Storm{N: n, Conns: conns, Delay: delay, Devices: o.StormDevices, Load: machine.LoadAverage()}
				if _, err := fnDo(functionCommand{Op: "reset", Delay: delay}); err != nil {
					return nil, err
				}
				// Let the previous storm's connections and the function's
				// idle connections settle.
				time.Sleep(500 * time.Millisecond)
				var out clientResult
				s.logs.takeFailures()
				cpu0, wait0, ticks0 := machine.CPUTime(), mutexWait(), readCPUTicks()
				do := func() (err error) {
					out, err = ask(clientRequest{Op: "storm", Addr: s.Addr, Conns: conns, Devices: o.StormDevices,
						Duration: o.StormTimeout, Prefix: fmt.Sprintf("storm%d", seq)}, o.StormTimeout+time.Minute)
					return err
				}
				var err error
				if o.Profile {
					st.Profile, err = profiled(fmt.Sprintf("storm-c%d-d%v-%d", conns, delay, n), do)
				} else {
					err = do()
				}
				if err != nil {
					return nil, err
				}
				st.ServerCPU, st.MutexWait, st.ClientCPU = machine.CPUTime()-cpu0, mutexWait()-wait0, out.ClientCPU
				st.MachineBusy = busyShare(ticks0, readCPUTicks())
				st.FnFailures, st.FnFirstFailure = s.logs.takeFailures()
				if st.Function, err = fnDo(functionCommand{Op: "stats"}); err != nil {
					return nil, err
				}
				st.Completed, st.Errors, st.FirstErr, st.Elapsed = out.Completed, out.Errors, out.FirstErr, out.Elapsed
				st.P50, st.P99, st.Max = out.P50, out.P99, out.Max
				if out.Elapsed > 0 {
					st.Rate = float64(out.Completed) / out.Elapsed.Seconds()
				}
				res.Storms = append(res.Storms, st)
				logf("storm %d: %d devices, %d at once, function %v: %d connected in %v = %.0f connects/s; function %d calls on %d new connections, at most %d in flight (mean %.1f), %.0f calls/s, bound %.0f/s; Portico CPU %.0f µs/connect, lock wait %.1f µs/connect, function connections closed new/idle/active %d/%d/%d, refused %d, machine busy %.0f%% (ours %.0f%%); p50 %v p99 %v; errors %d%s (load %s)",
					n, st.Devices, conns, delay, st.Completed, st.Elapsed.Round(time.Millisecond), st.Rate, st.Function.Calls, st.Function.NewConns, st.Function.MaxInFlight,
					st.Function.MeanInFlight(), st.Function.Rate(), st.Bound(), us(st.ServerCPU)/float64(max(st.Completed, 1)), us(st.MutexWait)/float64(max(st.Completed, 1)), st.Function.ClosedNew, st.Function.ClosedIdle, st.Function.ClosedActive, st.Function.Refused, 100*st.MachineBusy, 100*st.MachineCPU(res.Machine.NProc), st.P50.Round(100*time.Microsecond), st.P99.Round(100*time.Microsecond),
					st.Errors, errNote(st.FirstErr), st.Load)
			}
		}
	}
	cl.Send(clientRequest{})
	cl.Wait(10 * time.Second)
	fn.Send(functionCommand{Op: "quit"})
	fn.Wait(10 * time.Second)
	res.LogDropped = s.logs.dropped.Load()
	res.UptimeAfter = machine.Uptime()
	res.Took = time.Since(start)
	return res, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mutexWait is the time this process's goroutines have spent blocked on
// sync.Mutex, sync.RWMutex and runtime locks.
func mutexWait() time.Duration {
	s := []metrics.Sample{{Name: "/sync/mutex/wait/total:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}

func errNote(first string) string {
	if first == "" {
		return ""
	}
	return ", first: " + first
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary is the medians of one side's runs.
type Summary struct {
	Rate, RateMin, RateMax float64
	ServerCPU, ClientCPU   float64 // µs per connect
	P50, P99               float64 // µs
	Errors, FnCalls        int64
}

// Summarize computes the per-side medians.
func (r *Result) Summarize(side string) Summary {
	var rate, scpu, ccpu, p50, p99 []float64
	var s Summary
	for _, run := range r.Runs {
		if run.Side != side {
			continue
		}
		rate = append(rate, run.Rate)
		scpu = append(scpu, us(run.per(run.ServerCPU)))
		ccpu = append(ccpu, us(run.per(run.ClientCPU)))
		p50, p99 = append(p50, us(run.P50)), append(p99, us(run.P99))
		s.Errors += run.Errors
		s.FnCalls += run.FnCalls
	}
	s.Rate, s.ServerCPU, s.ClientCPU, s.P50, s.P99 = stats.Median(rate), stats.Median(scpu), stats.Median(ccpu), stats.Median(p50), stats.Median(p99)
	s.RateMin, s.RateMax = stats.MinMax(rate)
	return s
}

// paired applies f to the two sides' runs of each round.
func (r *Result) paired(a, b string, f func(x, y Run) float64) []float64 {
	return stats.Paired(r.Runs, func(run Run) (int, string, bool) { return run.N, run.Side, run.Rate > 0 }, a, b, f)
}

// Ratio is the median over rounds of cached custom-auth connects per second
// over mTLS's in the same round.
func (r *Result) Ratio() float64 { return r.RatioOf(SideCustom) }

// RatioOf is Ratio for side.
func (r *Result) RatioOf(side string) float64 {
	return stats.Median(r.paired(side, SideMTLS, func(x, y Run) float64 { return x.Rate / y.Rate }))
}

// CPURatioOf is CPURatio for side.
func (r *Result) CPURatioOf(side string) float64 {
	return stats.Median(r.paired(side, SideMTLS, func(x, y Run) float64 { return us(y.per(y.ServerCPU)) / us(x.per(x.ServerCPU)) }))
}

func (o Options) has(side string) bool {
	for _, s := range o.Sides {
		if s == side {
			return true
		}
	}
	return false
}

// CPURatio is the median over rounds of mTLS's server CPU per connect over
// the cached custom-auth side's (above 1: custom auth costs less).
func (r *Result) CPURatio() float64 {
	return stats.Median(r.paired(SideCustom, SideMTLS, func(x, y Run) float64 { return us(y.per(y.ServerCPU)) / us(x.per(x.ServerCPU)) }))
}

// Met reports whether the cached-decision goal is met.
func (r *Result) Met() bool { return r.Ratio() >= Goal }

// StormSummary is the medians of the storms of one (concurrency, delay).
type StormSummary struct {
	Conns                 int
	Delay                 time.Duration
	Storms                int
	Elapsed               time.Duration
	Rate                  float64
	MaxInFlight           float64
	MeanInFlight          float64
	FnRate                float64
	Bound                 float64
	ServerCPU             float64 // µs per connect
	MachineCPU            float64 // share of the machine's cores used by Portico, load generator and function
	P50, P99              time.Duration
	Errors, Calls, Missed int64 // Missed: devices not connected
}

// StormSummaries are per (concurrency, delay), in run order.
func (r *Result) StormSummaries() []StormSummary {
	type key struct {
		c int
		d time.Duration
	}
	var order []key
	groups := map[key][]Storm{}
	for _, s := range r.Storms {
		k := key{s.Conns, s.Delay}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	var out []StormSummary
	for _, k := range order {
		g := groups[k]
		var el, rate, maxIn, meanIn, fnRate, bound, cpu, p50, p99, busy []float64
		sum := StormSummary{Conns: k.c, Delay: k.d, Storms: len(g)}
		for _, s := range g {
			el = append(el, float64(s.Elapsed))
			rate = append(rate, s.Rate)
			maxIn = append(maxIn, float64(s.Function.MaxInFlight))
			meanIn = append(meanIn, s.Function.MeanInFlight())
			fnRate = append(fnRate, s.Function.Rate())
			bound = append(bound, s.Bound())
			if s.Completed > 0 {
				cpu = append(cpu, us(s.ServerCPU/time.Duration(s.Completed)))
			}
			p50, p99 = append(p50, float64(s.P50)), append(p99, float64(s.P99))
			if b := s.MachineCPU(r.Machine.NProc); b > 0 {
				busy = append(busy, b)
			}
			sum.Errors += s.Errors
			sum.Calls += s.Function.Calls
			sum.Missed += int64(s.Devices) - s.Completed
		}
		sum.Elapsed, sum.Rate = time.Duration(stats.Median(el)), stats.Median(rate)
		sum.MaxInFlight, sum.MeanInFlight, sum.FnRate, sum.Bound = stats.Median(maxIn), stats.Median(meanIn), stats.Median(fnRate), stats.Median(bound)
		sum.ServerCPU, sum.MachineCPU = stats.Median(cpu), stats.Median(busy)
		sum.P50, sum.P99 = time.Duration(stats.Median(p50)), time.Duration(stats.Median(p99))
		out = append(out, sum)
	}
	return out
}
