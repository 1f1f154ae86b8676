// Package scenario is what the single-scenario commands (bench/cmd/handshake,
// bench/cmd/rotation) share: run until done or interrupted, print the
// report section as Markdown on stdout.
package scenario

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

// Report is a scenario's result.
type Report interface{ Markdown() string }

// Run runs execute with a context that an interrupt cancels and prints its
// report; on an error it prints "name: error" on stderr and exits 1.
func Run(name string, execute func(ctx context.Context) (Report, error)) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := execute(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	fmt.Print(res.Markdown())
}
