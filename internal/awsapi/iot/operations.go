package iot

//go:generate go run ./internal/gen -out operations_table.go

import (
	"net/url"
	"sort"
	"strings"
)

// operationRoute is one operation of a service model: its HTTP method, the
// path part of its requestUri template ("/certificates/{certificateId}") and
// its name. The tables live in operations_table.go, generated from botocore.
type operationRoute struct{ method, template, name string }

// segment is one path segment of a template: a literal, a {label} (one
// non-empty segment) or a greedy {label+} (all remaining segments).
type segment struct {
	literal       string
	label, greedy bool
}

type compiledRoute struct {
	method   string
	segments []segment
	name     string
}

var (
	compiledIoT     = compileRoutes(iotRoutes)
	compiledIoTData = compileRoutes(iotDataRoutes)
)

// OperationFor returns the name of the IoT control-plane operation (or, failing
// that, the IoT data-plane operation) that a request with this method and
// escaped path invokes, or "" when the models have none.
func OperationFor(method, escapedPath string) string {
	if op := matchRoute(compiledIoT, method, escapedPath); op != "" {
		return op
	}
	return matchRoute(compiledIoTData, method, escapedPath)
}

// DataOperationFor returns the name of the IoT data-plane (iot-data)
// operation that a request with this method and escaped path invokes, or "".
func DataOperationFor(method, escapedPath string) string {
	return matchRoute(compiledIoTData, method, escapedPath)
}

func compileRoutes(routes []operationRoute) []compiledRoute {
	out := make([]compiledRoute, 0, len(routes))
	for _, r := range routes {
		c := compiledRoute{method: r.method, name: r.name}
		for _, s := range strings.Split(strings.TrimPrefix(r.template, "/"), "/") {
			switch {
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
				c.segments = append(c.segments, segment{greedy: true})
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
				c.segments = append(c.segments, segment{label: true})
			default:
				c.segments = append(c.segments, segment{literal: s})
			}
		}
		out = append(out, c)
	}
	// The first match wins, so order the routes most specific first: at the
	// first segment where two differ, a literal beats a label and a label
	// beats a greedy label.
	sort.SliceStable(out, func(i, j int) bool { return moreSpecific(out[i].segments, out[j].segments) })
	return out
}

func rank(s segment) int {
	switch {
	case s.greedy:
		return 2
	case s.label:
		return 1
	}
	return 0
}

func moreSpecific(a, b []segment) bool {
	for k := 0; k < len(a) && k < len(b); k++ {
		ra, rb := rank(a[k]), rank(b[k])
		if ra != rb {
			return ra < rb
		}
	}
	return len(a) > len(b)
}

func matchRoute(routes []compiledRoute, method, escapedPath string) string {
	if method == "HEAD" {
		method = "GET"
	}
	if escapedPath == "" {
		escapedPath = "/"
	}
	parts := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	for _, r := range routes {
		if r.method == method && matchSegments(r.segments, parts) {
			return r.name
		}
	}
	return ""
}

func matchSegments(tmpl []segment, parts []string) bool {
	for k, s := range tmpl {
		if s.greedy {
			// The rest of the path, at least one non-empty character.
			return k < len(parts) && strings.Join(parts[k:], "/") != ""
		}
		if k >= len(parts) {
			return false
		}
		if s.label {
			if parts[k] == "" {
				return false
			}
			continue
		}
		if parts[k] != s.literal {
			return false
		}
	}
	return len(tmpl) == len(parts)
}
