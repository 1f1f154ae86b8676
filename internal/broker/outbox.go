package broker

// The outbox: what mochi writes to a device goes to the socket from a
// goroutine of its own, so that a device that stops reading never blocks
// anyone else.
//
// mochi v2.7.9 writes each packet to the connection while holding the
// client's lock (Client.WritePacket), and every publisher delivering a QoS 1
// or 2 message to that client takes the same lock for a packet ID
// (Client.NextPacketID). A subscriber on a bad link whose socket buffer is
// full therefore stopped every device publishing to its topics, each in
// the middle of reading its own connection, until the subscriber's
// keep-alive ran out (1.5 times its keep-alive: minutes).
//
// With the outbox a write only appends to the connection's pending bytes
// and returns; a flusher goroutine, started when there is something to
// write and ended when there is nothing left, writes them in order. The
// pending bytes are bounded by what is admitted into them: QoS 1 and 2
// deliveries by the send window (MaxInflight per connection), QoS 0 ones
// are dropped while more than qos0Backlog bytes are pending (see
// OnPacketEncode), as AWS IoT drops QoS 0 messages to a client that cannot
// keep up, and the broker's own packets are small and paced by what the
// client sends. A client that sends without ever reading (its PUBACKs and
// PINGRESPs pile up) is disconnected once more than the outbox's limit
// waits. An idle connection holds no buffer and no goroutine.

import (
	"errors"
	"net"
	"sync"
	"time"
)

// errNotReading ends a connection whose client let more than the outbox's
// limit wait unread.
var errNotReading = errors.New("broker: client not reading what it is sent")

// qos0Backlog is how many bytes may wait for a slow client before QoS 0
// deliveries to it are dropped.
const qos0Backlog = 256 << 10

// closeFlushTimeout bounds how long a closing connection may keep writing
// what was queued before it closed (a CONNACK refusal, a DISCONNECT with a
// reason): a client that reads gets it, one that does not is cut.
const closeFlushTimeout = 2 * time.Second

type outbox struct {
	limit int // bytes that may wait; beyond them the connection ends (0: no limit)

	mu       sync.Mutex
	pending  []byte // not yet handed to the connection, in order
	spare    []byte // the flusher's previous batch, reused
	flushing bool   // a flusher goroutine is running
	closing  bool   // Close was called: the flusher closes the connection when done
	closed   bool   // the connection is closed
	err      error  // the first write error; every later write fails with it
	idle     *sync.Cond
}

// write queues p for conn and returns at once.
func (o *outbox) write(conn net.Conn, p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	if o.closing {
		return 0, net.ErrClosed
	}
	if o.limit > 0 && len(o.pending)+len(p) > o.limit {
		// The flusher (blocked writing to a client that does not read)
		// ends when the connection closes.
		o.err = errNotReading
		if !o.closed {
			o.closed = true
			conn.Close()
		}
		return 0, o.err
	}
	o.pending = append(o.pending, p...)
	if !o.flushing {
		o.flushing = true
		go o.flush(conn)
	}
	return len(p), nil
}

// backlog is how many bytes wait for the flusher.
func (o *outbox) backlog() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// flush writes the pending bytes, batch after batch, until none is left.
func (o *outbox) flush(conn net.Conn) {
	for {
		o.mu.Lock()
		if len(o.pending) == 0 || o.err != nil {
			// Nothing held while idle: a fleet is mostly idle devices.
			o.pending, o.spare, o.flushing = nil, nil, false
			// A failed write leaves the stream cut mid-packet: end the
			// connection, so that its reader ends too.
			if (o.closing || o.err != nil) && !o.closed {
				o.closed = true
				conn.Close()
			}
			if o.idle != nil {
				o.idle.Broadcast()
			}
			o.mu.Unlock()
			return
		}
		batch := o.pending
		o.pending = o.spare[:0]
		o.mu.Unlock()

		_, err := conn.Write(batch)

		o.mu.Lock()
		o.spare = batch[:0]
		if err != nil && o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
}

// close closes conn once what is pending is written, or after
// closeFlushTimeout, and returns at once; the connection's reader is
// woken now.
func (o *outbox) close(conn net.Conn) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing {
		return nil
	}
	o.closing = true
	if !o.flushing {
		o.closed = true
		return conn.Close()
	}
	// Reads end now; the flusher closes conn when it is done, and this
	// timer cuts a client that does not read.
	conn.SetReadDeadline(time.Now())
	time.AfterFunc(closeFlushTimeout, func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if !o.closed {
			o.closed = true
			conn.Close()
		}
	})
	return nil
}

// isClosing reports whether close was called.
func (o *outbox) isClosing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closing
}

// failed is the error that ended writing, if any.
func (o *outbox) failed() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// wait returns when the flusher has ended.
func (o *outbox) wait() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.idle == nil {
		o.idle = sync.NewCond(&o.mu)
	}
	for o.flushing {
		o.idle.Wait()
	}
}
