// Package gateway is Portico's device-facing front door: the TLS listeners
// for MQTT (8883) and HTTPS publish (8443). The domain configuration for each
// connection is chosen by SNI from an immutable snapshot, the device is
// authenticated by its client certificate against the registry snapshot, and
// connections through a domain that gets disabled (or by a certificate that
// gets deactivated) are closed when the snapshot changes.
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
)

// MQTTServer runs one authenticated MQTT connection (internal/broker).
type MQTTServer interface {
	Serve(conn net.Conn, deviceCertificateID, domain string) error
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
	Logger       *slog.Logger
	// HandshakeTimeout bounds a TLS handshake.
	HandshakeTimeout time.Duration
	Now              func() time.Time
}

// Gateway holds the listeners and the current snapshot.
type Gateway struct {
	cfg  Config
	snap atomic.Pointer[snapshot]

	mu   sync.Mutex
	live map[*liveConn]struct{}
}

type liveConn struct {
	conn       net.Conn
	domain     string
	serverName string
	device     []byte // DER of the client certificate
}

// New builds the first snapshot.
func New(ctx context.Context, cfg Config) (*Gateway, error) {
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, live: map[*liveConn]struct{}{}}
	if err := g.Reload(ctx); err != nil {
		return nil, err
	}
	return g, nil
}

// Reload rebuilds the snapshot from the source, swaps it in, and closes live
// connections the new snapshot no longer admits.
func (g *Gateway) Reload(ctx context.Context) error {
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
	g.mu.Lock()
	defer g.mu.Unlock()
	for lc := range g.live {
		d := s.domains[lc.domain]
		reason := ""
		switch {
		case d == nil || !d.Enabled:
			reason = "domain configuration disabled or deleted"
		default:
			if _, err := s.devices.Authenticate(lc.device, lc.serverName, g.cfg.Now()); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			g.cfg.Logger.Info("closing device connection", "domain", lc.domain, "certificate_id", certificateID(lc.device), "reason", reason)
			lc.conn.Close()
			delete(g.live, lc)
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
func (g *Gateway) tlsConfig(pick func(*domainState) *tls.Config) *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			d := g.snap.Load().lookup(hello.ServerName)
			if d == nil || !d.Enabled || len(d.Certificates) == 0 {
				g.logRefusal(hello, d)
				return refuse, nil
			}
			return pick(d), nil
		},
	}
}

// logRefusal says why a handshake is answered with unrecognized_name.
func (g *Gateway) logRefusal(hello *tls.ClientHelloInfo, d *domainState) {
	reason := "unknown server name"
	switch {
	case d == nil && hello.ServerName == "":
		reason = "no server name and no default endpoint"
	case d == nil:
	case !d.Enabled:
		reason = "domain configuration " + d.Configuration + " is disabled"
	default:
		reason = "domain configuration " + d.Configuration + " has no valid server certificate"
	}
	g.cfg.Logger.Info("tls handshake refused", "server_name", hello.ServerName, "remote", hello.Conn.RemoteAddr().String(), "reason", reason)
}

// verifyDevice runs after the client certificate arrives: it must be a
// registered, ACTIVE device certificate. No certificate is fine here; each
// listener decides whether one is required.
func (g *Gateway) verifyDevice(cs tls.ConnectionState) error {
	_, err := g.snap.Load().deviceFor(cs, g.cfg.Now())
	return err
}

// ServeMQTT accepts MQTT over TLS on l until it is closed.
func (g *Gateway) ServeMQTT(l net.Listener) error {
	cfg := g.tlsConfig(func(d *domainState) *tls.Config { return d.mqtt })
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
		go g.handleMQTT(tls.Server(conn, cfg))
	}
}

func (g *Gateway) handleMQTT(conn *tls.Conn) {
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.HandshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// Refusals by server name were logged with their reason already.
		g.cfg.Logger.Debug("mqtt handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	cs := conn.ConnectionState()
	s := g.snap.Load()
	d := s.lookup(cs.ServerName)
	id, err := s.deviceFor(cs, g.cfg.Now())
	if d == nil || err != nil || id == "" {
		return // the snapshot changed during the handshake
	}
	untrack := g.track(&liveConn{conn: conn, domain: d.Name, serverName: cs.ServerName, device: cs.PeerCertificates[0].Raw})
	defer untrack()
	if err := g.cfg.Broker.Serve(conn, id, d.Name); err != nil {
		g.cfg.Logger.Debug("mqtt session ended", "domain", d.Name, "certificate_id", id, "err", err)
	}
}

// HTTPSServer returns the HTTPS publish server for l (use ServeTLS with empty
// file names; certificates come from the snapshot).
func (g *Gateway) HTTPSServer() *http.Server {
	return &http.Server{
		TLSConfig:         g.tlsConfig(func(d *domainState) *tls.Config { return d.https }),
		Handler:           http.HandlerFunc(g.serveHTTPS),
		ReadHeaderTimeout: g.cfg.HandshakeTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(g.cfg.Logger.Handler(), slog.LevelDebug),
	}
}

func (g *Gateway) serveHTTPS(w http.ResponseWriter, r *http.Request) {
	s := g.snap.Load()
	d := s.lookup(r.TLS.ServerName)
	if d == nil || !d.Enabled {
		http.Error(w, `{"message":"domain configuration is disabled"}`, http.StatusForbidden)
		return
	}
	if len(r.TLS.PeerCertificates) == 0 {
		g.cfg.SigV4Handler.ServeHTTP(w, r)
		return
	}
	// Re-check: the certificate may have been deactivated since the handshake
	// of this keep-alive connection.
	if _, err := s.deviceFor(*r.TLS, g.cfg.Now()); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", "UnauthorizedException")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"` + err.Error() + `"}`))
		return
	}
	g.cfg.DeviceHandler.ServeHTTP(w, r)
}

func certificateID(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
