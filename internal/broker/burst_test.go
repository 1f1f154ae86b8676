package broker_test

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// TestBurstInOneWriteLosesNothing: a device that sends thousands of QoS 1
// PUBLISH packets in one write gets a PUBACK for each, and the subscriber
// gets every one. With one processor (the worst case of a busy machine),
// the broker's reader handles the whole burst without blocking; before it
// yielded to the subscriber's write loop when that loop's queue filled
// (backpressure.go), the queue overflowed and mochi dropped acknowledged
// messages.
func TestBurstInOneWriteLosesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := startServer(t)
	var mu sync.Mutex
	seen := map[uint32]bool{}
	sub, _, err := s.v3(t, everything(), "burst-sub", func(o *mqtt3.ClientOptions) { o.SetOrderMatters(false) })
	if err != nil {
		t.Fatal(err)
	}
	if tok := sub.Subscribe("b/#", 1, func(_ mqtt3.Client, m mqtt3.Message) {
		mu.Lock()
		defer mu.Unlock()
		seen[binary.BigEndian.Uint32(m.Payload())] = true
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("SUBSCRIBE failed", tok.Error())
	}

	s.next <- everything()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connect := append(mqttString("MQTT"), 4, 0x02, 0, 60)
	connect = append(connect, mqttString("burster")...)
	const n = 3000
	burst := append(append([]byte{0x10}, remainingLength(len(connect))...), connect...)
	for i := range n {
		body := append(mqttString("b/x"), byte((i+1)>>8), byte(i+1)) // packet ID i+1
		body = binary.BigEndian.AppendUint32(body, uint32(i))
		burst = append(append(append(burst, 0x32), remainingLength(len(body))...), body...) // PUBLISH QoS 1
	}
	acked := make(chan int64, 1)
	go func() {
		// CONNACK and n PUBACKs, 4 bytes each.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, _ := io.CopyN(io.Discard, c, 4+4*n)
		acked <- got
	}()
	if _, err := c.Write(burst); err != nil {
		t.Fatal(err)
	}
	if got := <-acked; got != 4+4*n {
		t.Fatalf("read %d bytes of CONNACK and PUBACKs, want %d", got, 4+4*n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		delivered := len(seen)
		mu.Unlock()
		if delivered == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged messages, %d delivered", n, delivered)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
