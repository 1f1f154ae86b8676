// Command handshake runs the mTLS connect-storm scenario (Portico's gateway
// with SNI among many domains versus a bare crypto/tls server) and prints
// its report section as Markdown on stdout; progress goes to stderr.
//
//	go run ./bench/cmd/handshake [-runs 5 -duration 5s -conns 16 ...]
package main

import (
	"context"
	"flag"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/handshake"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	child.Main()
	o := handshake.Defaults()
	flag.IntVar(&o.Domains, "domains", o.Domains, "enabled domain configurations (each its own certificate)")
	flag.IntVar(&o.Devices, "devices", o.Devices, "registered device certificates")
	flag.IntVar(&o.Conns, "conns", o.Conns, "concurrent client goroutines")
	flag.DurationVar(&o.Duration, "duration", o.Duration, "length of each measured run")
	flag.IntVar(&o.Runs, "runs", o.Runs, "measured runs per side (alternated)")
	flag.DurationVar(&o.Warmup, "warmup", o.Warmup, "unmeasured run per side first (0: none)")
	flag.Int64Var(&o.Max, "max", o.Max, "bound on connection attempts per run")
	flag.StringVar(&o.Curve, "curve", o.Curve, "client key exchange: x25519, p256 or default (Go's, hybrid ML-KEM first)")
	sides := flag.String("sides", strings.Join(o.Sides, ","), "servers to measure: portico,bare (required), bare-sni (diagnostic), mosquitto (issue 8 peer)")
	flag.BoolVar(&o.Profile, "profile", o.Profile, "CPU-profile the server during every measured run and report where its CPU goes (needs `go tool pprof`)")
	flag.StringVar(&o.ProfileDir, "cpuprofile-dir", "", "keep the server-side CPU profiles (<side>-<run>.prof) in this directory")
	memprofile := flag.String("memprofile", "", "write the server process's heap profile (alloc_space covers every run) to this file at the end")
	flag.Parse()
	o.Sides = strings.Split(*sides, ",")
	scenario.Run("handshake", func(ctx context.Context) (scenario.Report, error) {
		res, err := handshake.Execute(ctx, o)
		if err != nil {
			return nil, err
		}
		if *memprofile != "" {
			if err := writeHeapProfile(*memprofile); err != nil {
				return nil, err
			}
		}
		return res, nil
	})
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
