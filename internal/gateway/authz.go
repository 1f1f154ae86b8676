package gateway

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Authorizer decides what one connection may do: the AWS IoT policy actions
// iot:Connect, iot:Publish (with iot:RetainPublish), iot:Subscribe and
// iot:Receive. It is the same type as internal/broker's Authorizer (an alias
// of the same interface literal), so the broker serves the gateway's
// connections without either package importing the other.
type Authorizer = interface {
	// Connect decides iot:Connect for the MQTT client ID, with the CONNECT's
	// iot:ConnectAttributes, and binds the client ID for later requests.
	Connect(clientID string, connectAttributes []string) bool
	// Publish decides iot:Publish on topic and, when retain is set,
	// iot:RetainPublish as well.
	Publish(topic string, retain bool) bool
	Subscribe(filter string) bool
	Receive(topic string) bool
}

// Principal is who a client certificate authenticates as, in one snapshot of
// the registry.
type Principal struct {
	// CertificateID is the certificate's ID (SHA-256 of its DER, hex).
	CertificateID string
	// Authorizer returns the authorizer of one connection of the principal,
	// from the client's address (the zero Addr when unknown) and the domain
	// it connected through. Nil allows everything.
	Authorizer func(sourceIP netip.Addr, domain string) Authorizer
	// Identity is the registry's identity of the certificate (for
	// internal/deviceauth, a *device.Identity), for a custom authorizer
	// whose policies add to the certificate's (CUSTOM_AUTH_X509). The
	// gateway does not look into it.
	Identity any
}

func (p Principal) authorizer(sourceIP netip.Addr, domain string) Authorizer {
	if p.Authorizer == nil {
		return nil
	}
	return p.Authorizer(sourceIP, domain)
}

// remoteIP is the address of a connection's peer, or the zero Addr.
func remoteIP(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// liveAuthorizer is the Authorizer of one MQTT session. When the registry
// snapshot changes, the gateway hands it the principal as the new snapshot
// sees it, and the session's next request uses that principal's authorizer
// (with the client ID bound again): a live session follows policy,
// attachment and certificate changes without reconnecting. The new
// authorizer is built on the session's next request rather than during the
// reload, which visits every live session. iot:Connect is decided once, on
// CONNECT, as AWS does.
type liveAuthorizer struct {
	sourceIP netip.Addr
	domain   string
	cur      atomic.Pointer[authorizerBox] // a nil a: everything allowed
	stale    atomic.Bool                   // pending is set

	mu        sync.Mutex
	pending   *Principal
	connected bool
	clientID  string
	attrs     []string
}

type authorizerBox struct{ a Authorizer }

func newLiveAuthorizer(p Principal, sourceIP netip.Addr, domain string) *liveAuthorizer {
	l := &liveAuthorizer{sourceIP: sourceIP, domain: domain}
	l.cur.Store(&authorizerBox{a: p.authorizer(sourceIP, domain)})
	return l
}

// swap hands the session the principal as a new snapshot sees it.
func (l *liveAuthorizer) swap(p Principal) {
	l.mu.Lock()
	l.pending = &p
	l.stale.Store(true)
	l.mu.Unlock()
}

// applyLocked installs the pending principal's authorizer; l.mu is held.
func (l *liveAuthorizer) applyLocked() {
	if l.pending != nil {
		a := l.pending.authorizer(l.sourceIP, l.domain)
		if a != nil && l.connected {
			a.Connect(l.clientID, l.attrs) // binds the client ID; the session is connected already
		}
		l.cur.Store(&authorizerBox{a: a})
		l.pending = nil
	}
	l.stale.Store(false)
}

func (l *liveAuthorizer) current() Authorizer {
	if l.stale.Load() {
		l.mu.Lock()
		l.applyLocked()
		l.mu.Unlock()
	}
	return l.cur.Load().a
}

func (l *liveAuthorizer) Connect(clientID string, attrs []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applyLocked()
	l.connected, l.clientID, l.attrs = true, clientID, attrs
	a := l.cur.Load().a
	return a == nil || a.Connect(clientID, attrs)
}

func (l *liveAuthorizer) Publish(topic string, retain bool) bool {
	a := l.current()
	return a == nil || a.Publish(topic, retain)
}

func (l *liveAuthorizer) Subscribe(filter string) bool {
	a := l.current()
	return a == nil || a.Subscribe(filter)
}

func (l *liveAuthorizer) Receive(topic string) bool {
	a := l.current()
	return a == nil || a.Receive(topic)
}

type deviceAuthorizerKey struct{}

// DeviceAuthorizer returns the Authorizer of the device whose HTTPS request
// the gateway passes to Config.DeviceHandler (nil: everything allowed); ok
// is false for any other request.
func DeviceAuthorizer(ctx context.Context) (a Authorizer, ok bool) {
	box, ok := ctx.Value(deviceAuthorizerKey{}).(*authorizerBox)
	if !ok {
		return nil, false
	}
	return box.a, true
}

func withDeviceAuthorizer(ctx context.Context, a Authorizer) context.Context {
	return context.WithValue(ctx, deviceAuthorizerKey{}, &authorizerBox{a: a})
}
