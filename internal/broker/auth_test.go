package broker_test

// Authorization through the broker's hooks, with real MQTT clients: paho
// (MQTT 3.1.1) and paho.golang (MQTT 5). The Authorizer here is a table of
// allowed names; the policy language itself is internal/policy's, and
// cmd/portico's tests run real policies through the broker.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/broker"
)

// rules is a test Authorizer: each action allows the names listed, exactly,
// or by prefix when the entry ends in "*". Rules can change while clients
// are connected.
type rules struct {
	mu      sync.Mutex
	allowed map[string][]string // action -> names
	asked   []string            // "action name", in order
	attrs   []string            // of the last Connect
}

func allow(pairs ...string) *rules {
	r := &rules{allowed: map[string][]string{}}
	for i := 0; i < len(pairs); i += 2 {
		r.allowed[pairs[i]] = append(r.allowed[pairs[i]], pairs[i+1])
	}
	return r
}

func (r *rules) set(action string, names ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.allowed[action] = names
}

func (r *rules) ok(action, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, action+" "+name)
	for _, n := range r.allowed[action] {
		if n == name || (strings.HasSuffix(n, "*") && strings.HasPrefix(name, strings.TrimSuffix(n, "*"))) {
			return true
		}
	}
	return false
}

func (r *rules) wasAsked(entry string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.asked, entry)
}

func (r *rules) Connect(clientID string, attrs []string) bool {
	r.mu.Lock()
	r.attrs = attrs
	r.mu.Unlock()
	return r.ok("connect", clientID)
}

func (r *rules) Publish(topic string, retain bool) bool {
	return r.ok("publish", topic) && (!retain || r.ok("retain", topic))
}
func (r *rules) Subscribe(filter string) bool { return r.ok("subscribe", filter) }
func (r *rules) Receive(topic string) bool    { return r.ok("receive", topic) }

// everything allows every action on every name.
func everything() *rules {
	return allow("connect", "*", "publish", "*", "retain", "*", "subscribe", "*", "receive", "*")
}

// server hands each accepted connection to the broker with the next
// Authorizer queued by a dial.
type server struct {
	b    *broker.Broker
	addr string
	next chan broker.Authorizer
}

func startServer(t *testing.T) *server {
	t.Helper()
	b, err := broker.New(broker.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{b: b, addr: ln.Addr().String(), next: make(chan broker.Authorizer, 16)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.Close()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a := <-s.next
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.Serve(c, "certificate-id", "iot.yourcompany.com", a)
			}()
		}
	}()
	return s
}

// v3 connects an MQTT 3.1.1 client; lost is closed when the broker drops it.
func (s *server) v3(t *testing.T, a broker.Authorizer, id string, tune func(*mqtt3.ClientOptions)) (c mqtt3.Client, lost chan struct{}, err error) {
	t.Helper()
	lost = make(chan struct{})
	var once sync.Once
	opts := mqtt3.NewClientOptions().AddBroker("tcp://" + s.addr).SetClientID(id).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(mqtt3.Client, error) { once.Do(func() { close(lost) }) })
	if tune != nil {
		tune(opts)
	}
	s.next <- a
	c = mqtt3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("CONNECT timed out")
	}
	if err := tok.Error(); err != nil {
		return c, lost, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, lost, nil
}

// v5client is an MQTT 5 client with what it received.
type v5client struct {
	*paho.Client
	got        chan *paho.Publish
	disconnect chan *paho.Disconnect
	connack    *paho.Connack
}

func (s *server) v5(t *testing.T, a broker.Authorizer, cp *paho.Connect) (*v5client, error) {
	t.Helper()
	s.next <- a
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	v := &v5client{got: make(chan *paho.Publish, 100), disconnect: make(chan *paho.Disconnect, 1)}
	v.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			v.got <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { v.disconnect <- d },
		OnClientError:      func(error) {},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 30
	}
	v.connack, err = v.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		return v, err
	}
	t.Cleanup(func() { v.Disconnect(&paho.Disconnect{}) })
	return v, nil
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// subscribe3 subscribes with paho 3.1.1 and collects payloads by topic.
func subscribe3(t *testing.T, c mqtt3.Client, filters ...string) (map[string]byte, chan string) {
	t.Helper()
	got := make(chan string, 100)
	want := map[string]byte{}
	for _, f := range filters {
		want[f] = 1
	}
	tok := c.SubscribeMultiple(want, func(_ mqtt3.Client, m mqtt3.Message) { got <- m.Topic() + " " + string(m.Payload()) })
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("SUBSCRIBE timed out")
	}
	return tok.(*mqtt3.SubscribeToken).Result(), got
}

func expect(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("received %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%q not received", want)
	}
}

func expectNothing(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("received %q, want nothing", got)
	case <-time.After(200 * time.Millisecond):
	}
}

func expect5(t *testing.T, v *v5client, topic, payload string) {
	t.Helper()
	select {
	case p := <-v.got:
		if p.Topic != topic || string(p.Payload) != payload {
			t.Fatalf("received %s %q, want %s %q", p.Topic, p.Payload, topic, payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s %q not received", topic, payload)
	}
}

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(d):
		return false
	}
}

func TestConnectNotAllowedIsRefused(t *testing.T) {
	s := startServer(t)
	a := allow("connect", "sensor-*")

	_, _, err := s.v3(t, a, "intruder", nil)
	if err == nil {
		t.Fatal("MQTT 3.1.1 client ID not allowed was accepted")
	}
	if !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("MQTT 3.1.1: %v, want CONNACK return code 5 (not authorized)", err)
	}
	v, err := s.v5(t, a, &paho.Connect{ClientID: "intruder", CleanStart: true})
	if err == nil || v.connack == nil || v.connack.ReasonCode != 0x87 {
		t.Fatalf("MQTT 5: connack %+v, %v; want reason 0x87", v.connack, err)
	}

	if _, _, err := s.v3(t, a, "sensor-1", nil); err != nil {
		t.Fatalf("allowed client ID: %v", err)
	}
	if !a.wasAsked("connect sensor-1") {
		t.Fatal("Connect was not asked with the client ID")
	}
}

func TestConnectAttributes(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		name string
		tune func(*mqtt3.ClientOptions)
		want []string
	}{
		{"clean", nil, nil},
		{"persistent", func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }, []string{"PersistentConnect"}},
		{"will", func(o *mqtt3.ClientOptions) { o.SetWill("w/t", "gone", 0, false) }, []string{"LastWill"}},
		{"both", func(o *mqtt3.ClientOptions) { o.SetCleanSession(false).SetWill("w/t", "gone", 0, false) }, []string{"PersistentConnect", "LastWill"}},
	} {
		a := everything()
		if _, _, err := s.v3(t, a, "attrs-"+tc.name, tc.tune); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.attrs, tc.want) {
			t.Errorf("%s: connect attributes %v, want %v", tc.name, a.attrs, tc.want)
		}
	}
	expiry := uint32(3600)
	a := everything()
	if _, err := s.v5(t, a, &paho.Connect{ClientID: "attrs-v5", Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.attrs, []string{"PersistentConnect"}) {
		t.Errorf("MQTT 5 with a session expiry: %v", a.attrs)
	}
}

// AWS closes an MQTT 3.1.1 connection that publishes where it may not (3.1.1
// has no way to say why); the message goes nowhere.
func TestPublishNotAllowedDisconnectsMQTT311(t *testing.T) {
	s := startServer(t)
	sub, _, err := s.v3(t, everything(), "sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, sub, "a/#")
	for _, qos := range []byte{0, 1} {
		pub, lost, err := s.v3(t, allow("connect", "*", "publish", "a/ok"), fmt.Sprintf("pub-%d", qos), nil)
		if err != nil {
			t.Fatal(err)
		}
		pub.Publish("a/ok", qos, false, "fine").WaitTimeout(5 * time.Second)
		expect(t, got, "a/ok fine")
		pub.Publish("a/no", qos, false, "refused")
		if !closedWithin(lost, 5*time.Second) {
			t.Fatalf("QoS %d: the client publishing where it may not was not disconnected", qos)
		}
		expectNothing(t, got)
	}
}

// MQTT 5 says why: PUBACK 0x87 for QoS 1 (the session goes on), DISCONNECT
// 0x87 for QoS 0, which has no acknowledgement.
func TestPublishNotAllowedMQTT5(t *testing.T) {
	s := startServer(t)
	sub, _, err := s.v3(t, everything(), "sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, sub, "a/#")
	pub, err := s.v5(t, allow("connect", "*", "publish", "a/ok"), &paho.Connect{ClientID: "pub5", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := pub.Publish(ctx5(t), &paho.Publish{Topic: "a/no", QoS: 1, Payload: []byte("refused")})
	if resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("QoS 1 publish where not allowed: %+v, %v; want PUBACK 0x87", resp, err)
	}
	if resp, err := pub.Publish(ctx5(t), &paho.Publish{Topic: "a/ok", QoS: 1, Payload: []byte("fine")}); err != nil || resp.ReasonCode != 0 {
		t.Fatalf("the session did not go on after PUBACK 0x87: %+v, %v", resp, err)
	}
	expect(t, got, "a/ok fine")
	expectNothing(t, got)

	pub.Publish(ctx5(t), &paho.Publish{Topic: "a/no", QoS: 0, Payload: []byte("refused")})
	select {
	case d := <-pub.disconnect:
		if d.ReasonCode != 0x87 {
			t.Fatalf("DISCONNECT reason %#x, want 0x87", d.ReasonCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("QoS 0 publish where not allowed: no DISCONNECT")
	}
	expectNothing(t, got)
}

func TestRetainNeedsRetainPublish(t *testing.T) {
	s := startServer(t)
	a := allow("connect", "*", "publish", "r/*", "retain", "r/kept")
	pub, err := s.v5(t, a, &paho.Connect{ClientID: "retainer", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := pub.Publish(ctx5(t), &paho.Publish{Topic: "r/not-kept", QoS: 1, Retain: true, Payload: []byte("x")})
	if resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("retained publish without iot:RetainPublish: %+v", resp)
	}
	if resp, err := pub.Publish(ctx5(t), &paho.Publish{Topic: "r/not-kept", QoS: 1, Payload: []byte("plain")}); err != nil || resp.ReasonCode != 0 {
		t.Fatalf("plain publish: %+v, %v", resp, err)
	}
	if resp, err := pub.Publish(ctx5(t), &paho.Publish{Topic: "r/kept", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil || resp.ReasonCode != 0 {
		t.Fatalf("retained publish with iot:RetainPublish: %+v, %v", resp, err)
	}
	late, _, err := s.v3(t, everything(), "late", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, late, "r/#")
	expect(t, got, "r/kept kept")
	// QoS 1 is at least once: a second copy of the retained message is
	// allowed (and seen, rarely, on a loaded machine); the refused retained
	// publish must never arrive.
	expectOnly(t, got, "r/kept kept")
}

// expectOnly fails if anything but allowed arrives within a short window.
func expectOnly(t *testing.T, ch <-chan string, allowed string) {
	t.Helper()
	deadline := time.After(200 * time.Millisecond)
	for {
		select {
		case got := <-ch:
			if got != allowed {
				t.Fatalf("received %q, want nothing but %q", got, allowed)
			}
		case <-deadline:
			return
		}
	}
}

func TestSubscribeDecidedPerFilter(t *testing.T) {
	s := startServer(t)
	a := allow("connect", "*", "subscribe", "s/ok", "receive", "*")
	c3, _, err := s.v3(t, a, "sub3", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, _ := subscribe3(t, c3, "s/ok", "s/no")
	if codes["s/ok"] != 1 || codes["s/no"] != 0x80 {
		t.Fatalf("MQTT 3.1.1 SUBACK %v, want s/ok 1, s/no 0x80", codes)
	}
	c5, err := s.v5(t, a, &paho.Connect{ClientID: "sub5", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := c5.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "s/ok", QoS: 1}, {Topic: "s/no", QoS: 1}}})
	if sa == nil || !slices.Equal(sa.Reasons, []byte{1, 0x87}) {
		t.Fatalf("MQTT 5 SUBACK %+v, want [1 0x87]", sa)
	}
	// The refused filter delivers nothing; the granted one does.
	s.b.Publish("s/no", []byte("x"), 0, false)
	s.b.Publish("s/ok", []byte("y"), 0, false)
	expect5(t, c5, "s/ok", "y")
}

// A subscription's check and a delivery's are told apart even when the
// filter and the topic are the same text.
func TestSubscribeAndReceiveAreSeparateActions(t *testing.T) {
	s := startServer(t)
	subOnly, _, err := s.v3(t, allow("connect", "*", "subscribe", "x/y"), "subscribe-only", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, got := subscribe3(t, subOnly, "x/y")
	if codes["x/y"] != 1 {
		t.Fatalf("subscription with iot:Subscribe refused: %v", codes)
	}
	recvOnly, _, err := s.v3(t, allow("connect", "*", "receive", "x/y"), "receive-only", nil)
	if err != nil {
		t.Fatal(err)
	}
	if codes, _ := subscribe3(t, recvOnly, "x/y"); codes["x/y"] != 0x80 {
		t.Fatalf("subscription without iot:Subscribe granted: %v", codes)
	}
	s.b.Publish("x/y", []byte("z"), 0, false)
	expectNothing(t, got) // no iot:Receive
}

func TestDeliveryFollowsEachRecipientsReceive(t *testing.T) {
	s := startServer(t)
	s.b.Publish("r/secret", []byte("retained"), 0, true)
	all, _, err := s.v3(t, allow("connect", "*", "subscribe", "r/#", "receive", "r/*"), "all", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, gotAll := subscribe3(t, all, "r/#")
	expect(t, gotAll, "r/secret retained")
	some, _, err := s.v3(t, allow("connect", "*", "subscribe", "r/#", "receive", "r/public"), "some", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, gotSome := subscribe3(t, some, "r/#")
	expectNothing(t, gotSome) // the retained message needs iot:Receive too

	// From the API (in-process) and from a device.
	s.b.Publish("r/secret", []byte("api"), 0, false)
	s.b.Publish("r/public", []byte("api"), 0, false)
	pub, _, err := s.v3(t, everything(), "pub", nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.Publish("r/secret", 1, false, "device").WaitTimeout(5 * time.Second)
	pub.Publish("r/public", 1, false, "device").WaitTimeout(5 * time.Second)
	for _, want := range []string{"r/secret api", "r/public api", "r/secret device", "r/public device"} {
		expect(t, gotAll, want)
	}
	expect(t, gotSome, "r/public api")
	expect(t, gotSome, "r/public device")
	expectNothing(t, gotSome)
}

// mochi's own $SYS topics are not devices' business, whatever their
// policies (or the API's credentials) allow.
func TestSysTopicsAreHidden(t *testing.T) {
	s := startServer(t)
	for _, a := range []broker.Authorizer{everything(), nil} {
		c, err := s.v5(t, a, &paho.Connect{ClientID: fmt.Sprintf("sys-%v", a != nil), CleanStart: true})
		if err != nil {
			t.Fatal(err)
		}
		sa, _ := c.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$SYS/#", QoS: 0}, {Topic: "$SYS/broker/version", QoS: 0}}})
		if sa == nil || !slices.Equal(sa.Reasons, []byte{0x87, 0x87}) {
			t.Fatalf("authorizer %v: $SYS subscriptions %+v, want refused", a != nil, sa)
		}
		resp, _ := c.Publish(ctx5(t), &paho.Publish{Topic: "$SYS/broker/version", QoS: 1, Payload: []byte("x")})
		if resp == nil || resp.ReasonCode != 0x87 {
			t.Fatalf("authorizer %v: publish to $SYS: %+v, want PUBACK 0x87", a != nil, resp)
		}
	}
}

// AWS's reserved topics ($aws/...) are ordinary topics to the broker: the
// policy decides. mochi must not refuse "$" topics before the hook.
func TestAWSReservedTopicsFollowThePolicy(t *testing.T) {
	s := startServer(t)
	shadow := "$aws/things/thing-1/shadow/update"
	a := allow("connect", "*", "publish", shadow, "subscribe", "$aws/things/thing-1/shadow/#", "receive", "$aws/things/thing-1/*")
	sub, _, err := s.v3(t, a, "shadow-sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, got := subscribe3(t, sub, "$aws/things/thing-1/shadow/#", "$aws/things/thing-2/shadow/#")
	if codes["$aws/things/thing-1/shadow/#"] != 1 || codes["$aws/things/thing-2/shadow/#"] != 0x80 {
		t.Fatalf("SUBACK %v", codes)
	}
	pub, err := s.v5(t, a, &paho.Connect{ClientID: "shadow-pub", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := pub.Publish(ctx5(t), &paho.Publish{Topic: shadow, QoS: 1, Payload: []byte(`{"state":{}}`)}); err != nil || resp.ReasonCode != 0 {
		t.Fatalf("publish to an allowed $aws topic: %+v, %v", resp, err)
	}
	expect(t, got, shadow+` {"state":{}}`)
	if resp, _ := pub.Publish(ctx5(t), &paho.Publish{Topic: "$aws/things/thing-2/shadow/update", QoS: 1, Payload: []byte("x")}); resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("publish to a $aws topic the policy does not name: %+v", resp)
	}
}

// A topic alias stands for the topic it was set with: the policy is asked
// about that topic.
func TestTopicAliasIsAuthorizedAsItsTopic(t *testing.T) {
	s := startServer(t)
	sub, _, err := s.v3(t, everything(), "alias-sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, sub, "al/#")
	a := allow("connect", "*", "publish", "al/ok")
	pub, err := s.v5(t, a, &paho.Connect{ClientID: "alias-pub", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	alias := uint16(1)
	if resp, err := pub.Publish(ctx5(t), &paho.Publish{Topic: "al/ok", QoS: 1, Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: &alias}}); err != nil || resp.ReasonCode != 0 {
		t.Fatalf("publish setting an alias: %+v, %v", resp, err)
	}
	if resp, err := pub.Publish(ctx5(t), &paho.Publish{QoS: 1, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: &alias}}); err != nil || resp.ReasonCode != 0 {
		t.Fatalf("publish by alias: %+v, %v", resp, err)
	}
	expect(t, got, "al/ok 1")
	expect(t, got, "al/ok 2")
	if a.wasAsked("publish ") {
		t.Fatal("the policy was asked about an empty topic instead of the alias's")
	}
	other := uint16(2)
	if resp, _ := pub.Publish(ctx5(t), &paho.Publish{Topic: "al/no", QoS: 1, Payload: []byte("3"), Properties: &paho.PublishProperties{TopicAlias: &other}}); resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("alias set with a topic not allowed: %+v", resp)
	}
	expectNothing(t, got)
}

func TestWillNeedsPublish(t *testing.T) {
	s := startServer(t)
	sub, _, err := s.v3(t, everything(), "will-sub", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, sub, "will/#")
	for _, tc := range []struct{ topic, want string }{{"will/no", ""}, {"will/ok", "will/ok gone"}} {
		a := allow("connect", "*", "publish", "will/ok")
		s.next <- a
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{Conn: conn, OnClientError: func(error) {}})
		if _, err := c.Connect(ctx5(t), &paho.Connect{ClientID: "willing", CleanStart: true, KeepAlive: 30,
			WillMessage: &paho.WillMessage{Topic: tc.topic, Payload: []byte("gone")}}); err != nil {
			t.Fatal(err)
		}
		conn.Close() // an unexpected end: the will is due
		if tc.want == "" {
			expectNothing(t, got)
		} else {
			expect(t, got, tc.want)
		}
	}
}

// The API's own credentials (a nil Authorizer) may do everything.
func TestNilAuthorizerAllowsEverything(t *testing.T) {
	s := startServer(t)
	c, _, err := s.v3(t, nil, "admin", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, got := subscribe3(t, c, "#")
	if codes["#"] != 1 {
		t.Fatalf("SUBACK %v", codes)
	}
	c.Publish("any/topic", 1, true, "x").WaitTimeout(5 * time.Second)
	expect(t, got, "any/topic x")
}

// A rule changed while a client is connected applies to its next request.
func TestDecisionsFollowTheAuthorizer(t *testing.T) {
	s := startServer(t)
	a := allow("connect", "*", "publish", "live/*", "subscribe", "live/#", "receive", "live/*")
	c, err := s.v5(t, a, &paho.Connect{ClientID: "live", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx5(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "live/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	s.b.Publish("live/a", []byte("1"), 0, false)
	expect5(t, c, "live/a", "1")
	a.set("receive")
	a.set("publish")
	s.b.Publish("live/a", []byte("2"), 0, false)
	select {
	case p := <-c.got:
		t.Fatalf("received %s after iot:Receive was withdrawn", p.Payload)
	case <-time.After(200 * time.Millisecond):
	}
	if resp, _ := c.Publish(ctx5(t), &paho.Publish{Topic: "live/a", QoS: 1, Payload: []byte("3")}); resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("publish after iot:Publish was withdrawn: %+v", resp)
	}
}

// A client disconnected for a refused publish is gone unexpectedly: its will
// is sent (AWS's AUTH_ERROR disconnect sends the will too).
func TestWillAfterRefusedPublish(t *testing.T) {
	s := startServer(t)
	sub, _, err := s.v3(t, everything(), "will-watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, got := subscribe3(t, sub, "will/#")
	pub, lost, err := s.v3(t, allow("connect", "*", "publish", "will/*"), "refused-publisher",
		func(o *mqtt3.ClientOptions) { o.SetWill("will/refused-publisher", "gone", 0, false) })
	if err != nil {
		t.Fatal(err)
	}
	pub.Publish("elsewhere", 1, false, "x")
	if !closedWithin(lost, 5*time.Second) {
		t.Fatal("not disconnected")
	}
	expect(t, got, "will/refused-publisher gone")
}
