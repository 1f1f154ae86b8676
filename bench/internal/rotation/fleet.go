package rotation

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/mqttc"
)

const fleetRole = "rotation-fleet"

func init() { child.Register(fleetRole, fleetMain) }

// fleetSetup is the parent's first message to the fleet process.
type fleetSetup struct {
	MaterialDomains, MaterialDevices int
	Addr, ServerName                 string
	Devices                          int
	Concurrency                      int
	ConnectWithin                    time.Duration
	KeepAlive                        uint16
}

// fleetReady reports the connected fleet.
type fleetReady struct {
	Connected int
	Failed    int
	FirstErr  string
	Took      time.Duration
	NoFile    uint64
}

// fleetCheck asks every device to ping; Done ends the process.
type fleetCheck struct {
	Within time.Duration
	Done   bool
}

// fleetReport is what the devices saw since they connected.
type fleetReport struct {
	Dropped  int // connections that ended before the check
	NoPong   int // connections that did not answer the ping in time
	Ponged   int
	FirstErr string
}

type device struct {
	conn    *tls.Conn
	dropped atomic.Bool
	pong    chan struct{}
	err     atomic.Value
}

// fleetMain connects the devices (each: full TLS 1.3 handshake with a
// device certificate, MQTT CONNECT, CONNACK), keeps them reading, and on
// request pings each one and reports which connections ended or did not
// answer.
func fleetMain(c *child.Conn) error {
	var setup fleetSetup
	if err := c.Recv(&setup, time.Minute); err != nil {
		return err
	}
	nofile := machine.RaiseNoFile(uint64(setup.Devices) + 1000)
	configs, err := material.DeviceConfigs(setup.MaterialDomains, setup.MaterialDevices, &tls.Config{ServerName: setup.ServerName,
		MinVersion: tls.VersionTLS13, CurvePreferences: []tls.CurveID{tls.X25519}})
	if err != nil {
		return err
	}
	devices := make([]*device, setup.Devices)
	var (
		next, failed atomic.Int64
		firstErr     atomic.Value
		wg           sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(setup.ConnectWithin)
	for w := 0; w < setup.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(devices) {
					return
				}
				if time.Now().After(deadline) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, "not connected within "+setup.ConnectWithin.String())
					continue
				}
				d, err := connect(setup.Addr, configs[i%len(configs)], fmt.Sprintf("fleet-%05d", i), setup.KeepAlive)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				devices[i] = d
			}
		}()
	}
	wg.Wait()
	ready := fleetReady{Failed: int(failed.Load()), Took: time.Since(start), NoFile: nofile}
	if s, ok := firstErr.Load().(string); ok {
		ready.FirstErr = s
	}
	for _, d := range devices {
		if d != nil {
			ready.Connected++
			go d.read()
		}
	}
	if err := c.Send(ready); err != nil {
		return err
	}
	defer func() {
		for _, d := range devices {
			if d != nil {
				d.conn.SetWriteDeadline(time.Now().Add(time.Second))
				d.conn.Write(mqttc.Disconnect)
				d.conn.Close()
			}
		}
	}()
	for {
		var check fleetCheck
		if err := c.Recv(&check, 30*time.Minute); err != nil {
			return err
		}
		if check.Done {
			return nil
		}
		if err := c.Send(ping(devices, check.Within)); err != nil {
			return err
		}
	}
}

func connect(addr string, cfg *tls.Config, clientID string, keepAlive uint16) (*device, error) {
	raw, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	if _, err := conn.Write(mqttc.Connect(clientID, keepAlive)); err != nil {
		raw.Close()
		return nil, err
	}
	if err := mqttc.ReadConnack(conn); err != nil {
		raw.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return &device{conn: conn, pong: make(chan struct{}, 1)}, nil
}

// read waits for PINGRESPs; any error means the connection ended.
func (d *device) read() {
	for {
		if err := mqttc.ReadPingresp(d.conn); err != nil {
			d.err.Store(err.Error())
			d.dropped.Store(true)
			close(d.pong)
			return
		}
		select {
		case d.pong <- struct{}{}:
		default:
		}
	}
}

// ping sends PINGREQ on every live connection and waits for the answers.
func ping(devices []*device, within time.Duration) fleetReport {
	var r fleetReport
	var live []*device
	for _, d := range devices {
		if d == nil {
			continue
		}
		if d.dropped.Load() {
			r.Dropped++
			if s, ok := d.err.Load().(string); ok && r.FirstErr == "" {
				r.FirstErr = s
			}
			continue
		}
		d.conn.SetWriteDeadline(time.Now().Add(within))
		if _, err := d.conn.Write(mqttc.Pingreq); err != nil {
			r.Dropped++
			if r.FirstErr == "" {
				r.FirstErr = err.Error()
			}
			continue
		}
		live = append(live, d)
	}
	deadline := time.Now().Add(within)
	for _, d := range live {
		var ok, answered bool
		select {
		case _, ok = <-d.pong:
			answered = true
		default:
			t := time.NewTimer(max(time.Until(deadline), 0))
			select {
			case _, ok = <-d.pong:
				answered = true
			case <-t.C:
			}
			t.Stop()
		}
		switch {
		case answered && ok:
			r.Ponged++
		case answered:
			r.Dropped++
			if s, ok := d.err.Load().(string); ok && r.FirstErr == "" {
				r.FirstErr = s
			}
		default:
			r.NoPong++
		}
	}
	return r
}
