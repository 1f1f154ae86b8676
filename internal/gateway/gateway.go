// Package gateway is Portico's device-facing front door: the TLS listeners
// for MQTT (8883), HTTPS publish (8443) and the ALPN-routed port (443) that
// carries MQTT, HTTPS publish and MQTT over WebSocket. The domain
// configuration for each connection is chosen by SNI from an immutable
// snapshot, the device is authenticated by its client certificate against
// the registry snapshot (or by SigV4), and connections through a domain that
// gets disabled (or by a certificate that gets deactivated) are closed when
// the snapshot changes.
package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/internal/awsapi/sigv4"
)

// MQTTServer runs authenticated MQTT connections (internal/broker).
type MQTTServer interface {
	// Start runs one connection: principal is the device certificate's ID
	// or "sigv4:<access key ID>", and authz decides what the connection may
	// do (nil: everything). It returns when the connection has ended or
	// is idle and needs no goroutine of its caller; done runs once, when
	// it has ended.
	Start(conn net.Conn, principal, domain string, authz Authorizer, done func(error))
}

// Config configures the gateway.
type Config struct {
	Source Source
	Broker MQTTServer
	// DeviceHandler serves HTTPS requests from devices authenticated by a
	// client certificate (POST /topics/...).
	DeviceHandler http.Handler
	// SigV4Handler serves HTTPS requests without a client certificate; it
	// verifies the signature itself.
	SigV4Handler http.Handler
	// Credentials verifies SigV4 presigned MQTT-over-WebSocket URLs (the same
	// keys the API accepts); nil refuses them.
	Credentials sigv4.Lookup
	// CustomAuth runs custom authorizers (MQTT, MQTT over WebSocket and
	// HTTPS publish); nil refuses custom authentication.
	CustomAuth CustomAuthenticator
	// CertificateCallback runs the clientCertificateCallbackArn of domains
	// that have one; nil refuses their certificate connections.
	CertificateCallback CertificateCallback
	// Region is the region SigV4 credential scopes must name; "" accepts any.
	Region string
	Logger *slog.Logger
	// HandshakeTimeout bounds a TLS handshake, from accept (default 10 s).
	HandshakeTimeout time.Duration
	// ConnectTimeout bounds the wait for CONNECT on an MQTT connection the
	// gateway refuses itself (default 10 s); accepted ones get the broker's.
	ConnectTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout and IdleTimeout bound HTTPS requests:
	// the headers (default 10 s), the whole request (default 30 s) and a
	// keep-alive connection between requests (default 60 s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// UpgradeTimeout bounds writing the WebSocket upgrade response (default
	// 10 s); the upgrade request itself is bounded by ReadHeaderTimeout.
	UpgradeTimeout time.Duration
	Now            func() time.Time
}

// Gateway holds the listeners and the current snapshot.
type Gateway struct {
	cfg  Config
	snap atomic.Pointer[snapshot]

	reloadMu sync.Mutex // serializes Reload

	mu        sync.Mutex
	live      map[*liveConn]struct{}
	listeners map[net.Listener]struct{}
	// owned are the connections gateway goroutines hold (handshakes, MQTT
	// sessions, refusals); Shutdown closes them and waits for wg.
	owned  map[net.Conn]struct{}
	wg     sync.WaitGroup
	closed bool
	// stop ends handshakes in progress when the gateway shuts down.
	stopCtx context.Context
	stop    context.CancelFunc

	httpOnce sync.Once
	httpSrv  *http.Server
	httpLn   *chanListener
}

type liveConn struct {
	conn       net.Conn
	domain     string
	serverName string
	device     []byte // DER of the client certificate; nil for SigV4
	via        capability
	// authz follows the device's policies across snapshots; nil for SigV4.
	authz *liveAuthorizer
	// rebase follows a custom-authorized certificate session
	// (CUSTOM_AUTH_X509) across snapshots; nil otherwise.
	rebase func(Principal)
}

// New builds the first snapshot.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	defaults := []struct {
		d *time.Duration
		v time.Duration
	}{
		{&cfg.HandshakeTimeout, 10 * time.Second}, {&cfg.ConnectTimeout, 10 * time.Second},
		{&cfg.ReadHeaderTimeout, 10 * time.Second}, {&cfg.ReadTimeout, 30 * time.Second},
		{&cfg.IdleTimeout, 60 * time.Second}, {&cfg.UpgradeTimeout, 10 * time.Second},
	}
	for _, d := range defaults {
		if *d.d == 0 {
			*d.d = d.v
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{cfg: cfg, live: map[*liveConn]struct{}{}, listeners: map[net.Listener]struct{}{}, owned: map[net.Conn]struct{}{}}
	g.stopCtx, g.stop = context.WithCancel(context.Background())
	g.httpLn = newChanListener()
	g.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(g.serveHTTP),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       withConnInfo,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	if err := g.Reload(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// Reload rebuilds the snapshot from the source, swaps it in, and closes live
// connections the new snapshot no longer admits.
func (g *Gateway) Reload(ctx context.Context) error {
	// One reload at a time: a snapshot is built from the one before, and
	// the sessions are checked against snapshots in the order they are
	// swapped in.
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	s, err := g.buildSnapshot(ctx)
	if err != nil {
		return err
	}
	g.snap.Store(s)
	g.closeRefused(s)
	return nil
}

// Run reloads on every change notification until ctx ends.
func (g *Gateway) Run(ctx context.Context, changes <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			if err := g.Reload(ctx); err != nil {
				g.cfg.Logger.Error("gateway reload failed; keeping the previous snapshot", "err", err)
			}
		}
	}
}

func (g *Gateway) closeRefused(s *snapshot) {
	// The sessions are checked outside g.mu, so that accepting, starting
	// and ending connections go on meanwhile (a check costs a registry
	// lookup per session). A session tracked after this copy is tracked
	// after s was swapped in, as one tracked after a locked loop would be:
	// it follows the snapshot it finds once tracked.
	g.mu.Lock()
	live := make([]*liveConn, 0, len(g.live))
	for lc := range g.live {
		live = append(live, lc)
	}
	g.mu.Unlock()
	for _, lc := range live {
		d := s.domains[lc.domain]
		reason := ""
		switch {
		case d == nil || !d.Enabled:
			reason = "domain configuration disabled or deleted"
		case !d.allows(lc.via):
			reason = d.allowedDescription()
		case lc.device != nil:
			p, err := s.devices.Authenticate(lc.device, lc.serverName, g.cfg.Now())
			if err != nil {
				reason = err.Error()
			} else if lc.authz != nil {
				// The session stays and follows the principal's policies
				// as this snapshot has them.
				lc.authz.swap(p)
			} else if lc.rebase != nil {
				lc.rebase(p)
			}
		}
		if reason != "" {
			attrs := []any{"domain", lc.domain, "reason", reason}
			if lc.device != nil {
				attrs = append(attrs, "certificate_id", certificateID(lc.device))
			}
			g.cfg.Logger.Info("closing device connection", attrs...)
			// Closing may wait for a close_notify or close frame to be
			// written; it must not hold the lock meanwhile.
			go lc.conn.Close()
			g.mu.Lock()
			delete(g.live, lc)
			g.mu.Unlock()
		}
	}
}

func (g *Gateway) track(lc *liveConn) func() {
	g.mu.Lock()
	g.live[lc] = struct{}{}
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		delete(g.live, lc)
		g.mu.Unlock()
	}
}

// tlsConfig returns the listener's config: everything is decided per
// connection from the current snapshot.
func (g *Gateway) tlsConfig(kind listenerKind) *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			d := g.snap.Load().lookup(hello.ServerName)
			switch {
			case d == nil && hello.ServerName == "":
				g.logRefusal(hello, "no server name and no default endpoint")
				return refuse, nil
			case d == nil:
				g.logRefusal(hello, "unknown server name")
				return refuse, nil
			case !d.Enabled:
				g.logRefusal(hello, "domain configuration "+d.Configuration+" is disabled")
				return refuse, nil
			case len(d.certs) == 0:
				g.logRefusal(hello, "domain configuration "+d.Configuration+" has no valid server certificate")
				return refuse, nil
			}
			cfg, why := d.configFor(kind, hello.SupportedProtos)
			if why != "" {
				g.logRefusal(hello, why+" on the "+kind.String()+" listener: "+d.allowedDescription())
			}
			return cfg, nil
		},
	}
}

// logRefusal says why a handshake is refused.
func (g *Gateway) logRefusal(hello *tls.ClientHelloInfo, reason string) {
	remote := ""
	if hello.Conn != nil {
		remote = hello.Conn.RemoteAddr().String()
	}
	g.cfg.Logger.Info("tls handshake refused", "server_name", hello.ServerName, "alpn", hello.SupportedProtos, "remote", remote, "reason", reason)
}

// verifyDevice runs after the client certificate arrives: it must be a
// registered, ACTIVE device certificate. No certificate is fine here; each
// channel decides whether one is required.
func (g *Gateway) verifyDevice(cs tls.ConnectionState) error {
	_, err := g.snap.Load().deviceFor(cs, g.cfg.Now())
	return err
}

// ServeMQTT accepts MQTT over TLS with client certificates (8883) on l until
// it is closed. ALPN is optional there.
func (g *Gateway) ServeMQTT(l net.Listener) error { return g.serve(l, listenerMQTT) }

// ServeHTTPS accepts HTTPS on l (8443) until it is closed: publish with a
// client certificate or SigV4, and MQTT over WebSocket at /mqtt.
func (g *Gateway) ServeHTTPS(l net.Listener) error { return g.serve(l, listenerHTTPS) }

// ServeALPN accepts the port-443 protocols on l until it is closed, routed by
// the ALPN protocol the client offers: x-amzn-mqtt-ca (MQTT, client
// certificate), x-amzn-http-ca (HTTPS, client certificate), mqtt (MQTT,
// custom authentication), http/1.1 or none (HTTPS publish with SigV4, MQTT
// over WebSocket at /mqtt).
func (g *Gateway) ServeALPN(l net.Listener) error { return g.serve(l, listenerALPN) }

func (g *Gateway) serve(l net.Listener, kind listenerKind) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return http.ErrServerClosed
	}
	g.listeners[l] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.listeners, l)
		g.mu.Unlock()
	}()
	if kind != listenerMQTT {
		g.httpOnce.Do(func() { go g.httpSrv.Serve(g.httpLn) })
	}
	cfg := g.tlsConfig(kind)
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if !g.enter(conn) {
			conn.Close()
			return nil
		}
		go g.handle(conn, tls.Server(conn, cfg), kind)
	}
}

// enter registers a connection a gateway goroutine is about to own; false
// once the gateway shuts down.
func (g *Gateway) enter(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	g.owned[c] = struct{}{}
	return true
}

func (g *Gateway) leave(c net.Conn) {
	g.release(c)
	g.wg.Done()
}

// release stops owning c (it was handed to the HTTPS server, or is done).
func (g *Gateway) release(c net.Conn) {
	g.mu.Lock()
	delete(g.owned, c)
	g.mu.Unlock()
}

// Shutdown closes the listeners and the HTTPS server (waiting for requests
// in flight), then every device connection, and waits until the gateway's
// goroutines are done or ctx ends. Close the broker after it.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	for l := range g.listeners {
		l.Close()
	}
	g.mu.Unlock()
	g.stop()
	g.httpLn.Close()
	err := g.httpSrv.Shutdown(ctx)
	g.mu.Lock()
	for c := range g.owned {
		go c.Close()
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// handle completes the handshake of raw, the gateway's connection, within
// HandshakeTimeout, then serves it from a new goroutine: verifying a client
// certificate grows a goroutine's stack to tens of KiB, and the runtime
// gives that back only slowly, so the goroutine that does the handshake
// does not stay on as a mostly idle device's read loop.
func (g *Gateway) handle(raw net.Conn, conn *tls.Conn, kind listenerKind) {
	ctx, cancel := context.WithTimeout(g.stopCtx, g.cfg.HandshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// Refusals by server name or protocol were logged with their reason already.
		g.cfg.Logger.Debug("tls handshake failed", "listener", kind.String(), "remote", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		g.leave(raw)
		return
	}
	go func() {
		serve := g.dispatch(conn, kind)
		if serve == nil {
			g.leave(raw)
			return
		}
		// The MQTT session starts here, not inside dispatch: the frames
		// that prepared it are gone from the stack its read loop runs on
		// until the connection goes idle and parks (internal/broker), or,
		// for a connection that cannot park, for its whole life.
		serve(func() { g.leave(raw) })
	}()
}

// dispatch hands a connection whose handshake completed to its protocol:
// an MQTT session to run, or nil when the connection was refused or handed
// to the HTTPS server.
func (g *Gateway) dispatch(conn *tls.Conn, kind listenerKind) (serve mqttSession) {
	cs := conn.ConnectionState()
	if !g.certificateCallback(conn, cs, kind) {
		conn.Close()
		return nil
	}
	switch {
	case kind == listenerMQTT && len(cs.PeerCertificates) == 0:
		// Only a CUSTOM_AUTH domain lets a client without a certificate
		// through the 8883 handshake (snapshot.go).
		return g.mqttWithoutCertificate(conn, &cs)
	case kind == listenerMQTT || cs.NegotiatedProtocol == protoMQTTX509:
		return g.mqttX509(conn, &cs)
	case kind == listenerALPN && cs.NegotiatedProtocol == protoMQTTCustom:
		return g.mqttWithoutCertificate(conn, &cs)
	default:
		// The HTTPS server owns it from now on.
		g.release(conn.NetConn())
		g.httpLn.deliver(&httpConn{Conn: conn, state: cs, kind: kind})
		return nil
	}
}

// mqttSession starts an admitted MQTT connection; leave runs when it has
// ended.
type mqttSession func(leave func())

// startMQTT starts an admitted MQTT connection (see MQTTServer.Start) and
// runs end when it has ended.
func (g *Gateway) startMQTT(conn net.Conn, principal, domain string, authz Authorizer, end func()) {
	g.cfg.Broker.Start(conn, principal, domain, authz, func(err error) {
		if err != nil {
			g.cfg.Logger.Debug("mqtt session ended", "domain", domain, "principal", principal, "err", err)
		}
		end()
	})
}

// mqttX509 admits MQTT from a device certificate: the session to run, or
// nil (the connection closed) when it is refused.
func (g *Gateway) mqttX509(conn *tls.Conn, cs *tls.ConnectionState) (serve mqttSession) {
	defer closeUnlessServed(conn, &serve)
	s := g.snap.Load()
	d := s.lookup(cs.ServerName)
	p, err := s.deviceFor(*cs, g.cfg.Now())
	if d == nil || !d.Enabled || err != nil || p.CertificateID == "" {
		return // the snapshot changed during the handshake
	}
	switch {
	case d.allows(capMQTTX509):
	case d.allows(capMQTTCustomX509):
		return g.mqttCustom(conn, cs, d, &CustomCertificate{DER: cs.PeerCertificates[0].Raw, Principal: p})
	default:
		g.refuseMQTT(conn, d, "MQTT with a client certificate is not allowed: "+d.allowedDescription())
		return nil
	}
	authz := newLiveAuthorizer(p, remoteIP(conn.RemoteAddr()), d.Name)
	untrack := g.track(&liveConn{conn: conn, domain: d.Name, serverName: cs.ServerName, device: cs.PeerCertificates[0].Raw, via: capMQTTX509, authz: authz})
	if cur := g.snap.Load(); cur != s {
		// A reload ran before the session was tracked: follow it.
		if p, err = cur.deviceFor(*cs, g.cfg.Now()); err != nil {
			untrack()
			return nil
		}
		authz.swap(p)
	}
	return func(leave func()) {
		g.startMQTT(conn, p.CertificateID, d.Name, authz, func() { untrack(); conn.Close(); leave() })
	}
}

// closeUnlessServed closes conn when the function preparing its session
// returns no session to run.
func closeUnlessServed(conn net.Conn, serve *mqttSession) {
	if *serve == nil {
		conn.Close()
	}
}

// mqttWithoutCertificate admits MQTT from a client that presented no
// certificate: custom authentication, where the domain allows it.
func (g *Gateway) mqttWithoutCertificate(conn *tls.Conn, cs *tls.ConnectionState) (serve mqttSession) {
	defer closeUnlessServed(conn, &serve)
	d := g.snap.Load().lookup(cs.ServerName)
	switch {
	case d == nil || !d.Enabled:
		return nil // the snapshot changed during the handshake
	case !d.allows(capMQTTCustom):
		g.refuseMQTT(conn, d, "MQTT with a custom authorizer is not allowed: "+d.allowedDescription())
		return nil
	}
	return g.mqttCustom(conn, cs, d, nil)
}

func certificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
