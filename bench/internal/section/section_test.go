package section

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	os.WriteFile(path, []byte("# Benchmarks\n\nother\n"), 0o644)
	if err := Write(path, "dns", "## DNS\nv1\n"); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, "dns", "## DNS\nv2\n"); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, "failover", "## Failover\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "# Benchmarks\n\nother\n\n<!-- dns:begin -->\n## DNS\nv2\n<!-- dns:end -->\n\n<!-- failover:begin -->\n## Failover\n<!-- failover:end -->\n"
	if string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
	os.WriteFile(path, []byte("x\n<!-- dns:end -->\n"), 0o644)
	if err := Write(path, "dns", "y"); err == nil {
		t.Error("unbalanced markers accepted")
	}
}
