package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/portico-iot/portico/internal/awsapi"
)

// httpConn is a TLS connection whose handshake the gateway completed,
// handed to the HTTPS server. It is deliberately not a *tls.Conn, so that
// net/http serves HTTP/1.1 whatever protocol ALPN named (x-amzn-http-ca);
// the TLS state travels in the request context.
type httpConn struct {
	net.Conn
	state tls.ConnectionState
	kind  listenerKind
}

type connInfoKey struct{}

func withConnInfo(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*httpConn); ok {
		return context.WithValue(ctx, connInfoKey{}, hc)
	}
	return ctx
}

// chanListener feeds the HTTPS server the connections the listeners accept.
type chanListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// serveHTTP serves every HTTPS request of the HTTPS and ALPN listeners:
// MQTT over WebSocket at /mqtt, else publish, each with the authentication
// the connection and the domain configuration admit.
func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	hc, _ := r.Context().Value(connInfoKey{}).(*httpConn)
	if hc == nil {
		writeError(w, http.StatusInternalServerError, "InternalFailureException", "connection state missing")
		return
	}
	// Downstream handlers read the TLS state from the request, as usual.
	r2 := new(http.Request)
	*r2 = *r
	r2.TLS = &hc.state
	r = r2

	s := g.snap.Load()
	d := s.lookup(hc.state.ServerName)
	if d == nil || !d.Enabled {
		writeError(w, http.StatusForbidden, "ForbiddenException", "domain configuration is disabled")
		return
	}
	if r.URL.Path == "/mqtt" {
		g.serveWebSocket(w, r, hc, s, d)
		return
	}
	certified := len(hc.state.PeerCertificates) > 0
	switch {
	case certified && d.allows(capHTTPSX509):
		// Re-check: the certificate may have been deactivated since the
		// handshake of this keep-alive connection.
		p, err := s.deviceFor(hc.state, g.cfg.Now())
		if err != nil {
			writeError(w, http.StatusUnauthorized, "UnauthorizedException", err.Error())
			return
		}
		// The handler authorizes the publish with the device's policies
		// (DeviceAuthorizer).
		authz := p.authorizer(remoteIP(hc.RemoteAddr()), d.Name)
		g.cfg.DeviceHandler.ServeHTTP(w, r.WithContext(withDeviceAuthorizer(r.Context(), authz)))
	case certified && d.allows(capHTTPSCustomX509):
		p, err := s.deviceFor(hc.state, g.cfg.Now())
		if err != nil {
			writeError(w, http.StatusUnauthorized, "UnauthorizedException", err.Error())
			return
		}
		g.serveCustomPublish(w, r, hc, d, &CustomCertificate{DER: hc.state.PeerCertificates[0].Raw, Principal: p})
	case certified:
		g.refuseHTTP(w, r, d, http.StatusForbidden, "ForbiddenException", "HTTPS publish with a client certificate is not allowed: "+d.allowedDescription())
	case hc.kind == listenerALPN && wantsCustomAuth(r, d, capHTTPSCustom, capHTTPSSigV4):
		if !d.allows(capHTTPSCustom) {
			g.refuseHTTP(w, r, d, http.StatusForbidden, "ForbiddenException", "HTTPS publish with a custom authorizer is not allowed: "+d.allowedDescription())
			return
		}
		g.serveCustomPublish(w, r, hc, d, nil)
	case d.allows(capHTTPSSigV4):
		g.cfg.SigV4Handler.ServeHTTP(w, r)
	default:
		g.refuseHTTP(w, r, d, http.StatusForbidden, "ForbiddenException", "HTTPS publish with SigV4 is not allowed: "+d.allowedDescription())
	}
}

// serveCustomPublish serves an HTTPS publish authenticated by a custom
// authorizer: the handler authorizes the publish with the policies the
// function returned (and the certificate's, with CUSTOM_AUTH_X509).
func (g *Gateway) serveCustomPublish(w http.ResponseWriter, r *http.Request, hc *httpConn, d *domainState, cert *CustomCertificate) {
	sess, ok := g.authenticateCustomHTTP(w, r, hc, d, cert)
	if !ok {
		return
	}
	g.cfg.DeviceHandler.ServeHTTP(w, r.WithContext(withDeviceAuthorizer(r.Context(), sess.Authz)))
}

// wantsCustomAuth reports whether a request without a client certificate
// goes to a custom authorizer: it names one or carries a token signature
// (reference 7.4), or the domain admits custom authentication and not
// SigV4, so that a device relying on the domain's default authorizer needs
// no x-amz-customauthorizer-name.
func wantsCustomAuth(r *http.Request, d *domainState, custom, sigv4 capability) bool {
	return customAuthRequest(r) || (d.allows(custom) && !d.allows(sigv4) && !signedWithSigV4(r))
}

// signedWithSigV4 reports whether a request carries a SigV4 signature, in
// its Authorization header or its query string (presigned).
func signedWithSigV4(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-") || r.URL.Query().Has("X-Amz-Signature")
}

// customAuthRequest reports whether a request names a custom authorizer
// (reference 7.4), in its headers or query string.
func customAuthRequest(r *http.Request) bool {
	for _, k := range []string{"x-amz-customauthorizer-name", "x-amz-customauthorizer-signature"} {
		if r.Header.Get(k) != "" || r.URL.Query().Has(k) {
			return true
		}
	}
	return false
}

func (g *Gateway) refuseHTTP(w http.ResponseWriter, r *http.Request, d *domainState, status int, code, message string) {
	g.cfg.Logger.Info("https request refused", "domain", d.Name, "method", r.Method, "path", r.URL.Path,
		"remote", r.RemoteAddr, "status", status, "reason", message)
	writeError(w, status, code, message)
}

// writeError answers in the restJson1 shape of the iot-data API.
func writeError(w http.ResponseWriter, status int, code, message string) {
	id := w.Header().Get("X-Amzn-RequestId")
	if id == "" {
		id = awsapi.NewRequestID()
	}
	awsapi.WriteError(w, awsapi.RestJSON, id, awsapi.ErrorBody{Status: status, Code: code, Message: strings.TrimSpace(message)})
}
