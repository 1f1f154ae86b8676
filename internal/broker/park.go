package broker

// Parking idle connections.
//
// A fleet is mostly devices that say nothing for minutes. mochi reads each
// connection on a goroutine of its own, blocked in Read between packets;
// its stack (16 KiB: mochi's read loop sits 6 KiB deep) is most of what an
// idle device costs. Portico's read loop (reader.serve) instead gives its
// goroutine up once the connection has been quiet for parkAfter: the
// socket is handed to the readiness poller (readiness_linux.go), and the
// goroutine ends. When the client sends something, the poller starts a new
// goroutine that reads on where the last one stopped.
//
// Nothing is lost in between: a connection parks only between packets,
// with mochi's read buffer empty, and crypto/tls keeps a partial record
// across a read timeout. The keep-alive still holds: a parked connection
// whose keep-alive deadline passes is resumed into that deadline and ends
// as mochi ends it (MQTT_KEEP_ALIVE_TIMEOUT). A parked connection closed
// by the broker (takeover, DISCONNECT, the outbox's limit) or by the
// gateway (a certificate revoked, shutdown) is resumed to end.
//
// Only a connection whose socket Portico can reach is parked: TLS or plain
// TCP (socketOf). MQTT over WebSockets keeps its read goroutine.
//
// The sweep, once a second, decides which readers park (it cuts their wait
// with a read deadline), resumes parked ones whose deadline passed or whose
// socket closed, and starts write loops for deliveries left queued
// (writer.go).

import (
	"bufio"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// parkAfter is how long a connection waits for its next packet on a
// goroutine before it parks. Parking and resuming cost a few system calls
// and a goroutine start, so a device sending every second stays unparked.
const parkAfter = time.Second

// sweepInterval is how often the sweep runs.
const sweepInterval = 500 * time.Millisecond

// Reader states.
const (
	readerRunning int32 = iota // a goroutine reads or handles a packet
	readerWaiting              // ... and waits for a packet's first byte
	readerParking              // the sweep cut that wait: the reader parks
	readerParked               // no goroutine: readiness, a close or the sweep resumes it
	readerEnded
)

// reader is one connection's read loop.
type reader struct {
	b    *Broker
	cl   *mqtt.Client
	sc   *sessionConn
	done func(error)

	rc     syscall.RawConn // the socket, nil when the connection cannot park
	pollID uint64
	added  bool // the socket is in the poller's epoll set

	state atomic.Int32
	// waits counts the reader's waits for a packet: the sweep parks a
	// reader still in the wait it saw parkAfter ago.
	waits atomic.Uint64
	// The sweep's own record (only its goroutine uses them).
	seenWaits uint64
	seenAt    int64

	// keepalive is the current read's keep-alive deadline (Unix ns, 0: none).
	keepalive atomic.Int64
	// cut orders the sweep's deadline cut before the reader's restoring
	// of its own deadline, when a packet arrived as the sweep cut.
	cut sync.Mutex

	counted     bool // counted in mochi's ClientsConnected
	established bool // CONNACK sent: ending runs the disconnect hooks
}

func (b *Broker) newReader(cl *mqtt.Client, sc *sessionConn, done func(error)) *reader {
	r := &reader{b: b, cl: cl, sc: sc, done: done}
	if rc := socketOf(sc.Conn); rc != nil {
		if p, err := sharedReadiness(); err == nil {
			r.rc = rc
			r.pollID = p.register(r.wake)
		}
	}
	b.readers.add(r)
	return r
}

// socketOf is the socket under conn when Portico can wait for it: a TCP
// connection, under layers that each have a NetConn method (crypto/tls's
// Conn, the gateway's custom-authentication replay). Such a layer must
// keep what it buffered across a read timeout, and must have nothing
// buffered when a read times out: a parked connection is woken only by
// its socket. MQTT over WebSockets has no such layer (gorilla/websocket's
// state is lost on a read timeout).
func socketOf(conn net.Conn) syscall.RawConn {
	for range 4 {
		layer, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = layer.NetConn()
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// refreshDeadline starts a keep-alive period, as mochi does before each
// packet: 1.5 times the keep-alive [MQTT-3.1.2-22], or none for 0.
func (r *reader) refreshDeadline() {
	var deadline time.Time
	if ka := r.cl.State.Keepalive; ka > 0 {
		deadline = time.Now().Add(time.Duration(ka) * 1500 * time.Millisecond)
		r.keepalive.Store(deadline.UnixNano())
	} else {
		r.keepalive.Store(0)
	}
	r.sc.Conn.SetDeadline(deadline)
}

// serve reads and handles packets until the connection ends or parks.
func (r *reader) serve() {
	cl := r.cl
	if cl.Closed() {
		// Closed before its first packet (mochi's read loop checks this
		// before each packet; a read in progress ends with an error).
		r.end(nil)
		return
	}
	r.refreshDeadline()
	r.loop()
}

// loop reads and handles packets from a connection whose read deadline is
// set, until it ends or parks.
func (r *reader) loop() {
	srv, cl := r.b.srv, r.cl
	for {
		if err := r.awaitPacket(); err != nil {
			if err == errParked {
				return
			}
			r.end(err)
			return
		}
		fh := new(packets.FixedHeader)
		err := cl.ReadFixedHeader(fh)
		if err == nil {
			var pk packets.Packet
			if pk, err = cl.ReadPacket(fh); err == nil {
				err = serverReceivePacket(srv, cl, pk)
			}
		}
		if err != nil {
			r.end(err)
			return
		}
		if cl.Closed() {
			r.end(nil)
			return
		}
		r.refreshDeadline()
	}
}

// errParked ends a goroutine's part in a connection that parked.
var errParked = errors.New("broker: connection parked")

// awaitPacket returns once the next packet's first byte is buffered, the
// read failed, or (errParked) the connection parked.
func (r *reader) awaitPacket() error {
	buf := readBuffer(r.cl)
	if r.rc == nil || buf.Buffered() > 0 {
		return nil // ReadFixedHeader waits
	}
	r.waits.Add(1)
	r.state.Store(readerWaiting)
	_, err := buf.Peek(1)
	if r.state.CompareAndSwap(readerWaiting, readerRunning) {
		return err
	}
	// The sweep is cutting this wait (readerParking): once it has, the
	// read deadline is the reader's again.
	r.cut.Lock()
	r.cut.Unlock()
	r.state.Store(readerRunning)
	if err == nil {
		r.sc.Conn.SetReadDeadline(unixNano(r.keepalive.Load()))
		return nil
	}
	if !isTimeout(err) || r.keepaliveOver() {
		return err
	}
	return r.park()
}

// park hands the socket to the poller; the caller's goroutine then leaves
// the connection.
func (r *reader) park() error {
	// Written before the state is: the goroutine a readiness event starts
	// may run before arm returns.
	added := r.added
	r.added = true
	r.dropBuffer()
	r.state.Store(readerParked)
	if err := poller.arm(r.rc, r.pollID, added); err != nil {
		if !r.state.CompareAndSwap(readerParked, readerRunning) {
			return errParked // woken meanwhile: the new goroutine reads
		}
		if errors.Is(err, net.ErrClosed) {
			return err // the socket closed: the connection ends
		}
		// The poller refused it: wait on this goroutine instead.
		r.takeBuffer()
		r.sc.Conn.SetReadDeadline(unixNano(r.keepalive.Load()))
		return nil
	}
	return errParked
}

// wake resumes a parked connection on a new goroutine. It runs on the
// poller's goroutine, and must not block.
func (r *reader) wake() {
	if r.state.CompareAndSwap(readerParked, readerRunning) {
		go r.resume()
	}
}

func (r *reader) resume() {
	r.takeBuffer()
	// The wait goes on under its keep-alive deadline (already past when
	// the sweep resumed the connection for it). A closing connection
	// keeps the deadline its close set, which ends the read.
	if !r.sc.out.isClosing() {
		r.sc.Conn.SetReadDeadline(unixNano(r.keepalive.Load()))
	}
	r.loop()
}

// readBuffers are the read buffers of connections that are not parked: a
// parked one's is empty, and it gets one again when it resumes.
var readBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, clientBufferSize) }}

// dropBuffer gives the (empty) read buffer of a connection that parks back.
func (r *reader) dropBuffer() {
	field := readBufferField(r.cl)
	(*field).Reset(nil)
	readBuffers.Put(*field)
	*field = nil
}

// takeBuffer gives a resumed connection a read buffer.
func (r *reader) takeBuffer() {
	if field := readBufferField(r.cl); *field == nil {
		buf := readBuffers.Get().(*bufio.Reader)
		buf.Reset(r.sc)
		*field = buf
	}
}

func (r *reader) keepaliveOver() bool {
	ka := r.keepalive.Load()
	return ka != 0 && time.Now().UnixNano() >= ka
}

// release forgets the connection once it has ended.
func (r *reader) release() {
	r.state.Store(readerEnded)
	r.b.readers.remove(r)
	if r.rc != nil {
		poller.unregister(r.pollID)
		if r.added {
			poller.remove(r.rc)
		}
	}
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// readers are a broker's connections, for the sweep.
type readers struct {
	mu  sync.Mutex
	all map[*reader]struct{}
}

func (rs *readers) add(r *reader) {
	rs.mu.Lock()
	if rs.all == nil {
		rs.all = make(map[*reader]struct{})
	}
	rs.all[r] = struct{}{}
	rs.mu.Unlock()
}

func (rs *readers) remove(r *reader) {
	rs.mu.Lock()
	delete(rs.all, r)
	rs.mu.Unlock()
}

// sweep runs every sweepInterval until stop closes and every connection
// has ended: the gateway may close its connections after the broker, and a
// parked one ends only when the sweep sees its socket closed.
func (rs *readers) sweep(stop <-chan struct{}) {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	var batch []*reader
	for {
		select {
		case <-stop:
			stop = nil
		case <-t.C:
		}
		rs.mu.Lock()
		if stop == nil && len(rs.all) == 0 {
			rs.mu.Unlock()
			return
		}
		batch = batch[:0]
		for r := range rs.all {
			batch = append(batch, r)
		}
		rs.mu.Unlock()
		now := time.Now().UnixNano()
		for i, r := range batch {
			r.check(now)
			batch[i] = nil
		}
	}
}

// check is the sweep's look at one connection.
func (r *reader) check(now int64) {
	switch r.state.Load() {
	case readerWaiting:
		if w := r.waits.Load(); w != r.seenWaits {
			r.seenWaits, r.seenAt = w, now
		} else if now-r.seenAt >= int64(parkAfter) {
			r.cut.Lock()
			if r.state.CompareAndSwap(readerWaiting, readerParking) {
				// A deadline in the past ends the reader's Peek with a
				// timeout, which it takes as the signal to park.
				r.sc.Conn.SetReadDeadline(time.Unix(1, 0))
			}
			r.cut.Unlock()
		}
	case readerParked:
		if ka := r.keepalive.Load(); (ka != 0 && now >= ka) || r.cl.Closed() || !open(r.rc) {
			r.wake()
		}
	case readerEnded:
		return
	}
	r.sc.s.writer.sweep(r.cl, now)
}
