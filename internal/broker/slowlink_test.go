package broker_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// stalledSubscriber is a device on a link that stopped: a raw MQTT 3.1.1
// connection with a small receive buffer that subscribes and then reads
// nothing until told to.
type stalledSubscriber struct {
	c net.Conn
	r *bufio.Reader
}

func stall(t *testing.T, s *server, id, filter string, qos byte) *stalledSubscriber {
	t.Helper()
	return stallSession(t, s, id, filter, qos, true)
}

// stallSession is stall with the choice of a clean or a persistent session.
func stallSession(t *testing.T, s *server, id, filter string, qos byte, clean bool) *stalledSubscriber {
	t.Helper()
	s.next <- everything()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(32 << 10)
	flags := byte(0x00)
	if clean {
		flags = 0x02
	}
	connect := append(mqttString("MQTT"), 4, flags, 0, 60) // keep-alive 60 s
	connect = append(connect, mqttString(id)...)
	sub := append([]byte{0, 1}, mqttString(filter)...)
	sub = append(sub, qos)
	c.Write(append(append([]byte{0x10}, remainingLength(len(connect))...), connect...))
	c.Write(append(append([]byte{0x82}, remainingLength(len(sub))...), sub...))
	st := &stalledSubscriber{c: c, r: bufio.NewReaderSize(c, 1<<10)}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []byte{0x20, 0x90} { // CONNACK, SUBACK
		if first, _, err := st.next(); err != nil || first != want {
			t.Fatalf("%s: got packet %#x (%v), want %#x", id, first, err, want)
		}
	}
	return st
}

// next reads one packet: its first byte and its body.
func (st *stalledSubscriber) next() (byte, []byte, error) {
	first, err := st.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		b, err := st.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	_, err = io.ReadFull(st.r, body)
	return first, body, err
}

// resume reads deliveries, acknowledging QoS 1 ones, until quiet has
// passed without one; it returns the first four payload bytes of each, in
// the order received.
func (st *stalledSubscriber) resume(quiet time.Duration) []uint32 {
	var got []uint32
	for {
		st.c.SetReadDeadline(time.Now().Add(quiet))
		first, body, err := st.next()
		if err != nil {
			return got
		}
		if first>>4 != 3 || len(body) < 2 {
			continue
		}
		at := 2 + int(binary.BigEndian.Uint16(body))
		if qos := first >> 1 & 3; qos > 0 {
			st.c.Write([]byte{0x40, 2, body[at], body[at+1]}) // PUBACK
			at += 2
		}
		got = append(got, binary.BigEndian.Uint32(body[at:]))
	}
}

func mqttString(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

func remainingLength(n int) []byte {
	var b []byte
	for {
		d := byte(n & 0x7f)
		if n >>= 7; n > 0 {
			d |= 0x80
		}
		if b = append(b, d); n == 0 {
			return b
		}
	}
}

func numbered(i, size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	return p
}

// TestStalledSubscriberBlocksNoPublisher: a QoS 1 subscriber whose link
// stopped (its socket buffers full) holds up neither the device publishing
// to its topic nor the other subscribers; when its link comes back it gets
// every message, in order. (mochi writes to a client while holding the
// lock publishers need for a packet ID: before the outbox, the publisher
// waited for the stalled subscriber's keep-alive to run out.)
func TestStalledSubscriberBlocksNoPublisher(t *testing.T) {
	s := startServer(t)
	stalled := stall(t, s, "stalled", "big/#", 1)

	var mu sync.Mutex
	var healthy []uint32
	sub, _, err := s.v3(t, everything(), "healthy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok := sub.Subscribe("big/#", 1, func(_ mqtt3.Client, m mqtt3.Message) {
		mu.Lock()
		defer mu.Unlock()
		healthy = append(healthy, binary.BigEndian.Uint32(m.Payload()))
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("SUBSCRIBE failed", tok.Error())
	}
	pub, _, err := s.v3(t, everything(), "publisher", nil)
	if err != nil {
		t.Fatal(err)
	}

	// 300 x 100 KiB: far beyond what the stalled client's socket buffers
	// and its 100 unacknowledged deliveries hold.
	const n, size = 300, 100 << 10
	deadline := time.Now().Add(15 * time.Second)
	for i := range n {
		tok := pub.Publish("big/x", 1, false, numbered(i, size))
		if !tok.WaitTimeout(time.Until(deadline)) || tok.Error() != nil {
			t.Fatalf("publish %d of %d not acknowledged within 15 s (%v): the stalled subscriber blocks the publisher", i, n, tok.Error())
		}
	}
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(healthy) == n
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(healthy) != n {
		t.Fatalf("the healthy subscriber got %d of %d", len(healthy), n)
	}
	mu.Unlock()

	got := stalled.resume(2 * time.Second)
	if len(got) != n {
		t.Fatalf("the stalled subscriber got %d of %d once it read again", len(got), n)
	}
	for i, v := range got {
		if v != uint32(i) {
			t.Fatalf("delivery %d is message %d: want the publishing order", i, v)
		}
	}
}

// TestStalledSubscriberLosesQoS0NotBrokerMemory: QoS 0 deliveries to a
// client that does not read pile up only to a bound; beyond it they are
// dropped (as AWS IoT drops QoS 0 to a client that cannot keep up), and the
// client gets what is published after it reads again.
func TestStalledSubscriberLosesQoS0NotBrokerMemory(t *testing.T) {
	s := startServer(t)
	stalled := stall(t, s, "stalled-q0", "q0/#", 0)
	pub, _, err := s.v3(t, everything(), "q0-publisher", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 2,000 x 10 KiB = 20 MiB, several times what the sockets buffer.
	const n, size = 2000, 10 << 10
	for i := range n {
		pub.Publish("q0/x", 0, false, numbered(i, size))
	}
	// The broker handles a connection's packets in order: once this is
	// acknowledged, every delivery above was decided.
	if tok := pub.Publish("q0-done", 1, false, "done"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal("publish not acknowledged", tok.Error())
	}
	got := stalled.resume(time.Second)
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("the stalled subscriber got %d of %d: want some, and not all (the broker bounds what waits)", len(got), n)
	}
	// It is still a working subscription.
	pub.Publish("q0/x", 0, false, numbered(n, size))
	if after := stalled.resume(2 * time.Second); len(after) != 1 || after[0] != n {
		t.Fatalf("after reading again the subscriber got %v, want [%d]", after, n)
	}
	t.Logf("%d of %d QoS 0 deliveries reached the stalled subscriber", len(got), n)
}

// TestTakeoverOfStalledSession: a device whose link died without the
// broker noticing reconnects with the same client ID; the new connection
// gets every message its session was owed, and the stalled one is closed.
func TestTakeoverOfStalledSession(t *testing.T) {
	s := startServer(t)
	stalled := stallSession(t, s, "roaming", "big/#", 1, false)
	const n, size = 300, 100 << 10
	for i := range n {
		if err := s.b.Publish("big/x", numbered(i, size), 1, false); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan uint32, n)
	c, _, err := s.v3(t, everything(), "roaming", func(o *mqtt3.ClientOptions) {
		o.SetCleanSession(false).SetOrderMatters(false).
			SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) { got <- binary.BigEndian.Uint32(m.Payload()) })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	seen := map[uint32]bool{}
	for len(seen) < n {
		select {
		case v := <-got:
			seen[v] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("the new connection got %d of %d owed messages", len(seen), n)
		}
	}
	stalled.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stalled.c); err != nil {
		t.Fatalf("the stalled connection was not closed: %v", err)
	}
}
