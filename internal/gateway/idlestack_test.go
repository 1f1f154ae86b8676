// The race detector's instrumentation makes every frame larger; the
// stack sizes this test checks are those of a normal build.

//go:build !race

package gateway_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestIdleReadLoopStack: an idle MQTT-over-TLS connection costs the
// gateway no goroutine at all once it has parked (internal/broker/park.go),
// and still answers when its client speaks again. MQTT over WSS cannot
// park: it keeps its read loop, at 16 KiB of stack, even when handling its
// CONNECT grew that stack to 64 KiB. Go shrinks a parked stack at a GC only
// while less than a quarter of it is in use, and mochi's read loop alone
// parks about 6 KiB deep: whatever frames the gateway leaves below it must
// keep the whole under 7 KiB, or each idle device keeps a 32 KiB stack.
func TestIdleReadLoopStack(t *testing.T) {
	f := startFront(t, frontOptions{})
	f.src.setPolicy(f.device.Leaf.Raw, fdPolicy{"connect": {"*"}, "grow-stack": {}})
	f.reload()
	connect := func(id string) []byte {
		str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
		body := append(append(str("MQTT"), 4, 0x02, 0, 60), str(id)...)
		return append([]byte{0x10, byte(len(body))}, body...)
	}
	pingreq := []byte{0xc0, 0}
	for _, tc := range []struct {
		name     string
		maxStack float64                                    // KiB per idle connection
		open     func(id string) (io.Closer, []byte, error) // a connection that got its CONNACK
		ping     func(c io.Closer) ([]byte, error)          // PINGREQ, and the answer
	}{
		{"MQTT over TLS", 1, func(id string) (io.Closer, []byte, error) {
			c, err := tls.Dial("tcp", f.mqttAddr, f.clientTLS(dialOptions{cert: &f.device}))
			if err != nil {
				return nil, nil, err
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			connack := make([]byte, 4)
			if _, err = c.Write(connect(id)); err == nil {
				_, err = io.ReadFull(c, connack)
			}
			return c, connack, err
		}, func(c io.Closer) ([]byte, error) {
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			pingresp := make([]byte, 2)
			_, err := tc.Write(pingreq)
			if err == nil {
				_, err = io.ReadFull(tc, pingresp)
			}
			return pingresp, err
		}},
		{"MQTT over WSS", 20, func(id string) (io.Closer, []byte, error) {
			d := websocket.Dialer{TLSClientConfig: f.clientTLS(dialOptions{cert: &f.device}), Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
			ws, _, err := d.Dial("wss://"+f.httpsAddr+"/mqtt", nil)
			if err != nil {
				return nil, nil, err
			}
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			var connack []byte
			if err = ws.WriteMessage(websocket.BinaryMessage, connect(id)); err == nil {
				_, connack, err = ws.ReadMessage()
			}
			return ws, connack, err
		}, func(c io.Closer) ([]byte, error) {
			ws := c.(*websocket.Conn)
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := ws.WriteMessage(websocket.BinaryMessage, pingreq); err != nil {
				return nil, err
			}
			_, pingresp, err := ws.ReadMessage()
			return pingresp, err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 200
			before := stacksAfterGC()
			var conns []io.Closer
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := range n {
				c, connack, err := tc.open(fmt.Sprintf("idle-%d", i))
				if c != nil {
					conns = append(conns, c)
				}
				if err != nil || len(connack) != 4 || connack[0] != 0x20 || connack[3] != 0 {
					t.Fatalf("connection %d: CONNACK %x, %v", i, connack, err)
				}
			}
			// Idle connections park within 1.5 s (a second quiet, then
			// the broker's sweep, every 500 ms).
			var perConn float64
			for deadline := time.Now().Add(10 * time.Second); ; {
				perConn = float64(int64(stacksAfterGC())-int64(before)) / n / 1024
				if perConn <= tc.maxStack || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("goroutine stacks per idle connection: %.1f KiB", perConn)
			if perConn > tc.maxStack {
				t.Fatalf("goroutine stacks per idle connection: %.1f KiB, want at most %.0f", perConn, tc.maxStack)
			}
			for _, i := range []int{0, n / 2, n - 1} {
				if pingresp, err := tc.ping(conns[i]); err != nil || len(pingresp) != 2 || pingresp[0] != 0xd0 {
					t.Fatalf("idle connection %d: PINGRESP %x, %v", i, pingresp, err)
				}
			}
		})
	}
}

// stacksAfterGC is the bytes of goroutine stacks once every parked stack
// has shrunk as far as it can.
func stacksAfterGC() uint64 {
	for range 3 { // a GC halves a stack at most once
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse
}
