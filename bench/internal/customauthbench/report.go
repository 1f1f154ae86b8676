package customauthbench

import (
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/material"
)

// Markers delimit this scenario's section in docs/benchmarks.md.
const (
	BeginMarker = "<!-- customauth:begin -->"
	EndMarker   = "<!-- customauth:end -->"
)

// Splice returns doc with section between the markers, the markers and
// section appended at the end when doc has none.
func Splice(doc, section string) string {
	block := BeginMarker + "\n" + strings.TrimRight(section, "\n") + "\n" + EndMarker + "\n"
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i >= 0 && j > i {
		rest := doc[j+len(EndMarker):]
		rest = strings.TrimPrefix(rest, "\n")
		return doc[:i] + block + rest
	}
	if doc != "" && !strings.HasSuffix(doc, "\n") {
		doc += "\n"
	}
	if doc != "" {
		doc += "\n"
	}
	return doc + block
}

var sideLabel = map[string]string{SideMTLS: "mTLS (device certificate)", SideCustom: "custom authorizer, cached decision"}

func delayLabel(d time.Duration) string {
	if d <= 0 {
		return "0 (answers at once)"
	}
	return d.String()
}

// Markdown renders the result for docs/benchmarks.md.
func (r *Result) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.Options
	m := r.Machine
	w("## Custom authorizers (customauth)\n\n")
	w("```sh\n%s\n```\n\n", o.Command())
	w("Generated %s in %v. Machine: %s cores (`nproc`), %s, %s, %s. Load (`uptime`) before: `%s`; after: `%s`.\n\n",
		m.Date, r.Took.Round(time.Second), m.NProc, m.CPUModel, m.Kernel, m.GoVersion, r.UptimeBefore, r.UptimeAfter)
	w("**Three processes share this %s-core machine**: Portico (gateway, broker, `internal/customauth`, `internal/authorizer`, `internal/function` on a SQLite store in a temporary directory), "+
		"the load generator and the user's function (a `net/http` server that checks each call's HMAC signature with `function.Verify` and answers a policy). "+
		"Absolute rates are the machine's, not Portico's; only what ran the same way is compared, as a ratio. "+
		"Other engineers' builds and tests were running on the machine at the same time (see the load averages): rerun on a quiet machine before quoting absolute numbers.\n\n", m.NProc)

	// 1. Cached versus mTLS.
	w("### Cached authorizer decision versus mTLS\n\n")
	w("Both sides connect to the same gateway ALPN listener (443's role) on 127.0.0.1, SNI `%s`, with full TLS 1.3 handshakes (X25519, server certificate ECDSA P-256, no session resumption), "+
		"then MQTT 3.1.1 CONNECT, wait for CONNACK (accepted), DISCONNECT, close. %d concurrent client goroutines, %v per run, %d rounds, the order alternating (A B, B A, ...), after a %v warm-up per side.\n\n",
		material.DomainName(0), o.Conns, o.Duration, o.Runs, o.Warmup)
	w("- **mTLS**: ALPN `x-amzn-mqtt-ca`, a device certificate (ECDSA P-256) drawn among %d registered ACTIVE ones, each with an IoT policy evaluated for iot:Connect.\n", o.Devices)
	w("- **custom authorizer, cached decision**: ALPN `mqtt`, no client certificate, username `devN?x-amz-customauthorizer-name=%s` and the same password (the token) every time; each client goroutine reconnects with its own client ID, "+
		"so after its first connect `internal/authorizer`'s result cache (keyed by the event without its connection ID) answers for refreshAfterInSeconds (300 s) and the function is not called. "+
		"The authorizer has signing disabled (no RSA token signature to verify). The session gets the function's policy (the mTLS devices' document), evaluated for iot:Connect.\n\n", AuthorizerName)
	w("| round | side | connects/s | server CPU µs/connect | client CPU µs/connect | client p50 | client p99 | function calls | errors | load (1 min) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range r.Runs {
		w("| %d | %s | %.0f | %.0f | %.0f | %.2f ms | %.2f ms | %d | %d | %s |\n", run.N, run.Side, run.Rate, us(run.per(run.ServerCPU)), us(run.per(run.ClientCPU)),
			ms(run.P50), ms(run.P99), run.FnCalls, run.Errors, run.Load)
	}
	w("\n| median | connects/s (min-max) | server CPU µs/connect | client CPU µs/connect | client p50 | client p99 | function calls (all runs) | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, side := range []string{SideMTLS, SideCustom} {
		v := r.Summarize(side)
		w("| %s | **%.0f** (%.0f-%.0f) | %.0f | %.0f | %.2f ms | %.2f ms | %d | %d |\n", sideLabel[side], v.Rate, v.RateMin, v.RateMax, v.ServerCPU, v.ClientCPU, v.P50/1000, v.P99/1000, v.FnCalls, v.Errors)
	}
	if bd := r.breakdown(); bd != "" {
		w("%s", bd)
	}
	verdict := "met"
	if !r.Met() {
		verdict = "**missed**"
	}
	ct, mt := r.Summarize(SideCustom), r.Summarize(SideMTLS)
	w("\n**Cached custom authorizer / mTLS = %.2fx** connects per second (median of the per-round ratios; ratio of the medians %.2fx). Goal >= %.1fx: %s. "+
		"Server CPU per connect, mTLS / cached custom = %.2fx.\n\n", r.Ratio(), ct.Rate/mt.Rate, Goal, verdict, r.CPURatio())

	// 2. Storms.
	if len(r.Storms) > 0 {
		r.stormMarkdown(&b)
	}
	return b.String()
}

func (r *Result) breakdown() string {
	per := map[string]map[string]time.Duration{}
	for _, side := range []string{SideMTLS, SideCustom} {
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
			continue
		}
		for k := range sum {
			sum[k] /= time.Duration(n)
		}
		per[side] = sum
	}
	if len(per) < 2 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nWhere Portico's CPU goes (CPU profile of every measured run, 100 Hz; µs per connect; a sample with any frame of `internal/customauth`, `internal/authorizer` or `internal/function` counts in the first row, the rest as `bench/internal/cpuprof` splits it):\n\n")
	fmt.Fprintf(&b, "| category | %s | %s |\n| --- | ---: | ---: |\n", sideLabel[SideMTLS], sideLabel[SideCustom])
	total := map[string]time.Duration{}
	for _, c := range Categories() {
		x, y := per[SideMTLS][c], per[SideCustom][c]
		total[SideMTLS] += x
		total[SideCustom] += y
		if x == 0 && y == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f |\n", c, us(x), us(y))
	}
	fmt.Fprintf(&b, "| total sampled | %.1f | %.1f |\n", us(total[SideMTLS]), us(total[SideCustom]))
	return b.String()
}

func (r *Result) stormMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	o := r.Options
	w("### Connect storm, a distinct token per device\n\n")
	w("%d devices connect once each (same handshake, CONNECT, CONNACK and DISCONNECT as above), each with its own client ID and token, so every connect calls the function (no cache hit). "+
		"\"At once\" is how many devices are connecting at any moment (a new one starts when one finishes). "+
		"Each concurrency runs %d storms against the function sleeping %v per call and %d against the same function answering at once, alternating. "+
		"The function server counts its calls, the most in flight at once, and the mean in flight (busy time over the window from the first call's start to the last call's end). "+
		"The function's bound is calls in flight at most over its time per call: what the function could serve at the concurrency it was offered.\n\n",
		o.StormDevices, o.StormRuns, o.StormDelay, o.StormRuns)
	w("| storm | at once | function | time | connects/s | function calls | in flight max / mean | function calls/s | function bound /s | Portico CPU µs/connect | client p50 / p99 | errors | load (1 min) |\n")
	w("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range r.Storms {
		cpu := 0.0
		if s.Completed > 0 {
			cpu = us(s.ServerCPU / time.Duration(s.Completed))
		}
		bound := "—"
		if s.Delay > 0 {
			bound = fmt.Sprintf("%.0f", s.Bound())
		}
		w("| %d | %d | %s | %.2f s | %.0f | %d | %d / %.1f | %.0f | %s | %.0f | %.1f / %.1f ms | %d | %s |\n", s.N, s.Conns, delayLabel(s.Delay), s.Elapsed.Seconds(), s.Rate,
			s.Function.Calls, s.Function.MaxInFlight, s.Function.MeanInFlight(), s.Function.Rate(), bound, cpu, ms(s.P50), ms(s.P99), s.Errors, s.Load)
	}
	w("\n| median | time for %d devices | connects/s | in flight max / mean | function bound /s | connects/s over bound | Portico CPU µs/connect | client p50 / p99 | not connected |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", o.StormDevices)
	for _, s := range r.StormSummaries() {
		bound, util := "—", "—"
		if s.Delay > 0 && s.Bound > 0 {
			bound, util = fmt.Sprintf("%.0f", s.Bound), fmt.Sprintf("%.2f", s.Rate/s.Bound)
		}
		w("| %d at once, function %s | %.2f s | **%.0f** | %.0f / %.1f | %s | %s | %.0f | %.1f / %.1f ms | %d |\n", s.Conns, delayLabel(s.Delay), s.Elapsed.Seconds(), s.Rate,
			s.MaxInFlight, s.MeanInFlight, bound, util, s.ServerCPU, ms(s.P50), ms(s.P99), s.Missed)
	}
	w("\n")
}
