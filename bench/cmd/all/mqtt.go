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
			"It costs more against mosquitto, which (with `set_tcp_nodelay true`) writes each delivery as its own TLS record and syscall, where mochi gathers deliveries in a 2 KiB write buffer: the client decrypts more, smaller records from mosquitto. "+
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
			w("**QoS 1 deliveries stop in Portico**: %s. The subscriber gets a few hundred messages, then nothing, while its connection stays up and PINGREQ is answered; the watchdog's PINGREQs do not restart it. "+
				"The cause is in mochi-mqtt v2.7.9's flow control, which `internal/broker` relies on for AWS's 100 messages in flight per client: a QoS 1 message for a client whose send quota is spent waits in its inflight map marked \"immediate\"; "+
				"after each packet the client sends, `Server.processPacket` writes one such message, **deletes it from the inflight map** and decreases the quota, so the subscriber's PUBACK for it finds no inflight entry (`processPuback` returns early) and never gives the quota back. "+
				"Each message delivered that way leaks one unit of quota; after %d of them the client's quota is 0 with nothing in flight, and deliveries to it stop until it reconnects. "+
				"mosquitto delivers the same runs completely. The lift is in `internal/broker`: give the quota back for a PUBACK whose packet ID is no longer in flight (an `OnPacketRead` hook for PUBACK), or stop relying on mochi's immediate queue. "+
				"The QoS 1 rates above are therefore not comparable until that is fixed; they measure the time to the stall.\n\n",
				strings.Join(stalled, "; "), o.Inflight)
		}
		if share := getAllShare(mq.ProfileTop[cases[1].Name]); share != "" {
			w("**QoS 1 costs Portico's CPU where it does not stall**: in the %s profile (pprof -top above) mochi's `Inflight.GetAll` takes %s of the samples inclusive, and much of the garbage collection is its garbage: "+
				"`processPacket` calls `Inflight.NextImmediate` after every packet a client sends (each PUBACK), and that walks every message the client has in flight, copies the waiting ones (whole packets, by value) into a new slice and sorts them, so a subscriber with a backlog costs O(n log n) and n packet copies per acknowledgement. "+
				"The QoS 1 runs that did not stall still ran at a small fraction of mosquitto's rate with hundreds of µs of server CPU per message (table above). This is mochi's, behind `internal/broker`; the quota fix above does not remove it.\n\n",
				cases[1].Label, share)
		}
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
		w("The publisher, the subscriber and the server share two cores with other engineers' jobs, and the same side's p99 moves by an order of magnitude from round to round (per-run table): the tails here are mostly the machine's scheduling, the p50s compare the servers' paths; rerun on a quiet machine before quoting a p99.\n\n")
	}
	if len(mq.Idle) > 0 {
		last := len(o.IdleSteps) - 1
		w("**Idle connections.** At %d connections Portico's RSS grows %.1f KiB per connection and mosquitto's %.1f KiB (%.2fx, goal <= 1.0x: %s). ",
			o.IdleSteps[last], mq.IdlePerConn(mqttbench.SidePortico, last)/1024, mq.IdlePerConn(mqttbench.SideMosquitto, last)/1024, mq.IdleRatio(last), verdict(mq.IdleMet(last)))
		if top := heapLeaders(mq.HeapTop, 3, o.IdleSteps[last]); top != "" {
			w("What the connections added to Portico's live heap is led by %s (heap profile above; per connection). ", top)
		}
		w("mosquitto keeps one OpenSSL connection and a small context per client in C; Portico keeps, per connection, a `crypto/tls` connection with its buffers, mochi's client with its read and write buffers (2 KiB each, set by `internal/broker`) and its outbound queue (a channel of `Capabilities.MaximumClientWritesPending` packets, 8,192 by default: 64 KiB of pointers allocated, and zeroed, when the client connects), and two goroutines (read and write loops) with their stacks. " +
			"A smaller outbound queue in `internal/broker` is the cheap lift to try first; the goroutine stacks are the floor of this design.\n")
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

var getAllLine = regexp.MustCompile(`(?m)^\s*\S+\s+\S+%\s+\S+%\s+\S+\s+([0-9.]+%)\s+\S*mochi-mqtt/server/v2\.\(\*Inflight\)\.GetAll\s*$`)

// getAllShare is the cumulative share of mochi's Inflight.GetAll in a
// pprof -top listing, or "".
func getAllShare(top string) string {
	if m := getAllLine.FindStringSubmatch(top); m != nil {
		return m[1]
	}
	return ""
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
