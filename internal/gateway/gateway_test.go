package gateway_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/testpki"
)

// source is the gateway's input, set by each test.
type source struct {
	mu      sync.Mutex
	domains []gateway.Domain
	devices registry
}

func (s *source) Domains(context.Context) ([]gateway.Domain, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.Domain(nil), s.domains...), nil
}

func (s *source) Devices(context.Context) (gateway.Devices, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := registry{}
	for k, v := range s.devices {
		r[k] = v
	}
	return r, nil
}

// registry maps a certificate's DER to whether it is active.
type registry map[string]bool

func (r registry) Authenticate(der []byte, _ string, _ time.Time) (gateway.Principal, error) {
	active, ok := r[string(der)]
	switch {
	case !ok:
		return gateway.Principal{}, errors.New("not registered")
	case !active:
		return gateway.Principal{}, errors.New("not active")
	}
	return gateway.Principal{CertificateID: "id-" + string(der[:4])}, nil
}

type env struct {
	src      *source
	gw       *gateway.Gateway
	mqttAddr string
	ca       *testpki.CA
	roots    *x509.CertPool
	device   tls.Certificate
}

func start(t *testing.T) *env {
	t.Helper()
	ca := testpki.NewCA(t, "Operator CA")
	server := ca.Server(t, "iot.yourcompany.com")
	serverCert, err := tls.X509KeyPair(server.CertPEM, server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	dev := ca.Client(t, "device-1")
	devCert, err := tls.X509KeyPair(dev.CertPEM, dev.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	src := &source{
		domains: []gateway.Domain{{Name: "IoT.YourCompany.com", Configuration: "CustomIoTDomain", Enabled: true,
			Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}},
		devices: registry{string(dev.Cert.Raw): true},
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(broker.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	gw, err := gateway.New(context.Background(), gateway.Config{Source: src, Broker: b, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Shutdown(context.Background()) }) // before the broker closes
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go gw.ServeMQTT(ln)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	return &env{src: src, gw: gw, mqttAddr: ln.Addr().String(), ca: ca, roots: roots, device: devCert}
}

func (e *env) dial(serverName string, cert *tls.Certificate) (*tls.Conn, error) {
	cfg := &tls.Config{ServerName: serverName, RootCAs: e.roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return dialTLS(e.mqttAddr, cfg, 300*time.Millisecond)
}

func TestSNISelectsTheDomainCertificate(t *testing.T) {
	e := start(t)
	c, err := e.dial("iot.yourcompany.com.", &e.device)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "iot.yourcompany.com" {
		t.Fatalf("served certificate for %v", got)
	}
}

func TestUnknownNameIsUnrecognized(t *testing.T) {
	e := start(t)
	_, err := e.dial("other.yourcompany.com", &e.device)
	if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("err = %v, want unrecognized_name alert", err)
	}
}

func TestDeviceCertificateRequiredAndChecked(t *testing.T) {
	e := start(t)
	if _, err := e.dial("iot.yourcompany.com", nil); err == nil {
		t.Fatal("handshake without a client certificate succeeded")
	}
	stranger := e.ca.Client(t, "stranger")
	sc, _ := tls.X509KeyPair(stranger.CertPEM, stranger.KeyPEM)
	if _, err := e.dial("iot.yourcompany.com", &sc); err == nil {
		t.Fatal("unregistered client certificate accepted")
	}
	e.src.mu.Lock()
	e.src.devices[string(e.device.Leaf.Raw)] = false
	e.src.mu.Unlock()
	e.gw.Reload(context.Background())
	if _, err := e.dial("iot.yourcompany.com", &e.device); err == nil {
		t.Fatal("inactive client certificate accepted")
	}
}

func mqttClient(e *env, id string) paho.Client {
	opts := paho.NewClientOptions().AddBroker("tls://" + e.mqttAddr).SetClientID(id).
		SetTLSConfig(&tls.Config{ServerName: "iot.yourcompany.com", RootCAs: e.roots, Certificates: []tls.Certificate{e.device}}).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	return paho.NewClient(opts)
}

func TestMQTTThroughDomainAndDisable(t *testing.T) {
	e := start(t)
	sub := mqttClient(e, "sub")
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	got := make(chan string, 1)
	lost := make(chan struct{})
	if tok := sub.Subscribe("test/custom-domain", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := mqttClient(e, "pub")
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	pub.Publish("test/custom-domain", 1, false, `{"hello":"world"}`).WaitTimeout(5 * time.Second)
	select {
	case m := <-got:
		if m != `{"hello":"world"}` {
			t.Fatalf("payload %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message not delivered")
	}
	pub.Disconnect(100)

	// Disabling the domain closes the subscriber's session and refuses new handshakes.
	go func() {
		for sub.IsConnectionOpen() {
			time.Sleep(10 * time.Millisecond)
		}
		close(lost)
	}()
	e.src.mu.Lock()
	e.src.domains[0].Enabled = false
	e.src.mu.Unlock()
	if err := e.gw.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("session through the disabled domain was not closed")
	}
	if _, err := e.dial("iot.yourcompany.com", &e.device); err == nil {
		t.Fatal("handshake to a disabled domain succeeded")
	}
}
