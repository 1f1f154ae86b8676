package awsapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Operational paths (/metrics, /_portico/...) are served without a
// signature; every other path still needs one.
func TestOperationalPathsAreUnsigned(t *testing.T) {
	s := NewServer("us-east-1", nil, slog.New(slog.DiscardHandler))
	s.HandleOperational("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "gauge 1\n") }))
	s.HandleOperational("GET /_portico/health", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	srv := httptest.NewServer(s)
	defer srv.Close()
	for path, want := range map[string]int{"/metrics": 200, "/_portico/health": 200, "/metrics/x": 403, "/things": 403} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
