package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/gateway"
)

// fakeCustomAuth admits the password "good" (MQTT) or the header or query
// parameter token=good (HTTP), and records what it saw. session, when set,
// shapes the admitted session.
type fakeCustomAuth struct {
	mu      sync.Mutex
	seen    []gateway.CustomRequest
	session func(*gateway.CustomSession)
}

type topicAuthz struct{ prefix string }

func (a topicAuthz) Connect(string, []string) bool { return true }
func (a topicAuthz) Publish(topic string, _ bool) bool {
	return strings.HasPrefix(topic, a.prefix)
}
func (a topicAuthz) Subscribe(filter string) bool { return strings.HasPrefix(filter, a.prefix) }
func (a topicAuthz) Receive(topic string) bool    { return strings.HasPrefix(topic, a.prefix) }

func (f *fakeCustomAuth) Authenticate(_ context.Context, req gateway.CustomRequest) (*gateway.CustomSession, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	good := false
	switch {
	case req.MQTT != nil:
		good = string(req.MQTT.Password) == "good"
	case req.HTTP != nil:
		q, _ := url.ParseQuery(req.HTTP.RawQuery)
		good = req.HTTP.Header.Get("token") == "good" || q.Get("token") == "good"
	}
	if req.MQTT != nil {
		switch string(req.MQTT.Password) {
		case "malformed":
			return nil, &gateway.ConnectRefusal{Code: gateway.BadCredentials, Err: errors.New("authorizer A refused at step signature: bad")}
		case "down":
			return nil, &gateway.ConnectRefusal{Code: gateway.ServerUnavailable, Err: errors.New("authorizer A refused at step function: timeout")}
		}
	}
	if !good {
		return nil, errors.New("authorizer A refused at step response: isAuthenticated is false")
	}
	s := &gateway.CustomSession{Principal: "dev7", Authz: topicAuthz{prefix: "dev7/"}}
	if f.session != nil {
		f.session(s)
	}
	return s, nil
}

func (f *fakeCustomAuth) last() gateway.CustomRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[len(f.seen)-1]
}

// customConnect connects with paho and a username and password.
func customConnect(addr string, cfg *tls.Config, user, password string, lost *atomic.Int32) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(fmt.Sprintf("c-%d", time.Now().UnixNano())).
		SetTLSConfig(cfg).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(3 * time.Second).SetUsername(user).SetPassword(password).
		SetConnectionLostHandler(func(paho.Client, error) {
			if lost != nil {
				lost.Add(1)
			}
		})
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, errors.New("timeout")
	}
	return c, tok.Error()
}

func TestALPNPortCustomAuth(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	connect := func(user, password string) (paho.Client, error) {
		return customConnect(f.alpnAddr, f.clientTLS(dialOptions{alpn: []string{"mqtt"}}), user, password, nil)
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
	last := auth.last()
	if m := last.MQTT; m == nil || m.Username != "dev7?x-amz-customauthorizer-name=A" || !m.HasPassword || m.ClientID == "" || last.ServerName == "" || last.Certificate != nil {
		t.Fatalf("presented %+v %+v", last, last.MQTT)
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

// HTTPS publish on the ALPN port goes through the custom authorizer, with
// the request's headers or query string; the returned policies decide.
func TestHTTPSPublishCustomAuth(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	f.src.update(fdDomain, func(d *gateway.Domain) { d.AuthenticationType, d.ApplicationProtocol = "CUSTOM_AUTH", "HTTPS" })
	f.reload()
	got := f.received("dev7/up")
	post := func(path string, header http.Header) (int, string) {
		t.Helper()
		c, err := f.dial(f.alpnAddr, dialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req, _ := http.NewRequest(http.MethodPost, "https://"+fdDomain+path, strings.NewReader("hello"))
		for k, v := range header {
			req.Header[k] = v
		}
		return roundTrip(t, c, req)
	}
	// No authorizer name needed: the domain admits custom authentication only.
	if status, body := post("/topics/dev7%2Fup", http.Header{"Token": {"good"}}); status != 200 {
		t.Fatalf("header token: %d %s", status, body)
	}
	expectMessage(t, got, "hello")
	if h := auth.last().HTTP; h == nil || h.Header.Get("token") != "good" {
		t.Fatalf("presented %+v", auth.last())
	}
	if status, body := post("/topics/dev7%2Fup?x-amz-customauthorizer-name=A&token=good", nil); status != 200 {
		t.Fatalf("query token: %d %s", status, body)
	}
	if h := auth.last().HTTP; h.RawQuery != "x-amz-customauthorizer-name=A&token=good" {
		t.Fatalf("raw query %q", h.RawQuery)
	}
	// The function's policies decide the topic.
	if status, body := post("/topics/other%2Fup", http.Header{"Token": {"good"}}); status != 403 || !strings.Contains(body, "ForbiddenException") {
		t.Fatalf("topic outside the policy: %d %s", status, body)
	}
	// A refusal is 401 with the reason.
	if status, body := post("/topics/dev7%2Fup", http.Header{"Token": {"bad"}}); status != 401 || !strings.Contains(body, "isAuthenticated is false") {
		t.Fatalf("bad token: %d %s", status, body)
	}
	// Not on 8443: AWS has no custom authentication there.
	if status, _, err := f.publishHTTP(f.httpsAddr, dialOptions{}, "/topics/dev7%2Fup?token=good", false); err != nil || status != 403 {
		t.Fatalf("8443: %d %v", status, err)
	}
}

// roundTrip writes req on c and reads the response.
func roundTrip(t *testing.T, c *tls.Conn, req *http.Request) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// MQTT over WebSocket with the token in the upgrade request's headers, as
// paho sends them.
func TestWSSCustomAuth(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	got := f.received("dev7/ws")
	dial := func(header http.Header) (paho.Client, error) {
		opts := paho.NewClientOptions().AddBroker("wss://" + f.alpnAddr + "/mqtt").SetClientID(fmt.Sprintf("w-%d", time.Now().UnixNano())).
			SetTLSConfig(f.clientTLS(dialOptions{})).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetHTTPHeaders(header)
		c := paho.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(10 * time.Second) {
			return nil, errTimeout
		}
		return c, tok.Error()
	}
	c, err := dial(http.Header{"X-Amz-Customauthorizer-Name": {"A"}, "Token": {"good"}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Disconnect(50)
	c.Publish("dev7/ws", 1, false, "over websocket").WaitTimeout(5 * time.Second)
	expectMessage(t, got, "over websocket")
	if h := auth.last().HTTP; h == nil || h.Header.Get("Sec-Websocket-Protocol") == "" {
		t.Fatalf("the upgrade request's headers were not presented: %+v", auth.last())
	}
	if _, err := dial(http.Header{"X-Amz-Customauthorizer-Name": {"A"}, "Token": {"bad"}}); err == nil {
		t.Fatal("bad token connected")
	}
	resp := f.upgrade(t, "wss://"+f.alpnAddr+"/mqtt?x-amz-customauthorizer-name=A&token=bad", dialOptions{}, []string{"mqtt"})
	if resp.StatusCode != 401 {
		t.Fatalf("bad token upgrade: %d", resp.StatusCode)
	}
}

// A CUSTOM_AUTH domain admits custom authentication on 8883 without a
// client certificate; a DEFAULT domain still requires one there.
func TestMQTT8883CustomAuth(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	if _, err := customConnect(f.mqttAddr, f.clientTLS(dialOptions{}), "dev7", "good", nil); err == nil {
		t.Fatal("DEFAULT domain: 8883 without a certificate connected")
	}
	f.src.update(fdDomain, func(d *gateway.Domain) { d.AuthenticationType, d.ApplicationProtocol = "CUSTOM_AUTH", "SECURE_MQTT" })
	f.reload()
	c, err := customConnect(f.mqttAddr, f.clientTLS(dialOptions{}), "dev7", "good", nil)
	if err != nil {
		t.Fatalf("CUSTOM_AUTH domain on 8883: %v", err)
	}
	c.Disconnect(50)
	if _, err := customConnect(f.mqttAddr, f.clientTLS(dialOptions{}), "dev7", "bad", nil); err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("bad password: %v", err)
	}
}

// CUSTOM_AUTH_X509: the registered certificate and the authorizer, which
// sees the certificate.
func TestCustomAuthX509(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	f.src.update(fdDomain, func(d *gateway.Domain) {
		d.AuthenticationType, d.ApplicationProtocol = "CUSTOM_AUTH_X509", "SECURE_MQTT"
	})
	f.reload()
	var rebased atomic.Int32
	auth.session = func(s *gateway.CustomSession) { s.Rebase = func(gateway.Principal) { rebased.Add(1) } }
	c, err := customConnect(f.mqttAddr, f.clientTLS(dialOptions{cert: &f.device}), "dev7", "good", nil)
	if err != nil {
		t.Fatalf("certificate and password: %v", err)
	}
	// A registry change reaches the live session.
	f.reload()
	f.src.update(fdDomain, func(d *gateway.Domain) { d.Configuration = "renamed" })
	f.reload()
	if rebased.Load() == 0 {
		t.Fatal("the live CUSTOM_AUTH_X509 session was not handed the new snapshot's principal")
	}
	c.Disconnect(50)
	auth.session = nil
	last := auth.last()
	if last.Certificate == nil || last.Certificate.Principal.CertificateID == "" || string(last.Certificate.DER) != string(f.device.Certificate[0]) {
		t.Fatalf("certificate not presented: %+v", last.Certificate)
	}
	if _, err := customConnect(f.mqttAddr, f.clientTLS(dialOptions{cert: &f.device}), "dev7", "bad", nil); err == nil {
		t.Fatal("certificate with a refused password connected")
	}
	// Without a certificate the handshake fails on 8883.
	if _, err := customConnect(f.mqttAddr, f.clientTLS(dialOptions{}), "dev7", "good", nil); err == nil {
		t.Fatal("no certificate connected")
	}
	// HTTPS publish with CUSTOM_AUTH_X509 on 8443.
	f.src.update(fdDomain, func(d *gateway.Domain) { d.ApplicationProtocol = "HTTPS" })
	f.reload()
	if status, body, err := f.publishHTTP(f.httpsAddr, dialOptions{cert: &f.device}, "/topics/dev7%2Fx?token=good", false); err != nil || status != 200 {
		t.Fatalf("publish: %d %s %v", status, body, err)
	}
	if auth.last().Certificate == nil {
		t.Fatal("certificate not presented to the authorizer on HTTPS")
	}
}

// disconnectAfterInSeconds ends the session; a refused refresh too.
func TestCustomSessionLifetimeAndRefresh(t *testing.T) {
	var refreshes atomic.Int32
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	cfg := f.clientTLS(dialOptions{alpn: []string{"mqtt"}})

	auth.session = func(s *gateway.CustomSession) { s.Lifetime = 300 * time.Millisecond }
	var lost atomic.Int32
	c, err := customConnect(f.alpnAddr, cfg, "dev7", "good", &lost)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(50)
	waitFor(t, 5*time.Second, "disconnectAfterInSeconds to close the session", func() bool { return lost.Load() == 1 })

	auth.session = func(s *gateway.CustomSession) {
		s.RefreshAfter = 100 * time.Millisecond
		s.Refresh = func(context.Context) error {
			if refreshes.Add(1) >= 3 {
				return errors.New("authorizer A refused at step response: isAuthenticated is false")
			}
			return nil
		}
	}
	lost.Store(0)
	c2, err := customConnect(f.alpnAddr, cfg, "dev7", "good", &lost)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Disconnect(50)
	waitFor(t, 5*time.Second, "the refused refresh to close the session", func() bool { return lost.Load() == 1 })
	if n := refreshes.Load(); n != 3 {
		t.Fatalf("%d refreshes, want 3 (two admitted, the third refused)", n)
	}
	if !strings.Contains(f.log.String(), "refreshAfterInSeconds") {
		t.Fatalf("refused refresh not logged:\n%s", f.log.String())
	}
}

// fakeCallback admits certificates until refuse is set, and counts calls.
type fakeCallback struct {
	refuse atomic.Bool
	calls  atomic.Int32
	last   atomic.Pointer[gateway.CertificateCallbackRequest]
}

func (f *fakeCallback) Decide(_ context.Context, arn string, req gateway.CertificateCallbackRequest) error {
	f.calls.Add(1)
	f.last.Store(&req)
	if arn != "arn:aws:lambda:us-east-1:123456789012:function:cb" {
		return fmt.Errorf("unexpected function %s", arn)
	}
	if f.refuse.Load() {
		return errors.New("function cb answered isAuthenticated false")
	}
	return nil
}

// clientCertificateCallbackArn decides every connection with a certificate.
func TestClientCertificateCallback(t *testing.T) {
	cb := &fakeCallback{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CertificateCallback = cb }})
	f.src.update(fdDomain, func(d *gateway.Domain) {
		d.AuthenticationType, d.ApplicationProtocol = "AWS_X509", "DEFAULT"
		d.ClientCertificateCallback = "arn:aws:lambda:us-east-1:123456789012:function:cb"
	})
	f.reload()
	if got := f.mqttProbe(f.mqttAddr, dialOptions{cert: &f.device}, ""); got != "connected" {
		t.Fatalf("admitted by the callback: %s", got)
	}
	req := cb.last.Load()
	if req == nil || req.ServerName != fdDomain || len(req.Chain) == 0 || string(req.Chain[0]) != string(f.device.Certificate[0]) || len(req.CertificateID) != 64 {
		t.Fatalf("callback saw %+v", req)
	}
	cb.refuse.Store(true)
	if got := f.mqttProbe(f.mqttAddr, dialOptions{cert: &f.device}, ""); !strings.Contains(got, "not Authorized") {
		t.Fatalf("refused by the callback: %s", got)
	}
	if !strings.Contains(f.log.String(), "client certificate callback refused") {
		t.Fatalf("refusal not logged:\n%s", f.log.String())
	}
	if status, _, err := f.publishHTTP(f.httpsAddr, dialOptions{cert: &f.device}, "/topics/t", false); err == nil && status == 200 {
		t.Fatal("HTTPS publish admitted despite the callback's refusal")
	}
	// SigV4 connections carry no certificate: the callback is not asked.
	before := cb.calls.Load()
	f.publishHTTP(f.alpnAddr, dialOptions{}, "/topics/t", true)
	if cb.calls.Load() != before {
		t.Fatal("callback called for a connection without a certificate")
	}
}

// Refusals carry the CONNACK code of their cause, in MQTT 3.1.1 and 5.
func TestCustomAuthConnackCodes(t *testing.T) {
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = &fakeCustomAuth{} }})
	for _, tc := range []struct {
		password   string
		level      byte
		want       byte
		wantReason string
	}{
		{"bad", 4, 0x05, ""}, {"malformed", 4, 0x04, ""}, {"down", 4, 0x03, ""},
		{"bad", 5, 0x87, "isAuthenticated is false"}, {"malformed", 5, 0x86, "step signature"}, {"down", 5, 0x88, "step function"},
	} {
		code, rest := rawConnect(t, f, tc.level, tc.password)
		if code != tc.want || !strings.Contains(string(rest), tc.wantReason) {
			t.Errorf("password %q, MQTT level %d: CONNACK code %#x %q, want %#x with %q", tc.password, tc.level, code, rest, tc.want, tc.wantReason)
		}
	}
}

// rawConnect sends a CONNECT with username "u" and password over ALPN mqtt
// and returns the CONNACK's return (reason) code and the bytes after it.
func rawConnect(t *testing.T, f *front, level byte, password string) (byte, []byte) {
	t.Helper()
	c, err := f.dial(f.alpnAddr, dialOptions{alpn: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	var vh []byte
	vh = append(vh, str("MQTT")...)
	vh = append(vh, level, 0xC2, 0, 30) // username, password, clean session; keep-alive 30 s
	if level == 5 {
		vh = append(vh, 0) // no properties
	}
	payload := append(append(str("c1"), str("u")...), str(password)...)
	body := append(vh, payload...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	resp, _ := io.ReadAll(c)
	if len(resp) < 4 || resp[0] != 0x20 {
		t.Fatalf("not a CONNACK: %x", resp)
	}
	return resp[3], resp[4:]
}

// TestCustomAuthSessionParks: a custom-authenticated MQTT connection, whose
// CONNECT the gateway read before handing it over, parks when idle like a
// certificate-authenticated one, and resumes with the next packet.
func TestCustomAuthSessionParks(t *testing.T) {
	auth := &fakeCustomAuth{}
	f := startFront(t, frontOptions{tune: func(c *gateway.Config) { c.CustomAuth = auth }})
	c, err := customConnect(f.alpnAddr, f.clientTLS(dialOptions{alpn: []string{"mqtt"}}), "dev7?x-amz-customauthorizer-name=A", "good", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(50)
	got := make(chan string, 1)
	if tok := c.Subscribe("dev7/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	readLoops := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "broker.(*reader).loop")
	}
	for deadline := time.Now().Add(10 * time.Second); readLoops() > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d read loops still running 10 s after the session went quiet", readLoops())
		}
	}
	c.Publish("dev7/up", 1, false, "after parking").WaitTimeout(5 * time.Second)
	select {
	case m := <-got:
		if m != "after parking" {
			t.Fatal(m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message after the session parked")
	}
}
