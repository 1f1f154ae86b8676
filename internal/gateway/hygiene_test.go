package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/gateway"
)

const short = 300 * time.Millisecond

// slack is how late a timeout may fire on a loaded machine: enough to tell
// the configured timeout from the defaults (10 s and more), without
// asserting scheduling latency.
const slack = 5 * time.Second

func startShortFront(t *testing.T) *front {
	return startFront(t, frontOptions{
		tune: func(c *gateway.Config) {
			c.HandshakeTimeout, c.ConnectTimeout, c.ReadHeaderTimeout, c.ReadTimeout, c.IdleTimeout, c.UpgradeTimeout =
				short, short, short, 2*short, short, short
		},
		broker: broker.Options{ConnectTimeout: short},
	})
}

// closedWithin reads from c until the server closes it, and fails unless
// that happens after at least min and within max.
func closedWithin(t *testing.T, what string, c net.Conn, min, max time.Duration) {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(max + 2*time.Second))
	_, err := io.Copy(io.Discard, c)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: still open after %s", what, elapsed)
	}
	if elapsed < min || elapsed > max {
		t.Fatalf("%s: closed after %s, want between %s and %s", what, elapsed, min, max)
	}
}

// A TCP connection that never sends a ClientHello, or sends it a byte at a
// time (slowloris), is closed when the handshake timeout ends, on every
// listener.
func TestSilentAndSlowClientHelloAreClosed(t *testing.T) {
	f := startShortFront(t)
	for _, addr := range []string{f.mqttAddr, f.httpsAddr, f.alpnAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		closedWithin(t, "silent connection to "+addr, c, short/2, short+slack)
		c.Close()

		slow, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			// A TLS record header announcing a ClientHello, one byte at a time.
			for _, b := range []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03} {
				if _, err := slow.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(short / 5)
			}
		}()
		closedWithin(t, "slow ClientHello to "+addr, slow, short/2, short+slack)
		slow.Close()
		<-done
	}
}

// After the handshake, MQTT connections must send CONNECT in time: the
// broker's deadline for accepted connections, the gateway's for those it
// refuses (ALPN mqtt), and the broker's again through a WebSocket.
func TestNoConnectAfterHandshakeIsClosed(t *testing.T) {
	f := startShortFront(t)
	for _, tc := range []struct {
		name string
		addr string
		o    dialOptions
	}{
		{"8883", f.mqttAddr, dialOptions{cert: &f.device}},
		{"443 x-amzn-mqtt-ca", f.alpnAddr, dialOptions{cert: &f.device, alpn: []string{"x-amzn-mqtt-ca"}}},
		{"443 mqtt", f.alpnAddr, dialOptions{alpn: []string{"mqtt"}}},
	} {
		c, err := f.dial(tc.addr, tc.o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		closedWithin(t, tc.name+" without CONNECT", c, 0, short+slack)
		c.Close()
	}
	d := websocket.Dialer{TLSClientConfig: f.clientTLS(dialOptions{}), Subprotocols: []string{"mqtt"}}
	ws, _, err := d.Dial(presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	ws.SetReadDeadline(start.Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("websocket without CONNECT: %v", err)
	}
	if e := time.Since(start); e > short+time.Second {
		t.Fatalf("websocket without CONNECT closed after %s", e)
	}
}

// HTTPS: slow headers, a WebSocket upgrade that never completes its
// headers, and an idle keep-alive connection are closed.
func TestHTTPSTimeouts(t *testing.T) {
	f := startShortFront(t)
	for _, partial := range []string{
		"POST /topics/t HTTP/1.1\r\nHost: x\r\n",
		"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
	} {
		for _, addr := range []string{f.alpnAddr, f.httpsAddr} {
			c, err := f.dial(addr, dialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte(partial))
			closedWithin(t, "partial request "+strings.Fields(partial)[1]+" on "+addr, c, short/2, short+slack)
			c.Close()
		}
	}
	// A request, its answer, then silence: IdleTimeout.
	c, err := f.dial(f.alpnAddr, dialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("POST /topics/t HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 403 {
		t.Fatalf("response %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	closedWithin(t, "idle keep-alive connection", bufferedConn{c, r}, short/2, short+slack)
}

// bufferedConn reads through the reader that already holds some of c's bytes.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Shutdown ends handshakes in progress and device sessions, and returns
// once they are done, so the broker can close after it.
func TestShutdownClosesEverything(t *testing.T) {
	f := startFront(t, frontOptions{})
	session, err := f.dial(f.mqttAddr, dialOptions{cert: &f.device})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	var lost atomic.Int32
	if _, err := f.wssClient(t, presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{}, "wss", &lost); err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", f.alpnAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := f.gw.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if e := time.Since(start); e > 2*time.Second {
		t.Fatalf("shutdown took %s", e)
	}
	closedWithin(t, "MQTT session", session, 0, time.Second)
	closedWithin(t, "handshake in progress", silent, 0, time.Second)
	waitFor(t, 2*time.Second, "the WebSocket session to end", func() bool { return lost.Load() == 1 })
	if _, err := net.DialTimeout("tcp", f.mqttAddr, time.Second); err == nil {
		t.Fatal("listener still accepting")
	}
}
