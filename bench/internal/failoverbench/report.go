package failoverbench

import (
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/section"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// Command is how the section is reproduced.
const Command = "go run ./bench/cmd/failover -write docs/benchmarks.md"

// WriteSection replaces this benchmark's section of the file at path.
func WriteSection(path, text string) error { return section.Write(path, "failover", text) }

// Met reports whether every failover sample is within the bound plus one
// second.
func (r *Result) Met() bool {
	for _, s := range r.Samples {
		for _, d := range s.Failover {
			if d > s.Check.Bound()+time.Second {
				return false
			}
		}
	}
	return true
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func distribution(ds []time.Duration) string {
	return fmt.Sprintf("%s | %s | %s | %s", seconds(stats.Percentile(ds, 0)), seconds(stats.Percentile(ds, 50)),
		seconds(stats.Percentile(ds, 90)), seconds(stats.Percentile(ds, 100)))
}

// Markdown is the report section.
func (r *Result) Markdown() string {
	var b strings.Builder
	m := machine.Describe()
	fmt.Fprintf(&b, "## Failover timeline\n\n")
	fmt.Fprintf(&b, "Measured %s on %s (%s cores, load average %s at the end), in %s: `%s`.\n\n", r.Date, m.CPUModel, m.NProc,
		machine.LoadAverage(), r.Took.Round(time.Second), Command)
	fmt.Fprintf(&b, "`portico serve` with a TCP health check on a region (a listener the benchmark closes and reopens), "+
		"a PRIMARY/SECONDARY failover pair with TTL 1, and a DNS client asking every %s. A sample is the time from closing the "+
		"region to the first answer naming the secondary (failover), or from reopening it to the first answer naming the "+
		"primary again (restore). Route 53's promise: a failed region is noticed after `FailureThreshold` failed probes, "+
		"one every `RequestInterval`; the goal is every failover within that bound + 1 s.\n\n", r.Options.Poll)
	fmt.Fprintf(&b, "| check | samples | failover min | p50 | p90 | max | restore min | p50 | p90 | max | bound + 1 s |\n")
	fmt.Fprintf(&b, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range r.Samples {
		ext := ""
		if s.Check.Interval < 10 {
			ext = " (Portico extension)"
		}
		fmt.Fprintf(&b, "| %d s x %d%s | %d | %s | %s | %s |\n", s.Check.Interval, s.Check.Threshold, ext, len(s.Failover),
			distribution(s.Failover), distribution(s.Restore), seconds(s.Check.Bound()+time.Second))
	}
	verdict := "met"
	if !r.Met() {
		verdict = "**missed**: a sample exceeded interval x threshold + 1 s"
	}
	fmt.Fprintf(&b, "\nGoal (every failover within interval x threshold + 1 s): %s. A restore needs `FailureThreshold` successful probes "+
		"in a row, so it is bounded the same way. Within the bound, a sample depends on where the kill falls in the probe schedule.\n", verdict)
	return b.String()
}
