package controlplanebench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/bench/internal/machine"
)

func result() *Result {
	run := func(round int, side string, calls int, cpu time.Duration) Run {
		return Run{Round: round, Side: side, Calls: calls, Elapsed: time.Second, P50: time.Millisecond, P99: 3 * time.Millisecond,
			CPU: cpu, Load: "1.00"}
	}
	return &Result{Options: Defaults(), Date: "2026-01-01 00:00 UTC", Took: time.Minute,
		Versions: map[string]string{"portico": "abc1234", "moto": "moto 5.2.1", "go": "go1.26"},
		Machine:  machine.Info{CPUModel: "Test CPU", NProc: "2"},
		Runs: []Run{
			run(1, SidePortico, 3000, time.Second), run(1, SideMoto, 100, time.Second),
			run(2, SideMoto, 200, time.Second), run(2, SidePortico, 3000, time.Second),
			run(3, SidePortico, 2500, time.Second), run(3, SideMoto, 100, time.Second),
		}}
}

func TestRatioAndMet(t *testing.T) {
	r := result()
	if got := r.Ratio(); got != 25 {
		t.Errorf("Ratio = %v, want the median of 30, 15 and 25", got)
	}
	if got := r.Median(SidePortico); got != 3000 {
		t.Errorf("Median(portico) = %v", got)
	}
	if !r.Met() {
		t.Error("25x without errors not met")
	}
	r.Runs[1].Errors = 1
	if r.Met() {
		t.Error("met with a failed call")
	}
	r.Runs[1].Errors = 0
	r.Runs[4].Calls = 1000 // round 3: 10x, median 15x
	if r.Met() {
		t.Errorf("met at %.1fx", r.Ratio())
	}
}

func TestMarkdown(t *testing.T) {
	r := result()
	r.ErrorText = []string{"moto: " + errors.New("boom").Error()}
	md := r.Markdown()
	for _, want := range []string{
		"## Control plane: DescribeDomainConfiguration",
		"```sh\n" + Command + "\n```",
		"Portico abc1234, moto 5.2.1",
		"2 cores, shared by the client and both servers",
		"| portico | 3000 | 1.00 ms | 3.00 ms | 100% of a core | 333 µs | 0 |",
		"| moto | 100 | 1.00 ms | 3.00 ms | 100% of a core | 10000 µs | 0 |",
		"**25.0x** calls/s (goal >= 20x, with no failed call): met.",
		"| 2 | moto | 200 | 0 | 1.00 s | 200 |",
		"moto: boom",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(path, []byte("# Benchmarks\n\nintro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := WriteSection(path, fmt.Sprintf("text %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	want := "# Benchmarks\n\nintro\n\n<!-- controlplane:begin -->\ntext 1\n<!-- controlplane:end -->\n"
	if string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
}
