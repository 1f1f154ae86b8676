package broker_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// TestPayloadLimit: a payload over 128 KiB disconnects the client, in MQTT
// 5 with DISCONNECT 0x95, and the disconnected event says CLIENT_ERROR.
func TestPayloadLimit(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, everything(), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, events := subscribe3(t, watcher, "$aws/events/presence/disconnected/+")
	_, got := subscribe3(t, watcher, "big/#")

	c, lost, err := s.v3(t, everything(), "big3", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Publish("big/ok", 1, false, make([]byte, 128*1024)).WaitTimeout(5 * time.Second)
	expect(t, got, "big/ok "+string(make([]byte, 128*1024)))
	c.Publish("big/no", 0, false, make([]byte, 128*1024+1))
	if !closedWithin(lost, 5*time.Second) {
		t.Fatal("MQTT 3.1.1 client not disconnected")
	}
	wantFields(t, event(t, events, "$aws/events/presence/disconnected/big3"), map[string]any{"disconnectReason": "CLIENT_ERROR"})

	v, err := s.v5(t, everything(), &paho.Connect{ClientID: "big5", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	v.Publish(ctx5(t), &paho.Publish{Topic: "big/no", QoS: 0, Payload: make([]byte, 128*1024+1)})
	select {
	case d := <-v.disconnect:
		if d.ReasonCode != 0x95 {
			t.Fatalf("DISCONNECT 0x%02x, want 0x95", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MQTT 5 client not disconnected")
	}
	expectNothing(t, got)
}

// TestTopicSlashLimit: 7 slashes are allowed, 8 are not; Basic Ingest's
// $aws/rules/<rule>/ prefix does not count.
func TestTopicSlashLimit(t *testing.T) {
	s := startServer(t)
	seven := "a/b/c/d/e/f/g/h"
	eight := seven + "/i"
	v, err := s.v5(t, everything(), &paho.Connect{ClientID: "deep5", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := v.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: seven, QoS: 1}, {Topic: eight, QoS: 1}, {Topic: "$aws/rules/r/" + seven, QoS: 1}}})
	if err != nil && sa == nil {
		t.Fatal(err)
	}
	if string(sa.Reasons) != string([]byte{1, 0x8F, 1}) {
		t.Fatalf("SUBACK %x", sa.Reasons)
	}
	if _, err := v.Publish(ctx5(t), &paho.Publish{Topic: seven, QoS: 1, Payload: []byte("7")}); err != nil {
		t.Fatal(err)
	}
	expect5(t, v, seven, "7")
	pr, err := v.Publish(ctx5(t), &paho.Publish{Topic: eight, QoS: 1, Payload: []byte("8")})
	if pr == nil || pr.ReasonCode != 0x90 {
		t.Fatalf("PUBACK %+v %v, want 0x90", pr, err)
	}
	if _, err := v.Publish(ctx5(t), &paho.Publish{Topic: "$aws/rules/r/" + seven, QoS: 1, Payload: []byte("ingest")}); err != nil {
		t.Fatal(err)
	}
	expect5(t, v, "$aws/rules/r/"+seven, "ingest")

	c, lost, err := s.v3(t, everything(), "deep3", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, _ := subscribe3(t, c, seven, eight)
	if codes[seven] != 1 || codes[eight] != 0x80 {
		t.Fatalf("SUBACK %v", codes)
	}
	c.Publish(eight, 1, false, "8")
	if !closedWithin(lost, 5*time.Second) {
		t.Fatal("MQTT 3.1.1 client not disconnected for a topic with 8 slashes")
	}
}

// TestSubscribeFilterLimit: 8 filters in one SUBSCRIBE are allowed; 9
// disconnect the client (MQTT 5: DISCONNECT 0x97).
func TestSubscribeFilterLimit(t *testing.T) {
	s := startServer(t)
	filters := func(n int) []paho.SubscribeOptions {
		var out []paho.SubscribeOptions
		for i := range n {
			out = append(out, paho.SubscribeOptions{Topic: "f/" + strings.Repeat("x", i+1)})
		}
		return out
	}
	v, err := s.v5(t, everything(), &paho.Connect{ClientID: "many5", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if sa, err := v.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: filters(8)}); err != nil || len(sa.Reasons) != 8 {
		t.Fatalf("8 filters: %+v %v", sa, err)
	}
	go v.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: filters(9)})
	select {
	case d := <-v.disconnect:
		if d.ReasonCode != 0x97 {
			t.Fatalf("DISCONNECT 0x%02x, want 0x97", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("MQTT 5 client not disconnected")
	}

	c, lost, err := s.v3(t, everything(), "many3", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]byte{}
	for i := range 9 {
		want["f/"+strings.Repeat("y", i+1)] = 0
	}
	c.SubscribeMultiple(want, nil)
	if !closedWithin(lost, 5*time.Second) {
		t.Fatal("MQTT 3.1.1 client not disconnected for 9 filters")
	}
}

// TestReceiveMaximum: MQTT 5 clients are told the in-flight limit.
func TestReceiveMaximum(t *testing.T) {
	s := startServer(t)
	v, err := s.v5(t, everything(), &paho.Connect{ClientID: "rm", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if v.connack.Properties == nil || v.connack.Properties.ReceiveMaximum == nil || *v.connack.Properties.ReceiveMaximum != 100 {
		t.Fatalf("CONNACK properties %+v", v.connack.Properties)
	}
}

// TestInflightLimit: a subscriber gets at most 100 unacknowledged QoS 1
// messages; the others wait and follow its acknowledgements.
func TestInflightLimit(t *testing.T) {
	s := startServer(t)
	_, got := slowSubscriber(t, s, "slow", "q/#")
	publishNumbered(t, s, "q/x", 150)
	held := receiveN(t, got, 100)
	select {
	case m := <-got:
		t.Fatalf("message %d beyond the in-flight limit", m.Payload()[0])
	case <-time.After(300 * time.Millisecond):
	}
	for _, m := range held {
		m.Ack()
	}
	for n := 100; n < 150; n++ {
		select {
		case m := <-got:
			m.Ack()
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d after acknowledging, want 150", n)
		}
	}
}

// TestWindowedMessagesResentAfterReconnect: deliveries that waited for room
// in the window stay in flight once sent, so a persistent session that
// reconnects before acknowledging them gets them again (mochi's own
// waiting list forgot them once sent), in the order first sent.
func TestWindowedMessagesResentAfterReconnect(t *testing.T) {
	s := startServer(t)
	got := make(chan mqtt3.Message, 200)
	persistent := func(o *mqtt3.ClientOptions) {
		o.SetAutoAckDisabled(true).SetCleanSession(false).
			SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) { got <- m })
	}
	c, _, err := s.v3(t, everything(), "resend", persistent)
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Subscribe("w/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("SUBSCRIBE failed", tok.Error())
	}
	publishNumbered(t, s, "w/x", 200)
	receive := func(n int) []mqtt3.Message { return receiveN(t, got, n) }
	for _, m := range receive(100) {
		m.Ack()
	}
	// Sent once the first 100 were acknowledged, in order; not acknowledged.
	// The last of them is sent only once the broker has read all 100
	// PUBACKs, so none of the first 100 can come again below.
	for i, m := range receive(100) {
		if want := byte(100 + i); m.Payload()[0] != want {
			t.Fatalf("waiting message %d arrived as %d, want %d (in order)", i, m.Payload()[0], want)
		}
	}
	c.Disconnect(0)

	again, _, err := s.v3(t, everything(), "resend", persistent)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range receive(100) {
		if want := byte(100 + i); m.Payload()[0] != want || !m.Duplicate() {
			t.Fatalf("resend %d: message %d dup=%v, want %d dup=true (in the order first sent)", i, m.Payload()[0], m.Duplicate(), want)
		}
		m.Ack()
	}
	again.Disconnect(100)
}

// TestWindowUnderConcurrentPublishers: publishers adding QoS 1 messages
// while the subscriber acknowledges never wedge the connection (mochi's
// send quota path could deadlock the two), and nothing is lost.
func TestWindowUnderConcurrentPublishers(t *testing.T) {
	s := startServer(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	all := make(chan struct{})
	const publishers, each = 4, 500
	sub, _, err := s.v3(t, everything(), "busy", func(o *mqtt3.ClientOptions) { o.SetOrderMatters(false) })
	if err != nil {
		t.Fatal(err)
	}
	tok := sub.Subscribe("c/#", 1, func(_ mqtt3.Client, m mqtt3.Message) {
		mu.Lock()
		defer mu.Unlock()
		if seen[string(m.Payload())] = true; len(seen) == publishers*each {
			close(all)
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("SUBSCRIBE failed", tok.Error())
	}
	var wg sync.WaitGroup
	for p := range publishers {
		pub, _, err := s.v3(t, everything(), fmt.Sprintf("busy-pub-%d", p), nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range each {
				pub.Publish("c/x", 1, false, fmt.Sprintf("%d-%d", p, i))
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d messages delivered", len(seen), publishers*each)
	}
}

// TestWaitingMessageExpires: an MQTT 5 message whose Message Expiry
// Interval ends while it waits for room in a subscriber's window is not
// sent; one without expiry, published after it, is.
func TestWaitingMessageExpires(t *testing.T) {
	s := startServer(t)
	_, got := slowSubscriber(t, s, "full", "e/#")
	publishNumbered(t, s, "e/fill", 100)
	held := receiveN(t, got, 100)
	pub, err := s.v5(t, everything(), &paho.Connect{ClientID: "expiring-pub", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	expiry := uint32(1)
	for _, p := range []*paho.Publish{
		{Topic: "e/short", QoS: 1, Payload: []byte("expired"), Properties: &paho.PublishProperties{MessageExpiry: &expiry}},
		{Topic: "e/long", QoS: 1, Payload: []byte("kept")},
	} {
		if _, err := pub.Publish(ctx5(t), p); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2500 * time.Millisecond) // the first one's second ends
	for _, m := range held {
		m.Ack()
	}
	select {
	case m := <-got:
		if string(m.Payload()) != "kept" {
			t.Fatalf("got %s %q, want only the message without expiry", m.Topic(), m.Payload())
		}
		m.Ack()
	case <-time.After(5 * time.Second):
		t.Fatal("the message without expiry was not delivered")
	}
	select {
	case m := <-got:
		t.Fatalf("got %s %q after it expired", m.Topic(), m.Payload())
	case <-time.After(300 * time.Millisecond):
	}
}

// slowSubscriber connects a 3.1.1 client that acknowledges only when told
// (Message.Ack) and subscribes it to filter at QoS 1; got receives what it
// is delivered.
func slowSubscriber(t *testing.T, s *server, id, filter string) (mqtt3.Client, chan mqtt3.Message) {
	t.Helper()
	got := make(chan mqtt3.Message, 200)
	c, _, err := s.v3(t, everything(), id, func(o *mqtt3.ClientOptions) { o.SetAutoAckDisabled(true) })
	if err != nil {
		t.Fatal(err)
	}
	if tok := c.Subscribe(filter, 1, func(_ mqtt3.Client, m mqtt3.Message) { got <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("SUBSCRIBE failed", tok.Error())
	}
	return c, got
}

// publishNumbered publishes n QoS 1 messages to topic from the broker,
// their payloads 0, 1, ... n-1.
func publishNumbered(t *testing.T, s *server, topic string, n int) {
	t.Helper()
	for i := range n {
		if err := s.b.Publish(topic, []byte{byte(i)}, 1, false); err != nil {
			t.Fatal(err)
		}
	}
}

// receiveN waits for n deliveries.
func receiveN(t *testing.T, got chan mqtt3.Message, n int) []mqtt3.Message {
	t.Helper()
	var ms []mqtt3.Message
	for len(ms) < n {
		select {
		case m := <-got:
			ms = append(ms, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d, want %d", len(ms), n)
		}
	}
	return ms
}
