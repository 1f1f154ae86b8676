package broker

// Running one connection: mochi's attachClient, step for step, with
// Portico's read loop (park.go) and write loop (writer.go) in place of
// mochi's two goroutines.

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// listenerID is the listener name mochi records for every client: the
// gateway is Portico's only way in.
const listenerID = "gateway"

// Serve runs one device connection until it ends. The gateway authenticated
// it as certificateID (a device certificate's ID, or "sigv4:<access key ID>")
// through domain; authz decides what it may do, and nil allows everything
// (the API's own SigV4 credentials).
func (b *Broker) Serve(conn net.Conn, certificateID, domain string, authz Authorizer) error {
	ended := make(chan error, 1)
	b.Start(conn, certificateID, domain, authz, func(err error) { ended <- err })
	return <-ended
}

// Start runs one device connection, as Serve does, on the calling
// goroutine until the connection ends or goes idle: an idle TLS or TCP
// connection is parked (park.go) and Start returns, and the connection
// costs no goroutine until its client sends something. done runs once,
// when the connection has ended, with what ended it (nil for a normal end).
func (b *Broker) Start(conn net.Conn, certificateID, domain string, authz Authorizer, done func(error)) {
	s := &session{certificateID: certificateID, domain: domain, authz: authz}
	s.writer.logger = b.logger
	s.writer.stop = make(chan struct{}, 1)
	// Bounds the wait for CONNECT; the keepalive deadline replaces it.
	conn.SetDeadline(time.Now().Add(b.connectTimeout))
	sc := &sessionConn{Conn: conn, s: s}
	sc.out.limit = b.backlogLimit
	cl := b.srv.NewClient(sc, listenerID, "", false)
	r := b.newReader(cl, sc, done)
	sc.reader = r
	b.srv.Listeners.ClientsWg.Add(1)
	if err := b.connect(r); err != nil {
		r.end(err)
		return
	}
	r.serve()
}

// connect runs mochi's attachClient up to its read loop: CONNECT, its
// checks and hooks, the session taken over or started, CONNACK, and the
// resend of what the session had in flight.
func (b *Broker) connect(r *reader) error {
	srv, cl := b.srv, r.cl
	pk, err := readConnect(cl)
	if err != nil {
		return fmt.Errorf("read connection: %w", err)
	}
	cl.ParseConnect(listenerID, pk)
	if atomic.LoadInt64(&srv.Info.ClientsConnected) >= srv.Options.Capabilities.MaximumClients {
		code := packets.ErrServerBusy
		if cl.Properties.ProtocolVersion < 5 {
			code = packets.ErrServerUnavailable
		}
		srv.SendConnack(cl, code, false, nil)
		return packets.ErrServerBusy
	}
	code := serverValidateConnect(srv, cl, pk) // [MQTT-3.1.4-1] [MQTT-3.1.4-2]
	if code != packets.CodeSuccess {
		if err := srv.SendConnack(cl, code, false, nil); err != nil {
			return fmt.Errorf("invalid connection send ack: %w", err)
		}
		return code
	}
	hooks := b.mochi.hooks
	if err := hooks.OnConnect(cl, pk); err != nil {
		return err
	}
	r.refreshDeadline()
	if !hooks.OnConnectAuthenticate(cl, pk) {
		if err := srv.SendConnack(cl, packets.ErrBadUsernameOrPassword, false, nil); err != nil {
			return fmt.Errorf("invalid connection send ack: %w", err)
		}
		return packets.ErrBadUsernameOrPassword
	}
	atomic.AddInt64(&srv.Info.ClientsConnected, 1)
	r.counted = true
	hooks.OnSessionEstablish(cl, pk)
	sessionPresent := serverInheritClientSession(srv, pk, cl)
	b.fanout.changed()  // a takeover moved subscriptions to cl (fanout.go)
	srv.Clients.Add(cl) // [MQTT-4.1.0-1]
	if err := srv.SendConnack(cl, code, sessionPresent, nil); err != nil {
		return fmt.Errorf("ack connection packet: %w", err)
	}
	b.mochi.willDelayed.Delete(cl.ID) // [MQTT-3.1.3-9]
	if sessionPresent {
		if err := cl.ResendInflightMessages(true); err != nil {
			return fmt.Errorf("resend inflight: %w", err)
		}
	}
	hooks.OnSessionEstablished(cl, pk)
	r.established = true
	return nil
}

// readConnect reads the connection's first packet, which must be CONNECT.
func readConnect(cl *mqtt.Client) (packets.Packet, error) {
	fh := new(packets.FixedHeader)
	if err := cl.ReadFixedHeader(fh); err != nil {
		return packets.Packet{}, err
	}
	if fh.Type != packets.Connect {
		return packets.Packet{}, packets.ErrProtocolViolationRequireFirstConnect // [MQTT-3.1.0-1]
	}
	return cl.ReadPacket(fh)
}

// end runs what mochi's attachClient runs after its read loop: the will,
// the disconnect hooks, the session's end when it does not persist, then
// the connection's own end. The hooks run only for a connection that got
// its CONNACK (r.established).
func (r *reader) end(err error) {
	b, srv, cl := r.b, r.b.srv, r.cl
	if r.established {
		if err != nil {
			serverSendLWT(srv, cl)
			cl.Stop(err)
		} else {
			cl.Properties.Will = mqtt.Will{} // [MQTT-3.14.4-3] [MQTT-3.1.2-10]
		}
		expire := (cl.Properties.ProtocolVersion == 5 && cl.Properties.Props.SessionExpiryInterval == 0) ||
			(cl.Properties.ProtocolVersion < 5 && cl.Properties.Clean)
		b.mochi.hooks.OnDisconnect(cl, err, expire)
		if expire && !cl.IsTakenOver() {
			cl.ClearInflights()
			srv.UnsubscribeClient(cl)
			srv.Clients.Delete(cl.ID) // [MQTT-4.1.0-2] ![MQTT-3.1.2-23]
		}
	}
	if r.counted {
		atomic.AddInt64(&srv.Info.ClientsConnected, -1)
	}
	cl.Stop(nil)
	srv.Listeners.ClientsWg.Done()
	r.release()

	// What mochi queued last (a refusal, a DISCONNECT) is written before
	// the gateway closes the connection.
	sc := r.sc
	sc.Close()
	sc.out.wait()
	if sc.out.failed() == errNotReading {
		b.logger.Warn("mqtt client disconnected: it left too much unread", "limit_bytes", b.backlogLimit,
			"certificate_id", sc.s.certificateID, "domain", sc.s.domain)
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, errConnectRefused) {
		err = nil
	}
	r.done(err)
}
