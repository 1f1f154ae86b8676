package expirywatch_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/expirywatch"
	"github.com/portico-iot/portico/internal/lockedbuf"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// webhook is a real HTTP receiver that answers status and keeps the events.
type webhook struct {
	mu     sync.Mutex
	events []expirywatch.Event
	raw    []map[string]any
	status int
	srv    *httptest.Server
}

func newWebhook(t *testing.T, status int) *webhook {
	h := &webhook{status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev expirywatch.Event
		var raw map[string]any
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(body, &ev) != nil || json.Unmarshal(body, &raw) != nil {
			t.Errorf("webhook got %s %q %s", r.Method, r.Header.Get("Content-Type"), body)
		}
		h.mu.Lock()
		h.events, h.raw = append(h.events, ev), append(h.raw, raw)
		h.mu.Unlock()
		w.WriteHeader(h.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *webhook) got() []expirywatch.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]expirywatch.Event(nil), h.events...)
}

type env struct {
	svc  *certificate.Service
	clk  *clock
	ca   *testpki.CA
	logs *lockedbuf.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := storetest.New(t)
	svc, err := certificate.NewService(context.Background(), st, "eu-west-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	// Real time: the test CA's certificates must be valid when imported.
	clk := &clock{t: time.Now().UTC()}
	svc.Now = clk.now
	return &env{svc: svc, clk: clk, ca: testpki.NewCA(t, "Expiry Test CA"), logs: &lockedbuf.Buffer{}}
}

// importExpiring imports a certificate for name that expires in d.
func (e *env) importExpiring(t *testing.T, name string, d time.Duration) string {
	t.Helper()
	leaf := e.ca.Issue(t, testpki.LeafOptions{CommonName: name, DNSNames: []string{name},
		NotBefore: e.clk.now().Add(-time.Hour), NotAfter: e.clk.now().Add(d)})
	arn, err := e.svc.Import(context.Background(), certificate.ImportInput{Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: e.ca.PEM})
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func (e *env) watcher(webhooks ...string) *expirywatch.Watcher {
	return &expirywatch.Watcher{Source: expirywatch.Certificates{Service: e.svc}, Region: "eu-west-1", Account: "123456789012", Webhooks: webhooks,
		Now: e.clk.now, Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Client: &http.Client{Timeout: 2 * time.Second}}
}

func tick(t *testing.T, w *expirywatch.Watcher) {
	t.Helper()
	if err := w.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// metrics scrapes the watcher's handler and returns the gauge per ARN.
func metrics(t *testing.T, w *expirywatch.Watcher) (string, map[string]float64) {
	t.Helper()
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("/metrics = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, `portico_certificate_days_to_expiry{certificate_arn="`)
		arn, value, ok2 := strings.Cut(rest, `"} `)
		v, err := strconv.ParseFloat(value, 64)
		if !ok || !ok2 || err != nil {
			t.Fatalf("/metrics line %q", line)
		}
		out[arn] = v
	}
	return rec.Body.String(), out
}

func TestApproachingExpirationEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	far := e.importExpiring(t, "far.yourcompany.com", 50*24*time.Hour+12*time.Hour)
	near := e.importExpiring(t, "iot.yourcompany.com", 10*24*time.Hour+12*time.Hour)
	// A request still waiting for validation has no expiry: not watched.
	if _, err := e.svc.Request(ctx, certificate.RequestInput{DomainName: "pending.yourcompany.com"}); err != nil {
		t.Fatal(err)
	}
	ok, broken := newWebhook(t, http.StatusNoContent), newWebhook(t, http.StatusInternalServerError)
	w := e.watcher(ok.srv.URL, broken.srv.URL)
	w.NewID = func() string { return "6a7e8feb-b491-4cf7-a9f1-bf3703467718" }

	tick(t, w)
	got := ok.got()
	if len(got) != 1 {
		t.Fatalf("first pass sent %d events, want 1 (only the certificate within 45 days): %+v", len(got), got)
	}
	want := expirywatch.Event{Version: "0", ID: "6a7e8feb-b491-4cf7-a9f1-bf3703467718", DetailType: "ACM Certificate Approaching Expiration",
		Source: "aws.acm", Account: "123456789012", Time: e.clk.now().Format(time.RFC3339), Region: "eu-west-1",
		Resources: []string{near}, Detail: expirywatch.Detail{DaysToExpiry: 10, CommonName: "iot.yourcompany.com"}}
	if b, _ := json.Marshal(got[0]); string(b) != mustJSON(want) {
		t.Fatalf("event = %s\nwant    %s", b, mustJSON(want))
	}
	// The wire keys are EventBridge's.
	raw := ok.raw[0]
	for _, k := range []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"} {
		if _, present := raw[k]; !present {
			t.Errorf("event has no %q: %v", k, raw)
		}
	}
	if len(broken.got()) != 1 {
		t.Fatalf("the failing webhook got %d posts, want exactly 1 (no retries)", len(broken.got()))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "ACM Certificate Approaching Expiration") || !strings.Contains(logs, near) ||
		!strings.Contains(logs, "expiry webhook failed") || !strings.Contains(logs, "500") {
		t.Fatalf("logs lack the event or the webhook failure:\n%s", logs)
	}

	// Once a day: a second pass, and a restarted watcher, send nothing more today.
	tick(t, w)
	tick(t, e.watcher(ok.srv.URL))
	if n := len(ok.got()); n != 1 {
		t.Fatalf("same day: %d events, want 1", n)
	}

	// The gauge, for every certificate, imported or issued.
	text, gauge := metrics(t, w)
	if !strings.Contains(text, "# TYPE portico_certificate_days_to_expiry gauge\n") || !strings.Contains(text, "# HELP portico_certificate_days_to_expiry ") {
		t.Fatalf("/metrics lacks HELP/TYPE:\n%s", text)
	}
	if len(gauge) != 2 || gauge[near] < 10.49 || gauge[near] > 10.51 || gauge[far] < 50.49 || gauge[far] > 50.51 {
		t.Fatalf("gauge = %v", gauge)
	}

	// Next day: 9 days left.
	e.clk.advance(24 * time.Hour)
	tick(t, w)
	if got := ok.got(); len(got) != 2 || got[1].Detail.DaysToExpiry != 9 {
		t.Fatalf("next day: %+v", got)
	}

	// A narrower window (PutAccountConfiguration) holds events back until it is reached.
	five := 5
	if err := e.svc.PutAccountConfiguration(ctx, certificate.PutAccountConfigurationInput{DaysBeforeExpiry: &five, IdempotencyToken: "narrow"}); err != nil {
		t.Fatal(err)
	}
	for day := 0; day < 3; day++ { // 8, 7, 6 days left
		e.clk.advance(24 * time.Hour)
		tick(t, w)
	}
	if n := len(ok.got()); n != 2 {
		t.Fatalf("outside a 5-day window: %d events, want still 2", n)
	}
	e.clk.advance(24 * time.Hour) // 5 days left
	tick(t, w)
	if got := ok.got(); len(got) != 3 || got[2].Detail.DaysToExpiry != 5 {
		t.Fatalf("at 5 days: %+v", got)
	}

	// Expired: no more events (as ACM), and the gauge goes negative.
	e.clk.advance(6 * 24 * time.Hour)
	tick(t, w)
	if n := len(ok.got()); n != 3 {
		t.Fatalf("after expiry: %d events, want 3", n)
	}
	if _, gauge := metrics(t, w); gauge[near] >= 0 {
		t.Fatalf("expired certificate's gauge = %v, want negative", gauge[near])
	}
}

// TestWebhookTimeout: a receiver that never answers costs one timeout, and
// the event still counts as sent.
func TestWebhookTimeout(t *testing.T) {
	e := newEnv(t)
	e.importExpiring(t, "iot.yourcompany.com", 3*24*time.Hour)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets Close finish
	w := e.watcher(hung.URL)
	w.Client = &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	tick(t, w)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a hung webhook held the pass for %s", took)
	}
	if !strings.Contains(e.logs.String(), "expiry webhook failed") {
		t.Fatalf("no failure logged:\n%s", e.logs.String())
	}
	states, err := e.svc.ExpiryStates(context.Background())
	if err != nil || len(states) != 1 || states[0].LastEventDay != e.clk.now().UTC().Format(time.DateOnly) {
		t.Fatalf("states = %+v, %v", states, err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
