package broker_test

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// event waits for the next message on ch, which subscribe3 formats as
// "topic payload", and decodes its JSON payload.
func event(t *testing.T, ch <-chan string, topic string) map[string]any {
	t.Helper()
	select {
	case got := <-ch:
		tp, payload, _ := strings.Cut(got, " ")
		if tp != topic {
			t.Fatalf("received on %q (%s), want %q", tp, payload, topic)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatalf("%s: %v", payload, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing received on %q", topic)
	}
	return nil
}

func wantFields(t *testing.T, m map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v (event %v)", k, m[k], v, m)
		}
	}
}

// TestPresenceEvents: a subscriber to $aws/events/presence/+/+ sees another
// client connect and disconnect, in AWS's shape.
func TestPresenceEvents(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, everything(), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, watcher, "$aws/events/presence/+/+")

	dev, _, err := s.v3(t, everything(), "device-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := event(t, got, "$aws/events/presence/connected/device-1")
	wantFields(t, c, map[string]any{"clientId": "device-1", "eventType": "connected",
		"principalIdentifier": "certificate-id", "ipAddress": "127.0.0.1", "versionNumber": float64(0)})
	if ts, _ := c["timestamp"].(float64); time.Since(time.UnixMilli(int64(ts))) > time.Minute {
		t.Errorf("timestamp %v is not milliseconds now", c["timestamp"])
	}
	sid, _ := c["sessionIdentifier"].(string)
	if len(sid) != 36 {
		t.Errorf("sessionIdentifier %q", sid)
	}
	if _, ok := c["clientInitiatedDisconnect"]; ok {
		t.Error("connected event has clientInitiatedDisconnect")
	}

	dev.Disconnect(50)
	d := event(t, got, "$aws/events/presence/disconnected/device-1")
	wantFields(t, d, map[string]any{"clientId": "device-1", "eventType": "disconnected", "sessionIdentifier": sid,
		"clientInitiatedDisconnect": true, "disconnectReason": "CLIENT_INITIATED_DISCONNECT", "versionNumber": float64(0)})

	// A second connection of the same client ID has the next version; a
	// takeover disconnects the first with DUPLICATE_CLIENTID.
	if _, _, err := s.v3(t, everything(), "device-1", nil); err != nil {
		t.Fatal(err)
	}
	wantFields(t, event(t, got, "$aws/events/presence/connected/device-1"), map[string]any{"versionNumber": float64(1)})
	if _, _, err := s.v3(t, everything(), "device-1", nil); err != nil {
		t.Fatal(err)
	}
	// Lifecycle messages may arrive in either order, as on AWS.
	seen := map[string]map[string]any{}
	for range 2 {
		select {
		case m := <-got:
			tp, payload, _ := strings.Cut(m, " ")
			var v map[string]any
			json.Unmarshal([]byte(payload), &v)
			seen[tp] = v
		case <-time.After(5 * time.Second):
			t.Fatalf("takeover events: got %v", seen)
		}
	}
	wantFields(t, seen["$aws/events/presence/disconnected/device-1"], map[string]any{"disconnectReason": "DUPLICATE_CLIENTID",
		"clientInitiatedDisconnect": false, "versionNumber": float64(1)})
	wantFields(t, seen["$aws/events/presence/connected/device-1"], map[string]any{"versionNumber": float64(2)})
}

// TestDisconnectReasons: a dropped connection is CONNECTION_LOST; a publish
// the policies refuse ends the connection with AUTH_ERROR.
func TestDisconnectReasons(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, everything(), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, watcher, "$aws/events/presence/disconnected/+")

	s.next <- everything()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'l', 'o', 's', 't'})
	if _, err := io.ReadFull(conn, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	wantFields(t, event(t, got, "$aws/events/presence/disconnected/lost"),
		map[string]any{"disconnectReason": "CONNECTION_LOST", "clientInitiatedDisconnect": false})

	dev, _, err := s.v3(t, allow("connect", "refused", "publish", "ok"), "refused", nil)
	if err != nil {
		t.Fatal(err)
	}
	dev.Publish("not/allowed", 0, false, "x")
	wantFields(t, event(t, got, "$aws/events/presence/disconnected/refused"),
		map[string]any{"disconnectReason": "AUTH_ERROR", "clientInitiatedDisconnect": false})
}

// TestLifecycleEventsFollowReceive: events reach only subscribers allowed to
// receive them.
func TestLifecycleEventsFollowReceive(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, allow("connect", "watcher", "subscribe", "$aws/events/presence/+/+",
		"receive", "$aws/events/presence/connected/*"), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, watcher, "$aws/events/presence/+/+")
	dev, _, err := s.v3(t, everything(), "device-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	event(t, got, "$aws/events/presence/connected/device-2")
	dev.Disconnect(50)
	expectNothing(t, got)
}

// TestSubscriptionEvents: SUBSCRIBE and UNSUBSCRIBE publish the granted
// filters.
func TestSubscriptionEvents(t *testing.T) {
	s := startServer(t)
	watcher, _, err := s.v3(t, everything(), "watcher", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, watcher, "$aws/events/subscriptions/+/dev")
	dev, _, err := s.v3(t, allow("connect", "dev", "subscribe", "a/*"), "dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	subscribe3(t, dev, "a/1", "a/2", "b/refused")
	m := event(t, got, "$aws/events/subscriptions/subscribed/dev")
	wantFields(t, m, map[string]any{"clientId": "dev", "eventType": "subscribed", "principalIdentifier": "certificate-id"})
	if topics, _ := json.Marshal(m["topics"]); !strings.Contains(string(topics), `"a/1"`) || !strings.Contains(string(topics), `"a/2"`) || strings.Contains(string(topics), "b/refused") {
		t.Errorf("topics %s", topics)
	}
	if tok := dev.Unsubscribe("a/1"); !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("UNSUBSCRIBE timed out")
	}
	m = event(t, got, "$aws/events/subscriptions/unsubscribed/dev")
	if topics, _ := json.Marshal(m["topics"]); string(topics) != `["a/1"]` {
		t.Errorf("topics %s", topics)
	}
	dev.Disconnect(50)
	expectNothing(t, got) // no unsubscribed event for a clean session's end
}

var _ = mqtt3.NewClient

// TestWildcardFiltersDoNotMatchDollarTopics: MQTT 4.7.2 — "#" and "+/..."
// never receive $aws/... messages; "$aws/events/#" does.
func TestWildcardFiltersDoNotMatchDollarTopics(t *testing.T) {
	s := startServer(t)
	wild, _, err := s.v3(t, everything(), "wild", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, wildGot := subscribe3(t, wild, "#", "+/events/#")
	named, _, err := s.v3(t, everything(), "named", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, namedGot := subscribe3(t, named, "$aws/events/#")

	dev, _, err := s.v3(t, everything(), "device-9", nil)
	if err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; {
		select {
		case m := <-namedGot:
			seen = strings.HasPrefix(m, "$aws/events/presence/connected/device-9 ")
		case <-time.After(5 * time.Second):
			t.Fatal("$aws/events/# did not receive the presence event")
		}
	}
	// A plain topic still reaches "#", proving the wildcard subscriber works.
	if tok := dev.Publish("plain/topic", 0, false, "x"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case m := <-wildGot:
		if tp, _, _ := strings.Cut(m, " "); tp != "plain/topic" {
			t.Fatalf("the wildcard subscriber received %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wildcard subscriber received nothing")
	}
}
