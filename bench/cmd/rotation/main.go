// Command rotation runs the rotation-under-load scenario (a connected fleet
// on one domain while its certificate is rotated through the gateway's
// reload) and prints its report section as Markdown on stdout; progress
// goes to stderr.
//
//	go run ./bench/cmd/rotation [-fleet 2000 -rotations 10 ...]
package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/rotation"
	"github.com/portico-iot/portico/bench/internal/scenario"
)

func main() {
	child.Main()
	o := rotation.Defaults()
	flag.IntVar(&o.Domains, "domains", o.Domains, "enabled domain configurations in the gateway's snapshot")
	flag.IntVar(&o.Devices, "devices", o.Devices, "registered device certificates (the fleet shares them)")
	flag.IntVar(&o.Fleet, "fleet", o.Fleet, fmt.Sprintf("connected MQTT devices (at most %d)", rotation.MaxFleet))
	flag.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "fleet connections set up at once")
	flag.IntVar(&o.Rotations, "rotations", o.Rotations, "certificate rotations")
	flag.IntVar(&o.Pollers, "pollers", o.Pollers, "goroutines making fresh handshakes to see the new certificate")
	flag.DurationVar(&o.PollEvery, "poll-every", o.PollEvery, "each poller starts a fresh handshake at most this often")
	flag.DurationVar(&o.Gap, "gap", o.Gap, "pause between rotations")
	flag.DurationVar(&o.Wait, "wait", o.Wait, "bound on the wait for a rotation to be seen")
	flag.Parse()
	scenario.Run("rotation", func(ctx context.Context) (scenario.Report, error) {
		return rotation.Execute(ctx, o)
	})
}
