package customauthbench

import (
	"os"
	"strconv"
	"strings"
)

// cpuTicks is the machine's CPU time from /proc/stat's first line, in
// clock ticks: busy (user, nice, system, irq, softirq, steal) and all.
type cpuTicks struct{ busy, total uint64 }

func readCPUTicks() cpuTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return cpuTicks{}
	}
	var t cpuTicks
	for i, s := range f[1:] {
		if i >= 8 { // guest time is counted in user already
			break
		}
		v, _ := strconv.ParseUint(s, 10, 64)
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t
}

// busyShare is the share of the machine's CPU time that was busy between
// two readings (all processes); 0 when unknown.
func busyShare(a, b cpuTicks) float64 {
	if b.total <= a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}
