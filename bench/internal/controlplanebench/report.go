package controlplanebench

import (
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/section"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// sectionName names the section this benchmark owns in docs/benchmarks.md.
const sectionName = "controlplane"

// Command is how the section is reproduced.
const Command = "go run ./bench/cmd/controlplane -write docs/benchmarks.md"

// Goal is issue 8's goal for Portico's calls/s over moto's.
const Goal = 20.0

// WriteSection replaces this benchmark's section of the file at path.
func WriteSection(path, text string) error { return section.Write(path, sectionName, text) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runs returns side's runs in round order.
func (r *Result) runs(side string) []Run {
	var out []Run
	for _, run := range r.Runs {
		if run.Side == side {
			out = append(out, run)
		}
	}
	return out
}

// Median is the median calls/s of side.
func (r *Result) Median(side string) float64 {
	var xs []float64
	for _, run := range r.runs(side) {
		xs = append(xs, run.Rate())
	}
	return stats.Median(xs)
}

// medianOf is the median of f over side's runs.
func (r *Result) medianOf(side string, f func(Run) float64) float64 {
	var xs []float64
	for _, run := range r.runs(side) {
		xs = append(xs, f(run))
	}
	return stats.Median(xs)
}

// Errors is the number of failed calls of side over all runs.
func (r *Result) Errors(side string) int {
	n := 0
	for _, run := range r.runs(side) {
		n += run.Errors
	}
	return n
}

// Ratio is the median of the per-round ratios Portico calls/s over moto
// calls/s (the two runs of a round ran next to each other).
func (r *Result) Ratio() float64 {
	p, m := r.runs(SidePortico), r.runs(SideMoto)
	var rs []float64
	for i := range min(len(p), len(m)) {
		if m[i].Rate() > 0 {
			rs = append(rs, p[i].Rate()/m[i].Rate())
		}
	}
	return stats.Median(rs)
}

// Met reports whether the goal is met with no failed call on either side.
func (r *Result) Met() bool {
	return r.Ratio() >= Goal && r.Errors(SidePortico) == 0 && r.Errors(SideMoto) == 0
}

// cpuPerCall is the server's CPU time per successful call.
func cpuPerCall(run Run) time.Duration {
	if run.Calls == 0 {
		return 0
	}
	return run.CPU / time.Duration(run.Calls)
}

// Markdown is the report section, markers excluded.
func (r *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.Options
	w("## Control plane: DescribeDomainConfiguration, Portico versus moto_server\n\n")
	w("```sh\n%s\n```\n\n", Command)
	w("Generated %s in %v; Portico %s, %s, %s. ", r.Date, r.Took.Round(time.Second), r.Versions["portico"], r.Versions["moto"], r.Versions["go"])
	w("Machine: %s, %s cores, shared by the client and both servers (the load generator takes CPU from the server it measures, "+
		"so the absolute rates are this machine's and the ratio is the comparable number).\n\n", r.Machine.CPUModel, r.Machine.NProc)
	w("`portico serve` (built from this checkout) and `moto_server` (`-H 127.0.0.1`, threaded werkzeug) listen on 127.0.0.1, each on a free port. "+
		"Through the AWS SDK for Go v2 the benchmark imports one wildcard server certificate into each side's ACM and creates the same %d customer-managed "+
		"domain configurations on both (a domain name each, that certificate), then checks that each describes as created. "+
		"One client code, the SDK's `iot.Client` (SigV4, region %s, its default HTTP transport), measures both: %d workers each call "+
		"`DescribeDomainConfiguration` on random names, back to back, for %v per run (at most %d calls) after %v of unmeasured warm-up. "+
		"%d rounds, each measuring both sides, the order alternating between rounds. Calls/s and latencies are medians over the runs, "+
		"the ratio the median of the per-round ratios; server CPU is the server process's utime+stime (`/proc/<pid>/stat`) over the measured runs.\n\n",
		o.Configs, Region, o.Workers, o.Duration, o.MaxCalls, o.Warmup, o.Rounds)
	verdict := "met"
	if !r.Met() {
		verdict = "**missed**"
	}
	w("| | calls/s | p50 | p99 | server CPU | CPU per call | failed calls |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, side := range []string{SidePortico, SideMoto} {
		w("| %s | %.0f | %.2f ms | %.2f ms | %.0f%% of a core | %.0f µs | %d |\n", side, r.Median(side),
			r.medianOf(side, func(run Run) float64 { return ms(run.P50) }),
			r.medianOf(side, func(run Run) float64 { return ms(run.P99) }),
			r.medianOf(side, func(run Run) float64 { return 100 * run.CPU.Seconds() / run.Elapsed.Seconds() }),
			r.medianOf(side, func(run Run) float64 { return float64(cpuPerCall(run)) / float64(time.Microsecond) }),
			r.Errors(side))
	}
	w("\nPortico / moto: **%.1fx** calls/s (goal >= %.0fx, with no failed call): %s.\n\n", r.Ratio(), Goal, verdict)
	w("Every run:\n\n| round | server | calls | failed | time | calls/s | p50 | p99 | server CPU | load before |\n" +
		"| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range r.Runs {
		w("| %d | %s | %d | %d | %.2f s | %.0f | %.2f ms | %.2f ms | %.2f s | %s |\n", run.Round, run.Side, run.Calls, run.Errors,
			run.Elapsed.Seconds(), run.Rate(), ms(run.P50), ms(run.P99), run.CPU.Seconds(), run.Load)
	}
	if len(r.ErrorText) > 0 {
		w("\nFirst distinct errors:\n\n```text\n%s\n```\n", strings.Join(r.ErrorText, "\n"))
	}
	w("\n**What bounds the numbers.** The %d client workers, the SDK's signing and parsing, and the server share %s cores: "+
		"when the server is fast, the client is a large part of the work on the machine, and the measured rate is a floor for what the server alone could answer. "+
		"CPU per call is the server's own cost, independent of the client, and is the better number to compare servers by on a machine this small. "+
		"The server CPU column can exceed 100%% of a core: both servers answer concurrent requests on several threads. "+
		"To see where a server's time goes, profile it from outside during a longer run, e.g. "+
		"`perf record -g -p $(pgrep -f 'controlplanebench-.*/portico serve')` while `go run ./bench/cmd/controlplane -rounds 1 -duration 20s` measures it.\n",
		o.Workers, r.Machine.NProc)
	return b.String()
}
