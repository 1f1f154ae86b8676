package gateway

import (
	"context"
	"crypto/tls"
)

// CertificateCallback runs a domain's clientCertificateCallbackArn
// (reference 2.11): after mutual TLS, the user's function sees the
// certificate and decides whether the connection goes on.
type CertificateCallback interface {
	// Decide returns nil to admit the connection, or why it is refused.
	Decide(ctx context.Context, functionARN string, req CertificateCallbackRequest) error
}

// CertificateCallbackRequest is what the callback is told.
type CertificateCallbackRequest struct {
	ServerName string
	// CertificateID is the client certificate's ID (principalId).
	CertificateID string
	// Chain is the client's certificate chain, leaf first (DER).
	Chain [][]byte
}

// certificateCallback runs the domain's callback on a connection that
// presented a certificate, and reports whether the connection goes on. An
// MQTT connection it refuses hears why in CONNACK; the others are closed,
// with the reason logged.
func (g *Gateway) certificateCallback(conn *tls.Conn, cs tls.ConnectionState, kind listenerKind) bool {
	if len(cs.PeerCertificates) == 0 {
		return true
	}
	d := g.snap.Load().lookup(cs.ServerName)
	if d == nil || d.ClientCertificateCallback == "" {
		return true
	}
	reason := "clientCertificateCallbackArn is set, but no callback runner is configured"
	if g.cfg.CertificateCallback != nil {
		chain := make([][]byte, len(cs.PeerCertificates))
		for i, c := range cs.PeerCertificates {
			chain[i] = c.Raw
		}
		ctx, cancel := context.WithTimeout(g.stopCtx, g.cfg.ConnectTimeout)
		err := g.cfg.CertificateCallback.Decide(ctx, d.ClientCertificateCallback, CertificateCallbackRequest{
			ServerName: cs.ServerName, CertificateID: certificateID(chain[0]), Chain: chain})
		cancel()
		if err == nil {
			return true
		}
		reason = "client certificate callback refused: " + err.Error()
	}
	if kind == listenerMQTT || cs.NegotiatedProtocol == protoMQTTX509 {
		g.refuseMQTT(conn, d, reason)
		return false
	}
	g.cfg.Logger.Info("connection refused by the client certificate callback", "domain", d.Name,
		"remote", conn.RemoteAddr().String(), "reason", reason)
	return false
}
