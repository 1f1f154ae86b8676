package broker_test

import (
	"io"
	"net"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/broker"
)

// waitParked waits until n of s's connections are parked: they go quiet
// for a second, then the broker's sweep (every 500 ms) parks them.
func waitParked(t *testing.T, s *server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for broker.Parked(s.b) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked after 10 s, want %d", broker.Parked(s.b), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestParkedConnectionsStillServe: quiet connections park (no goroutine
// reads them), and a parked publisher's next PUBLISH and a parked
// subscriber's deliveries go through as before, QoS 0 and 1, in order.
func TestParkedConnectionsStillServe(t *testing.T) {
	s := startServer(t)
	sub, _, err := s.v3(t, everything(), "sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, sub, "fleet/#")
	pub, _, err := s.v3(t, everything(), "pub", nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		waitParked(t, s, 2)
		for i, qos := range []byte{1, 0, 1} {
			tok := pub.Publish("fleet/a", qos, false, string(rune('a'+i)))
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("round %d: publish %d: %v", round, i, tok.Error())
			}
		}
		for _, want := range []string{"fleet/a a", "fleet/a b", "fleet/a c"} {
			expect(t, got, want)
		}
	}
}

// TestParkedConnectionKeepAlive: a parked connection whose client stays
// silent past 1.5 times its keep-alive ends as an unparked one does, with
// its will published and MQTT_KEEP_ALIVE_TIMEOUT as the reason.
func TestParkedConnectionKeepAlive(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, everything(), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, watcher, "$aws/events/presence/disconnected/+", "wills/+")

	s.next <- everything()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// MQTT 3.1.1, clean session, will "wills/silent" = "gone" (QoS 0),
	// keep-alive 4 s: the broker waits 6 s.
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	body := append(append(str("MQTT"), 4, 0x06, 0, 4), str("silent")...)
	body = append(append(body, str("wills/silent")...), str("gone")...)
	start := time.Now()
	conn.Write(append([]byte{0x10, byte(len(body))}, body...))
	if _, err := io.ReadFull(conn, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	waitParked(t, s, 2)
	// The will comes when the keep-alive runs out, 6 s after CONNECT.
	select {
	case m := <-got:
		if m != "wills/silent gone" {
			t.Fatalf("received %q, want the will", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the parked connection's keep-alive never ran out")
	}
	if took := time.Since(start); took < 6*time.Second {
		t.Errorf("ended %v after CONNECT, before 1.5 x its keep-alive", took)
	}
	wantFields(t, event(t, got, "$aws/events/presence/disconnected/silent"),
		map[string]any{"disconnectReason": "MQTT_KEEP_ALIVE_TIMEOUT", "clientInitiatedDisconnect": false})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the keep-alive ran out: %v, want EOF", err)
	}
}

// TestParkedSessionTakenOver: a client connecting with the client ID of a
// parked connection ends it at once (DUPLICATE_CLIENTID), and inherits its
// persistent session.
func TestParkedSessionTakenOver(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, everything(), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, events := subscribe3(t, watcher, "$aws/events/presence/disconnected/+")
	persistent := func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }
	first, lost, err := s.v3(t, everything(), "device-1", persistent)
	if err != nil {
		t.Fatal(err)
	}
	subscribe3(t, first, "orders/#")
	waitParked(t, s, 2)
	second, _, err := s.v3(t, everything(), "device-1", persistent)
	if err != nil {
		t.Fatal(err)
	}
	// Closed by the takeover, not by its keep-alive (90 s away).
	if !closedWithin(lost, 10*time.Second) {
		t.Fatal("the parked connection was not closed when its session was taken over")
	}
	wantFields(t, event(t, events, "$aws/events/presence/disconnected/device-1"),
		map[string]any{"disconnectReason": "DUPLICATE_CLIENTID"})
	got := make(chan string, 10)
	second.AddRoute("orders/#", func(_ mqtt3.Client, m mqtt3.Message) { got <- m.Topic() + " " + string(m.Payload()) })
	if tok := watcher.Publish("orders/1", 1, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	expect(t, got, "orders/1 x")
}

// TestParkedConnectionClosedUnderneath: the gateway closes a device's
// connection itself when its certificate is revoked or deactivated. A
// parked connection has no read to fail, and the socket's close removes
// it from the poller silently: the sweep ends it within a second.
func TestParkedConnectionClosedUnderneath(t *testing.T) {
	s := startServer(t) // only for its broker
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go s.b.Start(conn, "certificate-id", "iot.yourcompany.com", nil, func(err error) { ended <- err })
	client.Write([]byte{0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x05, 'd', 'e', 'v', '-', '1'})
	if _, err := io.ReadFull(client, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	waitParked(t, s, 1)
	conn.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the parked connection did not end within 10 s of its socket's close (its keep-alive is 90 s)")
	}
	if broker.Parked(s.b) != 0 {
		t.Fatal("an ended connection is still parked")
	}
}
