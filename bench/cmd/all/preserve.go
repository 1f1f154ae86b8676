package main

import (
	"os"
	"regexp"
	"strings"
)

var beginMarker = regexp.MustCompile(`<!-- ([a-z0-9-]+):begin -->`)

// preservedSections returns the sections of the report at path that other
// scenario commands maintain between their own markers
// (<!-- name:begin --> ... <!-- name:end -->, e.g. dns, customauth), in
// order, so that rewriting the report keeps them.
func preservedSections(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	doc := string(b)
	var out []string
	for {
		loc := beginMarker.FindStringSubmatchIndex(doc)
		if loc == nil {
			return out
		}
		name := doc[loc[2]:loc[3]]
		end := "<!-- " + name + ":end -->"
		j := strings.Index(doc[loc[1]:], end)
		if j < 0 {
			return out // unbalanced: its owner will rewrite it
		}
		stop := loc[1] + j + len(end)
		out = append(out, doc[loc[0]:stop])
		doc = doc[stop:]
	}
}
