package gateway_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/gateway"
)

// mqttDevice connects paho (MQTT 3.1.1) with the device certificate; lost is
// closed when the connection drops.
func (f *front) mqttDevice(t *testing.T, addr string, o dialOptions, id string) (paho.Client, chan struct{}) {
	t.Helper()
	lost := make(chan struct{})
	var once sync.Once
	opts := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(id).SetTLSConfig(f.clientTLS(o)).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) { once.Do(func() { close(lost) }) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, lost
}

func subscribeAll(t *testing.T, c paho.Client, filters ...string) (map[string]byte, chan string) {
	t.Helper()
	got := make(chan string, 100)
	want := map[string]byte{}
	for _, f := range filters {
		want[f] = 1
	}
	tok := c.SubscribeMultiple(want, func(_ paho.Client, m paho.Message) { got <- m.Topic() + " " + string(m.Payload()) })
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("SUBSCRIBE timed out")
	}
	return tok.(*paho.SubscribeToken).Result(), got
}

func expectNone(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("received %q, want nothing", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestPoliciesApplyToLiveSessions: a device's policies decide its CONNECT,
// publishes, subscriptions and deliveries; when the registry changes, a
// connected device follows its new policies without reconnecting, with its
// client ID still bound.
func TestPoliciesApplyToLiveSessions(t *testing.T) {
	f := startFront(t, frontOptions{})
	der := f.device.Certificate[0]
	f.src.setPolicy(der, fdPolicy{
		"connect": {"dev-*"}, "publish": {"t/${client}"}, "subscribe": {"t/#"}, "receive": {"t/*"},
	})
	f.reload()

	if got := f.mqttProbe(f.mqttAddr, dialOptions{cert: &f.device}, ""); !strings.Contains(got, "not Authorized") {
		t.Fatalf("a client ID the policy does not allow: %s, want CONNACK not authorized", got)
	}
	c, lost := f.mqttDevice(t, f.mqttAddr, dialOptions{cert: &f.device}, "dev-1")
	codes, got := subscribeAll(t, c, "t/#", "u/#")
	if codes["t/#"] != 1 || codes["u/#"] != 0x80 {
		t.Fatalf("SUBACK %v, want t/# granted and u/# refused", codes)
	}
	if built := f.src.authorizersBuilt(); !slices.Contains(built, "127.0.0.1 "+fdDomain) {
		t.Fatalf("authorizers built for %v, want the client's address and the domain", built)
	}
	own := f.received("t/dev-1")
	f.broker.Publish("t/x", []byte("1"), 0, false)
	expectMessage(t, got, "t/x 1")
	c.Publish("t/dev-1", 1, false, "mine").WaitTimeout(5 * time.Second)
	expectMessage(t, own, "mine")
	expectMessage(t, got, "t/dev-1 mine")

	// Receive narrowed: the live session follows.
	f.src.setPolicy(der, fdPolicy{
		"connect": {"dev-*"}, "publish": {"t/${client}"}, "subscribe": {"t/#"}, "receive": {"t/other"},
	})
	f.reload()
	f.broker.Publish("t/x", []byte("2"), 0, false)
	f.broker.Publish("t/other", []byte("3"), 0, false)
	expectMessage(t, got, "t/other 3")
	expectNone(t, got)
	// ${client} still resolves: the new authorizer has the client ID.
	c.Publish("t/dev-1", 1, false, "still mine").WaitTimeout(5 * time.Second)
	expectMessage(t, own, "still mine")

	// Publish withdrawn: AWS disconnects an MQTT 3.1.1 client that publishes
	// where it may not.
	f.src.setPolicy(der, fdPolicy{"connect": {"dev-*"}, "subscribe": {"t/#"}, "receive": {"t/*"}})
	f.reload()
	c.Publish("t/dev-1", 1, false, "refused")
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the device publishing without iot:Publish was not disconnected")
	}
	select {
	case m := <-own:
		t.Fatalf("a refused publish was delivered: %q", m)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestHTTPSPublishFollowsPolicies: HTTPS publish with a client certificate
// (8443, and 443 with ALPN x-amzn-http-ca) needs iot:Publish, and
// iot:RetainPublish for retain=true; a refusal is 403 ForbiddenException.
// SigV4 requests use the API's credentials and may publish anywhere.
func TestHTTPSPublishFollowsPolicies(t *testing.T) {
	f := startFront(t, frontOptions{})
	f.src.setPolicy(f.device.Certificate[0], fdPolicy{"publish": {"t/ok", "t/kept"}, "retain": {"t/kept"}})
	f.reload()
	for _, tc := range []struct {
		name string
		addr string
		o    dialOptions
	}{
		{"8443", f.httpsAddr, dialOptions{cert: &f.device}},
		{"443", f.alpnAddr, dialOptions{cert: &f.device, alpn: []string{"x-amzn-http-ca"}}},
	} {
		for _, c := range []struct {
			path string
			want int
		}{
			{"/topics/t%2Fok?qos=1", 200},
			{"/topics/t%2Fno?qos=1", 403},
			{"/topics/t%2Fok?qos=1&retain=true", 403},
			{"/topics/t%2Fkept?qos=1&retain=true", 200},
		} {
			status, body, err := f.publishHTTP(tc.addr, tc.o, c.path, false)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, c.path, err)
			}
			if status != c.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.name, c.path, status, body, c.want)
			}
			if status == 403 && !strings.Contains(body, "ForbiddenException") {
				t.Fatalf("%s %s: body %s, want ForbiddenException", tc.name, c.path, body)
			}
		}
	}
	got := f.received("t/no")
	status, body, err := f.publishHTTP(f.httpsAddr, dialOptions{}, "/topics/t%2Fno", true)
	if err != nil || status != 200 {
		t.Fatalf("SigV4 publish: %d %s %v", status, body, err)
	}
	expectMessage(t, got, `{"hello":"world"}`)
}

// TestWebSocketSessionsAuthorization: MQTT over WebSocket with a client
// certificate follows the certificate's policies; with a SigV4 presigned URL
// (the API's credentials) everything is allowed.
func TestWebSocketSessionsAuthorization(t *testing.T) {
	f := startFront(t, frontOptions{})
	f.src.setPolicy(f.device.Certificate[0], fdPolicy{"connect": {"*"}, "subscribe": {"w/ok"}, "receive": {"w/ok"}})
	f.reload()

	cert, err := f.wssClient(t, "wss://"+f.httpsAddr+"/mqtt", dialOptions{cert: &f.device}, "wss-cert", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, got := subscribeAll(t, cert, "w/ok", "w/no")
	if codes["w/ok"] != 1 || codes["w/no"] != 0x80 {
		t.Fatalf("certificate session SUBACK %v", codes)
	}
	signed, err := f.wssClient(t, presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{}, "wss-sigv4", nil)
	if err != nil {
		t.Fatal(err)
	}
	codes, gotSigned := subscribeAll(t, signed, "w/ok", "w/no", "anything/#")
	for filter, code := range codes {
		if code != 1 {
			t.Fatalf("SigV4 session: %s refused (%#x)", filter, code)
		}
	}
	for _, topic := range []string{"w/ok", "w/no"} {
		f.broker.Publish(topic, []byte("x"), 0, false)
	}
	expectMessage(t, got, "w/ok x")
	expectNone(t, got)
	expectMessage(t, gotSigned, "w/ok x")
	expectMessage(t, gotSigned, "w/no x")

	// The certificate session follows a policy change too.
	f.src.setPolicy(f.device.Certificate[0], fdPolicy{"connect": {"*"}, "subscribe": {"w/ok"}, "receive": {"w/no"}})
	f.reload()
	for i, topic := range []string{"w/ok", "w/no"} {
		f.broker.Publish(topic, []byte(fmt.Sprint(i)), 0, false)
	}
	expectNone(t, got) // subscribed to w/ok only, which it may no longer receive
}
