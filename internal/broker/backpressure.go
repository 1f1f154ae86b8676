package broker

// Backpressure on mochi's per-client queue of deliveries.
//
// mochi puts each delivery in the subscriber's queue (a channel of
// outboundQueue packets, drained by the subscriber's write loop) and drops
// it when the queue is full, QoS 1 included, after the publisher got its
// PUBACK. With the outbox the write loop never waits for the socket, so
// the queue fills only when the write loop is not scheduled: a reader with
// a burst of PUBLISH packets already buffered never blocks, and on a busy
// machine the write loops it woke may wait for its whole time slice (10 ms:
// over a thousand deliveries). Before a delivery to a queue three quarters
// full, the publishing goroutine yields, so that the write loop runs.

import (
	"runtime"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// queued is how many deliveries wait in cl's queue.
func queued(cl *mqtt.Client) int { return len(outboundOf(cl)) }

// maxYields bounds the wait for one delivery: a write loop that does not
// drain its queue however often it is let run must not stop the publisher.
const maxYields = 16

// makeRoom lets cl's write loop run while its queue is three quarters full.
func makeRoom(cl *mqtt.Client) {
	for i := 0; i < maxYields && queued(cl) > outboundQueue*3/4; i++ {
		runtime.Gosched()
	}
}
