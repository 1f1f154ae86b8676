package function

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// MaxFileSize bounds a functions file.
const MaxFileSize = 1 << 20

// File is the functions file `portico serve --functions` reads at start:
//
//	{"functions": [
//	  {"name": "check-token", "url": "https://auth.internal/check", "timeout": "5s", "secret": "..."}
//	]}
//
// timeout and secret are optional (defaults: DefaultTimeout; the secret
// already stored, or a new one).
type File struct {
	Functions []FileEntry `json:"functions"`
}

// FileEntry is one function of a File.
type FileEntry struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Timeout string `json:"timeout,omitempty"`
	Secret  string `json:"secret,omitempty"`
}

// ReadFile parses and validates a functions file; any error names the
// entry, and nothing is returned unless every entry is valid.
func ReadFile(path string) ([]Function, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	return ParseFile(data)
}

// ParseFile is ReadFile on bytes.
func ParseFile(data []byte) ([]Function, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("functions file: larger than %d bytes", MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var file File
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("functions file: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("functions file: data after the JSON object")
	}
	seen := map[string]bool{}
	out := make([]Function, 0, len(file.Functions))
	for i, e := range file.Functions {
		fn := Function{Name: e.Name, URL: e.URL, Secret: e.Secret}
		if e.Timeout != "" {
			d, err := time.ParseDuration(e.Timeout)
			if err != nil {
				return nil, fmt.Errorf("functions file: entry %d (%s): timeout: %v", i+1, e.Name, err)
			}
			fn.Timeout = d
		}
		if err := Validate(&fn); err != nil {
			return nil, fmt.Errorf("functions file: entry %d (%s): %v", i+1, e.Name, err)
		}
		if seen[fn.Name] {
			return nil, fmt.Errorf("functions file: entry %d: %s is named twice", i+1, fn.Name)
		}
		seen[fn.Name] = true
		out = append(out, fn)
	}
	return out, nil
}
