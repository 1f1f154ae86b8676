// Package cpuprof takes CPU profiles of the benchmark's server process and
// splits their samples into a few categories (public-key crypto, hashing
// and symmetric crypto, crypto/tls itself, the broker, the gateway, GC and
// allocation, network I/O, ...), reading them with `go tool pprof -traces`.
package cpuprof

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Profile is a CPU profile being written.
type Profile struct {
	f *os.File
}

// Start begins a CPU profile into a new file in dir.
func Start(dir, name string) (*Profile, error) {
	f, err := os.Create(dir + "/" + name + ".prof")
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return &Profile{f: f}, nil
}

// Stop ends the profile and returns its path.
func (p *Profile) Stop() string {
	pprof.StopCPUProfile()
	p.f.Close()
	return p.f.Name()
}

// Category names the report refers to.
const (
	GC       = "GC and allocation"
	Gateway  = "gateway (own code)"
	Registry = "device registry snapshot (internal/device)"
	Policy   = "IoT policy evaluation (internal/policy)"
	Broker   = "broker (mochi-mqtt, internal/broker)"
	PKC      = "public-key crypto (ECDSA, X25519)"
)

// Categories in report order. A sample with an allocation or GC frame
// anywhere in its stack is "GC and allocation"; otherwise, walking from the
// leaf towards the root, the first frame that matches one of the other
// categories (runtime last) decides.
var Categories = []struct {
	Name    string
	Pattern *regexp.Regexp
}{
	{GC, regexp.MustCompile(`^runtime\.(gcBgMarkWorker|gcDrain|gcAssist|mallocgc|newobject|makeslice|growslice|bgsweep|bgscavenge|sweepone|markroot|scanobject|scanObject|gcmark|gcStart|memclrNoHeapPointers)|^internal/runtime/gc`)},
	{PKC, regexp.MustCompile(`fips140/nistec|fips140/edwards25519|fips140/ecdh|fips140/ecdsa|fips140/bigmod|^crypto/ecdsa|^crypto/ecdh|^crypto/internal/fips140/mlkem|^p256`)},
	{"hashing and symmetric crypto", regexp.MustCompile(`fips140/(sha256|sha512|sha3|hmac|hkdf|aes|tls13)|chacha20|poly1305|^crypto/(sha256|hmac|aes|cipher)`)},
	{"network I/O (syscalls, netpoll)", regexp.MustCompile(`^(syscall|internal/poll|internal/runtime/syscall|net\.|runtime\.netpoll)`)},
	{"x509 parsing", regexp.MustCompile(`^crypto/x509`)},
	{"crypto/tls (other)", regexp.MustCompile(`^crypto/tls`)},
	{Broker, regexp.MustCompile(`mochi-mqtt|portico/internal/broker`)},
	{Gateway, regexp.MustCompile(`portico/internal/gateway`)},
	{Registry, regexp.MustCompile(`portico/internal/device`)},
	{Policy, regexp.MustCompile(`portico/internal/policy`)},
	{"bench servers and registry adapter (bench/internal/servers)", regexp.MustCompile(`portico/bench/internal/servers`)},
	{"scheduler and other runtime", regexp.MustCompile(`^runtime\.`)},
}

// Other is the category of samples no pattern matches.
const Other = "other"

var sampleLine = regexp.MustCompile(`^\s*([0-9.]+)(ns|us|µs|ms|s)\s+(\S.*)$`)

// Split reads a profile and returns the CPU time per category.
func Split(ctx context.Context, path string) (map[string]time.Duration, error) {
	return SplitWith(ctx, path, Classify)
}

// SplitWith is Split with the caller's classification of a sample's frames
// (leaf first), for scenarios that add categories of their own in front of
// Classify's.
func SplitWith(ctx context.Context, path string, classify func(frames []string) string) (map[string]time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-traces", path).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -traces: %w", err)
	}
	res := map[string]time.Duration{}
	var (
		value  time.Duration
		frames []string
	)
	flush := func() {
		if value > 0 {
			res[classify(frames)] += value
		}
		value, frames = 0, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "-----------+") {
			flush()
			continue
		}
		if m := sampleLine.FindStringSubmatch(line); m != nil && value == 0 && frames == nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			unit := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
			value = time.Duration(v * float64(unit))
			frames = append(frames, strings.TrimSpace(m[3]))
			continue
		}
		if value > 0 {
			if f := strings.TrimSpace(line); f != "" {
				frames = append(frames, f)
			}
		}
	}
	flush()
	return res, sc.Err()
}

// Classify names the category of a sample's frames (leaf first): GC and
// allocation first, then the first matching category, then the runtime,
// else Other.
func Classify(frames []string) string {
	gc, runtimeCat := Categories[0], Categories[len(Categories)-1]
	for _, f := range frames {
		if gc.Pattern.MatchString(f) {
			return gc.Name
		}
	}
	for _, f := range frames {
		for _, c := range Categories[1 : len(Categories)-1] {
			if c.Pattern.MatchString(f) {
				return c.Name
			}
		}
	}
	for _, f := range frames {
		if runtimeCat.Pattern.MatchString(f) {
			return runtimeCat.Name
		}
	}
	return Other
}

// AllocTop writes this process's allocation profile (every allocation since
// it started, sampled) to dir and returns `go tool pprof -top` of it by
// bytes allocated, n lines.
func AllocTop(ctx context.Context, dir string, n int) (string, error) {
	path := dir + "/allocs.prof"
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-sample_index=alloc_space", "-top", "-nodecount="+strconv.Itoa(n), path).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -top: %w", err)
	}
	// Keep the table: drop the header lines about the file and build.
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") || strings.HasPrefix(line, "Type:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimSpace(strings.Join(keep, "\n")), nil
}
