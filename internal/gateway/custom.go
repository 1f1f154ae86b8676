package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// CustomRequest is what a connection presented to a custom authorizer, as
// the gateway found it. Exactly one of MQTT and HTTP is set.
type CustomRequest struct {
	Domain     string // the domain configuration's domain name
	ServerName string // SNI
	SourceIP   netip.Addr
	// MQTT is the CONNECT of an MQTT connection (ALPN mqtt, port 8883, or
	// CUSTOM_AUTH_X509).
	MQTT *CustomMQTT
	// HTTP is an HTTPS publish request or a WebSocket upgrade request.
	HTTP *CustomHTTP
	// Certificate is set for CUSTOM_AUTH_X509: the client certificate
	// (already authenticated by the registry) and its principal.
	Certificate *CustomCertificate
}

// CustomMQTT is the CONNECT's username, password and client ID.
type CustomMQTT struct {
	Username    string
	HasUsername bool
	Password    []byte
	HasPassword bool
	ClientID    string
}

// CustomHTTP is the request's headers and raw query string.
type CustomHTTP struct {
	Header   http.Header
	RawQuery string
}

// CustomCertificate is the client certificate of a CUSTOM_AUTH_X509
// connection.
type CustomCertificate struct {
	DER       []byte
	Principal Principal
}

// CustomSession is what a custom authorizer admitted.
type CustomSession struct {
	// Principal names the connection in logs (the function's principalId).
	Principal string
	// Authz decides the connection's requests.
	Authz Authorizer
	// Lifetime is disconnectAfterInSeconds (0: unlimited).
	Lifetime time.Duration
	// RefreshAfter is refreshAfterInSeconds: a long-lived session calls
	// Refresh at that interval (0: never).
	RefreshAfter time.Duration
	// Refresh asks the authorizer again and updates Authz's policies; an
	// error ends the session.
	Refresh func(ctx context.Context) error
	// Rebase, for CUSTOM_AUTH_X509, hands the session its certificate's
	// principal as a new registry snapshot sees it, so that the
	// certificate's policy changes apply to the live session.
	Rebase func(Principal)
}

// CustomAuthenticator runs custom authorizers for the gateway.
type CustomAuthenticator interface {
	// Authenticate decides a connection (MQTT, WebSocket) or a request
	// (HTTPS publish). A refusal's error text says which step refused and
	// why; it is logged and sent to the client (MQTT 5 reason string, HTTP
	// body).
	Authenticate(ctx context.Context, req CustomRequest) (*CustomSession, error)
}

// superviseCustom ends a custom-authorized session at its lifetime
// (disconnectAfterInSeconds, not reset by refreshes) and refreshes its
// policies every RefreshAfter, closing the connection when a refresh is
// refused. The returned func stops both.
func (g *Gateway) superviseCustom(conn net.Conn, s *CustomSession, domain string) (stop func()) {
	if s.Lifetime <= 0 && (s.RefreshAfter <= 0 || s.Refresh == nil) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(g.stopCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var lifetime, refresh <-chan time.Time
		if s.Lifetime > 0 {
			t := time.NewTimer(s.Lifetime)
			defer t.Stop()
			lifetime = t.C
		}
		if s.RefreshAfter > 0 && s.Refresh != nil {
			t := time.NewTicker(s.RefreshAfter)
			defer t.Stop()
			refresh = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-lifetime:
				g.cfg.Logger.Info("session closed: disconnectAfterInSeconds reached", "domain", domain, "principal", s.Principal)
				conn.Close()
				return
			case <-refresh:
				rctx, rcancel := context.WithTimeout(ctx, g.cfg.ConnectTimeout)
				err := s.Refresh(rctx)
				rcancel()
				if err != nil && ctx.Err() == nil {
					g.cfg.Logger.Info("session closed: the policy refresh (refreshAfterInSeconds) was refused",
						"domain", domain, "principal", s.Principal, "reason", err.Error())
					conn.Close()
					return
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// mqttCustom admits MQTT authenticated by a custom authorizer from the
// CONNECT's username and password: ALPN mqtt on the ALPN port, port 8883
// without a client certificate, and CUSTOM_AUTH_X509 (cert set). The
// gateway reads the CONNECT, asks the CustomAuthenticator, and either
// answers CONNACK "not authorized" with the reason (and returns nil) or
// returns the session that hands the connection, CONNECT included, to the
// broker. The caller closes conn when it gets nil.
func (g *Gateway) mqttCustom(conn *tls.Conn, cs *tls.ConnectionState, d *domainState, cert *CustomCertificate) mqttSession {
	if g.cfg.CustomAuth == nil {
		g.refuseMQTT(conn, d, "custom authentication needs a custom authorizer, and none is configured")
		return nil
	}
	conn.SetDeadline(time.Now().Add(g.cfg.ConnectTimeout))
	br := bufio.NewReader(conn)
	var raw bytes.Buffer
	connect, err := readConnect(bufio.NewReader(io.TeeReader(br, &raw)))
	attrs := []any{"domain", d.Name, "remote", conn.RemoteAddr().String()}
	if err != nil {
		g.cfg.Logger.Info("mqtt connection refused before CONNECT", append(attrs, "err", err)...)
		return nil
	}
	ctx, cancel := context.WithTimeout(g.stopCtx, g.cfg.ConnectTimeout)
	sess, err := g.cfg.CustomAuth.Authenticate(ctx, CustomRequest{
		Domain: d.Name, ServerName: cs.ServerName, SourceIP: remoteIP(conn.RemoteAddr()), Certificate: cert,
		MQTT: &CustomMQTT{Username: connect.username, HasUsername: connect.hasUsername,
			Password: connect.password, HasPassword: connect.hasPassword, ClientID: connect.clientID},
	})
	cancel()
	if err != nil {
		g.cfg.Logger.Info("mqtt connection refused by custom authentication: CONNACK not authorized",
			append(attrs, "client_id", connect.clientID, "protocol_level", connect.level, "reason", err.Error())...)
		conn.Write(connackFor(connect.level, err))
		return nil
	}
	conn.SetDeadline(time.Time{})
	stopSupervising := g.superviseCustom(conn, sess, d.Name)
	lc := &liveConn{conn: conn, domain: d.Name, serverName: cs.ServerName, via: capMQTTCustom}
	if cert != nil {
		// The certificate is followed like any device's: deactivating it
		// closes the session, and its policy changes reach it.
		lc.device, lc.via, lc.rebase = cert.DER, capMQTTCustomX509, sess.Rebase
	}
	untrack := g.track(lc)
	pc := &replayConn{Conn: conn, consumed: bytes.NewReader(raw.Bytes()), buffered: br}
	return func(leave func()) {
		g.startMQTT(pc, sess.Principal, d.Name, sess.Authz, func() { untrack(); stopSupervising(); conn.Close(); leave() })
	}
}

// customHTTPRequest is the CustomRequest of an HTTPS request.
func customHTTPRequest(r *http.Request, hc *httpConn, d *domainState, cert *CustomCertificate) CustomRequest {
	return CustomRequest{Domain: d.Name, ServerName: hc.state.ServerName, SourceIP: remoteIP(hc.RemoteAddr()),
		HTTP: &CustomHTTP{Header: r.Header, RawQuery: r.URL.RawQuery}, Certificate: cert}
}

// authenticateCustomHTTP runs the custom authorizer for an HTTPS request,
// answering 401 with the reason when it refuses.
func (g *Gateway) authenticateCustomHTTP(w http.ResponseWriter, r *http.Request, hc *httpConn, d *domainState, cert *CustomCertificate) (*CustomSession, bool) {
	if g.cfg.CustomAuth == nil {
		g.refuseHTTP(w, r, d, http.StatusUnauthorized, "UnauthorizedException", "custom authentication needs a custom authorizer, and none is configured")
		return nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.ConnectTimeout)
	defer cancel()
	sess, err := g.cfg.CustomAuth.Authenticate(ctx, customHTTPRequest(r, hc, d, cert))
	if err != nil {
		g.refuseHTTP(w, r, d, http.StatusUnauthorized, "UnauthorizedException", err.Error())
		return nil, false
	}
	return sess, true
}

// replayConn reads the bytes the gateway consumed first (the CONNECT),
// then what its reader buffered beyond them, then the connection.
type replayConn struct {
	net.Conn
	consumed *bytes.Reader
	buffered *bufio.Reader // nil once drained: the connection is read directly
}

func (c *replayConn) Read(b []byte) (int, error) {
	if c.consumed.Len() > 0 {
		return c.consumed.Read(b)
	}
	if c.buffered != nil {
		if c.buffered.Buffered() > 0 {
			return c.buffered.Read(b)
		}
		c.buffered = nil // its 4 KiB go with it
	}
	return c.Conn.Read(b)
}

// NetConn is the TLS connection under c. The broker parks an idle
// connection on its socket (internal/broker/park.go) only after a read
// found nothing buffered at any layer, which here means the replayed bytes
// are gone.
func (c *replayConn) NetConn() net.Conn { return c.Conn }

// connectCredentials decodes, after the client ID, the will (skipped), the
// username and the password of a CONNECT whose flags are given.
func connectCredentials(p *connectPacket, flags byte, rest []byte) error {
	bad := errors.New("malformed CONNECT payload")
	binaryField := func() ([]byte, bool) {
		if len(rest) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return nil, false
		}
		v := rest[2 : 2+n]
		rest = rest[2+n:]
		return v, true
	}
	if flags&0x04 != 0 { // will
		if p.level == 5 {
			props, used := binary.Uvarint(rest)
			if used <= 0 || uint64(len(rest)-used) < props {
				return bad
			}
			rest = rest[used+int(props):]
		}
		if _, ok := binaryField(); !ok { // topic
			return bad
		}
		if _, ok := binaryField(); !ok { // payload
			return bad
		}
	}
	if flags&0x80 != 0 {
		u, ok := binaryField()
		if !ok {
			return bad
		}
		p.username, p.hasUsername = string(u), true
	}
	if flags&0x40 != 0 {
		pw, ok := binaryField()
		if !ok {
			return bad
		}
		p.password, p.hasPassword = bytes.Clone(pw), true
	}
	return nil
}
