// Package machine describes the machine a benchmark runs on (cores, memory,
// CPU model, Go version, load) and measures process CPU time and open-file
// limits.
package machine

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"
)

// Info is what the report states about the machine.
type Info struct {
	Date      string
	NProc     string
	Free      string // `free -h`
	CPUModel  string
	Kernel    string
	GoVersion string
	NoFile    string // RLIMIT_NOFILE soft/hard
}

// Describe gathers Info.
func Describe() Info {
	i := Info{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		NProc:     strings.TrimSpace(run("nproc")),
		Free:      strings.TrimRight(run("free", "-h"), "\n"),
		CPUModel:  cpuModel(),
		Kernel:    strings.TrimSpace(run("uname", "-sr")),
		GoVersion: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		i.NoFile = fmt.Sprintf("%d soft / %d hard", lim.Cur, lim.Max)
	}
	return i
}

func run(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "(" + name + ": " + err.Error() + ")"
	}
	return string(out)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// Uptime is the output of `uptime` (the load averages), trimmed.
func Uptime() string { return strings.TrimSpace(run("uptime")) }

// LoadAverage is the 1-minute load average from /proc/loadavg.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// CPUTime is the user plus system CPU time this process has used.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Mem is a reading of the process's allocation counters.
type Mem struct {
	Mallocs, Bytes uint64
	GCCPU          time.Duration
}

// ReadMem reads the allocation counters and the GC's CPU time.
func ReadMem() Mem {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	m := Mem{}
	if s[0].Value.Kind() == metrics.KindUint64 {
		m.Mallocs = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		m.Bytes = s[1].Value.Uint64()
	}
	if s[2].Value.Kind() == metrics.KindFloat64 {
		m.GCCPU = time.Duration(s[2].Value.Float64() * float64(time.Second))
	}
	return m
}

// Sub is m minus an earlier reading.
func (m Mem) Sub(earlier Mem) Mem {
	return Mem{Mallocs: m.Mallocs - earlier.Mallocs, Bytes: m.Bytes - earlier.Bytes, GCCPU: m.GCCPU - earlier.GCCPU}
}

// RSS is this process's resident set size in bytes (VmRSS).
func RSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

// RaiseNoFile raises the soft open-file limit to want, within the hard
// limit, and returns the soft limit in effect.
func RaiseNoFile(want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if want > lim.Max {
		want = lim.Max
	}
	if lim.Cur < want {
		lim.Cur = want
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	return lim.Cur
}

// GitRevision is the checkout's short commit, with a note when tracked
// files differ from it: the code a report measured.
func GitRevision() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}
