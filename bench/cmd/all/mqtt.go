package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/mqttbench"
)

// mqttBounds writes what bounds the MQTT numbers, from this run's
// measurements and profiles.
func mqttBounds(b *strings.Builder, mq *mqttbench.Result) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	o := mq.Options
	cases := o.Cases()
	if len(mq.Flows) > 0 {
		var missed, met []string
		for _, c := range cases {
			s := fmt.Sprintf("%s %.2fx", c.Label, mq.Ratio(false, c.Name, rateOf))
			if mq.ThroughputMet(c) {
				met = append(met, s)
			} else {
				missed = append(missed, s)
			}
		}
		w("**MQTT throughput.** Goals met: %s. Goals missed: %s. ", list(met), list(missed))
		q0 := cases[0]
		pc, mc := mq.Median(q0.Name, mqttbench.SidePortico, mqttbench.ServerCPUPerMsg), mq.Median(q0.Name, mqttbench.SideMosquitto, mqttbench.ServerCPUPerMsg)
		w("At %s Portico's process spends %.1f µs of CPU per delivered message and mosquitto's %.1f µs: ", q0.Label, pc, mc)
		if per := mq.Profile[q0.Name]; per != nil {
			w("Portico's profile (table above) puts it in %s. ", topCategories(per, mq.Delivered(q0.Name), 4))
		}
		var coresP, coresM []string
		for _, c := range cases {
			if c.Spec.QoS == 0 {
				coresP = append(coresP, fmt.Sprintf("%.2f", mq.Median(c.Name, mqttbench.SidePortico, mqttbench.ServerCores)))
				coresM = append(coresM, fmt.Sprintf("%.2f", mq.Median(c.Name, mqttbench.SideMosquitto, mqttbench.ServerCores)))
			}
		}
		w("mosquitto runs its network loop on one thread, so it can keep at most one core busy; Portico's goroutines use both: in the QoS 0 cases (1->1, N->N, fan-out) mosquitto's process kept %s cores busy and Portico's %s (CPU time over the run's length). "+
			"Where Portico is ahead with several connections, it is parallelism on two cores, not a cheaper path per message. ", strings.Join(coresM, " / "), strings.Join(coresP, " / "))
		pcl, mcl := mq.Median(q0.Name, mqttbench.SidePortico, mqttbench.ClientCPUPerMsg), mq.Median(q0.Name, mqttbench.SideMosquitto, mqttbench.ClientCPUPerMsg)
		w("The load generator spent %.1f µs per message against Portico and %.1f µs against mosquitto: less than either server, so it is not what bounds the rate, but it runs on the same two cores and takes CPU time the server could use. "+
			"It costs more against mosquitto, which (with `set_tcp_nodelay true`) writes each delivery as its own TLS record and syscall, where Portico's outbox (`internal/broker/outbox.go`) writes everything queued for a connection while its previous write was in progress as one batch: the client decrypts more, smaller records from mosquitto. "+
			"Absolute rates are this machine's under its background load (load averages in the tables); the ratios compare runs made side by side.\n\n", pcl, mcl)

		var stalled []string
		for _, c := range cases {
			if c.Spec.QoS == 0 {
				continue
			}
			lost, exp := mq.Lost(false, c.Name, mqttbench.SidePortico)
			if st := mq.Stalls(c.Name, mqttbench.SidePortico); st > 0 || lost > 0 {
				stalled = append(stalled, fmt.Sprintf("%s (%d of %d deliveries missing, %d stalls)", c.Label, lost, exp, st))
			}
		}
		if len(stalled) > 0 {
			w("**QoS 1 deliveries went missing in Portico**: %s (per-run table). Every QoS 1 delivery stays in its client's in-flight map until acknowledged, and `internal/broker/sendwindow.go` writes it when the client's window of %d unacknowledged messages has room; a stall here is a bug in that window, to be reproduced with `go run ./bench/cmd/mqtt -only flow`.\n\n",
				strings.Join(stalled, "; "), o.Inflight)
		}
		w("**QoS 1 flow control** is Portico's own (`internal/broker/sendwindow.go`): at most %d unacknowledged deliveries per client (AWS's limit, or the client's smaller Receive Maximum), written at once while the window has room and otherwise kept in order until PUBACKs make room, each staying in mochi's in-flight map until acknowledged so that a reconnect resends it. "+
			"mochi-mqtt v2.7.9's own send quota, which it replaces, copied and sorted the client's whole in-flight map after every packet (half of Portico's CPU under QoS 1 load), could deadlock with a publisher, and forgot the deliveries it sent from its waiting list. "+
			"Every write to a client goes through its outbox and returns at once: mochi writes to the socket while holding the client's lock, which every publisher delivering a QoS 1 message to that client takes for a packet ID, so before the outbox the publisher's reader waited for the subscriber's socket writes (and for a stalled subscriber, until its keep-alive ran out).\n\n", o.Inflight)
	}
	if lc := mq.LatencyCases(); len(lc) > 0 {
		w("**Latency.** ")
		for _, c := range lc {
			w("%s at %.0f messages/s: p99 Portico / mosquitto = %.2fx (%s", c.Label, mq.LatencyRate[c.Name], mq.Ratio(true, c.Name, p99Of), verdict(mq.LatencyMet(c.Name)))
			if lost, exp := mq.Lost(true, c.Name, mqttbench.SidePortico); lost > 0 {
				w(": Portico's deliveries stopped, %d of %d missing, so its percentiles cover only what arrived before the stall", lost, exp)
			}
			w("). ")
		}
		w("Portico's slow deliveries come from its garbage collector's cycles (with the collector off, its p99 in this test was 0.43 ms): while messages flow, `internal/gcpace` lets the heap grow up to 512 MiB between cycles, and the live heap each cycle marks is kept small (docs/tuning.md). " +
			"The publisher, the subscriber and the server share two cores with other engineers' jobs, and either side's p99 can move by an order of magnitude from round to round (per-run table); rerun on a quiet machine before quoting a p99.\n\n")
	}
	if len(mq.Idle) > 0 {
		last := len(o.IdleSteps) - 1
		w("**Idle connections.** At %d connections Portico's RSS grows %.1f KiB per connection and mosquitto's %.1f KiB (%.2fx, goal <= 1.0x: %s). ",
			o.IdleSteps[last], mq.IdlePerConn(mqttbench.SidePortico, last)/1024, mq.IdlePerConn(mqttbench.SideMosquitto, last)/1024, mq.IdleRatio(last), verdict(mq.IdleMet(last)))
		if top := heapLeaders(mq.HeapTop, 3, o.IdleSteps[last]); top != "" {
			w("What the connections added to Portico's live heap is led by %s (heap profile above; per connection). ", top)
		}
		if mem := mq.IdleMemory(last); mem != "" {
			w("Portico's Go runtime, after a GC at %d connections, puts the growth per connection at %s. ", o.IdleSteps[last], mem)
		}
		w("mosquitto keeps one OpenSSL connection and a small context per client in C, served from one thread. " +
			"Portico keeps, per idle connection, a `crypto/tls` connection with its buffers and the parsed client certificate, mochi's client with an outbound queue of 64 packet pointers (0.5 KiB, set by `internal/broker`: a publisher finding it three quarters full waits for the write loop, so it loses nothing), and the device's policy view, and no goroutine: a connection quiet for a second is parked (`internal/broker/park.go`), its socket watched by one epoll instance and its read buffer given back, and a write loop runs only while deliveries come (`internal/broker/writer.go`). " +
			"Before parking, mochi's read and write loops kept 24 KiB of goroutine stacks on every idle connection (58.1 KiB per connection in all, 3.0x mosquitto). " +
			"After the connections arrive Portico goes quiet, and `internal/memtrim` returns the heap the handshakes left free (without it the runtime keeps up to the GC's goal, twice the live heap, resident). " +
			"With mochi's queue at 1,024 packets (8 KiB per connection), Portico held 26.9 KiB per connection at 15,000 (1.40x mosquitto).\n")
	}
}

var (
	rateOf = mqttbench.RatePerSecond
	p99Of  = mqttbench.P99
)

func list(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// topCategories names the n largest profile categories, in µs per message.
func topCategories(per map[string]time.Duration, delivered int64, n int) string {
	type kv struct {
		k string
		v time.Duration
	}
	var xs []kv
	for k, v := range per {
		xs = append(xs, kv{k, v})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].v > xs[j].v })
	var parts []string
	for i := 0; i < n && i < len(xs); i++ {
		if delivered == 0 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%.2f µs)", xs[i].k, float64(xs[i].v)/float64(time.Microsecond)/float64(delivered)))
	}
	return strings.Join(parts, ", ")
}

var heapLine = regexp.MustCompile(`^\s*(-?[0-9.]+)([kMG]?B)\s+-?[0-9.]+%\s+-?[0-9.]+%\s+\S+\s+\S+\s+(\S+)`)

// heapLeaders names the first n functions of a pprof -top listing (a heap
// difference over conns connections) with their bytes per connection.
func heapLeaders(top string, n, conns int) string {
	unit := map[string]float64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
	var parts []string
	for _, line := range strings.Split(top, "\n") {
		m := heapLine.FindStringSubmatch(line)
		if m == nil || conns == 0 {
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("`%s` (%.1f KiB)", m[3], v*unit[m[2]]/float64(conns)/1024))
		if len(parts) == n {
			break
		}
	}
	return strings.Join(parts, ", ")
}
