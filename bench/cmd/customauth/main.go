// Command customauth runs the custom-authorizer scenario (issue 7): MQTT
// connects per second through a cached authorizer decision versus mTLS on
// the same gateway, then connect storms of devices with distinct tokens
// against a slow user function. It prints its report section as Markdown
// on stdout (progress goes to stderr) and writes it into docs/benchmarks.md
// between the markers <!-- customauth:begin --> and <!-- customauth:end -->
// (appended at the end when absent). Run it from the repository root:
//
//	go run ./bench/cmd/customauth [-runs 5 -duration 5s -storm-conns 2000,8 ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/customauthbench"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	child.Main()
	o := customauthbench.Defaults()
	flag.IntVar(&o.Domains, "domains", o.Domains, "enabled domain configurations (bench material)")
	flag.IntVar(&o.Devices, "devices", o.Devices, "registered device certificates (mTLS side)")
	flag.IntVar(&o.Conns, "conns", o.Conns, "concurrent client goroutines of the rate comparison")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "length of each measured run")
	flag.IntVar(&o.Runs, "runs", o.Runs, "measured rounds (each runs both sides, alternated)")
	flag.DurationVar(&o.Warmup, "warmup", o.Warmup, "unmeasured run per side first (0: none)")
	flag.Int64Var(&o.Max, "max", o.Max, "bound on connection attempts per run")
	sides := flag.String("sides", strings.Join(o.Sides, ","), "sides of the rate comparison: mtls,custom-cached (required) and custom-cached-signed")
	flag.IntVar(&o.StormDevices, "storm-devices", o.StormDevices, "devices per storm, each with a distinct token (0: no storms)")
	stormConns := flag.String("storm-conns", joinInts(o.StormConns), "devices connecting at once, one set of storms each (comma-separated)")
	flag.DurationVar(&o.StormDelay, "storm-delay", o.StormDelay, "the function's time per call in the slow storms")
	flag.IntVar(&o.StormRuns, "storm-runs", o.StormRuns, "storms per concurrency and function delay")
	flag.DurationVar(&o.StormTimeout, "storm-timeout", o.StormTimeout, "bound on one storm")
	flag.BoolVar(&o.Profile, "profile", o.Profile, "CPU-profile Portico during every measured run and storm (needs `go tool pprof`)")
	flag.StringVar(&o.ProfileDir, "cpuprofile-dir", "", "keep the CPU profiles in this directory")
	flag.StringVar(&o.MutexProfile, "mutexprofile", "", "write Portico's mutex contention profile (all runs and storms) to this file")
	flag.BoolVar(&o.NetHTTPDefaultClient, "net-http-default-client", false, "call the function with &http.Client{} (net/http's 2 idle connections per host) instead of internal/function's default client, for comparison")
	out := flag.String("out", "docs/benchmarks.md", "report to write the section into, between its markers (\"\": stdout only)")
	flag.Parse()
	o.Sides = strings.Split(*sides, ",")
	o.StormConns = nil
	for _, f := range strings.Split(*stormConns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "customauth: -storm-conns: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.StormConns = append(o.StormConns, n)
	}
	if o.StormDevices == 0 {
		o.StormRuns = 0
	}
	scenario.Run("customauth", func(ctx context.Context) (scenario.Report, error) {
		rev := machine.GitRevision()
		res, err := customauthbench.Execute(ctx, o)
		if err != nil {
			return nil, err
		}
		res.Revision = rev
		if *out != "" {
			if err := customauthbench.WriteSection(*out, res.Markdown()); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "customauth: wrote the section into %s\n", *out)
		}
		return res, nil
	})
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
