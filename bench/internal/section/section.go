// Package section writes one scenario's part of docs/benchmarks.md: the
// text between <!-- NAME:begin --> and <!-- NAME:end -->, so that each
// scenario command can refresh its own numbers and leave the others'.
package section

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Markers returns the begin and end markers of a section.
func Markers(name string) (begin, end string) {
	return "<!-- " + name + ":begin -->", "<!-- " + name + ":end -->"
}

// Write replaces the section name of the file at path with text (the
// markers are appended to the file when absent), leaving the rest of the
// file as it is.
func Write(path, name, text string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	begin, end := Markers(name)
	doc := string(b)
	block := begin + "\n" + strings.TrimRight(text, "\n") + "\n" + end
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	switch {
	case i >= 0 && j > i:
		doc = doc[:i] + block + doc[j+len(end):]
	case i < 0 && j < 0:
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		doc += block + "\n"
	default:
		return fmt.Errorf("%s: unbalanced %s / %s markers", path, begin, end)
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
