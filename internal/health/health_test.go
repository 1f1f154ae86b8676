package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store/storetest"
)

func newService(t *testing.T) *Service {
	t.Helper()
	svc, err := NewService(context.Background(), storetest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func wantFault(t *testing.T, err error, code string) {
	t.Helper()
	f, ok := err.(*fault.Error)
	if !ok || f.Code != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

func TestServiceLifecycle(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	cfg := Config{Type: TypeTCP, IPAddress: "192.0.2.1", Port: 8883, RequestInterval: 10}
	hc, err := svc.Create(ctx, "ref-1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hc.Version != 1 || hc.Config.FailureThreshold != 3 || len(hc.ID) != 36 {
		t.Fatalf("created %+v", hc)
	}
	again, err := svc.Create(ctx, "ref-1", cfg)
	if err != nil || again.ID != hc.ID {
		t.Fatalf("replay: %+v %v", again, err)
	}
	_, err = svc.Create(ctx, "ref-1", Config{Type: TypeTCP, IPAddress: "192.0.2.2", Port: 8883})
	wantFault(t, err, "HealthCheckAlreadyExists")

	for name, bad := range map[string]Config{
		"interval 20":              {Type: TypeTCP, IPAddress: "192.0.2.1", Port: 1, RequestInterval: 20},
		"threshold 11":             {Type: TypeTCP, IPAddress: "192.0.2.1", Port: 1, FailureThreshold: 11},
		"tcp no port":              {Type: TypeTCP, IPAddress: "192.0.2.1"},
		"no target":                {Type: TypeHTTP},
		"str no search":            {Type: TypeHTTPStrMatch, IPAddress: "192.0.2.1"},
		"calculated with a target": {Type: TypeCalculated, IPAddress: "192.0.2.1"},
		"cloudwatch":               {Type: "CLOUDWATCH_METRIC"},
		"unknown type":             {Type: "PING", IPAddress: "192.0.2.1"},
		"bad ip":                   {Type: TypeHTTP, IPAddress: "nope"},
		"two regions":              {Type: TypeHTTP, IPAddress: "192.0.2.1", Regions: []string{"us-east-1", "eu-west-1"}},
	} {
		if _, err := svc.Create(ctx, "ref-"+name, bad); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantFault(t, err, "InvalidInput")
		}
	}
	fast, err := svc.Create(ctx, "ref-fast", Config{Type: TypeHTTPS, IPAddress: "192.0.2.1", RequestInterval: 1})
	if err != nil || fast.Config.Port != 443 {
		t.Fatalf("fast: %+v %v", fast, err)
	}
	if n, _ := svc.Count(ctx); n != 2 {
		t.Fatalf("count %d", n)
	}
	page, err := svc.List(ctx, "", 1)
	if err != nil || len(page.HealthChecks) != 1 || !page.IsTruncated {
		t.Fatalf("page %+v %v", page, err)
	}
	page2, _ := svc.List(ctx, page.NextMarker, 1)
	if len(page2.HealthChecks) != 1 || page2.IsTruncated || page2.HealthChecks[0].ID == page.HealthChecks[0].ID {
		t.Fatalf("page2 %+v", page2)
	}

	inv, threshold, v := true, int32(1), int64(1)
	up, err := svc.Update(ctx, hc.ID, UpdateInput{Version: &v, Inverted: &inv, FailureThreshold: &threshold})
	if err != nil || up.Version != 2 || !up.Config.Inverted || up.Config.FailureThreshold != 1 || up.Config.Port != 8883 {
		t.Fatalf("update %+v %v", up, err)
	}
	_, err = svc.Update(ctx, hc.ID, UpdateInput{Version: &v})
	wantFault(t, err, "HealthCheckVersionMismatch")
	_, err = svc.Update(ctx, "missing", UpdateInput{})
	wantFault(t, err, "NoSuchHealthCheck")

	if err := svc.Delete(ctx, hc.ID); err != nil {
		t.Fatal(err)
	}
	wantFault(t, svc.Delete(ctx, hc.ID), "NoSuchHealthCheck")
	_, err = svc.Get(ctx, hc.ID)
	wantFault(t, err, "NoSuchHealthCheck")
	if ok, err := svc.Exists(ctx, hc.ID); ok || err != nil {
		t.Fatalf("exists %v %v", ok, err)
	}
	// The reference of a deleted check stays taken.
	_, err = svc.Create(ctx, "ref-1", cfg)
	wantFault(t, err, "HealthCheckAlreadyExists")
}

func portOf(t *testing.T, addr string) int32 {
	_, p, _ := net.SplitHostPort(addr)
	var n int32
	for _, c := range p {
		n = n*10 + int32(c-'0')
	}
	return n
}

func TestProbe(t *testing.T) {
	ctx := context.Background()
	c := &Checker{TCPTimeout: time.Second, ConnectTimeout: time.Second, ResponseTimeout: time.Second, BodyTimeout: time.Second}
	var gotHost atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.Host)
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(strings.Repeat("x", 100) + "status: green"))
		case "/late":
			w.Write([]byte(strings.Repeat("x", MaxSearchBytes) + "status: green"))
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS.ServerName != "iot.example.com" {
			http.Error(w, "sni "+r.TLS.ServerName, http.StatusMisdirectedRequest)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer tlsSrv.Close()
	port := portOf(t, srv.Listener.Addr().String())
	tlsPort := portOf(t, tlsSrv.Listener.Addr().String())

	cases := []struct {
		name   string
		cfg    Config
		ok     bool
		status string
	}{
		{"tcp", Config{Type: TypeTCP, IPAddress: "127.0.0.1", Port: port}, true, "Success: TCP connection established"},
		{"http 200", Config{Type: TypeHTTP, IPAddress: "127.0.0.1", Port: port, ResourcePath: "/ok"}, true, "Success: HTTP Status Code 200, OK"},
		{"http 302", Config{Type: TypeHTTP, IPAddress: "127.0.0.1", Port: port, ResourcePath: "/moved"}, true, "Success: HTTP Status Code 302, Found"},
		{"http 503", Config{Type: TypeHTTP, IPAddress: "127.0.0.1", Port: port, ResourcePath: "/down"}, false, "Failure: HTTP Status Code 503, Service Unavailable"},
		{"str match", Config{Type: TypeHTTPStrMatch, IPAddress: "127.0.0.1", Port: port, ResourcePath: "/ok", SearchString: "green"}, true, "Success: HTTP Status Code 200, OK"},
		{"str beyond 5120", Config{Type: TypeHTTPStrMatch, IPAddress: "127.0.0.1", Port: port, ResourcePath: "/late", SearchString: "green"}, false, "Failure: HTTP Status Code 200, OK. The search string"},
		{"https sni", Config{Type: TypeHTTPSStrMatch, IPAddress: "127.0.0.1", Port: tlsPort, FullyQualifiedDomainName: "iot.example.com", EnableSNI: true, SearchString: "ok"}, true, "Success: HTTP Status Code 200, OK"},
		{"https no sni", Config{Type: TypeHTTPS, IPAddress: "127.0.0.1", Port: tlsPort, FullyQualifiedDomainName: "iot.example.com"}, false, "Failure: HTTP Status Code 421"},
	}
	for _, tc := range cases {
		ok, status, _ := c.Probe(ctx, tc.cfg)
		if ok != tc.ok || !strings.HasPrefix(status, tc.status) {
			t.Errorf("%s: %v %q", tc.name, ok, status)
		}
	}
	if h, _ := gotHost.Load().(string); h != "127.0.0.1:"+strings.TrimPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Errorf("Host header %q", h)
	}
	srv.Close()
	if ok, status, _ := c.Probe(ctx, Config{Type: TypeTCP, IPAddress: "127.0.0.1", Port: port}); ok || !strings.HasPrefix(status, "Failure: TCP connection to") {
		t.Errorf("stopped server: %v %q", ok, status)
	}
}

// waitFor polls cond for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCheckerFollowsServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var changes atomic.Int32
	c := &Checker{TCPTimeout: time.Second, OnChange: func() { changes.Add(1) }}
	hc := HealthCheck{ID: "hc-1", Version: 1, Config: Config{Type: TypeTCP, IPAddress: "127.0.0.1", Port: portOf(t, addr), RequestInterval: 1, FailureThreshold: 2}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(context.Context) ([]HealthCheck, error) { return []HealthCheck{hc}, nil }, nil)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, 3*time.Second, "first observation", func() bool { st, ok := c.Status("hc-1"); return ok && st.Last != nil })
	if !c.Healthy("hc-1") {
		t.Fatal("unhealthy while the server runs")
	}
	ln.Close()
	start := time.Now()
	waitFor(t, 5*time.Second, "unhealthy", func() bool { return !c.Healthy("hc-1") })
	if el := time.Since(start); el < time.Second {
		t.Errorf("flipped after %v: FailureThreshold 2 needs two failed probes", el)
	}
	st, _ := c.Status("hc-1")
	if st.LastFailure == nil || !strings.HasPrefix(st.LastFailure.Status, "Failure:") || st.LastFailure.Region != CheckerRegion {
		t.Fatalf("status %+v", st.LastFailure)
	}
	if changes.Load() != 1 {
		t.Fatalf("OnChange called %d times", changes.Load())
	}
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken again: %v", err)
	}
	defer ln2.Close()
	waitFor(t, 5*time.Second, "healthy again", func() bool { return c.Healthy("hc-1") })
	if !c.Healthy("unknown") {
		t.Fatal("unknown check unhealthy")
	}
}

func TestEffective(t *testing.T) {
	for _, tc := range []struct {
		cfg       Config
		raw, want bool
	}{
		{Config{}, true, true}, {Config{}, false, false},
		{Config{Inverted: true}, true, false}, {Config{Inverted: true}, false, true},
		{Config{Disabled: true}, false, true}, {Config{Disabled: true, Inverted: true}, true, false},
	} {
		if got := effective(tc.cfg, tc.raw); got != tc.want {
			t.Errorf("%+v raw %v: %v", tc.cfg, tc.raw, got)
		}
	}
}
