package broker

// Backpressure on mochi's per-client queue of deliveries.
//
// mochi puts each delivery in the subscriber's queue (a channel of
// outboundQueue packets, drained by the subscriber's write loop) and drops
// it when the queue is full, QoS 1 included, after the publisher got its
// PUBACK. With the outbox the write loop never waits for the socket, so
// the queue fills only when the write loop is not scheduled: a reader with
// a burst of PUBLISH packets already buffered never blocks, and on a busy
// machine the write loop it woke may wait for a whole time slice (10 ms:
// over a thousand deliveries). Before a delivery to a queue three quarters
// full, the publishing goroutine sleeps until the write loop has taken the
// queue down to a quarter, which hands its CPU to the write loop.
//
// That keeps the queue small: it is allocated whole with each client (one
// pointer per packet), so its size is memory every idle device holds.
// Only a write loop that does not run for roomWait leaves the delivery to
// mochi's drop.

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// queued is how many deliveries wait in cl's queue.
func queued(cl *mqtt.Client) int { return len(outboundOf(cl)) }

// roomWait bounds a publisher's wait for room in one client's queue: a
// write loop that does not run for that long must not stop the publisher.
const roomWait = 100 * time.Millisecond

const (
	queueHigh = outboundQueue * 3 / 4 // a publisher waits above this
	queueLow  = outboundQueue / 4     // the write loop wakes it at or below this
)

// makeRoom waits while cl's queue is three quarters full for the write
// loop (w, which runs: delivering kicked it) to make room.
func makeRoom(cl *mqtt.Client, w *deliveryWriter) {
	for queued(cl) > queueHigh && !cl.Closed() { // a closed client's write loop is gone
		if !w.room.wait(func() bool { return queued(cl) > queueHigh }, roomWait) {
			return
		}
	}
}

// roomSignal wakes the publishers waiting for room in one queue.
type roomSignal struct {
	waiting atomic.Bool // a publisher may be waiting on ch
	mu      sync.Mutex
	ch      chan struct{} // closed by wake
}

// wait sleeps until wake or timeout, unless full says there is room by the
// time the waiter is registered (so a wake between the caller's check and
// the registration is not missed). It reports false on timeout.
func (r *roomSignal) wait(full func() bool, timeout time.Duration) bool {
	r.mu.Lock()
	if r.ch == nil {
		r.ch = make(chan struct{})
	}
	ch := r.ch
	r.waiting.Store(true)
	r.mu.Unlock()
	if !full() {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// wake releases every waiting publisher; nearly free when none waits.
func (r *roomSignal) wake() {
	if !r.waiting.Load() {
		return
	}
	r.mu.Lock()
	if r.ch != nil {
		close(r.ch)
		r.ch = nil
	}
	r.waiting.Store(false)
	r.mu.Unlock()
}
