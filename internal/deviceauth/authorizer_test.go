package deviceauth

import (
	"context"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

const testAccount = "123456789012"

// registry is a device registry with one registered, ACTIVE certificate.
type registry struct {
	t    *testing.T
	svc  *device.Service
	der  []byte
	arn  string
	leaf *testpki.Leaf
}

func newRegistry(t *testing.T) *registry {
	t.Helper()
	ctx := context.Background()
	ca, err := pki.LoadOrCreate(t.TempDir(), "device", pkix.Name{CommonName: "Portico device CA"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := device.NewService(ctx, storetest.New(t), ca, "us-east-1", testAccount)
	if err != nil {
		t.Fatal(err)
	}
	leaf := testpki.NewCA(t, "Operator CA").Client(t, "sensor-1")
	cert, err := svc.RegisterCertificateWithoutCA(ctx, string(leaf.CertPEM), device.StatusActive)
	if err != nil {
		t.Fatal(err)
	}
	return &registry{t: t, svc: svc, der: leaf.Cert.Raw, arn: cert.ARN, leaf: leaf}
}

// policy creates a policy (statements joined into a document) and attaches it.
func (r *registry) policy(name string, statements ...string) {
	r.t.Helper()
	doc := `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
	ctx := context.Background()
	if _, err := r.svc.CreatePolicy(ctx, name, doc, nil); err != nil {
		r.t.Fatalf("CreatePolicy %s: %v", doc, err)
	}
	if err := r.svc.AttachPolicy(ctx, name, r.arn); err != nil {
		r.t.Fatal(err)
	}
}

// principal authenticates the certificate against a fresh snapshot.
func (r *registry) principal() gateway.Principal {
	r.t.Helper()
	snap, err := r.svc.Snapshot(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := Authenticator{snap}.Authenticate(r.der, "iot.yourcompany.com", time.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func allowStmt(actions, resource string) string {
	return `{"Effect":"Allow","Action":` + actions + `,"Resource":"arn:aws:iot:us-east-1:` + testAccount + `:` + resource + `"}`
}

var home = netip.MustParseAddr("192.0.2.10")

func TestPolicyAuthorizerActions(t *testing.T) {
	r := newRegistry(t)
	r.policy("device",
		allowStmt(`"iot:Connect"`, "client/sensor-*"),
		allowStmt(`["iot:Publish","iot:Receive"]`, "topic/sensors/${iot:ClientId}/*"),
		allowStmt(`"iot:RetainPublish"`, "topic/sensors/${iot:ClientId}/state"),
		allowStmt(`"iot:Subscribe"`, "topicfilter/sensors/${iot:ClientId}/#"),
		allowStmt(`"iot:Publish"`, "topic/broadcast"),
	)
	a := r.principal().Authorizer(home, "iot.yourcompany.com")
	if a.Connect("other", nil) {
		t.Fatal("iot:Connect allowed a client ID the policy does not name")
	}
	a = r.principal().Authorizer(home, "iot.yourcompany.com")
	if !a.Connect("sensor-1", nil) {
		t.Fatal("iot:Connect refused sensor-1")
	}
	for _, c := range []struct {
		what string
		got  bool
		want bool
	}{
		{"publish own topic", a.Publish("sensors/sensor-1/temp", false), true},
		{"publish another's topic", a.Publish("sensors/sensor-2/temp", false), false},
		{"retain without iot:RetainPublish", a.Publish("sensors/sensor-1/temp", true), false},
		{"retain with iot:RetainPublish", a.Publish("sensors/sensor-1/state", true), true},
		{"subscribe own filter", a.Subscribe("sensors/sensor-1/#"), true},
		{"subscribe wider filter", a.Subscribe("sensors/#"), false},
		{"receive own topic", a.Receive("sensors/sensor-1/cmd"), true},
		{"receive another's topic", a.Receive("sensors/sensor-2/cmd"), false},
		{"publish a topic without variables", a.Publish("broadcast", false), true},
		// Twice: the second answer comes from the cache.
		{"publish another's topic, again", a.Publish("sensors/sensor-2/temp", false), false},
		{"publish own topic, again", a.Publish("sensors/sensor-1/temp", false), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}

	// HTTPS publish has no client ID: ${iot:ClientId} does not resolve, so
	// those statements do not apply.
	https := r.principal().Authorizer(home, "iot.yourcompany.com")
	if https.Publish("sensors/sensor-1/temp", false) || !https.Publish("broadcast", false) {
		t.Fatal("HTTPS publish: statements with ${iot:ClientId} must not apply, others must")
	}
}

// Client IDs holding wildcard characters or policy-variable syntax stay
// literal: they widen nothing.
func TestClientIDsDoNotWidenPolicies(t *testing.T) {
	r := newRegistry(t)
	r.policy("own-topics",
		allowStmt(`"iot:Connect"`, "client/*"),
		allowStmt(`["iot:Publish","iot:Receive"]`, "topic/devices/${iot:ClientId}"),
		allowStmt(`"iot:Subscribe"`, "topicfilter/devices/${iot:ClientId}"),
	)
	for _, id := range []string{"*", "+", "#", "${iot:ClientId}", "dev?", "a/#"} {
		a := r.principal().Authorizer(home, "iot.yourcompany.com")
		if !a.Connect(id, nil) {
			t.Fatalf("client ID %q refused by client/*", id)
		}
		if a.Publish("devices/victim", false) || a.Receive("devices/victim") || a.Subscribe("devices/victim") {
			t.Errorf("client ID %q reaches another device's topic", id)
		}
		if a.Receive("devices/x/y") {
			t.Errorf("client ID %q receives devices/x/y", id)
		}
		// Its own topic is the literal text.
		if !a.Receive("devices/" + id) {
			t.Errorf("client ID %q cannot receive its own topic", id)
		}
	}
	// A policy naming a client ID exactly is not matched by wildcard IDs.
	r2 := newRegistry(t)
	r2.policy("exact", allowStmt(`"iot:Connect"`, "client/sensor-1"))
	for _, id := range []string{"*", "sensor-?", "sensor-*", "+", "#", "${iot:ClientId}"} {
		if r2.principal().Authorizer(home, "iot.yourcompany.com").Connect(id, nil) {
			t.Errorf("client ID %q connects as sensor-1", id)
		}
	}
}

func TestPolicyContext(t *testing.T) {
	r := newRegistry(t)
	r.policy("context",
		`{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"},"StringEquals":{"iot:DomainName":"iot.yourcompany.com"},"ForAllValues:StringEquals":{"iot:ConnectAttributes":["PersistentConnect"]}}}`,
	)
	for _, c := range []struct {
		ip     string
		domain string
		attrs  []string
		want   bool
	}{
		{"192.0.2.10", "iot.yourcompany.com", nil, true},
		{"192.0.2.10", "iot.yourcompany.com", []string{"PersistentConnect"}, true},
		{"192.0.2.10", "iot.yourcompany.com", []string{"PersistentConnect", "LastWill"}, false},
		{"198.51.100.1", "iot.yourcompany.com", nil, false},
		{"192.0.2.10", "other.yourcompany.com", nil, false},
	} {
		a := r.principal().Authorizer(netip.MustParseAddr(c.ip), c.domain)
		if got := a.Connect("c", c.attrs); got != c.want {
			t.Errorf("%s %s %v: %v, want %v", c.ip, c.domain, c.attrs, got, c.want)
		}
	}
}

func TestThingVariables(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	if _, err := r.svc.CreateThing(ctx, "sensor-1", device.ThingInput{Attributes: map[string]string{"room": "kitchen"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.AttachThingPrincipal(ctx, "sensor-1", r.arn, device.NonExclusiveThing); err != nil {
		t.Fatal(err)
	}
	r.policy("things",
		allowStmt(`"iot:Connect"`, "client/${iot:Connection.Thing.ThingName}"),
		allowStmt(`"iot:Publish"`, "topic/rooms/${iot:Connection.Thing.Attributes[room]}"),
	)
	a := r.principal().Authorizer(home, "iot.yourcompany.com")
	if !a.Connect("sensor-1", nil) || !a.Publish("rooms/kitchen", false) || a.Publish("rooms/hall", false) {
		t.Fatal("thing variables not applied")
	}
	if r.principal().Authorizer(home, "iot.yourcompany.com").Connect("sensor-2", nil) {
		t.Fatal("a client ID naming no attached thing connected")
	}
}

// Decisions are cached per second: a policy whose answer depends on the
// time changes its answer when the second does.
func TestCachedDecisionsFollowTheClock(t *testing.T) {
	r := newRegistry(t)
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r.policy("until",
		allowStmt(`"iot:Connect"`, "client/*"),
		`{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}`,
	)
	snap, err := r.svc.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ident, err := snap.Authenticate(r.der, "iot.yourcompany.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := until.Add(-1500 * time.Millisecond)
	a := NewPolicyAuthorizer(ident, home, "iot.yourcompany.com", func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	a.Connect("c", nil)
	if !a.Publish("t", false) || !a.Publish("t", false) {
		t.Fatal("publish refused before the deadline")
	}
	mu.Lock()
	now = until.Add(10 * time.Millisecond)
	mu.Unlock()
	if a.Publish("t", false) {
		t.Fatal("a cached decision outlived its second")
	}
}

// TestBrokerWithPolicies runs real policies through the broker with an MQTT
// client whose client ID is a wildcard.
func TestBrokerWithPolicies(t *testing.T) {
	r := newRegistry(t)
	r.policy("own-topics",
		allowStmt(`"iot:Connect"`, "client/*"),
		allowStmt(`["iot:Publish","iot:Receive"]`, "topic/devices/${iot:ClientId}"),
		allowStmt(`"iot:Subscribe"`, "topicfilter/devices/*"),
	)
	b, err := broker.New(broker.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); b.Close() })
	p := r.principal()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.Serve(c, p.CertificateID, "iot.yourcompany.com", p.Authorizer(home, "iot.yourcompany.com"))
		}
	}()
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + ln.Addr().String()).SetClientID("#").SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	got := make(chan string, 10)
	tok := c.Subscribe("devices/#", 1, func(_ mqtt3.Client, m mqtt3.Message) { got <- m.Topic() })
	if !tok.WaitTimeout(5*time.Second) || tok.(*mqtt3.SubscribeToken).Result()["devices/#"] != 1 {
		t.Fatalf("subscribe devices/#: %v", tok.(*mqtt3.SubscribeToken).Result())
	}
	// The filter matches every device's topic, but iot:Receive is the
	// literal topic devices/#, which no message has.
	b.Publish("devices/victim", []byte("x"), 0, false)
	b.Publish("devices/#/not-a-match", []byte("x"), 0, false)
	select {
	case topic := <-got:
		t.Fatalf("client ID # received %s", topic)
	case <-time.After(300 * time.Millisecond):
	}
}
