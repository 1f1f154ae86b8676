package customauthbench

import (
	"context"
	"regexp"
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
	return cpuprof.Classify(frames)
}

// splitProfile reads a CPU profile and returns the CPU time per category,
// the custom-authorizer categories first.
func splitProfile(ctx context.Context, path string) (map[string]time.Duration, error) {
	return cpuprof.SplitWith(ctx, path, classify)
}
