package mqttbench

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/mqttc"
)

const loadRole = "mqtt-load"

func init() { child.Register(loadRole, loadMain) }

// loadSetup is the parent's first message to the load generator.
type loadSetup struct {
	Domains, Devices int // the material's size
}

// Request kinds.
const (
	kindFlow        = "flow"         // publishers to subscribers, closed or open loop
	kindIdleHold    = "idle-hold"    // connect until Conns connections are held
	kindIdleRelease = "idle-release" // close every held connection
	kindQuit        = "quit"
)

// request is one job for the load generator.
type request struct {
	Kind       string
	Addr       string
	ServerName string
	Tag        string // client-ID prefix, unique per run (a reused ID takes the session over)
	Flow       flowSpec
	Conns      int // idle-hold: connections to hold in total
	Parallel   int // idle-hold: connections set up at once
}

// result is the load generator's answer.
type result struct {
	Flow      flowResult
	Held      int // idle-hold: connections held now
	Failed    int // idle-hold: connections that failed
	FirstErr  string
	ClientCPU time.Duration
	Elapsed   time.Duration
}

// loadMain is the load generator process.
func loadMain(c *child.Conn) error {
	var s loadSetup
	if err := c.Recv(&s, time.Minute); err != nil {
		return err
	}
	machine.RaiseNoFile(1 << 20)
	bases, err := material.DeviceConfigs(s.Domains, s.Devices, &tls.Config{
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
	})
	if err != nil {
		return err
	}
	var idle idleSet
	defer idle.release()
	if err := c.Send(result{}); err != nil {
		return err
	}
	for {
		var req request
		if err := c.Recv(&req, time.Hour); err != nil {
			return err
		}
		d := dialer{addr: req.Addr, serverName: req.ServerName, bases: bases}
		cpu0, t0 := machine.CPUTime(), time.Now()
		var res result
		switch req.Kind {
		case kindFlow:
			res.Flow = runFlow(d, req.Tag, req.Flow)
		case kindIdleHold:
			res.Held, res.Failed, res.FirstErr = idle.hold(d, req.Tag, req.Conns, req.Parallel)
		case kindIdleRelease:
			idle.release()
		case kindQuit:
			return nil
		default:
			return fmt.Errorf("unknown request %q", req.Kind)
		}
		res.ClientCPU, res.Elapsed = machine.CPUTime()-cpu0, time.Since(t0)
		if err := c.Send(res); err != nil {
			return err
		}
	}
}

// dialer opens MQTT-over-TLS connections with the bench's device
// certificates (drawn round-robin), full TLS 1.3 handshakes.
type dialer struct {
	addr, serverName string
	bases            []*tls.Config
}

// connect dials, completes the handshake, sends CONNECT (clean session)
// and waits for CONNACK. n picks the device certificate.
func (d dialer) connect(n int, clientID string, keepAlive uint16) (*tls.Conn, error) {
	raw, err := net.DialTimeout("tcp", d.addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	cfg := d.bases[n%len(d.bases)].Clone()
	cfg.ServerName = d.serverName
	c := tls.Client(raw, cfg)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(mqttc.Connect(clientID, keepAlive)); err != nil {
		c.Close()
		return nil, err
	}
	if err := mqttc.ReadConnack(c); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
