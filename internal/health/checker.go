package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CheckerRegion is the Region of Portico's observations.
const CheckerRegion = "portico"

// Observation is the latest result of one probe.
type Observation struct {
	Region      string
	IPAddress   string // the checker's address as the target saw it
	Status      string // "Success: …" or "Failure: …"
	CheckedTime time.Time
}

// Status is what the checker knows about one health check.
type Status struct {
	// Healthy is the status used for DNS answers: after FailureThreshold
	// consecutive results, with Disabled (healthy) then Inverted applied.
	Healthy     bool
	Last        *Observation // nil before the first probe
	LastFailure *Observation // nil when no probe failed yet
}

// Checker probes health checks and publishes their statuses. Answering
// Healthy never blocks on probes or the database.
type Checker struct {
	// Dial opens connections; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Resolve finds the IPv4 address of a check without IPAddress; nil
	// means net.DefaultResolver.
	Resolve func(ctx context.Context, host string) ([]net.IP, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Timeouts of one probe; zero means Route 53's: TCP connect 10 s, HTTP
	// connect 4 s, response headers 2 s, body 2 s.
	TCPTimeout, ConnectTimeout, ResponseTimeout, BodyTimeout time.Duration
	// OnChange is called (from a probe goroutine) after a check's Healthy
	// status flips, or a check appears or goes away: wire it to
	// dnsserver.Server.HealthChanged.
	OnChange func()
	// Logger; nil discards.
	Logger *slog.Logger

	snap atomic.Pointer[map[string]Status]

	mu      sync.Mutex
	ctx     context.Context
	runners map[string]*runner
	status  map[string]Status
	// calculated are the CALCULATED checks, recomputed from their
	// children whenever a status is published.
	calculated map[string]Config
	wg         sync.WaitGroup
}

type runner struct {
	version int64
	cancel  context.CancelFunc
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Healthy reports a check's status for DNS answers; unknown checks are healthy.
func (c *Checker) Healthy(id string) bool {
	if m := c.snap.Load(); m != nil {
		if st, ok := (*m)[id]; ok {
			return st.Healthy
		}
	}
	return true
}

// Status returns what the checker knows about a check.
func (c *Checker) Status(id string) (Status, bool) {
	if m := c.snap.Load(); m != nil {
		st, ok := (*m)[id]
		return st, ok
	}
	return Status{}, false
}

// publish stores status for id (delete when st is nil) and swaps the
// snapshot. Callers hold c.mu. It reports whether Healthy changed.
func (c *Checker) publish(id string, st *Status) bool {
	old, had := c.status[id]
	if st == nil {
		delete(c.status, id)
	} else {
		c.status[id] = *st
	}
	m := make(map[string]Status, len(c.status))
	for k, v := range c.status {
		m[k] = v
	}
	c.snap.Store(&m)
	switch {
	case st == nil:
		return had && !old.Healthy
	case !had:
		return !st.Healthy
	}
	return old.Healthy != st.Healthy
}

func (c *Checker) changed() {
	if c.OnChange != nil {
		c.OnChange()
	}
}

// Run probes checks until ctx ends: it loads them with source, then again
// after every value on changes (store.Subscribe's channel). A failed load
// keeps the checks running. Run waits for its probes before returning.
func (c *Checker) Run(ctx context.Context, source func(context.Context) ([]HealthCheck, error), changes <-chan struct{}) error {
	load := func() {
		checks, err := source(ctx)
		if err != nil {
			if ctx.Err() == nil && c.Logger != nil {
				c.Logger.Error("health checks not reloaded", "err", err)
			}
			return
		}
		c.Sync(ctx, checks)
	}
	load()
	for {
		select {
		case <-ctx.Done():
			c.Sync(ctx, nil)
			c.wg.Wait()
			return nil
		case <-changes:
			load()
		}
	}
}

// Sync makes the running probes match checks: new checks start (healthy,
// so a new check never fails a record over before evidence), changed ones
// restart keeping their status, deleted ones stop.
func (c *Checker) Sync(ctx context.Context, checks []HealthCheck) {
	c.mu.Lock()
	if c.runners == nil {
		c.runners = map[string]*runner{}
		c.status = map[string]Status{}
	}
	notify := false
	seen := map[string]bool{}
	calculated := map[string]Config{}
	for _, hc := range checks {
		seen[hc.ID] = true
		if hc.Config.Type == TypeCalculated {
			// Never probed: recalc derives it from its children below.
			calculated[hc.ID] = hc.Config
			if r := c.runners[hc.ID]; r != nil {
				r.cancel()
				delete(c.runners, hc.ID)
			}
			continue
		}
		r := c.runners[hc.ID]
		if r != nil && r.version == hc.Version {
			continue
		}
		if r != nil {
			r.cancel()
		}
		st, ok := c.status[hc.ID]
		raw := true
		if ok && st.Last != nil {
			raw = rawFrom(st, hc)
		}
		st.Healthy = effective(hc.Config, raw)
		if c.publish(hc.ID, &st) {
			notify = true
		}
		rctx, cancel := context.WithCancel(ctx)
		c.runners[hc.ID] = &runner{version: hc.Version, cancel: cancel}
		c.wg.Add(1)
		go c.probeLoop(rctx, hc, raw)
	}
	for id, r := range c.runners {
		if !seen[id] {
			r.cancel()
			delete(c.runners, id)
			if c.publish(id, nil) {
				notify = true
			}
		}
	}
	for id := range c.calculated {
		if !seen[id] && c.publish(id, nil) {
			notify = true
		}
	}
	c.calculated = calculated
	if c.recalc() {
		notify = true
	}
	c.mu.Unlock()
	if notify {
		c.changed()
	}
}

// rawFrom is the last raw (probe-derived) state: the last observation's
// outcome is a fair start for a restarted probe.
func rawFrom(st Status, _ HealthCheck) bool {
	return strings.HasPrefix(st.Last.Status, "Success")
}

// effective applies Disabled (healthy) and then Inverted to a raw state.
func effective(cfg Config, raw bool) bool {
	if cfg.Disabled {
		raw = true
	}
	if cfg.Inverted {
		return !raw
	}
	return raw
}

func (c *Checker) probeLoop(ctx context.Context, hc HealthCheck, raw bool) {
	defer c.wg.Done()
	if hc.Config.Disabled {
		<-ctx.Done()
		return
	}
	interval := time.Duration(hc.Config.RequestInterval) * time.Second
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	streak := 0 // consecutive results disagreeing with raw
	for {
		ok, text, local := c.Probe(ctx, hc.Config)
		if ctx.Err() != nil {
			return
		}
		obs := &Observation{Region: CheckerRegion, IPAddress: local, Status: text, CheckedTime: c.now().UTC()}
		if ok == raw {
			streak = 0
		} else if streak++; streak >= int(hc.Config.FailureThreshold) {
			raw, streak = ok, 0
		}
		c.mu.Lock()
		if ctx.Err() != nil { // replaced or stopped while probing
			c.mu.Unlock()
			return
		}
		st := c.status[hc.ID]
		st.Last = obs
		if !ok {
			st.LastFailure = obs
		}
		st.Healthy = effective(hc.Config, raw)
		flipped := c.publish(hc.ID, &st)
		if c.recalc() {
			flipped = true
		}
		c.mu.Unlock()
		if flipped {
			c.changed()
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (c *Checker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.Dial != nil {
		return c.Dial(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// target returns the address to probe.
func (c *Checker) target(ctx context.Context, cfg Config) (string, error) {
	ip := cfg.IPAddress
	if ip == "" {
		resolve := c.Resolve
		if resolve == nil {
			resolve = func(ctx context.Context, host string) ([]net.IP, error) {
				return net.DefaultResolver.LookupIP(ctx, "ip4", host)
			}
		}
		ips, err := resolve(ctx, cfg.FullyQualifiedDomainName)
		if err != nil || len(ips) == 0 {
			return "", fmt.Errorf("could not resolve %s: %v", cfg.FullyQualifiedDomainName, err)
		}
		ip = ips[0].String()
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(cfg.Port))), nil
}

// Probe runs one check now. It returns the raw outcome, the status text and
// the checker's local address.
func (c *Checker) Probe(ctx context.Context, cfg Config) (ok bool, status, local string) {
	addr, err := c.target(ctx, cfg)
	if err != nil {
		return false, "Failure: " + err.Error(), ""
	}
	if cfg.Type == TypeTCP {
		dctx, cancel := context.WithTimeout(ctx, orDefault(c.TCPTimeout, 10*time.Second))
		defer cancel()
		conn, err := c.dial(dctx, "tcp", addr)
		if err != nil {
			return false, "Failure: TCP connection to " + addr + " failed: " + cleanErr(err), ""
		}
		local = hostOf(conn.LocalAddr())
		conn.Close()
		return true, "Success: TCP connection established", local
	}
	return c.probeHTTP(ctx, cfg, addr)
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

func cleanErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func (c *Checker) probeHTTP(ctx context.Context, cfg Config, addr string) (bool, string, string) {
	secure := cfg.Type == TypeHTTPS || cfg.Type == TypeHTTPSStrMatch
	var local string
	var connMu sync.Mutex
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, orDefault(c.ConnectTimeout, 4*time.Second))
		defer cancel()
		conn, err := c.dial(dctx, network, addr)
		if err == nil {
			connMu.Lock()
			local = hostOf(conn.LocalAddr())
			connMu.Unlock()
		}
		return conn, err
	}
	tlsConf := &tls.Config{InsecureSkipVerify: true} // Route 53 does not validate certificates
	if cfg.EnableSNI && cfg.FullyQualifiedDomainName != "" {
		tlsConf.ServerName = cfg.FullyQualifiedDomainName
	}
	tr := &http.Transport{DialContext: dial, TLSClientConfig: tlsConf, DisableKeepAlives: true,
		ResponseHeaderTimeout: orDefault(c.ResponseTimeout, 2*time.Second),
		TLSHandshakeTimeout:   orDefault(c.ConnectTimeout, 4*time.Second)}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	scheme := "http"
	if secure {
		scheme = "https"
	}
	path := cfg.ResourcePath
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	host := cfg.FullyQualifiedDomainName
	if host == "" {
		host = cfg.IPAddress
	}
	hostHeader := host
	if (secure && cfg.Port != 443) || (!secure && cfg.Port != 80) {
		hostHeader = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return false, "Failure: bad request: " + err.Error(), ""
	}
	req.Host = hostHeader
	req.Header.Set("User-Agent", "Amazon-Route53-Health-Check-Service (ref portico)")
	resp, err := client.Do(req)
	connMu.Lock()
	l := local
	connMu.Unlock()
	if err != nil {
		return false, "Failure: " + cleanErr(err), l
	}
	defer resp.Body.Close()
	code := fmt.Sprintf("HTTP Status Code %d, %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return false, "Failure: " + code, l
	}
	if cfg.Type == TypeHTTPStrMatch || cfg.Type == TypeHTTPSStrMatch {
		timer := time.AfterFunc(orDefault(c.BodyTimeout, 2*time.Second), cancel)
		body, err := io.ReadAll(io.LimitReader(resp.Body, MaxSearchBytes))
		timer.Stop()
		if err != nil && len(body) == 0 {
			return false, "Failure: could not read the response body: " + cleanErr(err), l
		}
		if !strings.Contains(string(body), cfg.SearchString) {
			return false, fmt.Sprintf("Failure: %s. The search string %q was not found in the first %d bytes of the response body", code, cfg.SearchString, MaxSearchBytes), l
		}
	}
	return true, "Success: " + code, l
}
