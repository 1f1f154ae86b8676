package broker

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

func newBroker(t testing.TB) *Broker {
	b, err := New(Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// connect311 is an MQTT 3.1.1 CONNECT for client "dev-1", clean session, keepalive 30.
var connect311 = []byte{0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x1e, 0x00, 0x05, 'd', 'e', 'v', '-', '1'}

func serve(b *Broker) (client net.Conn, done chan error) {
	client, server := net.Pipe()
	done = make(chan error, 1)
	go func() { done <- b.Serve(server, "certificate-id", "iot.yourcompany.com", nil) }()
	return client, done
}

func TestServeAcceptsHandedOverConnections(t *testing.T) {
	b := newBroker(t)
	got := make(chan Message, 1)
	if err := b.Subscribe("test/#", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	c, done := serve(b)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(connect311); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || !bytes.Equal(ack, []byte{0x20, 0x02, 0x00, 0x00}) {
		t.Fatalf("CONNACK = %x, %v", ack, err)
	}
	// PUBLISH QoS 0 "test/a" payload "hi".
	if _, err := c.Write([]byte{0x30, 0x0a, 0x00, 0x06, 't', 'e', 's', 't', '/', 'a', 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != "test/a" || string(m.Payload) != "hi" {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish not delivered")
	}
	c.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the connection closed")
	}
}

func TestConnectTimeout(t *testing.T) {
	b := newBroker(t)
	c, done := serve(b)
	defer c.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection that never sent CONNECT was kept open")
	}
}

// FuzzFirstPackets sends arbitrary bytes as a device's first packets.
func FuzzFirstPackets(f *testing.F) {
	f.Add(connect311)
	f.Add(append(append([]byte{}, connect311...), 0x82, 0x0b, 0x00, 0x01, 0x00, 0x06, 't', 'e', 's', 't', '/', '#', 0x01))
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x30, 0x00})
	b := newBroker(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, done := serve(b)
		c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		go io.Copy(io.Discard, c)
		c.Write(data)
		c.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return")
		}
	})
}

// refuseAll lets any client ID connect and refuses everything else.
type refuseAll struct{}

func (refuseAll) Connect(string, []string) bool { return true }
func (refuseAll) Publish(string, bool) bool     { return false }
func (refuseAll) Subscribe(string) bool         { return false }
func (refuseAll) Receive(string) bool           { return false }

// FuzzFirstPacketsRefused sends arbitrary bytes through the refusal paths
// of the auth hooks (publishes, subscriptions, wills).
func FuzzFirstPacketsRefused(f *testing.F) {
	f.Add(connect311)
	f.Add(append(append([]byte{}, connect311...), 0x82, 0x0b, 0x00, 0x01, 0x00, 0x06, 't', 'e', 's', 't', '/', '#', 0x01))
	f.Add(append(append([]byte{}, connect311...), 0x32, 0x0c, 0x00, 0x06, 't', 'e', 's', 't', '/', 'a', 0x00, 0x01, 'h', 'i'))
	// MQTT 5 CONNECT, then PUBLISH QoS 1 with topic alias 1 and an empty topic.
	f.Add([]byte{0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x1e, 0x00, 0x00, 0x03, 'd', 'e', 'v',
		0x32, 0x08, 0x00, 0x00, 0x00, 0x01, 0x03, 0x23, 0x00, 0x01})
	b := newBroker(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- b.Serve(server, "certificate-id", "iot.yourcompany.com", refuseAll{}) }()
		client.SetDeadline(time.Now().Add(200 * time.Millisecond))
		go io.Copy(io.Discard, client)
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return")
		}
	})
}
