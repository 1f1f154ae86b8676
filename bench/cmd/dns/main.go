// Command dns runs dnsperf against Portico's authoritative DNS server and
// against Knot DNS serving the same zone, in one run on loopback, and prints
// the report section as Markdown on stdout (progress on stderr). With
// -write FILE it also replaces the section between <!-- dns:begin --> and
// <!-- dns:end --> of FILE. Needs dnsperf and knot (Debian packages).
//
//	go run ./bench/cmd/dns [-runs 3 -duration 10s -names 100] [-write docs/benchmarks.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/portico-iot/portico/bench/internal/dnsbench"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	o := dnsbench.Defaults()
	flag.DurationVar(&o.Duration, "duration", o.Duration, "length of each dnsperf run (whole seconds)")
	flag.IntVar(&o.Runs, "runs", o.Runs, "rounds of the four runs (Portico and Knot, static and failover names)")
	flag.IntVar(&o.Names, "names", o.Names, "static names, and failover names, in the zone")
	flag.IntVar(&o.Clients, "clients", o.Clients, "dnsperf -c")
	flag.IntVar(&o.Threads, "threads", o.Threads, "dnsperf -T")
	flag.IntVar(&o.Outstanding, "outstanding", o.Outstanding, "dnsperf -q")
	flag.IntVar(&o.KnotWorkers, "knot-workers", o.KnotWorkers, "knotd udp-workers (0: Knot's default, one per core)")
	flag.StringVar(&o.Portico, "portico", "", "portico binary (default: go build ./cmd/portico)")
	write := flag.String("write", "", "also write the section into this file, between the dns markers")
	profile := flag.String("profile", "", "instead: CPU-profile Portico's DNS server in this process under dnsperf (static names) into this file")
	flag.Parse()
	o.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "dns: "+format+"\n", args...) }
	if *profile != "" {
		for _, kind := range []string{dnsbench.KindStatic, dnsbench.KindFailover} {
			qps, err := dnsbench.Profile(context.Background(), o, kind, *profile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "dns:", err)
				os.Exit(1)
			}
			fmt.Printf("%s: %.0f queries/s in process (profile of the last kind in %s)\n", kind, qps, *profile)
		}
		return
	}
	scenario.Run("dns", func(ctx context.Context) (scenario.Report, error) {
		res, err := dnsbench.Execute(ctx, o)
		if err != nil {
			return nil, err
		}
		if *write != "" {
			if err := dnsbench.WriteSection(*write, res.Markdown()); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "dns: wrote the section of %s\n", *write)
		}
		return res, nil
	})
}
