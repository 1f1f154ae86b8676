package customauthbench

import (
	"crypto/tls"
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

const clientRole = "customauth-client"

func init() { child.Register(clientRole, clientMain) }

// clientSetup is the parent's first message to the load generator.
type clientSetup struct {
	MaterialDomains, MaterialDevices int
	ServerName                       string
	Authorizer                       string
	SignedQuery                      string // username query of the signed authorizer
}

// clientRequest is one measured run ("rate") or one storm ("storm"); an
// empty Op ends the load generator.
type clientRequest struct {
	Op       string
	Addr     string
	Side     string // SideMTLS, SideCustom or SideCustomSigned (rate); storms are custom
	Conns    int    // concurrent connects
	Duration time.Duration
	Max      int64 // bound on attempts
	Seed     uint64
	// Storm: Devices devices, each once, with a distinct token and client
	// ID made from Prefix, within Duration.
	Devices int
	Prefix  string
}

// clientResult is the load generator's account of a run or a storm.
type clientResult struct {
	Completed int64 // connections that reached CONNACK (accepted)
	Errors    int64
	FirstErr  string
	Elapsed   time.Duration // from the start until the last worker stopped
	ClientCPU time.Duration
	P50, P99  time.Duration // dial to CONNACK
	Max       time.Duration
}

type clientReady struct{ Ready bool }

// The client configurations: mTLS presents a device certificate with ALPN
// x-amzn-mqtt-ca; custom authentication presents none, with ALPN mqtt, and
// its credentials in the CONNECT. Both verify the server's chain, TLS 1.3,
// X25519, no session resumption.
type clientConfigs struct {
	devices []*tls.Config
	custom  *tls.Config
	auth    string
	signed  string
}

func clientMain(c *child.Conn) error {
	var setup clientSetup
	if err := c.Recv(&setup, time.Minute); err != nil {
		return err
	}
	machine.RaiseNoFile(1 << 16)
	base := &tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519}, ServerName: setup.ServerName}
	mtls := base.Clone()
	mtls.NextProtos = []string{"x-amzn-mqtt-ca"}
	devices, err := material.DeviceConfigs(setup.MaterialDomains, setup.MaterialDevices, mtls)
	if err != nil {
		return err
	}
	set, _, err := material.Load(setup.MaterialDomains, setup.MaterialDevices)
	if err != nil {
		return err
	}
	roots, err := set.Roots()
	if err != nil {
		return err
	}
	custom := base.Clone()
	custom.NextProtos, custom.RootCAs = []string{"mqtt"}, roots
	cfgs := &clientConfigs{devices: devices, custom: custom, auth: setup.Authorizer, signed: setup.SignedQuery}
	if err := c.Send(clientReady{true}); err != nil {
		return err
	}
	for {
		var req clientRequest
		if err := c.Recv(&req, 30*time.Minute); err != nil {
			return err
		}
		var res clientResult
		switch req.Op {
		case "":
			return nil // the parent is done
		case "rate":
			res = cfgs.rate(req)
		case "storm":
			res = cfgs.storm(req)
		default:
			return fmt.Errorf("load generator: unknown op %q", req.Op)
		}
		if err := c.Send(res); err != nil {
			return err
		}
	}
}

// collector gathers the workers' outcomes.
type collector struct {
	completed, errs atomic.Int64
	firstErr        atomic.Value
	mu              sync.Mutex
	samples         []time.Duration
}

func (c *collector) fail(err error) {
	if c.errs.Add(1) == 1 {
		c.firstErr.Store(err.Error())
	}
}

func (c *collector) add(local []time.Duration) {
	c.mu.Lock()
	c.samples = append(c.samples, local...)
	c.mu.Unlock()
}

func (c *collector) result(start time.Time, cpu0 time.Duration) clientResult {
	r := clientResult{Completed: c.completed.Load(), Errors: c.errs.Load(), Elapsed: time.Since(start), ClientCPU: machine.CPUTime() - cpu0}
	if s, ok := c.firstErr.Load().(string); ok {
		r.FirstErr = s
	}
	sort.Slice(c.samples, func(i, j int) bool { return c.samples[i] < c.samples[j] })
	r.P50, r.P99 = stats.Percentile(c.samples, 50), stats.Percentile(c.samples, 99)
	if n := len(c.samples); n > 0 {
		r.Max = c.samples[n-1]
	}
	return r
}

// rate runs Conns workers until Duration or Max attempts. Each worker
// reconnects with the same client ID every time (a device reconnecting);
// custom-auth workers present the same username and token every time, so
// that after its first connect the authorizer's result cache answers.
func (cfgs *clientConfigs) rate(req clientRequest) clientResult {
	var (
		col      collector
		attempts atomic.Int64
		wg       sync.WaitGroup
	)
	cpu0 := machine.CPUTime()
	start := time.Now()
	end := start.Add(req.Duration)
	for w := 0; w < req.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(req.Seed, uint64(w)))
			clientID := fmt.Sprintf("dev%d", w)
			username := clientID + "?x-amz-customauthorizer-name=" + cfgs.auth
			var local []time.Duration
			for time.Now().Before(end) && attempts.Add(1) <= req.Max {
				var cfg *tls.Config
				var connect []byte
				switch req.Side {
				case SideMTLS:
					cfg = cfgs.devices[rng.IntN(len(cfgs.devices))]
					connect = mqttc.ConnectWithCredentials(clientID, "", nil, 30)
				case SideCustomSigned:
					cfg = cfgs.custom
					connect = mqttc.ConnectWithCredentials(clientID, clientID+"?"+cfgs.signed, []byte(CachedToken), 30)
				default:
					cfg = cfgs.custom
					connect = mqttc.ConnectWithCredentials(clientID, username, []byte(CachedToken), 30)
				}
				t0 := time.Now()
				if err := once(req.Addr, cfg, connect, 5*time.Second); err != nil {
					col.fail(err)
					continue
				}
				local = append(local, time.Since(t0))
				col.completed.Add(1)
			}
			col.add(local)
		}()
	}
	wg.Wait()
	return col.result(start, cpu0)
}

// storm connects Devices devices once each, Conns at a time, each with its
// own client ID and token, within Duration.
func (cfgs *clientConfigs) storm(req clientRequest) clientResult {
	var (
		col  collector
		next atomic.Int64
		wg   sync.WaitGroup
	)
	cpu0 := machine.CPUTime()
	start := time.Now()
	end := start.Add(req.Duration)
	for w := 0; w < req.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for {
				i := next.Add(1) - 1
				if i >= int64(req.Devices) || !time.Now().Before(end) {
					break
				}
				clientID := fmt.Sprintf("%s-%d", req.Prefix, i)
				connect := mqttc.ConnectWithCredentials(clientID, clientID+"?x-amz-customauthorizer-name="+cfgs.auth, []byte(clientID+"-token"), 30)
				t0 := time.Now()
				if err := once(req.Addr, cfgs.custom, connect, time.Until(end)); err != nil {
					col.fail(err)
					continue
				}
				local = append(local, time.Since(t0))
				col.completed.Add(1)
			}
			col.add(local)
		}()
	}
	wg.Wait()
	return col.result(start, cpu0)
}

// once is one connection: TCP, full TLS 1.3 handshake, CONNECT, CONNACK
// (accepted), DISCONNECT, close.
func once(addr string, cfg *tls.Config, connect []byte, timeout time.Duration) error {
	raw, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if err := c.Handshake(); err != nil {
		return err
	}
	if _, err := c.Write(connect); err != nil {
		return err
	}
	if err := mqttc.ReadConnack(c); err != nil {
		return err
	}
	_, err = c.Write(mqttc.Disconnect)
	return err
}
