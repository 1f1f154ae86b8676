package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPreservedSections(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	doc := "# B\n\nold\n\n<!-- dns:begin -->\n## DNS\nx\n<!-- dns:end -->\n\n<!-- customauth:begin -->\ny\n<!-- customauth:end -->\n<!-- broken:begin -->\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	got := preservedSections(path)
	want := []string{"<!-- dns:begin -->\n## DNS\nx\n<!-- dns:end -->", "<!-- customauth:begin -->\ny\n<!-- customauth:end -->"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
