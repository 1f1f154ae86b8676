package customauthbench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/bench/internal/cpuprof"
)

// Profile categories of this scenario, before bench/internal/cpuprof's:
// a sample with any frame of the custom-authorizer path is counted there
// (allocation and hashing it causes included), one in net/http's client
// transport goroutines as the HTTP client.
const (
	CatCustomAuth = "custom authorizer path (customauth, authorizer, function; inclusive)"
	CatHTTPClient = "HTTP client to the function (net/http transport goroutines)"
)

var (
	customAuthFrame = regexp.MustCompile(`portico/internal/(customauth|authorizer|function)\.`)
	httpClientFrame = regexp.MustCompile(`^net/http\.\(\*(persistConn|Transport)\)`)
	sampleLine      = regexp.MustCompile(`^\s*([0-9.]+)(ns|us|µs|ms|s)\s+(\S.*)$`)
)

// Categories in report order.
func Categories() []string {
	out := []string{CatCustomAuth, CatHTTPClient}
	for _, c := range cpuprof.Categories {
		out = append(out, c.Name)
	}
	return append(out, cpuprof.Other)
}

func classify(frames []string) string {
	for _, f := range frames {
		if customAuthFrame.MatchString(f) {
			return CatCustomAuth
		}
	}
	for _, f := range frames {
		if httpClientFrame.MatchString(f) {
			return CatHTTPClient
		}
	}
	cats := cpuprof.Categories
	gc, rt := cats[0], cats[len(cats)-1]
	for _, f := range frames {
		if gc.Pattern.MatchString(f) {
			return gc.Name
		}
	}
	for _, f := range frames {
		for _, c := range cats[1 : len(cats)-1] {
			if c.Pattern.MatchString(f) {
				return c.Name
			}
		}
	}
	for _, f := range frames {
		if rt.Pattern.MatchString(f) {
			return rt.Name
		}
	}
	return cpuprof.Other
}

// splitProfile reads a CPU profile with `go tool pprof -traces` and returns
// the CPU time per category.
func splitProfile(ctx context.Context, path string) (map[string]time.Duration, error) {
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
	units := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}
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
			value = time.Duration(v * float64(units[m[2]]))
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
