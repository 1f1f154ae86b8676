package mqttbench

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/cpuprof"
	"github.com/portico-iot/portico/bench/internal/material"
)

// Command is the command line that reproduces the options.
func (o Options) Command() string {
	steps := make([]string, len(o.IdleSteps))
	for i, s := range o.IdleSteps {
		steps[i] = fmt.Sprint(s)
	}
	cmd := fmt.Sprintf("go run ./bench/cmd/mqtt -domains %d -devices %d -runs %d -duration %v -messages %d -pairs %d -fanout %d -window %d -fanout-window %d -payload %d -latency-duration %v -idle %s -idle-runs %d",
		o.Domains, o.Devices, o.Runs, o.Duration, o.Messages, o.Pairs, o.Fanout, o.Window, o.FanoutWindow, o.Payload, o.LatencyDuration, strings.Join(steps, ","), o.IdleRuns)
	if len(o.Only) > 0 {
		cmd += " -only " + strings.Join(o.Only, ",")
	}
	return cmd
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// caseByName finds a throughput case.
func (o Options) caseByName(name string) (Case, bool) {
	for _, c := range o.Cases() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// stalls is the total of stalls over the runs of case on side.
func (res *Result) stalls(latency bool, c, side string) int64 {
	var n int64
	for _, r := range res.runs(latency) {
		if r.Case == c && r.Side == side {
			n += r.Result.Stalls
		}
	}
	return n
}

// ThroughputMet is the goal of case c: the ratio, and nothing lost.
func (res *Result) ThroughputMet(c Case) bool {
	lost, _ := res.Lost(false, c.Name, SidePortico)
	return res.Ratio(false, c.Name, rateOf) >= c.Goal && lost == 0
}

// LatencyMet is p99 no worse than mosquitto's (median of per-round ratios).
func (res *Result) LatencyMet(c string) bool {
	lost, _ := res.Lost(true, c, SidePortico)
	return res.Ratio(true, c, p99Of) <= 1 && lost == 0
}

// IdleMet is RSS per connection no more than mosquitto's.
func (res *Result) IdleMet(i int) bool { return res.IdleRatio(i) <= 1 }

// SummaryRows are the lines of docs/benchmarks.md's summary table.
func (res *Result) SummaryRows() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if len(res.Flows) > 0 {
		for _, c := range res.Options.Cases() {
			lost, exp := res.Lost(false, c.Name, SidePortico)
			mlost, _ := res.Lost(false, c.Name, SideMosquitto)
			w("| MQTT %s, messages/s delivered (median of %d; lost Portico / mosquitto) | %.0f (%d of %d lost) | %.0f (%d lost) (mosquitto) | **%.2fx** | >= %.1fx, 0 lost | %s |\n",
				c.Label, res.Options.Runs, res.Median(c.Name, SidePortico, rateOf), lost, exp, res.Median(c.Name, SideMosquitto, rateOf), mlost,
				res.Ratio(false, c.Name, rateOf), c.Goal, verdict(res.ThroughputMet(c)))
		}
	}
	for _, c := range res.latencyCases() {
		w("| MQTT %s latency p50 / p99 at %.0f messages/s (half the lower peak) | %s / %s | %s / %s (mosquitto) | p99 **%.2fx** | p99 <= mosquitto | %s |\n",
			c.Label, res.LatencyRate[c.Name],
			ms(time.Duration(res.LatencyMedian(c.Name, SidePortico, p50Of)*1e3)), ms(time.Duration(res.LatencyMedian(c.Name, SidePortico, p99Of)*1e3)),
			ms(time.Duration(res.LatencyMedian(c.Name, SideMosquitto, p50Of)*1e3)), ms(time.Duration(res.LatencyMedian(c.Name, SideMosquitto, p99Of)*1e3)),
			res.Ratio(true, c.Name, p99Of), verdict(res.LatencyMet(c.Name)))
	}
	for i, step := range res.Options.IdleSteps {
		if len(res.Idle) == 0 {
			break
		}
		w("| idle MQTT-over-TLS connections, server RSS per connection at %d (median of %d) | %.1f KiB | %.1f KiB (mosquitto) | **%.2fx** | <= mosquitto | %s |\n",
			step, res.Options.IdleRuns, res.IdlePerConn(SidePortico, i)/1024, res.IdlePerConn(SideMosquitto, i)/1024, res.IdleRatio(i), verdict(res.IdleMet(i)))
	}
	return b.String()
}

func (res *Result) latencyCases() []Case {
	var out []Case
	for _, c := range res.Options.Cases() {
		if _, ok := res.LatencyRate[c.Name]; ok {
			out = append(out, c)
		}
	}
	return out
}

// Markdown renders the result for docs/benchmarks.md.
func (res *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := res.Options
	w("## MQTT data plane vs mosquitto\n\n```sh\n%s\n```\n\n", o.Command())
	w("Three processes on this machine: the server under test, the load generator, and the harness (which only coordinates and reads `/proc`). Both servers listen on 127.0.0.1 and present the same certificate (`%s`, ECDSA P-256, signed by the bench CA); every client presents a device certificate from the same CA (%d of them, ECDSA P-256): mutual TLS 1.3, key exchange X25519, full handshakes.\n\n",
		material.DomainName(0), o.Devices)
	w("- **Portico**: a process of its own (`bench/internal/porticoproc`) running `gateway.ServeMQTT` with %d enabled domain configurations, SNI choosing `%s`; client certificates checked against the device registry's snapshot (`internal/device`, each certificate ACTIVE with an IoT policy attached that allows connect, publish, subscribe and receive); every CONNECT, PUBLISH, SUBSCRIBE and delivery authorized by that policy (`internal/deviceauth`); `internal/broker` (mochi-mqtt) behind it, with its defaults (AWS limits: 100 QoS 1 messages in flight per client).\n", o.Domains, material.DomainName(0))
	w("- **mosquitto**: `%s` (Debian), no authorization beyond the certificate chain, configured as:\n\n```text\n%s```\n\n", res.Mosquitto, redactDir(res.MosquittoCfg))
	w("The load generator is one Go process speaking MQTT 3.1.1 with hand-written packets (`bench/internal/mqttc`), so it spends its CPU on TLS and the socket, not on a client library: each publisher writes up to 64 PUBLISHes per TLS write, each subscriber acknowledges QoS 1 deliveries in batches. "+
		"Payload %d bytes (the send time first). Subscribers subscribe at the run's QoS. "+
		"Throughput runs are a closed loop: a publisher waits while %d of its messages (fan-out: %d) are not yet delivered to every subscriber, and at QoS 1 while %d of its PUBLISHes are unacknowledged, so no queue grows without bound and the rate is what the broker sustains; "+
		"each run publishes for at most %v and at most %d messages, then waits until every delivery has arrived or nothing moved for 2 s. "+
		"**Lost** counts deliveries owed but not made by then; a **stall** is a subscriber owed messages that got none for %v (the load generator then sends it a PINGREQ, as a client's keep-alive would). "+
		"Rate is deliveries (messages received by all subscribers) per second, first publish to last delivery (to the end of the drain when deliveries are missing). Server CPU is the server process's utime+stime from `/proc/<pid>/stat` over the run; client CPU the load generator's. "+
		"%d rounds, each running every case on both sides, the order alternating; after a 1 s warm-up per side.\n\n",
		o.Payload, o.Window, o.FanoutWindow, o.Inflight, o.Duration, o.Messages, stallAfter, o.Runs)

	if len(res.Flows) > 0 {
		w("### Throughput\n\n")
		w("| case | Portico msg/s (min-max) | mosquitto msg/s (min-max) | Portico / mosquitto | goal | lost: Portico / mosquitto | stalls: Portico / mosquitto | server CPU µs/msg: Portico / mosquitto | client CPU µs/msg: Portico / mosquitto | |\n| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |\n")
		for _, c := range o.Cases() {
			pl, pe := res.Lost(false, c.Name, SidePortico)
			ml, me := res.Lost(false, c.Name, SideMosquitto)
			w("| %s | **%.0f** (%s) | **%.0f** (%s) | **%.2fx** | >= %.1fx | %d of %d / %d of %d | %d / %d | %.1f / %.1f | %.1f / %.1f | %s |\n",
				c.Label, res.Median(c.Name, SidePortico, rateOf), res.spread(c.Name, SidePortico), res.Median(c.Name, SideMosquitto, rateOf), res.spread(c.Name, SideMosquitto),
				res.Ratio(false, c.Name, rateOf), c.Goal, pl, pe, ml, me, res.stalls(false, c.Name, SidePortico), res.stalls(false, c.Name, SideMosquitto),
				res.Median(c.Name, SidePortico, serverCPUOf), res.Median(c.Name, SideMosquitto, serverCPUOf),
				res.Median(c.Name, SidePortico, clientCPUOf), res.Median(c.Name, SideMosquitto, clientCPUOf), verdict(res.ThroughputMet(c)))
		}
		w("\nRatios are medians of the per-round ratios (runs next to each other share the machine's background load). Every run:\n\n")
		res.runTable(&b, res.Flows, false)
	}

	if lc := res.latencyCases(); len(lc) > 0 {
		w("\n### Latency at half the peak\n\n")
		w("Open loop: one publisher, one subscriber, messages sent on schedule at half the lower of the two sides' median peak rates for that QoS above (the same rate for both sides), for %v per run; latency is from the write of the PUBLISH (its send time is in the payload) to its arrival at the subscriber, both in the load generator's process (one clock).\n\n", o.LatencyDuration)
		w("| case | offered msg/s | Portico p50 / p99 | mosquitto p50 / p99 | p99 Portico / mosquitto | goal | lost: Portico / mosquitto | |\n| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |\n")
		for _, c := range lc {
			pl, pe := res.Lost(true, c.Name, SidePortico)
			ml, me := res.Lost(true, c.Name, SideMosquitto)
			w("| %s | %.0f | %s / %s | %s / %s | **%.2fx** | p99 <= mosquitto | %d of %d / %d of %d | %s |\n", c.Label, res.LatencyRate[c.Name],
				msf(res.LatencyMedian(c.Name, SidePortico, p50Of)), msf(res.LatencyMedian(c.Name, SidePortico, p99Of)),
				msf(res.LatencyMedian(c.Name, SideMosquitto, p50Of)), msf(res.LatencyMedian(c.Name, SideMosquitto, p99Of)),
				res.Ratio(true, c.Name, p99Of), pl, pe, ml, me, verdict(res.LatencyMet(c.Name)))
		}
		w("\nEvery run (p99.9 and max too):\n\n")
		res.runTable(&b, res.Latency, true)
	}

	if len(res.Idle) > 0 {
		w("\n### Idle MQTT-over-TLS connections\n\n")
		w("A fresh server per side and round (so nothing the throughput runs left counts); after %v its VmRSS (`/proc/<pid>/status`) is the baseline; the load generator then opens connections, %d at a time (full mTLS handshake, CONNECT with keep-alive 600 s, CONNACK, then nothing) up to each step, and %v later VmRSS is read again (the steady state: see `IdleSettle`). RSS per connection is (RSS - baseline) / connections held. One process may hold at most %s open files here; the load generator (one process) and each server stay below it.\n\n",
			IdleSettle, o.Parallel, IdleSettle, "20,000")
		w("| connections | Portico KiB/connection | mosquitto KiB/connection | Portico / mosquitto | goal | |\n| ---: | ---: | ---: | ---: | --- | --- |\n")
		for i, step := range o.IdleSteps {
			w("| %d | %.1f | %.1f | **%.2fx** | <= 1.0x | %s |\n", step, res.IdlePerConn(SidePortico, i)/1024, res.IdlePerConn(SideMosquitto, i)/1024, res.IdleRatio(i), verdict(res.IdleMet(i)))
		}
		w("\n| round | side | baseline RSS |")
		for _, step := range o.IdleSteps {
			w(" RSS at %d (KiB/conn) |", step)
		}
		w(" failed |\n| --- | --- | ---: |%s ---: |\n", strings.Repeat(" ---: |", len(o.IdleSteps)))
		for _, r := range res.Idle {
			w("| %d | %s | %.1f MiB |", r.N, r.Side, float64(r.Before)/(1<<20))
			for i := range o.IdleSteps {
				if i < len(r.RSS) {
					w(" %.1f MiB (%.1f) |", float64(r.RSS[i])/(1<<20), r.PerConn(i)/1024)
				} else {
					w(" — |")
				}
			}
			w(" %d |\n", r.Failed)
		}
		if res.HeapTop != "" {
			w("\nWhat Portico's live heap gained holding %d idle connections (heap profile after a GC with %d connections, minus the one before the first: `go tool pprof -sample_index=inuse_space -diff_base=before.prof -top held.prof`, first round):\n\n```text\n%s\n```\n",
				o.IdleSteps[len(o.IdleSteps)-1], o.IdleSteps[len(o.IdleSteps)-1], res.HeapTop)
		}
	}

	if len(res.Profile) > 0 {
		res.profileSection(&b)
	}
	w("\nLoad (uptime) before / after: `%s` / `%s`.\n", res.UptimeBefore, res.UptimeAfter)
	return b.String()
}

func msf(usv float64) string { return fmt.Sprintf("%.2f ms", usv/1000) }

func (res *Result) spread(c, side string) string {
	var lo, hi float64
	first := true
	for _, r := range res.Flows {
		if r.Case == c && r.Side == side {
			v := r.Result.Rate()
			if first || v < lo {
				lo = v
			}
			if first || v > hi {
				hi = v
			}
			first = false
		}
	}
	return fmt.Sprintf("%.0f-%.0f", lo, hi)
}

func (res *Result) runTable(b *strings.Builder, runs []FlowRun, latency bool) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	labels := map[string]string{}
	for _, c := range res.Options.Cases() {
		labels[c.Name] = c.Label
	}
	if latency {
		w("| round | case | side | delivered | p50 | p99 | p99.9 | max | lost | server CPU µs/msg | load (1 min) |\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	} else {
		w("| round | case | side | msg/s | sent | delivered | lost | stalls | server CPU µs/msg | client CPU µs/msg | errors | load (1 min) |\n| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	}
	for _, r := range runs {
		x := r.Result
		if latency {
			w("| %d | %s | %s | %d | %s | %s | %s | %s | %d | %.1f | %s |\n", r.N, labels[r.Case], r.Side, x.Received, ms(x.P50), ms(x.P99), ms(x.P999), ms(x.Max), x.Lost(), serverCPUOf(r), r.Load)
		} else {
			w("| %d | %s | %s | %.0f | %d | %d | %d | %d | %.1f | %.1f | %d | %s |\n", r.N, labels[r.Case], r.Side, x.Rate(), x.Sent, x.Received, x.Lost(), x.Stalls, serverCPUOf(r), clientCPUOf(r), x.Errors, r.Load)
		}
	}
}

// profileSection is where Portico's CPU goes, per case, in µs per
// delivered message, and pprof's top functions for the 1->1 cases.
func (res *Result) profileSection(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	cases := res.Options.Cases()
	w("\n### Where Portico's CPU goes\n\n")
	w("CPU profile of the Portico process during every measured throughput run (100 Hz), split by `bench/internal/cpuprof`; µs per delivered message:\n\n| category |")
	for _, c := range cases {
		w(" %s |", c.Label)
	}
	w("\n| --- |%s\n", strings.Repeat(" ---: |", len(cases)))
	delivered := map[string]int64{}
	for _, r := range res.Flows {
		if r.Side == SidePortico {
			delivered[r.Case] += r.Result.Received
		}
	}
	names := []string{}
	for _, c := range cpuprof.Categories {
		names = append(names, c.Name)
	}
	names = append(names, cpuprof.Other)
	total := map[string]time.Duration{}
	for _, name := range names {
		w("| %s |", name)
		for _, c := range cases {
			v := res.Profile[c.Name][name]
			total[c.Name] += v
			w(" %.2f |", perMsg(v, delivered[c.Name]))
		}
		w("\n")
	}
	w("| total sampled |")
	for _, c := range cases {
		w(" %.2f |", perMsg(total[c.Name], delivered[c.Name]))
	}
	w("\n")
	keys := make([]string, 0, len(res.ProfileTop))
	for k := range res.ProfileTop {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c, _ := res.Options.caseByName(k)
		w("\n`go tool pprof -top` of Portico's profiles, %s (all rounds):\n\n```text\n%s\n```\n", c.Label, res.ProfileTop[k])
	}
}

// redactDir replaces the temporary directory in the configuration.
func redactDir(conf string) string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if f := strings.Fields(line); len(f) == 2 && (f[0] == "cafile" || f[0] == "certfile" || f[0] == "keyfile") {
			i := strings.LastIndexByte(f[1], '/')
			line = f[0] + " $DIR" + f[1][i:]
		}
		if f := strings.Fields(line); len(f) == 3 && f[0] == "listener" {
			line = "listener $RANDOM_PORT 127.0.0.1"
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
