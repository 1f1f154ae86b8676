// Command controlplane measures DescribeDomainConfiguration calls per
// second against `portico serve` and against moto_server, both on
// 127.0.0.1 and given the same domain configurations, with the same AWS
// SDK for Go v2 client, and prints the report section as Markdown on
// stdout (progress on stderr). With -write FILE it also replaces the
// section between <!-- controlplane:begin --> and <!-- controlplane:end -->
// of FILE. Needs moto_server (pip install 'moto[server]').
//
//	go run ./bench/cmd/controlplane [-rounds 3 -duration 3s -workers 8 -configs 100] [-write docs/benchmarks.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/portico-iot/portico/bench/internal/controlplanebench"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	o := controlplanebench.Defaults()
	flag.IntVar(&o.Configs, "configs", o.Configs, "domain configurations created on each server")
	flag.IntVar(&o.Workers, "workers", o.Workers, "concurrent callers")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "measured time per run (at most)")
	flag.IntVar(&o.MaxCalls, "max-calls", o.MaxCalls, "measured calls per run (at most)")
	flag.DurationVar(&o.Warmup, "warmup", o.Warmup, "unmeasured calls before each run")
	flag.IntVar(&o.Rounds, "rounds", o.Rounds, "rounds, each measuring both servers (the order alternates)")
	flag.StringVar(&o.Portico, "portico", "", "portico binary (default: go build ./cmd/portico)")
	flag.StringVar(&o.Moto, "moto", "", "moto_server (default: on PATH or in ~/.pyenv/shims)")
	write := flag.String("write", "", "also write the section into this file, between the controlplane markers")
	flag.Parse()
	o.Log = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...) }
	scenario.Run("controlplane", func(ctx context.Context) (scenario.Report, error) {
		res, err := controlplanebench.Execute(ctx, o)
		if err != nil {
			return nil, err
		}
		if *write != "" {
			if err := controlplanebench.WriteSection(*write, res.Markdown()); err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "controlplane: wrote the section of %s\n", *write)
		}
		return res, nil
	})
}
