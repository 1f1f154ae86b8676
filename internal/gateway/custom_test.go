package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/gateway"
)

// fakeCustomAuth admits the password "good" and records what it saw.
type fakeCustomAuth struct {
	mu   sync.Mutex
	seen []gateway.CustomMQTT
}

type topicAuthz struct{ prefix string }

func (a topicAuthz) Connect(string, []string) bool { return true }
func (a topicAuthz) Publish(topic string, _ bool) bool {
	return strings.HasPrefix(topic, a.prefix)
}
func (a topicAuthz) Subscribe(filter string) bool { return strings.HasPrefix(filter, a.prefix) }
func (a topicAuthz) Receive(topic string) bool    { return strings.HasPrefix(topic, a.prefix) }

func (f *fakeCustomAuth) AuthenticateMQTT(_ context.Context, req gateway.CustomMQTT) (string, gateway.Authorizer, time.Duration, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	if string(req.Password) != "good" {
		return "", nil, 0, errors.New("authorizer A refused at step response: isAuthenticated is false")
	}
	return "dev7", topicAuthz{prefix: "dev7/"}, 0, nil
}

func TestALPNPortCustomAuth(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	connect := func(user, password string) (paho.Client, error) {
		opts := paho.NewClientOptions().AddBroker("tls://" + f.alpnAddr).SetClientID(fmt.Sprintf("c-%d", time.Now().UnixNano())).
			SetTLSConfig(f.clientTLS(dialOptions{alpn: []string{"mqtt"}})).SetAutoReconnect(false).SetConnectRetry(false).
			SetConnectTimeout(3 * time.Second).SetUsername(user).SetPassword(password)
		c := paho.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(5 * time.Second) {
			return nil, errors.New("timeout")
		}
		return c, tok.Error()
	}
	if _, err := connect("dev7?x-amz-customauthorizer-name=A", "bad"); err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("bad password: %v", err)
	}
	if !strings.Contains(f.log.String(), "isAuthenticated is false") {
		t.Fatalf("refusal reason not logged:\n%s", f.log.String())
	}
	c, err := connect("dev7?x-amz-customauthorizer-name=A", "good")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(50)
	auth.mu.Lock()
	last := auth.seen[len(auth.seen)-1]
	auth.mu.Unlock()
	if last.Username != "dev7?x-amz-customauthorizer-name=A" || !last.HasPassword || last.ClientID == "" || last.ServerName == "" {
		t.Fatalf("presented %+v", last)
	}
	// The session works (the replayed CONNECT reached the broker) and the
	// returned authorizer decides.
	got := make(chan string, 1)
	if tok := c.Subscribe("dev7/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Publish("dev7/up", 1, false, "hello").WaitTimeout(5 * time.Second)
	select {
	case m := <-got:
		if m != "hello" {
			t.Fatal(m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message")
	}
}
