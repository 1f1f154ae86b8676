// Command mqtt runs issue 8's MQTT data-plane scenarios, Portico versus
// mosquitto 2.0 in one run (throughput at QoS 0 and 1, 1->1 and N->N,
// fan-out, latency at half the peak, RSS per idle connection), and prints
// its report section as Markdown on stdout; progress goes to stderr.
//
//	go run ./bench/cmd/mqtt [-runs 3 -duration 3s -only flow,latency,idle ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/mqttbench"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	child.Main()
	o := mqttbench.Defaults()
	flag.IntVar(&o.Domains, "domains", o.Domains, "Portico's enabled domain configurations (bench material size)")
	flag.IntVar(&o.Devices, "devices", o.Devices, "registered device certificates")
	flag.IntVar(&o.Runs, "runs", o.Runs, "rounds of throughput and latency runs (sides alternate)")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "bound on each throughput run's publishing time")
	flag.IntVar(&o.Messages, "messages", o.Messages, "bound on each throughput run's messages")
	flag.IntVar(&o.Pairs, "pairs", o.Pairs, "N of the N->N runs")
	flag.IntVar(&o.Fanout, "fanout", o.Fanout, "subscribers of the fan-out topic")
	flag.IntVar(&o.Window, "window", o.Window, "closed loop: undelivered messages per publisher")
	flag.IntVar(&o.FanoutWindow, "fanout-window", o.FanoutWindow, "closed loop, fan-out: undelivered messages")
	flag.IntVar(&o.Payload, "payload", o.Payload, "payload bytes")
	flag.DurationVar(&o.LatencyDuration, "latency-duration", o.LatencyDuration, "length of each latency run")
	steps := flag.String("idle", joinInts(o.IdleSteps), "idle connections held, cumulative steps")
	flag.IntVar(&o.IdleRuns, "idle-runs", o.IdleRuns, "rounds of the idle-connection measurement")
	flag.BoolVar(&o.Profile, "profile", o.Profile, "CPU-profile Portico during its throughput runs")
	flag.StringVar(&o.ProfileDir, "cpuprofile-dir", "", "keep Portico's CPU profiles (<case>-<round>.prof) in this directory")
	only := flag.String("only", "", "run only these parts: flow, latency (needs flow), idle")
	flag.Parse()
	var err error
	if o.IdleSteps, err = parseInts(*steps); err != nil {
		fmt.Println("-idle:", err)
		return
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	scenario.Run("mqtt", func(ctx context.Context) (scenario.Report, error) {
		return mqttbench.Execute(ctx, o)
	})
}

func joinInts(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, strconv.Itoa(x))
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
