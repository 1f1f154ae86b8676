package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"time"
)

// Domain is one name devices connect to, as the gateway needs it.
type Domain struct {
	// Name is the hostname devices send as SNI.
	Name string
	// Configuration is the domain configuration's name, for logs.
	Configuration string
	Enabled       bool
	// Default marks the account's default data endpoint, which also serves
	// connections that send no SNI (or an IP literal).
	Default      bool
	Certificates []tls.Certificate
	MinVersion   uint16
	MaxVersion   uint16
	CipherSuites []uint16
}

// Devices authenticates client certificates against an immutable view of the
// device registry.
type Devices interface {
	// Authenticate returns the certificate ID of a client certificate (its
	// DER) that may connect now through serverName, or why it may not.
	Authenticate(der []byte, serverName string, now time.Time) (certificateID string, err error)
}

// Source supplies the state the gateway serves. It is read only when the
// change feed fires, never during a handshake.
type Source interface {
	Domains(ctx context.Context) ([]Domain, error)
	Devices(ctx context.Context) (Devices, error)
}

// snapshot is an immutable view of domains and devices with the TLS
// configurations prebuilt for each listener.
type snapshot struct {
	domains       map[string]*domainState // by lower-case name
	defaultDomain *domainState
	devices       Devices
}

type domainState struct {
	Domain
	mqtt  *tls.Config // client certificate required
	https *tls.Config // client certificate optional (SigV4 otherwise)
}

// refuse has no certificate, so crypto/tls answers the handshake with the
// unrecognized_name alert.
var refuse = &tls.Config{}

func (g *Gateway) buildSnapshot(ctx context.Context) (*snapshot, error) {
	domains, err := g.cfg.Source.Domains(ctx)
	if err != nil {
		return nil, err
	}
	devices, err := g.cfg.Source.Devices(ctx)
	if err != nil {
		return nil, err
	}
	s := &snapshot{domains: make(map[string]*domainState, len(domains)), devices: devices}
	for _, d := range domains {
		ds := &domainState{Domain: d}
		ds.Name = normalizeName(d.Name)
		base := &tls.Config{
			Certificates: d.Certificates,
			MinVersion:   d.MinVersion,
			MaxVersion:   d.MaxVersion,
			CipherSuites: d.CipherSuites,
			// AWS IoT does not support session tickets.
			SessionTicketsDisabled: true,
			VerifyConnection:       g.verifyDevice,
		}
		ds.mqtt = base.Clone()
		ds.mqtt.ClientAuth = tls.RequireAnyClientCert
		ds.mqtt.NextProtos = []string{"x-amzn-mqtt-ca", "mqtt"}
		ds.https = base.Clone()
		ds.https.ClientAuth = tls.RequestClientCert
		ds.https.NextProtos = []string{"x-amzn-http-ca", "http/1.1"}
		s.domains[ds.Name] = ds
		if d.Default {
			s.defaultDomain = ds
		}
	}
	return s, nil
}

// lookup finds the domain for an SNI name; "" and IP literals mean the default.
func (s *snapshot) lookup(serverName string) *domainState {
	name := normalizeName(serverName)
	if name == "" || net.ParseIP(name) != nil {
		return s.defaultDomain
	}
	return s.domains[name]
}

func normalizeName(n string) string { return strings.TrimSuffix(strings.ToLower(n), ".") }

// deviceFor authenticates the client certificate of a connection, if any.
func (s *snapshot) deviceFor(cs tls.ConnectionState, now time.Time) (id string, err error) {
	if len(cs.PeerCertificates) == 0 {
		return "", nil
	}
	return s.devices.Authenticate(cs.PeerCertificates[0].Raw, cs.ServerName, now)
}
