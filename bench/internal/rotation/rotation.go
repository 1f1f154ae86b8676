// Package rotation is the "rotation under load" scenario: a fleet of MQTT
// over TLS devices (a second process) stays connected to one domain
// through Portico's gateway while that domain's certificate is rotated
// again and again, the way the change feed delivers an `acm
// import-certificate --certificate-arn SAME` (the certificate replaced in
// place) or an `update-domain-configuration --server-certificate-arns NEW
// OLD` (the new one added, newest served first): new certificate in the
// source, then the gateway's reload. Pollers make fresh handshakes all along
// and record when each first sees the new certificate; at the end every
// device pings, and none may have been dropped.
package rotation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/servers"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// Options shape the scenario.
type Options struct {
	Domains     int // enabled domain configurations in the gateway's snapshot
	Devices     int // registered device certificates (the fleet shares them)
	Fleet       int // connected MQTT devices, all on one domain
	Concurrency int // fleet connections being set up at once
	Rotations   int
	Pollers     int // goroutines making fresh handshakes
	// PollEvery paces each poller: it starts a handshake at most this often,
	// so the pollers observe without saturating the two cores.
	PollEvery time.Duration
	Gap       time.Duration // pause between rotations
	Wait      time.Duration // bound on the wait for every poller to see a rotation
	Log       io.Writer
}

// Defaults are what `bench/cmd/rotation` uses without flags.
func Defaults() Options {
	return Options{Domains: 10000, Devices: 1000, Fleet: 2000, Concurrency: 32, Rotations: 10, Pollers: 4, PollEvery: 10 * time.Millisecond,
		Gap: 500 * time.Millisecond, Wait: 10 * time.Second, Log: os.Stderr}
}

// MaxFleet keeps the server process, which holds one descriptor per device,
// under the 20,000 open files a process may have here.
const MaxFleet = 19000

// Goal is issue 8's bound on the time to the new certificate.
const Goal = time.Second

// Rotation is one certificate change.
type Rotation struct {
	N    int
	Kind string // "re-import" or "NEW OLD"
	// Feed is from the rotation call to the gateway reading its source.
	Feed time.Duration
	// Seen is, per poller, from the rotation call to the end of its first
	// fresh handshake that got the new certificate (0: not within Wait).
	Seen []time.Duration
}

// Result is the scenario's outcome.
type Result struct {
	Options        Options
	Connected      int
	ConnectFailed  int
	ConnectErr     string
	ConnectTook    time.Duration
	NoFile         uint64
	RSSPerConn     float64 // server process, bytes per connected device
	Rotations      []Rotation
	Missed         int // poller observations that never saw a rotation
	PollHandshakes int64
	PollErrors     int64
	PollErr        string
	PollDuration   time.Duration
	Before, After  fleetReport
	Reload         time.Duration // median of direct gateway.Reload calls
	UptimeBefore   string
	UptimeAfter    string
}

// Samples are every poller observation, in order.
func (r *Result) Samples() []time.Duration {
	var out []time.Duration
	for _, rot := range r.Rotations {
		for _, s := range rot.Seen {
			if s > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// Dropped counts the connected devices that did not answer the final ping.
func (r *Result) Dropped() int { return r.Connected - r.After.Ponged }

type rotationState struct {
	serial string
	t0     time.Time
	seen   []atomic.Int64 // ns after t0, per poller
}

// Execute runs the scenario.
func Execute(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Fleet < 1 || o.Fleet > MaxFleet || o.Rotations < 1 || o.Pollers < 1 || o.Domains < 1 || o.Devices < 1 {
		return nil, fmt.Errorf("rotation: fleet must be 1..%d; domains, devices, rotations and pollers positive", MaxFleet)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "rotation: "+format+"\n", args...) }
	res := &Result{Options: o, UptimeBefore: machine.Uptime()}
	res.NoFile = machine.RaiseNoFile(uint64(o.Fleet) + 1000)

	set, _, err := material.Load(o.Domains, o.Devices)
	if err != nil {
		return nil, err
	}
	ca, err := set.Authority()
	if err != nil {
		return nil, err
	}
	roots, err := set.Roots()
	if err != nil {
		return nil, err
	}
	reg, err := servers.NewRegistry(ctx, set)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	domains, err := servers.Domains(set)
	if err != nil {
		return nil, err
	}
	portico, err := servers.StartPortico(domains, reg)
	if err != nil {
		return nil, err
	}
	defer portico.Close()
	var fed atomic.Int64 // unix ns of the gateway's last read of its source
	portico.Source.OnDomains = func() { fed.Store(time.Now().UnixNano()) }
	name := material.DomainName(0)
	logf("gateway up with %d domains on %s; the fleet connects to %s", o.Domains, portico.Addr, name)

	rss0 := machine.RSS()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	p, err := child.Start(cctx, fleetRole)
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	connectWithin := time.Minute + time.Duration(o.Fleet)*10*time.Millisecond
	if err := p.Send(fleetSetup{MaterialDomains: o.Domains, MaterialDevices: o.Devices, Addr: portico.Addr, ServerName: name,
		Devices: o.Fleet, Concurrency: o.Concurrency, ConnectWithin: connectWithin, KeepAlive: 600}); err != nil {
		return nil, err
	}
	var ready fleetReady
	if err := p.Recv(&ready, connectWithin+2*time.Minute); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	res.Connected, res.ConnectFailed, res.ConnectErr, res.ConnectTook = ready.Connected, ready.Failed, ready.FirstErr, ready.Took
	if ready.Connected > 0 {
		res.RSSPerConn = float64(machine.RSS()-rss0) / float64(ready.Connected)
	}
	logf("fleet: %d connected, %d failed in %v (%.0f KiB server RSS per connection) %s", ready.Connected, ready.Failed,
		ready.Took.Round(time.Millisecond), res.RSSPerConn/1024, ready.FirstErr)
	if ready.Connected == 0 {
		return nil, fmt.Errorf("fleet: no device connected: %s", ready.FirstErr)
	}
	if err := p.Send(fleetCheck{Within: 30 * time.Second}); err != nil {
		return nil, err
	}
	if err := p.Recv(&res.Before, time.Minute); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	logf("before: %d answered the ping, %d dropped, %d silent", res.Before.Ponged, res.Before.Dropped, res.Before.NoPong)

	// Pollers: fresh handshakes, each noting when it first sees the
	// certificate of the rotation in progress.
	var (
		cur              atomic.Pointer[rotationState]
		stop             = make(chan struct{})
		wg               sync.WaitGroup
		handshakes, errs atomic.Int64
		pollErr          atomic.Value
	)
	dev, err := set.Devices[0].TLS()
	if err != nil {
		return nil, err
	}
	pollStart := time.Now()
	for i := 0; i < o.Pollers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := &tls.Config{ServerName: name, RootCAs: roots, Certificates: []tls.Certificate{dev},
				MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}}
			tick := time.NewTicker(o.PollEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				serial, err := servedSerial(portico.Addr, cfg)
				end := time.Now()
				if err != nil {
					if errs.Add(1) == 1 {
						pollErr.Store(err.Error())
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				handshakes.Add(1)
				if st := cur.Load(); st != nil && serial == st.serial && st.seen[i].Load() == 0 {
					st.seen[i].Store(int64(max(end.Sub(st.t0), 1)))
				}
			}
		}()
	}
	stopPollers := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
			res.PollDuration = time.Since(pollStart)
		}
	}
	defer stopPollers()

	for n := 1; n <= o.Rotations; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		time.Sleep(o.Gap)
		pair, err := ca.ServerAt(name, time.Now().Add(-time.Second))
		if err != nil {
			return nil, err
		}
		next, err := pair.TLS()
		if err != nil {
			return nil, err
		}
		rot := Rotation{N: n, Kind: "re-import"}
		certs := []tls.Certificate{next}
		if n%2 == 0 {
			rot.Kind = "NEW OLD"
			certs = append(certs, portico.Source.Certificates(name)[0])
		}
		st := &rotationState{serial: next.Leaf.SerialNumber.String(), seen: make([]atomic.Int64, o.Pollers)}
		cur.Store(st)
		st.t0 = time.Now()
		// The rotation: what a store write does through the change feed.
		portico.Source.SetCertificates(name, certs)
		portico.Notify()
		deadline := st.t0.Add(o.Wait)
		for time.Now().Before(deadline) && !allSeen(st) {
			time.Sleep(time.Millisecond)
		}
		rot.Feed = time.Unix(0, fed.Load()).Sub(st.t0)
		for i := range st.seen {
			d := time.Duration(st.seen[i].Load())
			rot.Seen = append(rot.Seen, d)
			if d == 0 {
				res.Missed++
			}
		}
		cur.Store(nil)
		res.Rotations = append(res.Rotations, rot)
		logf("rotation %2d (%-9s): feed %v, new certificate seen after %v", n, rot.Kind, rot.Feed.Round(time.Microsecond), roundAll(rot.Seen))
	}
	stopPollers()
	res.PollHandshakes, res.PollErrors = handshakes.Load(), errs.Load()
	if s, ok := pollErr.Load().(string); ok {
		res.PollErr = s
	}

	if err := p.Send(fleetCheck{Within: 30 * time.Second}); err != nil {
		return nil, err
	}
	if err := p.Recv(&res.After, time.Minute); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	logf("after: %d answered the ping, %d dropped, %d silent %s", res.After.Ponged, res.After.Dropped, res.After.NoPong, res.After.FirstErr)

	// How long one reload of the whole snapshot takes, called directly.
	var reloads []float64
	for i := 0; i < 5; i++ {
		t := time.Now()
		if err := portico.GW.Reload(ctx); err != nil {
			return nil, err
		}
		reloads = append(reloads, float64(time.Since(t)))
	}
	res.Reload = time.Duration(stats.Median(reloads))

	p.Send(fleetCheck{Done: true})
	p.Wait(time.Minute)
	res.UptimeAfter = machine.Uptime()
	return res, nil
}

func allSeen(st *rotationState) bool {
	for i := range st.seen {
		if st.seen[i].Load() == 0 {
			return false
		}
	}
	return true
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Microsecond)
	}
	return out
}

// servedSerial makes a fresh handshake and returns the serial number of the
// certificate the server presented.
func servedSerial(addr string, cfg *tls.Config) (string, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		return "", err
	}
	var leaf *x509.Certificate
	if pcs := c.ConnectionState().PeerCertificates; len(pcs) > 0 {
		leaf = pcs[0]
	} else {
		return "", fmt.Errorf("no server certificate")
	}
	return leaf.SerialNumber.String(), nil
}

// Command is the command line that reproduces the options.
func (o Options) Command() string {
	return fmt.Sprintf("go run ./bench/cmd/rotation -domains %d -devices %d -fleet %d -concurrency %d -rotations %d -pollers %d -poll-every %v -gap %v",
		o.Domains, o.Devices, o.Fleet, o.Concurrency, o.Rotations, o.Pollers, o.PollEvery, o.Gap)
}

// Markdown renders the result for docs/benchmarks.md.
func (r *Result) Markdown() string {
	var b strings.Builder
	o := r.Options
	fmt.Fprintf(&b, "### %d connected devices\n\n```sh\n%s\n```\n\n", o.Fleet, o.Command())
	samples := r.Samples()
	p50, p90, mx := stats.Percentile(samples, 50), stats.Percentile(samples, 90), stats.Percentile(samples, 100)
	var feeds []float64
	for _, rot := range r.Rotations {
		feeds = append(feeds, float64(rot.Feed))
	}
	dropped := r.Dropped()
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	fmt.Fprintf(&b, "| measure | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| devices connected (failed) | %d (%d) in %v |\n", r.Connected, r.ConnectFailed, r.ConnectTook.Round(time.Millisecond))
	fmt.Fprintf(&b, "| server RSS per connected device | %.0f KiB |\n", r.RSSPerConn/1024)
	fmt.Fprintf(&b, "| rotations | %d (alternately re-import and NEW OLD) |\n", len(r.Rotations))
	fmt.Fprintf(&b, "| **connections dropped** | **%d** of %d (after the rotations: %d answered PINGREQ, %d closed, %d silent) — goal 0: %s |\n",
		dropped, r.Connected, r.After.Ponged, r.After.Dropped, r.After.NoPong, verdict(dropped == 0))
	fmt.Fprintf(&b, "| **rotation call to new certificate on a fresh handshake** | **p50 %s, p90 %s, max %s** over %d observations (%d pollers, one handshake every %v each, x %d rotations; %d missed) — goal <= %v: %s |\n",
		ms(p50), ms(p90), ms(mx), len(samples), o.Pollers, o.PollEvery, len(r.Rotations), r.Missed, Goal, verdict(r.Missed == 0 && mx <= Goal))
	fmt.Fprintf(&b, "| rotation call to the gateway reading its source (median) | %.0f µs |\n", stats.Median(feeds)/float64(time.Microsecond))
	fmt.Fprintf(&b, "| one reload with nothing changed, %d domains and %d live sessions (`Reload`, median of 5) | %s |\n", o.Domains, r.Connected, ms(r.Reload))
	rate := 0.0
	if r.PollDuration > 0 {
		rate = float64(r.PollHandshakes) / r.PollDuration.Seconds()
	}
	fmt.Fprintf(&b, "| poller handshakes during the rotations | %d (%.0f/s, %d errors) |\n", r.PollHandshakes, rate, r.PollErrors)
	fmt.Fprintf(&b, "| load (uptime) before / after | `%s` / `%s` |\n", r.UptimeBefore, r.UptimeAfter)
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
