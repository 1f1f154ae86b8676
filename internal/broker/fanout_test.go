package broker_test

import (
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// TestDeliveriesFollowSubscriptionChanges: the broker keeps each topic's
// subscribers between messages (fanout.go); a subscription made, widened,
// dropped or taken over with its session must count from its SUBACK,
// UNSUBACK or CONNACK on, on a topic whose subscribers were already known.
func TestDeliveriesFollowSubscriptionChanges(t *testing.T) {
	s := startServer(t)
	pub, _, err := s.v3(t, everything(), "fan-pub", nil)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(payload string) {
		t.Helper()
		if tok := pub.Publish("fan/x", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", payload, tok.Error())
		}
	}
	type sub struct {
		c   mqtt3.Client
		got chan string
	}
	connect := func(id string, clean bool) sub {
		t.Helper()
		got := make(chan string, 16)
		c, _, err := s.v3(t, everything(), id, func(o *mqtt3.ClientOptions) {
			o.SetCleanSession(clean)
			o.SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) { got <- string(m.Payload()) })
		})
		if err != nil {
			t.Fatal(err)
		}
		return sub{c, got}
	}
	subscribe := func(s sub, filter string) {
		t.Helper()
		if tok := s.c.Subscribe(filter, 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", filter, tok.Error())
		}
	}
	expect := func(s sub, want string) {
		t.Helper()
		select {
		case m := <-s.got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not delivered", want)
		}
	}
	expectNothing := func(s sub) {
		t.Helper()
		select {
		case m := <-s.got:
			t.Fatalf("got %q, want nothing", m)
		case <-time.After(300 * time.Millisecond):
		}
	}

	a := connect("fan-a", true)
	subscribe(a, "fan/x")
	publish("1") // fan/x's subscribers are now known: a
	expect(a, "1")

	b := connect("fan-b", false)
	subscribe(b, "fan/+")
	publish("2")
	expect(a, "2")
	expect(b, "2")

	if tok := a.c.Unsubscribe("fan/x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish("3")
	expect(b, "3")
	expectNothing(a)

	// b's session, with its subscription, is taken over by a new connection.
	b.c.Disconnect(0)
	b2 := connect("fan-b", false)
	publish("4")
	expect(b2, "4")
	expectNothing(b)

	// A clean session ends with its subscriptions.
	b2.c.Disconnect(0)
	b3 := connect("fan-b", true)
	publish("5")
	expectNothing(b3)
}
