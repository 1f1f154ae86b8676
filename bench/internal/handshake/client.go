package handshake

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/mqttc"
	"github.com/portico-iot/portico/bench/internal/stats"
)

const role = "handshake-client"

func init() { child.Register(role, clientMain) }

// clientSetup is the parent's first message to the load generator.
type clientSetup struct {
	MaterialDomains, MaterialDevices int
	Domains                          int // SNI names are drawn uniformly among the first Domains
	Curve                            string
}

// runRequest starts one measured run.
type runRequest struct {
	Addr     string
	Conns    int
	Duration time.Duration
	Max      int64 // bound on attempts in the run
	Seed     uint64
}

// runResult is the load generator's account of one run.
type runResult struct {
	Completed int64 // handshakes that reached CONNACK
	Errors    int64
	FirstErr  string
	Elapsed   time.Duration // from start until the last worker stopped
	ClientCPU time.Duration
	P50, P99  time.Duration // dial to CONNACK
	Quit      bool          `json:",omitempty"`
}

type ready struct{ Ready bool }

// clientMain is the load generator process: N goroutines, each dialling,
// completing a full TLS 1.3 handshake with its device certificate (no
// session resumption), sending CONNECT and waiting for CONNACK (by then the
// server has accepted the client certificate), then DISCONNECT and close.
func clientMain(c *child.Conn) error {
	var setup clientSetup
	if err := c.Recv(&setup, time.Minute); err != nil {
		return err
	}
	curves, err := curvePreferences(setup.Curve)
	if err != nil {
		return err
	}
	// One base configuration per device certificate; each dial clones one
	// and sets the server name.
	bases, err := material.DeviceConfigs(setup.MaterialDomains, setup.MaterialDevices, &tls.Config{
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		CurvePreferences: curves,
		// No ClientSessionCache: every handshake is a full one.
	})
	if err != nil {
		return err
	}
	names := make([]string, setup.Domains)
	for i := range names {
		names[i] = material.DomainName(i)
	}
	if err := c.Send(ready{true}); err != nil {
		return err
	}
	for {
		var req runRequest
		if err := c.Recv(&req, 10*time.Minute); err != nil {
			return err
		}
		if req.Conns == 0 {
			return nil // the parent is done
		}
		if err := c.Send(load(req, bases, names)); err != nil {
			return err
		}
	}
}

func curvePreferences(name string) ([]tls.CurveID, error) {
	switch name {
	case "", "default":
		return nil, nil
	case "x25519":
		return []tls.CurveID{tls.X25519}, nil
	case "p256":
		return []tls.CurveID{tls.CurveP256}, nil
	}
	return nil, fmt.Errorf("unknown curve %q (default, x25519, p256)", name)
}

func load(req runRequest, bases []*tls.Config, names []string) runResult {
	var (
		attempts, completed, errs atomic.Int64
		firstErr                  atomic.Value
		wg                        sync.WaitGroup
		mu                        sync.Mutex
		samples                   []time.Duration
	)
	cpu0 := machine.CPUTime()
	start := time.Now()
	end := start.Add(req.Duration)
	for w := 0; w < req.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(req.Seed, uint64(w)))
			var local []time.Duration
			for seq := 0; time.Now().Before(end) && attempts.Add(1) <= req.Max; seq++ {
				cfg := bases[rng.IntN(len(bases))].Clone()
				cfg.ServerName = names[rng.IntN(len(names))]
				t0 := time.Now()
				if err := once(req.Addr, cfg, fmt.Sprintf("hs-%d-%d", w, seq)); err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				local = append(local, time.Since(t0))
				completed.Add(1)
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := runResult{Completed: completed.Load(), Errors: errs.Load(), Elapsed: time.Since(start), ClientCPU: machine.CPUTime() - cpu0}
	if s, ok := firstErr.Load().(string); ok {
		r.FirstErr = s
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	r.P50, r.P99 = stats.Percentile(samples, 50), stats.Percentile(samples, 99)
	return r
}

var errTimeout = errors.New("timeout")

// once is one connection: handshake, CONNECT, CONNACK, DISCONNECT, close.
func once(addr string, cfg *tls.Config, clientID string) error {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		return err
	}
	if _, err := c.Write(mqttc.Connect(clientID, 30)); err != nil {
		return err
	}
	if err := mqttc.ReadConnack(c); err != nil {
		return err
	}
	_, err = c.Write(mqttc.Disconnect)
	return err
}
