package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/portico-iot/portico/internal/awsapi/sigv4"
)

// WebSocketSigningName is the service name of SigV4 presigned MQTT over
// WebSocket URLs (what AWS device SDKs sign with).
const WebSocketSigningName = "iotdevicegateway"

// serveWebSocket serves MQTT over WebSocket at /mqtt: the upgrade request is
// authenticated by the connection's client certificate when it has one,
// else by a SigV4 presigned URL, else by a custom authorizer (headers or
// query string of the upgrade request); the WebSocket then carries MQTT in
// binary frames to the broker, tracked like any device connection.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request, hc *httpConn, s *snapshot, d *domainState) {
	if !websocket.IsWebSocketUpgrade(r) || r.Method != http.MethodGet {
		writeError(w, http.StatusBadRequest, "InvalidRequestException", "/mqtt expects a WebSocket upgrade (GET with Upgrade: websocket)")
		return
	}
	var (
		via       capability
		id        string
		device    []byte
		principal Principal
		custom    *CustomSession
		ok        bool
	)
	switch {
	case len(hc.state.PeerCertificates) > 0:
		via = capWSSX509
		if !d.allows(via) {
			g.refuseHTTP(w, r, d, http.StatusForbidden, "ForbiddenException", "MQTT over WebSocket with a client certificate is not allowed: "+d.allowedDescription())
			return
		}
		var err error
		if principal, err = s.deviceFor(hc.state, g.cfg.Now()); err != nil {
			g.refuseHTTP(w, r, d, http.StatusUnauthorized, "UnauthorizedException", err.Error())
			return
		}
		id = principal.CertificateID
		device = hc.state.PeerCertificates[0].Raw
	case r.URL.Query().Get("X-Amz-Algorithm") != "" || r.URL.Query().Get("X-Amz-Signature") != "":
		via = capWSSSigV4
		if !d.allows(via) {
			g.refuseHTTP(w, r, d, http.StatusForbidden, "ForbiddenException", "MQTT over WebSocket with SigV4 is not allowed: "+d.allowedDescription())
			return
		}
		key, err := g.verifyPresigned(r)
		if err != nil {
			g.refuseHTTP(w, r, d, http.StatusForbidden, signatureErrorCode(err), err.Error())
			return
		}
		id = "sigv4:" + key
	case hc.kind == listenerALPN && wantsCustomAuth(r, d, capWSSCustom, capWSSSigV4):
		if !d.allows(capWSSCustom) {
			g.refuseHTTP(w, r, d, http.StatusForbidden, "ForbiddenException", "MQTT over WebSocket with a custom authorizer is not allowed: "+d.allowedDescription())
			return
		}
		via = capWSSCustom
		if custom, ok = g.authenticateCustomHTTP(w, r, hc, d, nil); !ok {
			return
		}
		id = custom.Principal
	default:
		g.refuseHTTP(w, r, d, http.StatusForbidden, "MissingAuthenticationTokenException",
			"MQTT over WebSocket needs a SigV4 presigned URL (service "+WebSocketSigningName+") or a client certificate")
		return
	}
	if !offersMQTT(r) {
		g.refuseHTTP(w, r, d, http.StatusBadRequest, "InvalidRequestException", "the WebSocket subprotocol must be mqtt (Sec-WebSocket-Protocol: mqtt)")
		return
	}
	up := websocket.Upgrader{
		HandshakeTimeout: g.cfg.UpgradeTimeout,
		Subprotocols:     []string{"mqtt", "mqttv3.1"},
		ReadBufferSize:   2048,
		WriteBufferSize:  2048,
		// Devices are authenticated by signature or certificate; browsers
		// on any origin may connect, as with AWS IoT.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		g.cfg.Logger.Debug("websocket upgrade failed", "domain", d.Name, "remote", r.RemoteAddr, "err", err)
		return
	}
	conn := newWSConn(ws)
	if !g.enter(conn) {
		conn.Close()
		return // shutting down
	}
	// A session signed with SigV4 uses the API's own (administrator)
	// credentials: it may do everything. A device session follows its
	// certificate's policies.
	var authz Authorizer
	lc := &liveConn{conn: conn, domain: d.Name, serverName: hc.state.ServerName, device: device, via: via}
	if device != nil {
		lc.authz = newLiveAuthorizer(principal, remoteIP(hc.RemoteAddr()), d.Name)
		authz = lc.authz
	}
	stopSupervising := func() {}
	if custom != nil {
		authz = custom.Authz
		stopSupervising = g.superviseCustom(conn, custom, d.Name)
	}
	untrack := g.track(lc)
	end := func() { untrack(); stopSupervising(); g.leave(conn); conn.Close() }
	if device != nil {
		if cur := g.snap.Load(); cur != s {
			// A reload ran before the session was tracked: follow it.
			p, err := cur.deviceFor(hc.state, g.cfg.Now())
			if err != nil {
				end()
				return
			}
			lc.authz.swap(p)
		}
	}
	// The connection is hijacked: the session runs on a goroutine of its
	// own, not on top of net/http's and this handler's frames, which would
	// keep each idle device's read loop on a 32 KiB stack (see handle).
	go g.startMQTT(conn, id, d.Name, authz, end)
}

func offersMQTT(r *http.Request) bool {
	for _, p := range websocket.Subprotocols(r) {
		if p == "mqtt" || p == "mqttv3.1" {
			return true
		}
	}
	return false
}

// verifyPresigned checks a presigned /mqtt URL against the API's
// credentials and returns the access key ID. X-Amz-Security-Token is
// optional; AWS device SDKs append it after signing, so a signature that
// does not match with it is checked again without it.
func (g *Gateway) verifyPresigned(r *http.Request) (string, error) {
	if g.cfg.Credentials == nil {
		return "", &sigv4.Error{Reason: sigv4.UnknownKey, Message: "SigV4 is not configured on this gateway"}
	}
	p, err := sigv4.Parse(r)
	if err != nil {
		return "", err
	}
	if p.Scope.Service != WebSocketSigningName {
		return "", &sigv4.Error{Reason: sigv4.Incomplete,
			Message: "Credential should be scoped to the service '" + WebSocketSigningName + "', not '" + p.Scope.Service + "'"}
	}
	if g.cfg.Region != "" && p.Scope.Region != g.cfg.Region {
		return "", &sigv4.Error{Reason: sigv4.WrongScope,
			Message: "Credential should be scoped to a valid region, not '" + p.Scope.Region + "'. This Portico serves '" + g.cfg.Region + "'."}
	}
	now := g.cfg.Now()
	err = sigv4.Verify(r, p, g.cfg.Credentials, now, 0)
	var ve *sigv4.Error
	if errors.As(err, &ve) && ve.Reason == sigv4.Mismatch && r.URL.Query().Has("X-Amz-Security-Token") {
		u := *r.URL
		u.RawQuery = withoutParam(r.URL.RawQuery, "X-Amz-Security-Token")
		r2 := new(http.Request)
		*r2 = *r
		r2.URL = &u
		err = sigv4.Verify(r2, p, g.cfg.Credentials, now, 0)
	}
	if err != nil {
		return "", err
	}
	return p.Scope.AccessKeyID, nil
}

func withoutParam(raw, name string) string {
	var kept []string
	for _, part := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&")
}

// signatureErrorCode is the AWS error code for a signature failure.
func signatureErrorCode(err error) string {
	var ve *sigv4.Error
	if !errors.As(err, &ve) {
		return "InvalidSignatureException"
	}
	switch ve.Reason {
	case sigv4.Missing:
		return "MissingAuthenticationTokenException"
	case sigv4.Incomplete, sigv4.WrongScope:
		return "IncompleteSignatureException"
	case sigv4.UnknownKey:
		return "UnrecognizedClientException"
	default:
		return "InvalidSignatureException"
	}
}

// wsConn is a WebSocket carrying MQTT in binary messages, as a net.Conn:
// reads run across message boundaries, each write is one binary message.
type wsConn struct {
	ws     *websocket.Conn
	r      io.Reader
	wmu    sync.Mutex // one writer at a time
	closed sync.Once

	// The write deadline is applied by the writer: gorilla's must not be
	// set while another goroutine writes (the broker sets deadlines from
	// its reader).
	dmu           sync.Mutex
	writeDeadline time.Time
}

func newWSConn(ws *websocket.Conn) *wsConn { return &wsConn{ws: ws} }

var errTextFrame = errors.New("websocket: MQTT needs binary messages, got text")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.dmu.Lock()
	deadline := c.writeDeadline
	c.dmu.Unlock()
	c.ws.SetWriteDeadline(deadline)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame, when it still can, and closes the socket.
func (c *wsConn) Close() error {
	err := net.ErrClosed
	c.closed.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.ws.SetReadDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.writeDeadline = t
	c.dmu.Unlock()
	return nil
}
