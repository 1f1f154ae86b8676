// Command failover measures how fast Portico's DNS follows a region that
// dies and comes back (health check, failover pair) over repeated cycles,
// and prints the report section as Markdown on stdout (progress on
// stderr). With -write FILE it also replaces the section between
// <!-- failover:begin --> and <!-- failover:end --> of FILE.
//
//	go run ./bench/cmd/failover [-quick] [-write docs/benchmarks.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/portico-iot/portico/bench/internal/failoverbench"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	o := failoverbench.Defaults()
	quick := flag.Bool("quick", false, "two cycles of the 2 s x 2 check only (a smoke run)")
	write := flag.String("write", "", "also write the section into this file, between the failover markers")
	flag.StringVar(&o.Portico, "portico", "", "portico binary (default: go build ./cmd/portico)")
	flag.Parse()
	if *quick {
		o.Checks = []failoverbench.Check{{Interval: 2, Threshold: 2, Cycles: 2}}
	}
	o.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "failover: "+format+"\n", args...) }
	scenario.Run("failover", func(ctx context.Context) (scenario.Report, error) {
		res, err := failoverbench.Execute(ctx, o)
		if err != nil {
			return nil, err
		}
		if *write != "" {
			if err := failoverbench.WriteSection(*write, res.Markdown()); err != nil {
				return nil, err
			}
		}
		return res, nil
	})
}
