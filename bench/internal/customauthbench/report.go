package customauthbench

import (
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/cpuprof"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/section"
	"github.com/portico-iot/portico/internal/function"
)

// WriteSection replaces this scenario's section of the file at path.
func WriteSection(path, text string) error { return section.Write(path, "customauth", text) }

var sideLabel = map[string]string{SideMTLS: "mTLS (device certificate)", SideCustom: "custom authorizer, cached decision",
	SideCustomSigned: "custom authorizer with token signing, cached decision"}

// sides are the measured sides in report order.
func (o Options) sides() []string {
	var out []string
	for _, s := range []string{SideMTLS, SideCustom, SideCustomSigned} {
		if o.has(s) {
			out = append(out, s)
		}
	}
	return out
}

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
	w("Generated %s in %v at revision %s. Machine: %s cores (`nproc`), %s, %s, %s. Load (`uptime`) before: `%s`; after: `%s`.\n\n",
		m.Date, r.Took.Round(time.Second), r.Revision, m.NProc, m.CPUModel, m.Kernel, m.GoVersion, r.UptimeBefore, r.UptimeAfter)
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
		"The authorizer has signing disabled (no RSA token signature to verify). The session gets the function's policy (the mTLS devices' document), evaluated for iot:Connect.\n", AuthorizerName)
	if o.has(SideCustomSigned) {
		w("- **custom authorizer with token signing, cached decision**: as the previous side, through an authorizer with signing enabled (AWS's default), `tokenKeyName` `token` and one RSA-2048 public key: "+
			"the username carries `x-amz-customauthorizer-name=%s`, the token and its RSA-SHA256 signature (base64, URL-encoded), verified on every connect before the result cache is asked.\n", SignedAuthorizerName)
	}
	w("\n")
	w("| round | side | connects/s | server CPU µs/connect | client CPU µs/connect | client p50 | client p99 | function calls | errors | load (1 min) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range r.Runs {
		w("| %d | %s | %.0f | %.0f | %.0f | %.2f ms | %.2f ms | %d | %d | %s |\n", run.N, run.Side, run.Rate, us(run.per(run.ServerCPU)), us(run.per(run.ClientCPU)),
			ms(run.P50), ms(run.P99), run.FnCalls, run.Errors, run.Load)
	}
	w("\n| median | connects/s (min-max) | server CPU µs/connect | client CPU µs/connect | client p50 | client p99 | function calls (all runs) | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, side := range o.sides() {
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
		"Server CPU per connect, mTLS / cached custom = %.2fx.\n", r.Ratio(), ct.Rate/mt.Rate, Goal, verdict, r.CPURatio())
	if o.has(SideCustomSigned) {
		st := r.Summarize(SideCustomSigned)
		sv := "met"
		if r.RatioOf(SideCustomSigned) < Goal {
			sv = "**missed**"
		}
		w("\n**With token signing: cached custom authorizer / mTLS = %.2fx** (ratio of the medians %.2fx); goal >= %.1fx: %s. Server CPU per connect, mTLS / signed cached custom = %.2fx.\n",
			r.RatioOf(SideCustomSigned), st.Rate/mt.Rate, Goal, sv, r.CPURatioOf(SideCustomSigned))
	}
	w("\n")

	// 2. Storms.
	if len(r.Storms) > 0 {
		r.stormMarkdown(&b)
	}
	r.boundsMarkdown(&b)
	return b.String()
}

func (r *Result) breakdown() string {
	per := map[string]map[string]time.Duration{}
	sides := r.Options.sides()
	for _, side := range sides {
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
	if len(per) < len(sides) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nWhere Portico's CPU goes (CPU profile of every measured run, 100 Hz; µs per connect; a sample with any frame of `internal/customauth`, `internal/authorizer` or `internal/function` counts in the first row, the rest as `bench/internal/cpuprof` splits it):\n\n")
	b.WriteString("| category |")
	for _, side := range sides {
		fmt.Fprintf(&b, " %s |", sideLabel[side])
	}
	fmt.Fprintf(&b, "\n| --- |%s\n", strings.Repeat(" ---: |", len(sides)))
	total := map[string]time.Duration{}
	for _, c := range Categories() {
		nonzero := false
		for _, side := range sides {
			total[side] += per[side][c]
			nonzero = nonzero || per[side][c] != 0
		}
		if !nonzero {
			continue
		}
		fmt.Fprintf(&b, "| %s |", c)
		for _, side := range sides {
			fmt.Fprintf(&b, " %.1f |", us(per[side][c]))
		}
		b.WriteString("\n")
	}
	b.WriteString("| total sampled |")
	for _, side := range sides {
		fmt.Fprintf(&b, " %.1f |", us(total[side]))
	}
	b.WriteString("\n")
	return b.String()
}

func (r *Result) stormMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	o := r.Options
	w("### Connect storm, a distinct token per device\n\n")
	w("%d devices connect once each (same handshake, CONNECT, CONNACK and DISCONNECT as above), each with its own client ID and token, so every connect calls the function (no cache hit). "+
		"\"At once\" is how many devices are connecting at any moment (a new one starts when one finishes). "+
		"Each concurrency runs %d storms against the function sleeping %v per call and %d against the same function answering at once, alternating. "+
		"The function server counts its calls, the TCP connections Portico opened to it, the most calls in flight at once, and the mean in flight (busy time over the window from the first call's start to the last call's end). "+
		"The function's bound is calls in flight at most over its time per call: what the function could serve at the concurrency it was offered. "+
		"Lock wait is the time Portico's goroutines spent blocked on mutexes (`/sync/mutex/wait/total:seconds`); in the CPU column, ours is Portico's, the load generator's and the function's CPU time over %s cores x the storm's time, machine busy the share of all the machine's CPU time that was busy (every process, `/proc/stat`): the difference is other processes'.\n\n",
		o.StormDevices, o.StormRuns, o.StormDelay, o.StormRuns, r.Machine.NProc)
	w("| storm | at once | function | time | connects/s | function calls (new TCP connections) | in flight max / mean | function calls/s | function bound /s | Portico CPU µs/connect | lock wait µs/connect | CPU: ours / machine busy | client p50 / p99 | errors | load (1 min) |\n")
	w("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range r.Storms {
		per := func(d time.Duration) float64 {
			if s.Completed == 0 {
				return 0
			}
			return us(d / time.Duration(s.Completed))
		}
		bound := "—"
		if s.Delay > 0 {
			bound = fmt.Sprintf("%.0f", s.Bound())
		}
		busy := "—"
		if b := s.MachineCPU(r.Machine.NProc); b > 0 {
			busy = fmt.Sprintf("%.0f%% / %.0f%%", 100*b, 100*s.MachineBusy)
		}
		w("| %d | %d | %s | %.2f s | %.0f | %d (%d) | %d / %.1f | %.0f | %s | %.0f | %.1f | %s | %.1f / %.1f ms | %d | %s |\n", s.N, s.Conns, delayLabel(s.Delay), s.Elapsed.Seconds(), s.Rate,
			s.Function.Calls, s.Function.NewConns, s.Function.MaxInFlight, s.Function.MeanInFlight(), s.Function.Rate(), bound, per(s.ServerCPU), per(s.MutexWait), busy,
			ms(s.P50), ms(s.P99), s.Errors, s.Load)
	}
	sums := r.StormSummaries()
	w("\n| median | time for %d devices | connects/s | in flight max / mean | function bound /s | Portico CPU µs/connect | client p50 / p99 | not connected |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", o.StormDevices)
	for _, s := range sums {
		bound := "—"
		if s.Delay > 0 {
			bound = fmt.Sprintf("%.0f", s.Bound)
		}
		w("| %d at once, function %s | %.2f s | **%.0f** | %.0f / %.1f | %s | %.0f | %.1f / %.1f ms | %d |\n", s.Conns, delayLabel(s.Delay), s.Elapsed.Seconds(), s.Rate,
			s.MaxInFlight, s.MeanInFlight, bound, s.ServerCPU, ms(s.P50), ms(s.P99), s.Missed)
	}
	w("\n")
	for _, v := range r.StormVerdicts() {
		w("- %s\n", v)
	}
	if t := r.stormProfileTable(); t != "" {
		w("\n%s", t)
	}
	for _, s := range r.Storms {
		if s.Errors == 0 {
			continue
		}
		w("- **Storm %d (%d at once, function %s): %d of %d devices failed** (first error at the device: %s). Portico logged %d failed function calls (first reason: %s); the function server saw %d calls. "+
			"During the storm our three processes had %.0f%% of the machine's CPU while the machine was %.0f%% busy (every process).\n",
			s.N, s.Conns, delayLabel(s.Delay), s.Errors, s.Devices, s.FirstErr, s.FnFailures, orNone(s.FnFirstFailure), s.Function.Calls,
			100*s.MachineCPU(r.Machine.NProc), 100*s.MachineBusy)
	}
	w("\n")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// StormVerdicts say, per concurrency, what bounded the storm against the
// slow function: compared with the same storm against the instant function
// and with what the function's delay alone predicts.
func (r *Result) StormVerdicts() []string {
	sums := r.StormSummaries()
	find := func(c int, slow bool) *StormSummary {
		for i := range sums {
			if sums[i].Conns == c && (sums[i].Delay > 0) == slow {
				return &sums[i]
			}
		}
		return nil
	}
	cached := r.Summarize(SideCustom).Rate
	var out []string
	seen := map[int]bool{}
	for _, s := range sums {
		if seen[s.Conns] {
			continue
		}
		seen[s.Conns] = true
		slow, fast := find(s.Conns, true), find(s.Conns, false)
		if slow == nil || fast == nil || fast.Rate == 0 {
			continue
		}
		d := slow.Delay
		// If Portico added nothing but the function's delay to each
		// connect, Conns devices at once would connect at this rate.
		predicted := float64(s.Conns) / (d + fast.P50).Seconds()
		ratio := slow.Rate / fast.Rate
		// The share of a device's connect time spent waiting for the
		// function: near 1, the function bounds the storm; near 0, the
		// connect waits on something else (CPU for the handshakes).
		share := 0.0
		if slow.P50 > 0 {
			share = min(1, d.Seconds()/slow.P50.Seconds())
		}
		text := fmt.Sprintf("**%d devices at once**: %.0f connects/s against the %v function, %.2fx the rate against the instant function (%.0f/s); "+
			"Portico kept up to %.0f calls in flight (mean %.1f), so the function could have served %.0f/s; the call is %.1f%% of a connect's time (client p50 %.1f ms). ",
			s.Conns, slow.Rate, d, ratio, fast.Rate, slow.MaxInFlight, slow.MeanInFlight, slow.Bound, 100*share, ms(slow.P50))
		if share >= 0.5 {
			added := slow.P50 - fast.P50
			text += fmt.Sprintf("**The function bounds it**: each connect waits for its call, and %d at once over (%v + the connect time without the function, p50 %.1f ms) predicts %.0f/s; measured %.0f/s, %.2fx of that. "+
				"At the median a connect took %.1f ms longer than against the instant function, for a %v function", s.Conns, d, ms(fast.P50), predicted, slow.Rate, slow.Rate/predicted, ms(added), d)
			if added <= d+d/5 {
				text += ": Portico adds no waiting of its own."
			} else {
				text += fmt.Sprintf(": Portico adds about %.1f ms of its own.", ms(added-d))
			}
		} else {
			text += fmt.Sprintf("The function is not the bound: Portico calls it concurrently, and the storm is bounded by CPU, as the instant-function storm is: for the handshakes, and for Portico's side of each call. "+
				"Portico's CPU per connect is %.0f µs against the slow function and %.0f against the instant one, against %.0f for a cached decision (%.0f connects/s with %d connecting at once): "+
				"about %.0f µs per call (building and encoding the event, the HTTP round trip, parsing the answer and its policy; the profile table below). "+
				"Portico, the load generator and the function together used %.0f%% of the %s cores during these storms (median).",
				slow.ServerCPU, fast.ServerCPU, r.Summarize(SideCustom).ServerCPU, cached, r.Options.Conns, fast.ServerCPU-r.Summarize(SideCustom).ServerCPU, 100*slow.MachineCPU, r.Machine.NProc)
			if slow.MachineCPU > 0 && slow.MachineCPU < 0.8 {
				text += " The rest went to the machine's other processes (see the load averages): on a quiet machine the same storm would run faster, bounded by the same handshakes."
			}
			if ratio < 0.9 {
				text += fmt.Sprintf(" The %.2fx between the two is more than the call's share of a connect explains: compare the storms' rows (load, Portico CPU per connect) before reading it as Portico's.", ratio)
			}
		}
		out = append(out, text)
	}
	return out
}

// categoryPer is a side's profile category in µs per connect.
func (r *Result) categoryPer(side, cat string) float64 {
	var sum time.Duration
	var n int64
	for _, run := range r.Runs {
		if run.Side == side && run.Profile != nil {
			sum += run.Profile[cat]
			n += run.Completed
		}
	}
	if n == 0 {
		return 0
	}
	return us(sum / time.Duration(n))
}

func (r *Result) boundsMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	ct, mt := r.Summarize(SideCustom), r.Summarize(SideMTLS)
	w("### What bounds the numbers\n\n")
	w("**Cached decision.** Every measured cached connect was answered by the result cache (%d function calls in those runs). ", ct.FnCalls)
	if auth := r.categoryPer(SideCustom, CatCustomAuth); auth > 0 {
		w("The custom-authorizer path costs Portico %.0f µs per connect (choosing the authorizer, building the event, JSON-encoding and hashing it for the cache key, the cache lookup, the session's authorizer), "+
			"while the mTLS side spends %.0f µs more in public-key crypto (verifying the client's CertificateVerify signature) and parses the client certificate. ",
			auth, r.categoryPer(SideMTLS, cpuprof.PKC)-r.categoryPer(SideCustom, cpuprof.PKC))
	}
	w("Server CPU per connect is %.0f µs (mTLS) against %.0f µs (cached custom). The load generator shares the machine and does less for the custom side too (no client certificate to sign with), "+
		"so the rate ratio (%.2fx) is both ends' saving; the server CPU ratio (%.2fx) is Portico's alone.", mt.ServerCPU, ct.ServerCPU, r.Ratio(), r.CPURatio())
	if r.Options.has(SideCustomSigned) {
		st := r.Summarize(SideCustomSigned)
		w(" With token signing, Portico verifies the token's RSA-2048 signature on every connect before asking the cache (`authorizer.VerifySignature`, which also parses the PEM public key each time): "+
			"server CPU %.0f µs per connect", st.ServerCPU)
		if a, b := r.categoryPer(SideCustomSigned, CatCustomAuth), r.categoryPer(SideCustom, CatCustomAuth); a > 0 {
			w(", the custom-authorizer path %.0f µs against %.0f without signing", a, b)
		}
		w(".")
	}
	w("\n\n")
	if len(r.Storms) > 0 {
		var dialled, calls, closedIdle, closedNew, firstDialled int64
		for k, s := range r.Storms {
			dialled += s.Function.NewConns
			calls += s.Function.Calls
			closedIdle += s.Function.ClosedIdle
			closedNew += s.Function.ClosedNew
			if k == 0 {
				firstDialled = s.Function.NewConns
			}
		}
		client := fmt.Sprintf("internal/function's default client (up to %d idle connections per function host)", function.MaxIdleConnsPerHost)
		if r.Options.NetHTTPDefaultClient {
			client = "`&http.Client{}` (net/http's default transport, 2 idle connections per host; `-net-http-default-client`)"
		}
		w("**Storm.** Portico called the function through %s: %d of the %d calls in all storms dialled a new TCP connection (%d of them in the first storm, while the pool grew); "+
			"the function server saw %d connections closed idle (Portico closing what its pool does not keep) and %d closed before their first request (dialled for a call that got an idle connection first). ",
			client, dialled, calls, firstDialled, closedIdle, closedNew)
		w("With net/http's default of 2 idle connections per host (what `function.New` used before commits 4798241 and 69f6348; `-net-http-default-client` measures it), 75-95%% of the calls dialled a new connection in every storm, " +
			"and when this was profiled `net/http.(*Transport).dialConnFor` took about 10%% of Portico's CPU in the 2,000-at-once storm (`customauth.(*Authenticator).Authenticate`, inclusive: about 180 µs per connect, against about 95 with the pool), and every such call left a TIME_WAIT socket on Portico's side " +
			"(thousands per storm; towards a remote function, a few hundred calls a second for a minute exhaust the ephemeral ports). " +
			"With 256 idle connections per host, most calls still dialled: on this starved machine a call's round trip stretches far beyond the function's 10 ms, so over 1,000 calls were in flight at Portico's transport.\n\n")
		w("Lock wait is large and erratic when 2,000 devices connect at once. A mutex profile (`-mutexprofile FILE`, then `go tool pprof -top`) showed the goroutines queueing on the gateway-wide stop context: "+
			"every connection derives `context.WithTimeout(g.stopCtx, ...)` in `gateway.(*Gateway).handle` and in `serveMQTTCustom`, and `superviseCustom` a `context.WithCancel(g.stopCtx)` for the session, "+
			"and each of these adds and removes a child under that one context's mutex. With those derived from `context.Background()` instead (an experiment, not committed), the queue moved to mochi-mqtt's `Clients.Add` RWMutex "+
			"and the storm rates did not change beyond the run-to-run noise: with 2,000 connections in flight on %s cores, goroutines wait at the first global lock they meet instead of in the run queue. "+
			"These locks are not what bounds the storm here; on a machine with many cores they are the first to shard (per-connection deadlines instead of contexts derived from `stopCtx`).\n\n", r.Machine.NProc)
	}
}

// stormProfileTable is Portico's CPU per connect by profile category for
// each (concurrency, delay) of the storms, next to the cached decision.
func (r *Result) stormProfileTable() string {
	type col struct {
		label string
		per   map[string]time.Duration
	}
	var cols []col
	for _, sum := range r.StormSummaries() {
		agg := map[string]time.Duration{}
		var n int64
		for _, s := range r.Storms {
			if s.Conns != sum.Conns || s.Delay != sum.Delay || s.Profile == nil {
				continue
			}
			n += s.Completed
			for k, v := range s.Profile {
				agg[k] += v
			}
		}
		if n == 0 {
			continue
		}
		for k := range agg {
			agg[k] /= time.Duration(n)
		}
		cols = append(cols, col{fmt.Sprintf("storm, %d at once, function %s", sum.Conns, delayLabel(sum.Delay)), agg})
	}
	if len(cols) == 0 {
		return ""
	}
	cached := map[string]time.Duration{}
	for _, c := range Categories() {
		cached[c] = time.Duration(r.categoryPer(SideCustom, c) * float64(time.Microsecond))
	}
	cols = append([]col{{sideLabel[SideCustom] + " (runs above)", cached}}, cols...)
	var b strings.Builder
	fmt.Fprintf(&b, "Where Portico's CPU goes per connect in the storms (CPU profile of every storm, µs per connected device, same categories as above):\n\n| category |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.label)
	}
	fmt.Fprintf(&b, "\n| --- |%s\n", strings.Repeat(" ---: |", len(cols)))
	total := make([]time.Duration, len(cols))
	for _, cat := range Categories() {
		nonzero := false
		for _, c := range cols {
			nonzero = nonzero || c.per[cat] != 0
		}
		if !nonzero {
			continue
		}
		fmt.Fprintf(&b, "| %s |", cat)
		for i, c := range cols {
			fmt.Fprintf(&b, " %.1f |", us(c.per[cat]))
			total[i] += c.per[cat]
		}
		b.WriteString("\n")
	}
	b.WriteString("| total sampled |")
	for _, t := range total {
		fmt.Fprintf(&b, " %.1f |", us(t))
	}
	b.WriteString("\n\n")
	return b.String()
}
