// The race detector's instrumentation makes every frame larger; the
// stack sizes this test checks are those of a normal build.

//go:build !race

package gateway_test

import (
	"crypto/tls"
	"runtime"
	"testing"
	"time"
)

// TestIdleReadLoopStack: an idle MQTT connection costs the gateway two
// goroutines, mochi's read loop (16 KiB of stack) and write loop (8 KiB),
// even when handling its CONNECT grew the read loop's stack to 64 KiB. Go
// shrinks a parked stack at a GC only while less than a quarter of it is
// in use, and mochi's read loop alone parks about 6 KiB deep: whatever
// frames the gateway leaves below it (handle, runMQTT, broker.Serve) must
// keep the whole under 7 KiB, or each idle device keeps a 32 KiB stack.
func TestIdleReadLoopStack(t *testing.T) {
	f := startFront(t, frontOptions{})
	f.src.setPolicy(f.device.Leaf.Raw, fdPolicy{"connect": {"*"}, "grow-stack": {}})
	f.reload()

	stacks := func() uint64 {
		for range 3 { // a GC halves a stack at most once
			runtime.GC()
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.StackInuse
	}
	const n = 200
	before := stacks()
	conns := make([]*tls.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	for i := range n {
		c, err := tls.Dial("tcp", f.mqttAddr, f.clientTLS(dialOptions{cert: &f.device}))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		body := append(append(str("MQTT"), 4, 0x02, 0, 60), str("idle-"+string(rune('A'+i%26))+string(rune('A'+i/26)))...)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
			t.Fatal(err)
		}
		connack := make([]byte, 4)
		if _, err := c.Read(connack); err != nil || connack[0] != 0x20 || connack[3] != 0 {
			t.Fatalf("connection %d: CONNACK %x, %v", i, connack, err)
		}
	}
	perConn := float64(stacks()-before) / n / 1024
	t.Logf("goroutine stacks per idle connection: %.1f KiB", perConn)
	if perConn > 28 {
		t.Fatalf("goroutine stacks per idle connection: %.1f KiB, want about 24 (16 KiB read loop, 8 KiB write loop)", perConn)
	}
}
