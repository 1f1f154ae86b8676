// Package handshake is the "mTLS connect storm" scenario: full TLS 1.3
// handshakes per second with ECDSA P-256 server and client certificates,
// no session resumption, through Portico's gateway choosing among many
// domain configurations by SNI, versus a bare crypto/tls server with one
// certificate. Both authenticate the client certificate against the same
// device registry snapshot and hand the connection to the same kind of
// broker; the same load generator (a second process) drives both, in
// alternating runs.
package handshake

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/cpuprof"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/mosquitto"
	"github.com/portico-iot/portico/bench/internal/procstat"
	"github.com/portico-iot/portico/bench/internal/servers"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// Options shape the scenario.
type Options struct {
	Domains  int           // enabled domain configurations, each with its own certificate
	Devices  int           // registered device certificates the clients use
	Conns    int           // concurrent client goroutines
	Duration time.Duration // per measured run
	Runs     int           // measured runs per side, alternated A/B/A/B
	Warmup   time.Duration // one unmeasured run per side first
	Max      int64         // bound on attempts per run
	Curve    string        // client key exchange: x25519, p256 or default
	// Sides are the servers measured, each once per round; the order
	// rotates from round to round (A B, B A, ...). SidePortico and SideBare
	// are required; SideBareSNI is a diagnostic.
	Sides []string
	// Profile takes a CPU profile of the server process during every
	// measured run (both sides alike) and splits it into categories.
	Profile bool
	// ProfileDir, if set, keeps the profiles (<side>-<n>.prof).
	ProfileDir string
	Log        io.Writer
}

// Defaults are what `bench/cmd/handshake` uses without flags.
func Defaults() Options {
	return Options{Domains: 10000, Devices: 1000, Conns: 16, Duration: 5 * time.Second, Runs: 5,
		Warmup: time.Second, Max: 1_000_000, Curve: "x25519", Sides: []string{SidePortico, SideBare}, Profile: true, Log: os.Stderr}
}

// Side names.
const (
	SidePortico = "portico"
	SideBare    = "bare"
	// SideBareSNI is crypto/tls with every domain's certificate in a map
	// consulted by GetCertificate: what many certificates cost without the
	// gateway.
	SideBareSNI = "bare-sni"
	// SideMosquitto is Debian's mosquitto 2.0 (a process of its own) with
	// the bare side's certificate and the same CA: issue 8's peer.
	SideMosquitto = "mosquitto"
)

// Run is one measured run of one side.
type Run struct {
	Side      string
	N         int
	Completed int64
	Errors    int64
	FirstErr  string
	Elapsed   time.Duration
	Rate      float64       // completed handshakes per second
	ServerCPU time.Duration // server process CPU time during the run
	ClientCPU time.Duration
	P50, P99  time.Duration
	Load      string // 1-minute load average before the run
	// Allocs and AllocBytes are the server process's heap allocations
	// during the run; GCCPU its CPU time in the garbage collector.
	Allocs, AllocBytes uint64
	GCCPU              time.Duration
	// Profile is the server CPU time per category (cpuprof) when profiled.
	Profile map[string]time.Duration
}

// ServerCPUPer is the server's CPU time per completed handshake.
func (r Run) ServerCPUPer() time.Duration {
	if r.Completed == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Completed)
}

func (r Run) per(d time.Duration) time.Duration {
	if r.Completed == 0 {
		return 0
	}
	return d / time.Duration(r.Completed)
}

func (r Run) perN(n uint64) float64 {
	if r.Completed == 0 {
		return 0
	}
	return float64(n) / float64(r.Completed)
}

// Result is the scenario's outcome.
type Result struct {
	Options Options
	Runs    []Run
	Setup   map[string]time.Duration // material, registry, gateway snapshot
	// HeapAfterSetup is the server process's live heap once everything is
	// built (the material, the registry, the gateway's snapshot).
	HeapAfterSetup uint64
	UptimeBefore   string
	UptimeAfter    string
	// Mosquitto is the peer's version, when it ran.
	Mosquitto string
	// AllocTop is the server process's allocation profile by bytes (the
	// whole run, all sides), when profiled.
	AllocTop string
}

// Execute runs the scenario.
func Execute(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Domains < 1 || o.Devices < 1 || o.Conns < 1 || o.Runs < 1 {
		return nil, fmt.Errorf("handshake: domains, devices, conns and runs must be positive")
	}
	res := &Result{Options: o, Setup: map[string]time.Duration{}, UptimeBefore: machine.Uptime()}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "handshake: "+format+"\n", args...) }

	t := time.Now()
	set, generated, err := material.Load(o.Domains, o.Devices)
	if err != nil {
		return nil, err
	}
	res.Setup["material"] = time.Since(t)
	logf("material: %d domain and %d device certificates (generated: %v) in %v", o.Domains, o.Devices, generated, res.Setup["material"].Round(time.Millisecond))

	t = time.Now()
	reg, err := servers.NewRegistry(ctx, set)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	res.Setup["registry"] = time.Since(t)

	domains, err := servers.Domains(set)
	if err != nil {
		return nil, err
	}
	t = time.Now()
	portico, err := servers.StartPortico(domains, reg)
	if err != nil {
		return nil, err
	}
	defer portico.Close()
	res.Setup["gateway snapshot"] = time.Since(t)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapAfterSetup = ms.HeapAlloc
	logf("gateway up with %d domains (first snapshot %v, live heap %d MiB), listening on %s", len(domains), res.Setup["gateway snapshot"].Round(time.Millisecond), ms.HeapAlloc>>20, portico.Addr)

	wildcard, err := set.Wildcard.TLS()
	if err != nil {
		return nil, err
	}
	bare, err := servers.StartBare(wildcard, reg)
	if err != nil {
		return nil, err
	}
	defer bare.Close()
	addrs := map[string]string{SidePortico: portico.Addr, SideBare: bare.Addr}
	pids := map[string]int{} // sides that run as processes of their own
	for _, side := range o.Sides {
		switch side {
		case SideMosquitto:
			mq, err := mosquitto.Start(ctx, mosquitto.Options{Server: set.Wildcard, CA: set.CA.Cert})
			if err != nil {
				return nil, err
			}
			defer mq.Close()
			addrs[side], pids[side] = mq.Addr, mq.PID
			res.Mosquitto = mosquitto.Version()
		case SidePortico, SideBare:
		case SideBareSNI:
			sni, err := servers.StartBareSNI(domains, reg)
			if err != nil {
				return nil, err
			}
			defer sni.Close()
			addrs[side] = sni.Addr
		default:
			return nil, fmt.Errorf("handshake: unknown side %q", side)
		}
	}

	// The child outlives no run: ctx bounds it, and so does a deadline.
	cctx, cancel := context.WithTimeout(ctx, time.Duration(len(o.Sides)*(o.Runs+1))*(o.Duration+time.Minute)+5*time.Minute)
	defer cancel()
	p, err := child.Start(cctx, role)
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	if err := p.Send(clientSetup{MaterialDomains: o.Domains, MaterialDevices: o.Devices, Domains: o.Domains, Curve: o.Curve}); err != nil {
		return nil, err
	}
	var r ready
	if err := p.Recv(&r, 2*time.Minute); err != nil {
		return nil, fmt.Errorf("load generator: %w", err)
	}

	profDir := o.ProfileDir
	if o.Profile && profDir == "" {
		if profDir, err = os.MkdirTemp("", "portico-bench-prof-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(profDir)
	}
	measure := func(side string, n int, d time.Duration, profile bool) (Run, error) {
		run := Run{Side: side, N: n, Load: machine.LoadAverage()}
		pid, external := pids[side]
		serverCPU := machine.CPUTime
		if external {
			profile = false // this process's profile would show only the harness
			serverCPU = func() time.Duration { d, _ := procstat.CPU(pid); return d }
		}
		var prof *cpuprof.Profile
		if profile {
			var err error
			if prof, err = cpuprof.Start(profDir, fmt.Sprintf("%s-%d", side, n)); err != nil {
				return run, err
			}
			defer func() {
				if prof != nil {
					prof.Stop()
				}
			}()
		}
		mem0 := machine.ReadMem()
		cpu0 := serverCPU()
		if err := p.Send(runRequest{Addr: addrs[side], Conns: o.Conns, Duration: d, Max: o.Max, Seed: uint64(n)}); err != nil {
			return run, err
		}
		var out runResult
		var err error
		if err = p.Recv(&out, d+time.Minute); err != nil {
			return run, fmt.Errorf("load generator: %w", err)
		}
		run.ServerCPU = serverCPU() - cpu0
		mem := machine.ReadMem().Sub(mem0)
		run.Allocs, run.AllocBytes, run.GCCPU = mem.Mallocs, mem.Bytes, mem.GCCPU
		run.Completed, run.Errors, run.FirstErr, run.Elapsed = out.Completed, out.Errors, out.FirstErr, out.Elapsed
		run.ClientCPU, run.P50, run.P99 = out.ClientCPU, out.P50, out.P99
		if prof != nil {
			path := prof.Stop()
			prof = nil
			if run.Profile, err = cpuprof.Split(ctx, path); err != nil {
				logf("profile not split: %v", err)
			}
		}
		if out.Elapsed > 0 {
			run.Rate = float64(out.Completed) / out.Elapsed.Seconds()
		}
		return run, nil
	}

	if o.Warmup > 0 {
		for _, side := range o.Sides {
			w, err := measure(side, 0, o.Warmup, false)
			if err != nil {
				return nil, err
			}
			logf("warm-up %-7s %7.0f handshakes/s (errors %d)", side, w.Rate, w.Errors)
		}
	}
	for n := 1; n <= o.Runs; n++ {
		for k := range o.Sides {
			side := o.Sides[(k+n-1)%len(o.Sides)]
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			run, err := measure(side, n, o.Duration, o.Profile)
			if err != nil {
				return nil, err
			}
			res.Runs = append(res.Runs, run)
			logf("run %d %-8s %5.0f handshakes/s, server CPU %4.0f µs/hs (GC %3.0f), %3.0f allocs/hs %5.0f B/hs, p50 %v p99 %v, errors %d %s(load %s)",
				n, side, run.Rate, us(run.ServerCPUPer()), us(run.per(run.GCCPU)), run.perN(run.Allocs), run.perN(run.AllocBytes),
				run.P50.Round(10*time.Microsecond), run.P99.Round(10*time.Microsecond), run.Errors, errNote(run), run.Load)
		}
	}
	p.Send(runRequest{})
	p.Wait(10 * time.Second)
	if o.Profile {
		if res.AllocTop, err = cpuprof.AllocTop(ctx, profDir, 12); err != nil {
			logf("allocation profile: %v", err)
		}
	}
	res.UptimeAfter = machine.Uptime()
	return res, nil
}

func errNote(r Run) string {
	if r.FirstErr == "" {
		return ""
	}
	return "(first: " + r.FirstErr + ") "
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Summary is the medians per side.
type Summary struct {
	Rate, ServerCPU, ClientCPU, P50, P99 float64 // handshakes/s; µs per handshake; µs
	RateMin, RateMax                     float64
	Errors                               int64
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
		scpu = append(scpu, us(run.ServerCPUPer()))
		if run.Completed > 0 {
			ccpu = append(ccpu, us(run.ClientCPU/time.Duration(run.Completed)))
		}
		p50 = append(p50, us(run.P50))
		p99 = append(p99, us(run.P99))
		s.Errors += run.Errors
	}
	s.Rate, s.ServerCPU, s.ClientCPU, s.P50, s.P99 = stats.Median(rate), stats.Median(scpu), stats.Median(ccpu), stats.Median(p50), stats.Median(p99)
	s.RateMin, s.RateMax = stats.MinMax(rate)
	return s
}

// Ratio is the median over rounds of side a's rate over side b's in the
// same round (runs next to each other share the machine's background load).
func (r *Result) Ratio(a, b string) float64 {
	return stats.Median(r.paired(a, b, func(x, y Run) float64 { return x.Rate / y.Rate }))
}

// CPURatio is the median over rounds of side b's server CPU per handshake
// over side a's (above 1: a costs less).
func (r *Result) CPURatio(a, b string) float64 {
	return stats.Median(r.paired(a, b, func(x, y Run) float64 { return us(y.ServerCPUPer()) / us(x.ServerCPUPer()) }))
}

func (r *Result) paired(a, b string, f func(x, y Run) float64) []float64 {
	return stats.Paired(r.Runs, func(run Run) (int, string, bool) { return run.N, run.Side, run.Rate > 0 }, a, b, f)
}

func (o Options) has(side string) bool {
	for _, s := range o.Sides {
		if s == side {
			return true
		}
	}
	return false
}

// Met reports whether the goal is met (median of per-round ratios).
func (r *Result) Met() bool { return r.Ratio(SidePortico, SideBare) >= Goal }

// OwnShare is the gateway's own code per handshake, from the profiles, and
// its share of the server's sampled CPU per handshake.
func (r *Result) OwnShare() (time.Duration, float64) {
	per := r.ProfilePer(SidePortico)
	if per == nil {
		return 0, 0
	}
	var total time.Duration
	for _, v := range per {
		total += v
	}
	own := per[cpuprof.Gateway]
	if total == 0 {
		return own, 0
	}
	return own, float64(own) / float64(total)
}

// Goal is issue 3's: Portico at least 0.9x the bare server.
const Goal = 0.9

// Command is the command line that reproduces the options.
func (o Options) Command() string {
	return fmt.Sprintf("go run ./bench/cmd/handshake -domains %d -devices %d -conns %d -duration %v -runs %d -warmup %v -curve %s -sides %s",
		o.Domains, o.Devices, o.Conns, o.Duration, o.Runs, o.Warmup, o.Curve, strings.Join(o.Sides, ","))
}

// sideLabel names a side in the report.
var sideLabel = map[string]string{SidePortico: "Portico", SideBare: "bare crypto/tls", SideBareSNI: "bare crypto/tls, SNI map (diagnostic)", SideMosquitto: "mosquitto"}

// MosquittoGoal is issue 8's: Portico ahead of mosquitto.
const MosquittoGoal = 1.0

// HasMosquitto reports whether mosquitto was measured.
func (r *Result) HasMosquitto() bool { return r.Options.has(SideMosquitto) }

// MosquittoMet reports whether Portico completed more handshakes per second
// than mosquitto (median of per-round ratios).
func (r *Result) MosquittoMet() bool { return r.Ratio(SidePortico, SideMosquitto) > MosquittoGoal }

// Markdown renders the result for docs/benchmarks.md.
func (r *Result) Markdown() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "## mTLS connect storm (handshake)\n\n")
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", o.Command())
	fmt.Fprintf(&b, "Full TLS 1.3 handshakes, ECDSA P-256 server and client certificates, no session resumption (no session tickets, no client session cache), client key exchange %s. "+
		"Each connection: TCP connect, handshake with SNI drawn uniformly among %d names and a client certificate drawn among %d, MQTT CONNECT, wait for CONNACK (by then the server has accepted the client certificate), DISCONNECT, close. "+
		"%d concurrent client goroutines in a separate load-generator process (the same for every side), %v per run, %d rounds; each round runs every side once, the order alternating from round to round (A B, B A, ...), after a %v warm-up per side.\n\n",
		o.Curve, o.Domains, o.Devices, o.Conns, o.Duration, o.Runs, o.Warmup)
	fmt.Fprintf(&b, "- **Portico**: `gateway.ServeMQTT` on 127.0.0.1:0 with %d enabled domain configurations, each with its own certificate, chosen by SNI (`GetConfigForClient`); client certificates checked against the device registry's snapshot (`internal/device`, %d ACTIVE certificates, each with an IoT policy attached, evaluated for iot:Connect as `portico serve` does); the session handed to `internal/broker`.\n", o.Domains, o.Devices)
	fmt.Fprintf(&b, "- **bare crypto/tls**: one certificate (`*.%s`, same CA, same security policy), `RequireAnyClientCert` and the same registry snapshot in `VerifyConnection`, the session handed to a broker of its own, which evaluates no policy.\n", material.Zone)
	if o.has(SideBareSNI) {
		fmt.Fprintf(&b, "- **bare crypto/tls, SNI map** (diagnostic): as bare, but the %d domain certificates in a map that `GetCertificate` consults: what serving many certificates costs (on both ends of the connection) without the gateway.\n", o.Domains)
	}
	if o.has(SideMosquitto) {
		fmt.Fprintf(&b, "- **mosquitto**: `%s` (Debian) in a process of its own, the bare side's certificate, `require_certificate true` with the same CA, `tls_version tlsv1.3`, no authorization beyond the chain (configuration as in the MQTT section below); its CPU time is read from `/proc/<pid>/stat` and it is not profiled.\n", r.Mosquitto)
	}
	fmt.Fprintf(&b, "\nServer CPU is the server process's user+system time during the run (`getrusage`) over the handshakes completed; client p50/p99 is dial to CONNACK as the load generator saw it.\n\n")
	fmt.Fprintf(&b, "| round | side | handshakes/s | server CPU µs/handshake | client CPU µs/handshake | client p50 | client p99 | errors | load (1 min) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range r.Runs {
		ccpu := 0.0
		if run.Completed > 0 {
			ccpu = us(run.ClientCPU / time.Duration(run.Completed))
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f | %.0f | %.2f ms | %.2f ms | %d | %s |\n", run.N, run.Side, run.Rate, us(run.ServerCPUPer()), ccpu,
			us(run.P50)/1000, us(run.P99)/1000, run.Errors, run.Load)
	}
	fmt.Fprintf(&b, "\n| median | handshakes/s (min-max) | server CPU µs/handshake | client CPU µs/handshake | client p50 | client p99 | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, side := range o.Sides {
		v := r.Summarize(side)
		fmt.Fprintf(&b, "| %s | **%.0f** (%.0f-%.0f) | %.0f | %.0f | %.2f ms | %.2f ms | %d |\n", sideLabel[side], v.Rate, v.RateMin, v.RateMax, v.ServerCPU, v.ClientCPU, v.P50/1000, v.P99/1000, v.Errors)
	}
	if bd := r.breakdown(); bd != "" {
		b.WriteString(bd)
	}
	ratio := r.Ratio(SidePortico, SideBare)
	verdict := "met"
	if ratio < Goal {
		verdict = "**missed**"
	}
	pt, bs := r.Summarize(SidePortico), r.Summarize(SideBare)
	fmt.Fprintf(&b, "\n**Portico / bare = %.2fx** handshakes per second (median of the per-round ratios; ratio of the medians %.2fx). Goal >= %.1fx: %s. "+
		"Server CPU per handshake, bare / Portico = %.2fx (median of per-round ratios).\n",
		ratio, pt.Rate/bs.Rate, Goal, verdict, r.CPURatio(SidePortico, SideBare))
	if o.has(SideMosquitto) {
		mq := r.Summarize(SideMosquitto)
		fmt.Fprintf(&b, "\n**Portico / mosquitto = %.2fx** handshakes per second (median of the per-round ratios; ratio of the medians %.2fx). Goal: ahead of mosquitto (> %.1fx): %s. Server CPU per handshake, mosquitto / Portico = %.2fx.\n",
			r.Ratio(SidePortico, SideMosquitto), pt.Rate/mq.Rate, MosquittoGoal, verdictOf(r.MosquittoMet()), r.CPURatio(SidePortico, SideMosquitto))
	}
	if o.has(SideBareSNI) {
		fmt.Fprintf(&b, "\nDiagnostic: bare SNI map / bare = %.2fx handshakes per second, Portico / bare SNI map = %.2fx; server CPU per handshake, bare / bare SNI map = %.2fx.\n",
			r.Ratio(SideBareSNI, SideBare), r.Ratio(SidePortico, SideBareSNI), r.CPURatio(SideBareSNI, SideBare))
	}
	return b.String()
}

// ProfilePer is the server CPU per handshake in each profile category,
// over every profiled run of side.
func (r *Result) ProfilePer(side string) map[string]time.Duration {
	sum := map[string]time.Duration{}
	var n int64
	for _, run := range r.Runs {
		if run.Side != side || run.Profile == nil {
			continue
		}
		n += run.Completed
		for k, v := range run.Profile {
			sum[k] += v
		}
	}
	if n == 0 {
		return nil
	}
	for k := range sum {
		sum[k] /= time.Duration(n)
	}
	return sum
}

func verdictOf(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *Result) breakdown() string {
	per := map[string]map[string]time.Duration{}
	var profiled []string
	for _, side := range r.Options.Sides {
		if p := r.ProfilePer(side); p != nil {
			per[side] = p
			profiled = append(profiled, side)
		}
	}
	if len(per) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nWhere the server's CPU goes (CPU profile of every measured run, 100 Hz, split by `bench/internal/cpuprof`; µs per completed handshake):\n\n| category |")
	for _, side := range profiled {
		fmt.Fprintf(&b, " %s |", sideLabel[side])
	}
	fmt.Fprintf(&b, "\n| --- |%s\n", strings.Repeat(" ---: |", len(profiled)))
	names := []string{}
	for _, c := range cpuprof.Categories {
		names = append(names, c.Name)
	}
	names = append(names, cpuprof.Other)
	total := map[string]time.Duration{}
	for _, name := range names {
		fmt.Fprintf(&b, "| %s |", name)
		for _, side := range profiled {
			fmt.Fprintf(&b, " %.1f |", us(per[side][name]))
			total[side] += per[side][name]
		}
		b.WriteString("\n")
	}
	b.WriteString("| total sampled |")
	for _, side := range profiled {
		fmt.Fprintf(&b, " %.1f |", us(total[side]))
	}
	b.WriteString("\n")
	return b.String()
}
