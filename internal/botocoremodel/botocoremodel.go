// Package botocoremodel locates botocore's data directory and reads the
// service models that ship with it. It serves the code generators of
// internal/awsapi/iot and internal/awsmodel; nothing at run time uses it.
package botocoremodel

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Dir returns dir when it is set, else the botocore package directory of the
// python3 that has botocore installed.
func Dir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	out, err := exec.Command("python3", "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", fmt.Errorf("locate botocore with python3 (or pass -botocore): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

var versionRE = regexp.MustCompile(`__version__\s*=\s*['"]([^'"]+)['"]`)

// Version returns the version of the botocore package in dir, or
// "(unknown version)".
func Version(dir string) string {
	src, err := os.ReadFile(filepath.Join(dir, "__init__.py"))
	if err != nil {
		return "(unknown version)"
	}
	if m := versionRE.FindSubmatch(src); m != nil {
		return string(m[1])
	}
	return "(unknown version)"
}

// NewestModel reads service-2.json (or service-2.json.gz) of the newest API
// version of service and returns it with that version.
func NewestModel(botocore, service string) ([]byte, string, error) {
	base := filepath.Join(botocore, "data", service)
	versions, err := os.ReadDir(base)
	if err != nil {
		return nil, "", err
	}
	var newest string
	for _, v := range versions {
		if v.IsDir() && v.Name() > newest {
			newest = v.Name()
		}
	}
	if newest == "" {
		return nil, "", fmt.Errorf("%s: no API version", base)
	}
	raw, err := readModel(filepath.Join(base, newest, "service-2.json"))
	if err != nil {
		return nil, "", err
	}
	return raw, newest, nil
}

// readModel reads path, or path.gz when path does not exist.
func readModel(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return raw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.Open(path + ".gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s.gz: %w", path, err)
	}
	return io.ReadAll(zr)
}
