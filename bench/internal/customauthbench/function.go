package customauthbench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/servers"
	"github.com/portico-iot/portico/internal/function"
)

// The user's function runs in a process of its own (this executable re-run
// as a child): a net/http server on loopback that checks each call's
// signature as a real function would, sleeps its configured delay (what a
// function waiting on a database or an identity provider costs), and
// answers with a policy that admits the device. It counts its calls and
// how many ran at once.

const functionRole = "customauth-function"

func init() { child.Register(functionRole, functionMain) }

type functionSetup struct {
	Name, Secret string
}

type functionCommand struct {
	Op    string        // "reset" (stats to zero, set Delay), "stats", "quit"
	Delay time.Duration `json:",omitempty"`
}

// FunctionStats is the function server's account since the last reset.
type FunctionStats struct {
	URL      string `json:",omitempty"`
	Calls    int64
	Refused  int64 // bad signature or body
	NewConns int64 // TCP connections Portico opened to the function
	// Closed counts the connections that closed, by the state they were
	// in (new: before a request; idle: between requests; active: during
	// one).
	ClosedNew, ClosedIdle, ClosedActive int64
	MaxInFlight                         int64         // most calls in progress at once
	Busy                                time.Duration // sum of the calls' durations (handler entry to answer written)
	First, Last                         time.Time     // first call's start, last call's end
	P50, P99                            time.Duration // per call, as the server saw it
	CPU                                 time.Duration // the function process's CPU time since the reset
	Delay                               time.Duration
}

// Window is from the first call's start to the last call's end.
func (s FunctionStats) Window() time.Duration {
	if s.Calls == 0 {
		return 0
	}
	return s.Last.Sub(s.First)
}

// MeanInFlight is the time-averaged number of calls in progress over the
// window (Little's law: busy time over window).
func (s FunctionStats) MeanInFlight() float64 {
	if w := s.Window(); w > 0 {
		return float64(s.Busy) / float64(w)
	}
	return 0
}

// Rate is calls per second over the window.
func (s FunctionStats) Rate() float64 {
	if w := s.Window(); w > 0 {
		return float64(s.Calls) / w.Seconds()
	}
	return 0
}

type fnServer struct {
	secret string
	delay  atomic.Int64

	inFlight, maxInFlight atomic.Int64
	newConns              atomic.Int64
	states                sync.Map // net.Conn -> http.ConnState
	closedNew, closedIdle atomic.Int64
	closedActive          atomic.Int64

	mu        sync.Mutex
	calls     int64
	refused   int64
	busy      time.Duration
	first     time.Time
	last      time.Time
	durations []time.Duration
	cpu0      time.Duration
}

func functionMain(c *child.Conn) error {
	var setup functionSetup
	if err := c.Recv(&setup, time.Minute); err != nil {
		return err
	}
	machine.RaiseNoFile(1 << 16)
	s := &fnServer{secret: setup.Secret, cpu0: machine.CPUTime()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.newConns.Add(1)
			case http.StateClosed, http.StateHijacked:
				prev, _ := s.states.LoadAndDelete(c)
				switch prev {
				case http.StateNew:
					s.closedNew.Add(1)
				case http.StateIdle:
					s.closedIdle.Add(1)
				default:
					s.closedActive.Add(1)
				}
				return
			}
			s.states.Store(c, st)
		}}
	go srv.Serve(ln)
	defer srv.Close()
	if err := c.Send(FunctionStats{URL: "http://" + ln.Addr().String() + "/authorize"}); err != nil {
		return err
	}
	for {
		var cmd functionCommand
		if err := c.Recv(&cmd, 30*time.Minute); err != nil {
			return nil // the parent is gone
		}
		switch cmd.Op {
		case "reset":
			s.reset(cmd.Delay)
			if err := c.Send(FunctionStats{Delay: cmd.Delay}); err != nil {
				return err
			}
		case "stats":
			if err := c.Send(s.stats()); err != nil {
				return err
			}
		case "quit":
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			srv.Shutdown(ctx)
			cancel()
			return nil
		default:
			return fmt.Errorf("function server: unknown op %q", cmd.Op)
		}
	}
}

func (s *fnServer) reset(delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay.Store(int64(delay))
	s.maxInFlight.Store(s.inFlight.Load())
	s.newConns.Store(0)
	s.closedNew.Store(0)
	s.closedIdle.Store(0)
	s.closedActive.Store(0)
	s.calls, s.refused, s.busy, s.first, s.last, s.durations = 0, 0, 0, time.Time{}, time.Time{}, nil
	s.cpu0 = machine.CPUTime()
}

func (s *fnServer) stats() FunctionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := append([]time.Duration(nil), s.durations...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return FunctionStats{Calls: s.calls, Refused: s.refused, NewConns: s.newConns.Load(),
		ClosedNew: s.closedNew.Load(), ClosedIdle: s.closedIdle.Load(), ClosedActive: s.closedActive.Load(), MaxInFlight: s.maxInFlight.Load(), Busy: s.busy,
		First: s.first, Last: s.last, P50: percentile(d, 50), P99: percentile(d, 99),
		CPU: machine.CPUTime() - s.cpu0, Delay: time.Duration(s.delay.Load())}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// event is the part of the authorizer event the function reads.
type event struct {
	ProtocolData struct {
		MQTT struct {
			Username string `json:"username"`
			Password string `json:"password"` // base64
			ClientID string `json:"clientId"`
		} `json:"mqtt"`
	} `json:"protocolData"`
}

func (s *fnServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	n := s.inFlight.Add(1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	defer func() {
		s.inFlight.Add(-1)
		end := time.Now()
		s.mu.Lock()
		s.calls++
		s.busy += end.Sub(start)
		if s.first.IsZero() || start.Before(s.first) {
			s.first = start
		}
		if end.After(s.last) {
			s.last = end
		}
		if len(s.durations) < 1<<20 {
			s.durations = append(s.durations, end.Sub(start))
		}
		s.mu.Unlock()
	}()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var ev event
	if err == nil {
		err = function.Verify(s.secret, r.Header, body, time.Now(), 5*time.Minute)
	}
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	var password []byte
	if err == nil {
		password, err = base64.StdEncoding.DecodeString(ev.ProtocolData.MQTT.Password)
	}
	if err == nil && len(password) == 0 {
		err = fmt.Errorf("no password")
	}
	if err != nil {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"isAuthenticated": true, "principalId": principal(password),
		"refreshAfterInSeconds": 300, "disconnectAfterInSeconds": 86400,
		"policyDocuments": []string{devicePolicy},
	})
}

// devicePolicy is what the function grants: the mTLS devices' IoT policy,
// so both sides evaluate the same document for iot:Connect.
const devicePolicy = servers.PolicyDocument

// principal is the token's letters and digits (principalId must match
// [a-zA-Z0-9]{1,128}).
func principal(token []byte) string {
	out := make([]byte, 0, len(token))
	for _, c := range token {
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "device"
	}
	if len(out) > 128 {
		out = out[:128]
	}
	return string(out)
}
