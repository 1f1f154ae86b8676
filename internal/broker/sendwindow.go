package broker

// The outbound QoS 1 and 2 flow control: at most MaxInflight (or the
// client's smaller Receive Maximum) deliveries unacknowledged per
// connection, the next ones waiting in order until acknowledgements make
// room.
//
// mochi v2.7.9 has its own ("send quota"), which Portico switches off: after
// every packet a client sends, processPacket calls Inflight.NextImmediate,
// which copies and sorts the client's whole in-flight map (about half of
// the broker's CPU under QoS 1 load) and read-locks it twice, so it can
// deadlock with a publisher adding a message; and a message it sends from
// its waiting list is deleted from the in-flight map, so it is neither
// resent after a reconnect nor does its PUBACK return the quota.
//
// Portico's window instead keeps every delivery in mochi's in-flight map
// from the moment mochi queues it (so a reconnect resends all of them),
// writes it at once while the window has room, and otherwise keeps it in
// order until acknowledgements, read by the connection's other goroutine,
// make room.

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// flushInterval is how often a sender waiting for room flushes what mochi
// buffered meanwhile (a PINGRESP, a PUBACK of the client's own publish).
const flushInterval = 50 * time.Millisecond

// sendWindow is one connection's outbound QoS 1 and 2 flow: the packet IDs
// written and not yet acknowledged, and, once they fill the window, the
// deliveries waiting in order for room.
type sendWindow struct {
	size int

	mu      sync.Mutex
	onWire  map[uint16]struct{} // allocated at the first QoS 1 or 2 delivery
	waiting []packets.Packet    // first-time deliveries the window had no room for, in order
	sending bool                // a sender goroutine is writing waiting
	passID  uint16              // the waiting delivery the sender is writing now
	passing bool                // until it is written
	room    chan struct{}       // a token when an acknowledgement made room
}

func newSendWindow(size int) *sendWindow {
	return &sendWindow{size: size, room: make(chan struct{}, 1)}
}

// skip is what OnPacketEncode returns for a delivery it keeps: a packet
// of no valid type, which mochi's WritePacket refuses before writing
// anything.
var skip = packets.Packet{}

// encode decides about a QoS 1 or 2 PUBLISH mochi is about to write to
// cl: written now (pk), or kept waiting for room (skip). Deliveries reach
// it from mochi's write loop, which must not wait: were it to wait, its
// queue would fill and mochi would drop deliveries (QoS 1 included).
func (w *sendWindow) encode(h *gatewayAuth, cl *mqtt.Client, pk packets.Packet) packets.Packet {
	w.mu.Lock()
	if w.onWire == nil {
		w.onWire = make(map[uint16]struct{}, w.size)
	}
	switch {
	case w.passing && pk.PacketID == w.passID:
		// The sender's own write.
	case pk.FixedHeader.Dup:
		// A resend (after a reconnect): the client already counts it.
	case len(w.waiting) == 0 && !w.passing && len(w.onWire) < w.size:
		// Room, and nothing older queued or being written by the sender
		// (it is older than this one even once off the queue).
	default:
		w.waiting = append(w.waiting, pk)
		if !w.sending {
			w.sending = true
			go w.send(h, cl)
		}
		w.mu.Unlock()
		// What the write loop wrote before this packet may sit in mochi's
		// buffer (it flushes only when its queue is empty, and skipping
		// writes nothing): the client must get it now, or it may have
		// nothing to acknowledge until the sender's next flush.
		flush(cl)
		return skip
	}
	w.onWire[pk.PacketID] = struct{}{}
	w.mu.Unlock()
	return pk
}

// send writes the waiting deliveries as acknowledgements make room, until
// none is left or the connection ends. The deliveries stay in mochi's
// in-flight map throughout, so a connection that ends with some still
// waiting hands them to its session, and mochi resends them when the
// client reconnects.
func (w *sendWindow) send(h *gatewayAuth, cl *mqtt.Client) {
	var t *time.Timer
	for {
		w.mu.Lock()
		if len(w.waiting) == 0 || cl.Closed() {
			w.waiting, w.sending = nil, false
			w.mu.Unlock()
			flush(cl)
			return
		}
		if len(w.onWire) >= w.size {
			w.mu.Unlock()
			// What was written before must reach the client, or it cannot
			// acknowledge it: mochi flushes only when its queue is empty.
			flush(cl)
			if t == nil {
				t = time.NewTimer(flushInterval)
				defer t.Stop()
			} else {
				t.Reset(flushInterval)
			}
			select {
			case <-w.room:
			case <-t.C:
			}
			continue
		}
		pk := w.waiting[0]
		w.waiting[0] = packets.Packet{}
		w.waiting = w.waiting[1:]
		if pk.Expiry > 0 && pk.Expiry < time.Now().Unix() {
			// Its MQTT 5 Message Expiry Interval ended while it waited:
			// not sent, as mochi drops expired messages from the session.
			w.mu.Unlock()
			continue
		}
		w.passID, w.passing = pk.PacketID, true
		w.mu.Unlock()
		if err := cl.WritePacket(pk); err != nil {
			h.broker.logger.Debug("mqtt delivery not written", "client_id", cl.ID, "error", err)
		}
		// Only now, written, may a newer delivery go straight out.
		w.mu.Lock()
		w.passing = false
		w.mu.Unlock()
	}
}

// release ends the flow of a delivery the client acknowledged.
func (w *sendWindow) release(id uint16) {
	w.mu.Lock()
	_, ok := w.onWire[id]
	delete(w.onWire, id)
	w.mu.Unlock()
	if ok {
		select {
		case w.room <- struct{}{}:
		default:
		}
	}
}

func flush(cl *mqtt.Client) {
	cl.Lock() // as WritePacket holds it around the buffer
	defer cl.Unlock()
	_ = clientFlushOutbuf(cl)
}

// OnPacketEncode passes each QoS 1 or 2 PUBLISH to a device through its
// connection's window, and drops QoS 0 ones to a device that is not
// reading them.
func (h *gatewayAuth) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type != packets.Publish {
		return pk
	}
	if pk.FixedHeader.Qos == 0 {
		// A client that does not read its deliveries as fast as they come
		// loses QoS 0 ones, not the broker its memory (outbox.go).
		if sc, ok := cl.Net.Conn.(*sessionConn); ok && sc.out.backlog() > qos0Backlog {
			return skip
		}
		return pk
	}
	if s := sessionOf(cl); s != nil && s.window != nil {
		return s.window.encode(h, cl, pk)
	}
	return pk
}

// acknowledged releases the window slot of the delivery an acknowledgement
// from the client ends: PUBACK (QoS 1), PUBCOMP (QoS 2), or a PUBREC with
// an error reason (MQTT 5), after which no PUBREL follows.
func acknowledged(s *session, pk packets.Packet) {
	if s == nil || s.window == nil {
		return
	}
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubcomp:
		s.window.release(pk.PacketID)
	case packets.Pubrec:
		if pk.ReasonCode >= packets.ErrUnspecifiedError.Code {
			s.window.release(pk.PacketID)
		}
	}
}

// limitInflight gives the connection its window: MaxInflight, or the
// client's own smaller Receive Maximum. mochi's send quota is set to zero,
// which switches it off (see the top of this file), including when mochi
// resets it from Props.ReceiveMaximum while taking over a session.
func (h *gatewayAuth) limitInflight(cl *mqtt.Client, s *session) {
	n := h.broker.limits.MaxInflight
	if rm := cl.Properties.Props.ReceiveMaximum; rm > 0 && rm < n {
		n = rm
	}
	s.window = newSendWindow(int(n))
	cl.Properties.Props.ReceiveMaximum = 0
	cl.State.Inflight.ResetSendQuota(0)
}
