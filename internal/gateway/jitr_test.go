package gateway_test

// Just-in-time registration end to end at the gateway: a real TLS handshake
// with a device certificate signed by a registered, auto-registering CA.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iot"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/deviceauth"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

// registrySource serves one domain and the real device registry, as
// cmd/portico does.
type registrySource struct {
	domains []gateway.Domain
	devices *device.Service
}

func (s *registrySource) Domains(context.Context) ([]gateway.Domain, error) {
	return s.domains, nil
}

func (s *registrySource) Devices(ctx context.Context) (gateway.Devices, error) {
	snap, err := s.devices.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return deviceauth.Authenticator{Snapshot: snap}, nil
}

// registeredEvents collects the broker's certificate registration events.
type registeredEvents struct {
	mu     sync.Mutex
	topics []string
	events []device.RegisteredEvent
}

func (r *registeredEvents) add(m broker.Message) {
	var ev device.RegisteredEvent
	json.Unmarshal(m.Payload, &ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics = append(r.topics, m.Topic)
	r.events = append(r.events, ev)
}

func (r *registeredEvents) snapshot() ([]string, []device.RegisteredEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.topics...), append([]device.RegisteredEvent(nil), r.events...)
}

// TestJustInTimeRegistrationAtTheGateway: the first connection of an
// unknown certificate signed by an auto-registering CA is refused, the
// certificate is registered PENDING_ACTIVATION and the registration event
// is published; once an operator activates it (aws iot update-certificate)
// and attaches a policy, the same device connects.
func TestJustInTimeRegistrationAtTheGateway(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	deviceCA, err := pki.LoadOrCreate(t.TempDir(), "device", pkix.Name{CommonName: "Portico device CA"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := device.NewService(ctx, st, deviceCA, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	svc.Logger = quiet
	b, err := broker.New(broker.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	// The wiring cmd/portico does: registration events go to the broker.
	svc.PublishEventsWith(func(topic string, payload []byte) error { return b.Publish(topic, payload, 0, false) })
	var got registeredEvents
	if err := b.Subscribe(device.RegisteredEventTopicPrefix+"+", 1, got.add); err != nil {
		t.Fatal(err)
	}

	serverCA := testpki.NewCA(t, "Server CA")
	src := &registrySource{devices: svc, domains: []gateway.Domain{
		defaultDomain(fdDomain, ecdsaLeaf(t, serverCA, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), fdDomain)),
	}}
	gw, err := gateway.New(ctx, gateway.Config{Source: src, Broker: b, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gw.ServeMQTT(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	reload := func() {
		t.Helper()
		if err := gw.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// The operator registers the fleet's CA with auto-registration on.
	fleetCA := testpki.NewCA(t, "Fleet CA")
	code, err := svc.GetRegistrationCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := svc.RegisterCACertificate(ctx, device.RegisterCAInput{CACertificatePEM: string(fleetCA.PEM),
		VerificationCertificatePEM: string(fleetCA.Client(t, code).CertPEM), SetAsActive: true, AllowAutoRegistration: true})
	if err != nil {
		t.Fatal(err)
	}
	reload()

	// A device whose certificate the CA signed, never registered. It sends
	// its certificate with the CA's, as the AWS guide has devices do.
	leaf := fleetCA.Client(t, "sensor-7")
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	clientCert := tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw, fleetCA.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
	// connect connects the device once and disconnects at once.
	connect := func() error {
		c, err := connectHeld(ln.Addr().String(), roots, clientCert, nil)
		if err == nil {
			c.Disconnect(50)
		}
		return err
	}

	if err := connect(); err == nil {
		t.Fatal("the first connection of an unregistered certificate was accepted")
	}
	if err := svc.WaitAutoRegistrations(ctx); err != nil {
		t.Fatal(err)
	}
	certID := device.CertificateID(leaf.Cert.Raw)
	c, err := svc.DescribeCertificate(ctx, certID)
	if err != nil {
		t.Fatalf("not registered after the first connection: %v", err)
	}
	if c.Status != device.StatusPendingActivation || c.CACertificateID != ca.ID {
		t.Fatalf("registered as %+v", c)
	}
	waitFor(t, 5*time.Second, "the registration event", func() bool {
		topics, _ := got.snapshot()
		return len(topics) == 1
	})
	topics, events := got.snapshot()
	if topics[0] != "$aws/events/certificates/registered/"+ca.ID {
		t.Fatalf("event topic %q", topics[0])
	}
	if ev := events[0]; ev.CertificateID != certID || ev.CACertificateID != ca.ID || ev.CertificateStatus != "PENDING_ACTIVATION" ||
		ev.AWSAccountID != apitest.Account || ev.Timestamp == 0 {
		t.Fatalf("event %+v", ev)
	}

	// Until it is activated the device is refused, and nothing is
	// registered or announced twice.
	reload()
	if err := connect(); err == nil {
		t.Fatal("a PENDING_ACTIVATION certificate connected")
	}
	svc.WaitAutoRegistrations(ctx)
	if topics, _ := got.snapshot(); len(topics) != 1 {
		t.Fatalf("events after the second attempt: %v", topics)
	}

	// The operator activates it and gives it a policy, with the aws CLI.
	api := apitest.Start(t, func(s *awsapi.Server) { iot.Register(s, iot.Deps{Devices: svc, Logger: quiet}) })
	cli := api.CLI(t)
	cli.Run(t, "iot", "update-certificate", "--certificate-id", certID, "--new-status", "ACTIVE")
	cli.Run(t, "iot", "create-policy", "--policy-name", "sensors", "--policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`)
	cli.Run(t, "iot", "attach-policy", "--policy-name", "sensors", "--target", c.ARN)
	reload()
	lost := make(chan error, 1)
	live, err := connectHeld(ln.Addr().String(), roots, clientCert, lost)
	if err != nil {
		t.Fatalf("the activated device could not connect: %v", err)
	}
	defer live.Disconnect(50)

	// Deactivating the CA closes its devices' live sessions and locks them
	// out.
	cli.Run(t, "iot", "update-ca-certificate", "--certificate-id", ca.ID, "--new-status", "INACTIVE")
	reload()
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the session of a device of an INACTIVE CA stayed open")
	}
	if err := connect(); err == nil {
		t.Fatal("a device of an INACTIVE CA connected")
	}
}

// connectHeld connects a device and keeps the session; lost receives the
// error that ends it.
func connectHeld(addr string, roots *x509.CertPool, cert tls.Certificate, lost chan<- error) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID("sensor-7").
		SetTLSConfig(&tls.Config{ServerName: fdDomain, RootCAs: roots, Certificates: []tls.Certificate{cert}}).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}
