package mqttbench

import (
	"testing"

	"github.com/portico-iot/portico/bench/internal/porticoproc"
)

func TestIdleMemory(t *testing.T) {
	res := &Result{Idle: []IdleRun{
		{Side: SideMosquitto, Held: []int{1000}},
		{Side: SidePortico, Held: []int{1000, 2048},
			MemoryBefore: porticoproc.Memory{HeapInuse: 100 << 20, StackInuse: 1 << 20, Goroutines: 6},
			Memory:       []porticoproc.Memory{{}, {HeapInuse: 100<<20 + 2048*20<<10, HeapFree: 2048 << 10, StackInuse: 1<<20 + 2048*16<<10, Goroutines: 6 + 4096}}},
	}}
	want := "20.0 KiB of heap in use, 1.0 KiB of heap kept free (GC slack), 16.0 KiB of goroutine stacks (4096 goroutines for 2048 connections)"
	if got := res.IdleMemory(1); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := res.IdleMemory(2); got != "" {
		t.Errorf("step without a measurement: %q", got)
	}
}
