package mqttbench

import "strings"

// Markdown renders the result for docs/benchmarks.md.
func (res *Result) Markdown() string {
	var b strings.Builder
	return b.String()
}
