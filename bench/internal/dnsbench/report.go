package dnsbench

import (
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/section"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// sectionName names the section this benchmark owns in docs/benchmarks.md.
const sectionName = "dns"

// Command is how the section is reproduced.
const Command = "go run ./bench/cmd/dns -write docs/benchmarks.md"

// rates returns the queries/s of every run of side and kind, in round order.
func (r *Result) rates(side, kind string) []float64 {
	var out []float64
	for _, run := range r.Runs {
		if run.Side == side && run.Kind == kind {
			out = append(out, run.QPS)
		}
	}
	return out
}

// Median is the median queries/s of side and kind.
func (r *Result) Median(side, kind string) float64 { return stats.Median(r.rates(side, kind)) }

// ratio is the median of the per-round ratios a/b (runs of one round ran
// next to each other, under the same background load).
func (r *Result) ratio(sideA, kindA, sideB, kindB string) float64 {
	a, b := r.rates(sideA, kindA), r.rates(sideB, kindB)
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	return stats.Median(rs)
}

// VsKnot is Portico's queries/s over Knot's for kind.
func (r *Result) VsKnot(kind string) float64 { return r.ratio(SidePortico, kind, SideKnot, kind) }

// FailoverVsStatic is side's failover queries/s over its static ones.
func (r *Result) FailoverVsStatic(side string) float64 {
	return r.ratio(side, KindFailover, side, KindStatic)
}

// Met reports whether both goals of issue 5 are met.
func (r *Result) Met() bool {
	return r.VsKnot(KindStatic) >= GoalVsKnot && r.VsKnot(KindFailover) >= GoalVsKnot &&
		r.FailoverVsStatic(SidePortico) >= GoalFailover
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// Markdown is the report section, markers excluded.
func (r *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.Options
	w("## Authoritative DNS: Portico versus Knot (dnsperf)\n\n")
	w("```sh\n%s\n```\n\n", Command)
	w("Generated %s in %v (%s; %s; %s). ", r.Date, r.Took.Round(time.Second), r.Versions["portico"], r.Versions["knotd"], r.Versions["dnsperf"])
	w("`portico serve` (built from this checkout, 127.0.0.1) holds the zone `%s`, created through its Route 53 API: %d static A names and %d failover names "+
		"(a PRIMARY behind a TCP health check of a live local port, probed every 10 s throughout, and a SECONDARY). "+
		"Knot (`knotd`, 127.0.0.2) is a secondary of Portico: it transferred the zone by AXFR (`--dns-transfer-allow`, `--dns-notify`), so both serve the same records; "+
		"a failover name reaches Knot as the record Portico currently answers, a plain A record. "+
		"dnsperf asks each server, over UDP, for every name of one kind in turn, for %v per run; %d rounds of four runs (Portico static, Knot static, Knot failover, Portico failover, "+
		"the cycle rotated by one run each round, so that the runs a ratio compares ran next to each other in most rounds); rates are medians of the runs, ratios medians of the per-round ratios. "+
		"Knot's failover / static compares two sets of identical plain A records: its distance from 1.00x is the noise of this run.\n\n",
		zoneName, o.Names, o.Names, o.Duration, o.Runs)
	w("| | Portico q/s | Knot q/s | Portico / Knot | goal | |\n| --- | ---: | ---: | ---: | --- | --- |\n")
	for _, kind := range []string{KindStatic, KindFailover} {
		w("| %s | %.0f | %.0f | **%.2fx** | >= %.1fx | %s |\n", kind, r.Median(SidePortico, kind), r.Median(SideKnot, kind),
			r.VsKnot(kind), GoalVsKnot, verdict(r.VsKnot(kind) >= GoalVsKnot))
	}
	w("| failover / static | **%.2fx** | %.2fx | | >= %.1fx (Portico) | %s |\n\n", r.FailoverVsStatic(SidePortico), r.FailoverVsStatic(SideKnot),
		GoalFailover, verdict(r.FailoverVsStatic(SidePortico) >= GoalFailover))
	w("Every run:\n\n| round | server | names | q/s | sent | lost | avg latency | load before |\n| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range r.Runs {
		w("| %d | %s | %s | %.0f | %d | %d | %.2f ms | %s |\n", run.Round, run.Side, run.Kind, run.QPS, run.Sent, run.Lost,
			float64(run.Latency)/float64(time.Millisecond), run.Load)
	}
	w("\nCommands (ports as run):\n\n```sh\n%s\n```\n\n", strings.Join(r.Commands, "\n"))
	w("Answers checked before measuring:\n\n```text\n%s\n```\n\n", strings.Join(r.Checks, "\n"))
	w("**What bounds the numbers.** dnsperf, the server under test and the other engineers' work share the machine's cores, so the absolute rates are the machine's; "+
		"the ratios compare runs made next to each other. dnsperf keeps %d queries outstanding over %d sockets (`-c %d -q %d -T %d`). ",
		o.Outstanding, o.Clients, o.Clients, o.Outstanding, o.Threads)
	w("Portico answers a failover name from the record set chosen when the health check last changed (the choice is made when the snapshot is built, not per query), " +
		"so a failover query does the work of a static one: the same map lookups and the same packing; `BenchmarkRespond` in `internal/dnsserver` shows the same cost per answer. " +
		"On a socket bound to one address Portico reads and answers UDP with a fixed set of goroutines and reused buffers (`internal/dnsserver/udp.go`); " +
		"miekg/dns's server, which it replaced there, starts a goroutine per packet, and the in-process rate under dnsperf doubled with the change. " +
		"A CPU profile of the in-process server under dnsperf (`go run ./bench/cmd/dns -profile cpu.prof`) now puts about half of Portico's time in the two system calls each query costs " +
		"(`recvfrom`, `sendto`), a quarter in unpacking, answering and packing, and a tenth in the Go scheduler; Knot batches packets (`recvmmsg`/`sendmmsg`) with one thread per core. " +
		"The load average before each run is in the last column of the table: above the number of cores, both servers waited for CPU much of the time, " +
		"and the ratios then say how the two fare on a busy machine, not on an idle one.\n")
	return b.String()
}

// WriteSection replaces this benchmark's section of the file at path.
func WriteSection(path, text string) error { return section.Write(path, sectionName, text) }
