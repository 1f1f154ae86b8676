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
	"net/netip"
	"time"
)

// CustomMQTT is what an MQTT connection with ALPN mqtt presented: the
// CONNECT's username, password and client ID, and where it came from.
type CustomMQTT struct {
	Domain      string // the domain configuration's name
	ServerName  string // SNI
	Username    string
	HasUsername bool
	Password    []byte
	HasPassword bool
	ClientID    string
	SourceIP    netip.Addr
}

// CustomAuthenticator runs custom authorizers for the gateway.
type CustomAuthenticator interface {
	// AuthenticateMQTT decides an MQTT CONNECT. It returns the principal
	// (for logs), the connection's Authorizer and how long the connection
	// may last (0: unlimited), or an error whose text says which step
	// refused and why (it is sent to MQTT 5 clients as the reason string).
	AuthenticateMQTT(ctx context.Context, req CustomMQTT) (principal string, authz Authorizer, lifetime time.Duration, err error)
}

// serveMQTTCustom handles ALPN mqtt: MQTT authenticated by a custom
// authorizer from the CONNECT username and password. The gateway reads the
// CONNECT, asks the CustomAuthenticator, and either answers CONNACK "not
// authorized" with the reason or hands the connection, CONNECT included, to
// the broker.
func (g *Gateway) serveMQTTCustom(conn *tls.Conn, cs tls.ConnectionState) {
	defer conn.Close()
	d := g.snap.Load().lookup(cs.ServerName)
	if d == nil || !d.Enabled {
		return
	}
	if g.cfg.CustomAuth == nil {
		g.refuseMQTT(conn, d, "custom authentication (ALPN mqtt) needs a custom authorizer, and none is configured")
		return
	}
	conn.SetDeadline(time.Now().Add(g.cfg.ConnectTimeout))
	br := bufio.NewReader(conn)
	var raw bytes.Buffer
	connect, err := readConnect(bufio.NewReader(io.TeeReader(br, &raw)))
	attrs := []any{"domain", d.Name, "remote", conn.RemoteAddr().String()}
	if err != nil {
		g.cfg.Logger.Info("mqtt connection refused before CONNECT", append(attrs, "err", err)...)
		return
	}
	ctx, cancel := context.WithTimeout(g.stopCtx, g.cfg.ConnectTimeout)
	principal, authz, lifetime, err := g.cfg.CustomAuth.AuthenticateMQTT(ctx, CustomMQTT{
		Domain: d.Name, ServerName: cs.ServerName, Username: connect.username, HasUsername: connect.hasUsername,
		Password: connect.password, HasPassword: connect.hasPassword, ClientID: connect.clientID, SourceIP: remoteIP(conn.RemoteAddr()),
	})
	cancel()
	if err != nil {
		g.cfg.Logger.Info("mqtt connection refused by custom authentication: CONNACK not authorized",
			append(attrs, "client_id", connect.clientID, "protocol_level", connect.level, "reason", err.Error())...)
		conn.Write(connack(connect.level, err.Error()))
		return
	}
	conn.SetDeadline(time.Time{})
	if lifetime > 0 {
		timer := time.AfterFunc(lifetime, func() {
			g.cfg.Logger.Info("mqtt session closed: disconnectAfterInSeconds reached", "domain", d.Name, "principal", principal)
			conn.Close()
		})
		defer timer.Stop()
	}
	untrack := g.track(&liveConn{conn: conn, domain: d.Name, serverName: cs.ServerName, via: capMQTTCustom})
	defer untrack()
	pc := &replayConn{Conn: conn, r: io.MultiReader(bytes.NewReader(raw.Bytes()), br)}
	if err := g.cfg.Broker.Serve(pc, principal, d.Name, authz); err != nil {
		g.cfg.Logger.Debug("mqtt session ended", "domain", d.Name, "principal", principal, "err", err)
	}
}

// replayConn reads the bytes the gateway consumed first.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(b []byte) (int, error) { return c.r.Read(b) }

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
