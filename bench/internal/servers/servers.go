// Package servers starts what the benchmarks measure, on loopback only:
// Portico's gateway (SNI among many domain configurations, client
// certificates checked against the device registry's snapshot, the real
// broker behind it) and the baseline, a bare crypto/tls server with one
// certificate in front of the same kind of broker.
package servers

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/deviceauth"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store"
)

// Registry is the device registry (internal/device on an in-memory store)
// holding the set's device certificates, ACTIVE, each with a policy
// attached (as the AWS guide has devices do), and the snapshot the gateway
// authenticates against, adapted as cmd/portico adapts it.
type Registry struct {
	st   *store.Store
	snap *device.Snapshot
}

// NewRegistry registers every device certificate of set.
func NewRegistry(ctx context.Context, set *material.Set) (*Registry, error) {
	st, err := store.OpenMemory(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "portico-bench-ca-")
	if err != nil {
		st.Close()
		return nil, err
	}
	defer os.RemoveAll(dir)
	ca, err := pki.LoadOrCreate(dir, "device", pkix.Name{CommonName: "Portico Bench Device CA"}, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc, err := device.NewService(ctx, st, ca, "us-east-1", "123456789012")
	if err != nil {
		st.Close()
		return nil, err
	}
	if _, err := svc.CreatePolicy(ctx, PolicyName, PolicyDocument, nil); err != nil {
		st.Close()
		return nil, fmt.Errorf("create policy: %w", err)
	}
	for _, d := range set.Devices {
		c, err := svc.RegisterCertificateWithoutCA(ctx, string(material.PEM(d.Cert)), device.StatusActive)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("register device certificate: %w", err)
		}
		if err := svc.AttachPolicy(ctx, PolicyName, c.ARN); err != nil {
			st.Close()
			return nil, fmt.Errorf("attach policy: %w", err)
		}
	}
	snap, err := svc.Snapshot(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Registry{st: st, snap: snap}, nil
}

// Close closes the registry's store.
func (r *Registry) Close() error { return r.st.Close() }

// PolicyName and PolicyDocument are the IoT policy every bench device has:
// connect with any client ID, publish, subscribe and receive anywhere.
const (
	PolicyName     = "bench-devices"
	PolicyDocument = `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/*"},` +
		`{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/*"},` +
		`{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/*"}]}`
)

// Authenticate is gateway.Devices, exactly as Portico serves it.
func (r *Registry) Authenticate(der []byte, serverName string, now time.Time) (gateway.Principal, error) {
	return deviceauth.Authenticator{Snapshot: r.snap}.Authenticate(der, serverName, now)
}

// Source is a static gateway.Source whose domains the benchmark changes
// (rotations) before notifying the gateway, as the store's change feed does.
type Source struct {
	mu      sync.Mutex
	domains []gateway.Domain
	index   map[string]int
	devices gateway.Devices
	// OnDomains, if set, is called (outside the lock) each time the gateway
	// reads the domains: the start of a snapshot rebuild.
	OnDomains func()
}

// Domains implements gateway.Source. Certificate slices are replaced, never
// modified in place, so a shallow copy is a snapshot.
func (s *Source) Domains(context.Context) ([]gateway.Domain, error) {
	if s.OnDomains != nil {
		s.OnDomains()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gateway.Domain(nil), s.domains...), nil
}

// Devices implements gateway.Source.
func (s *Source) Devices(context.Context) (gateway.Devices, error) { return s.devices, nil }

// SetCertificates replaces the certificates of the domain named name.
func (s *Source) SetCertificates(name string, certs []tls.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.domains[s.index[name]].Certificates = certs
}

// Certificates returns the certificates of the domain named name.
func (s *Source) Certificates(name string) []tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.domains[s.index[name]].Certificates
}

// Policy is the TLS security policy every benchmark domain uses (the
// default one; TLS 1.2 and 1.3).
func Policy() endpoint.SecurityPolicy {
	p, ok := endpoint.LookupSecurityPolicy(endpoint.DefaultSecurityPolicy)
	if !ok {
		panic("no default security policy")
	}
	return p
}

// Domains builds one enabled domain configuration per domain certificate
// of the set (DEFAULT authentication and protocol, the default policy).
func Domains(set *material.Set) ([]gateway.Domain, error) {
	p := Policy()
	out := make([]gateway.Domain, len(set.Domains))
	for i, pair := range set.Domains {
		c, err := pair.TLS()
		if err != nil {
			return nil, err
		}
		// cmd/portico's source reads certificates from the store on each
		// reload and keeps nothing; the gateway holds the only parsed copy
		// it needs. Held here for the process's life, the leaf would not be.
		c.Leaf = nil
		out[i] = gateway.Domain{
			Name: material.DomainName(i), Configuration: fmt.Sprintf("bench-%05d", i), Enabled: true,
			Certificates: []tls.Certificate{c},
			MinVersion:   p.MinVersion, MaxVersion: p.MaxVersion, CipherSuites: p.CipherSuites,
		}
	}
	return out, nil
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Portico is a gateway with its MQTT listener (8883's role) and a broker.
type Portico struct {
	Addr    string
	GW      *gateway.Gateway
	Broker  *broker.Broker
	Source  *Source
	changes chan struct{}
	ln      net.Listener
	cancel  context.CancelFunc
	served  chan struct{}
}

// StartPortico serves domains through a gateway on 127.0.0.1:0, reloading
// when Notify is called (gateway.Run, as cmd/portico wires the change feed).
func StartPortico(domains []gateway.Domain, devices gateway.Devices) (*Portico, error) {
	src := &Source{domains: domains, index: make(map[string]int, len(domains)), devices: devices}
	for i, d := range domains {
		src.index[d.Name] = i
	}
	b, err := broker.New(broker.Options{Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, gateway.Config{Source: src, Broker: b, Logger: quietLogger()})
	if err != nil {
		cancel()
		b.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		b.Close()
		return nil, err
	}
	p := &Portico{Addr: ln.Addr().String(), GW: gw, Broker: b, Source: src, changes: make(chan struct{}, 1), ln: ln, cancel: cancel, served: make(chan struct{})}
	go gw.Run(ctx, p.changes)
	go func() { gw.ServeMQTT(ln); close(p.served) }()
	return p, nil
}

// Notify tells the gateway the source changed.
func (p *Portico) Notify() {
	select {
	case p.changes <- struct{}{}:
	default:
	}
}

// Close shuts the gateway down, then the broker.
func (p *Portico) Close() {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.GW.Shutdown(ctx)
	<-p.served
	p.Broker.Close()
}

// Bare is the baseline: crypto/tls with one certificate, a client
// certificate required and authenticated against the same registry
// snapshot in VerifyConnection, then the connection handed to a broker of
// its own, as the gateway does.
type Bare struct {
	Addr   string
	Broker *broker.Broker
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// StartBare serves one certificate on 127.0.0.1:0.
func StartBare(cert tls.Certificate, devices gateway.Devices) (*Bare, error) {
	return startBare(&tls.Config{Certificates: []tls.Certificate{cert}}, devices)
}

// StartBareSNI is a diagnostic baseline: bare crypto/tls choosing among
// many certificates by SNI with a map lookup in GetCertificate, otherwise
// as StartBare. It separates what many certificates cost (on both ends)
// from what the gateway's own code costs.
func StartBareSNI(domains []gateway.Domain, devices gateway.Devices) (*Bare, error) {
	byName := make(map[string]*tls.Certificate, len(domains))
	for i := range domains {
		byName[domains[i].Name] = &domains[i].Certificates[0]
	}
	return startBare(&tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return byName[hello.ServerName], nil
	}}, devices)
}

func startBare(cfg *tls.Config, devices gateway.Devices) (*Bare, error) {
	p := Policy()
	cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = p.MinVersion, p.MaxVersion, p.CipherSuites
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.SessionTicketsDisabled = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("client certificate required")
		}
		_, err := devices.Authenticate(cs.PeerCertificates[0].Raw, cs.ServerName, time.Now())
		return err
	}
	b, err := broker.New(broker.Options{Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		return nil, err
	}
	s := &Bare{Addr: ln.Addr().String(), Broker: b, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				return
			}
			if !s.enter(c) {
				c.Close()
				return
			}
			go func() {
				defer s.leave(c)
				tc := tls.Server(c, cfg)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err != nil {
					tc.Close()
					return
				}
				cs := tc.ConnectionState()
				// No authorizer: the baseline evaluates no policies.
				b.Serve(tc, device.CertificateID(cs.PeerCertificates[0].Raw), cs.ServerName, nil)
				tc.Close()
			}()
		}
	}()
	return s, nil
}

func (s *Bare) enter(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	s.conns[c] = struct{}{}
	return true
}

func (s *Bare) leave(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Close stops accepting, closes every connection, waits (bounded) and
// closes the broker.
func (s *Bare) Close() {
	s.mu.Lock()
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	s.Broker.Close()
}
