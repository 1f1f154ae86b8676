package function_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/store/storetest"
)

// server starts an httptest server on 127.0.0.1.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func newRegistry(t *testing.T) *function.Registry {
	t.Helper()
	r, err := function.New(context.Background(), storetest.New(t), function.Config{Region: "us-east-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestInvokeSignsAndReturnsJSON(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	var gotBody []byte
	var gotErr error
	s := server(t, func(w http.ResponseWriter, req *http.Request) {
		gotBody, _ = io.ReadAll(req.Body)
		gotErr = function.Verify("s3cret", req.Header, gotBody, time.Now(), time.Minute)
		if req.Header.Get(function.HeaderFunction) != "auth" || req.Method != http.MethodPost {
			gotErr = errors.New("bad method or function header")
		}
		w.Write([]byte(`{"isAuthenticated":true}`))
	})
	if _, err := r.Put(ctx, function.Function{Name: "auth", URL: s.URL, Secret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	out, err := r.Invoke(ctx, "auth", map[string]any{"token": "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"isAuthenticated":true}` {
		t.Fatalf("answer %s", out)
	}
	if gotErr != nil {
		t.Fatal(gotErr)
	}
	var ev map[string]any
	if json.Unmarshal(gotBody, &ev) != nil || ev["token"] != "abc" {
		t.Fatalf("event %s", gotBody)
	}
	// A wrong secret or a tampered body does not verify.
	h := http.Header{}
	h.Set(function.HeaderTimestamp, "100")
	h.Set(function.HeaderSignature, function.Sign("s3cret", "100", []byte("x")))
	if function.Verify("other", h, []byte("x"), time.Unix(100, 0), time.Minute) == nil ||
		function.Verify("s3cret", h, []byte("y"), time.Unix(100, 0), time.Minute) == nil ||
		function.Verify("s3cret", h, []byte("x"), time.Unix(1000, 0), time.Minute) == nil {
		t.Fatal("verify accepted a bad call")
	}
	if function.Verify("s3cret", h, []byte("x"), time.Unix(100, 0), time.Minute) != nil {
		t.Fatal("verify refused a good call")
	}
}

func TestInvokeFailures(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	routes := map[string]http.HandlerFunc{
		"/slow": func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			select {
			case <-req.Context().Done():
			case <-time.After(3 * time.Second):
			}
		},
		"/500":   func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) },
		"/notjs": func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) },
		"/bigans": func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`"` + strings.Repeat("a", function.MaxResponseBytes) + `"`))
		},
	}
	s := server(t, func(w http.ResponseWriter, req *http.Request) { routes[req.URL.Path](w, req) })
	cases := []struct {
		name, path string
		timeout    bool
		reason     string
	}{
		{"slow", "/slow", true, "timeout"},
		{"err", "/500", false, "HTTP 500"},
		{"notjs", "/notjs", false, "not JSON"},
		{"big", "/bigans", false, "larger than"},
	}
	for _, c := range cases {
		if _, err := r.Put(ctx, function.Function{Name: c.name, URL: s.URL + c.path, Timeout: 100 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := r.Invoke(ctx, c.name, struct{}{})
		var ie *function.InvokeError
		if !errors.As(err, &ie) || ie.Timeout != c.timeout || !strings.Contains(ie.Reason, c.reason) {
			t.Errorf("%s: err %v, want reason containing %q", c.name, err, c.reason)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("%s: took %s", c.name, time.Since(start))
		}
	}
	// Nothing listening.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	r.Put(ctx, function.Function{Name: "gone", URL: "http://" + addr + "/"})
	if _, err := r.Invoke(ctx, "gone", 1); err == nil {
		t.Error("a call to a closed port succeeded")
	}
	if _, err := r.Invoke(ctx, "unknown", 1); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown function: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	for _, bad := range []function.Function{
		{Name: "", URL: "http://127.0.0.1/"},
		{Name: "a b", URL: "http://127.0.0.1/"},
		{Name: "a", URL: "ftp://127.0.0.1/"},
		{Name: "a", URL: "/relative"},
		{Name: "a", URL: "http://127.0.0.1/", Timeout: time.Hour},
	} {
		if _, err := r.Put(ctx, bad); !fault.Is(err, fault.Invalid) {
			t.Errorf("Put(%+v) = %v, want invalid", bad, err)
		}
	}
	f, err := r.Put(ctx, function.Function{Name: "auth", URL: "http://127.0.0.1:1/"})
	if err != nil || f.Secret == "" || f.Timeout != function.DefaultTimeout {
		t.Fatalf("Put = %+v, %v", f, err)
	}
	// Replacing without a secret keeps it.
	g, err := r.Put(ctx, function.Function{Name: "auth", URL: "http://127.0.0.1:2/", Timeout: time.Second})
	if err != nil || g.Secret != f.Secret {
		t.Fatalf("re-Put = %+v, %v", g, err)
	}
	got, err := r.Get(ctx, "auth")
	if err != nil || got != g {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, g)
	}
	if _, err := r.Resolve(ctx, "arn:aws:lambda:us-east-1:123456789012:function:auth"); err != nil {
		t.Fatal(err)
	}
	if r.ARN("auth") != "arn:aws:lambda:us-east-1:123456789012:function:auth" {
		t.Fatal(r.ARN("auth"))
	}
	for _, arn := range []string{
		"arn:aws:lambda:us-east-1:123456789012:function:nope",
		"arn:aws:lambda:eu-west-1:123456789012:function:auth",
		"arn:aws:lambda:us-east-1:999999999999:function:auth",
		"arn:aws:lambda:us-east-1:123456789012:function:auth:1",
		"arn:aws:iot:us-east-1:123456789012:function:auth",
		"auth",
	} {
		if _, err := r.Resolve(ctx, arn); !fault.Is(err, fault.Invalid) {
			t.Errorf("Resolve(%s) = %v, want invalid", arn, err)
		}
	}
	if fs, _ := r.List(ctx); len(fs) != 1 {
		t.Fatalf("List = %v", fs)
	}
	if err := r.Delete(ctx, "auth"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "auth"); !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, "auth"); !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
}
