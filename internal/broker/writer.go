package broker

// The write loop, run only while there is something to write.
//
// mochi queues each delivery on the subscriber's channel (publishToClient)
// and its attachClient keeps a goroutine per connection waiting on it for
// the connection's whole life: 8 KiB of stack for every idle device.
// Portico starts that goroutine when a delivery is coming (OnACLCheck
// allows one just before mochi queues it), and the sweep (park.go) stops
// it once no delivery has been announced or written for writerLinger. A
// loop told to stop goes on if a delivery was announced meanwhile, and one
// announced after it stopped starts a new loop. Only a publisher held up
// for longer than writerLinger between its announcement and mochi's queue
// can leave a delivery waiting; the sweep's next round (500 ms) takes it.

import (
	"log/slog"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// writerLinger is how long a write loop stays without writing before the
// sweep stops it: long enough that a device receiving a steady stream
// keeps one goroutine, short enough that a quiet one soon holds none.
const writerLinger = time.Second

type deliveryWriter struct {
	running atomic.Bool
	// activity counts deliveries announced (kick) and written: the sweep
	// stops a loop whose count has not moved for writerLinger.
	activity atomic.Uint64
	stop     chan struct{} // a token asks the loop to stop
	stopAt   atomic.Uint64 // the activity the sweep saw when it sent the token
	room     roomSignal    // publishers waiting for room in the queue (backpressure.go)
	logger   *slog.Logger

	// The sweep's own record (only its goroutine uses them).
	seenActivity uint64
	seenAt       int64
}

// kick makes sure a write loop runs for cl: mochi is about to queue a
// delivery, or one waits in its queue.
func (w *deliveryWriter) kick(cl *mqtt.Client) {
	// Counted before running is read: a loop stopping now sees it (loop).
	w.activity.Add(1)
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		select {
		case <-w.stop: // meant for the loop that ended
		default:
		}
		go w.loop(cl)
	}
}

func (w *deliveryWriter) loop(cl *mqtt.Client) {
	queue := outboundOf(cl)
	for {
		select {
		case pk := <-queue:
			w.write(cl, pk)
			w.activity.Add(1)
			if len(queue) <= queueLow {
				w.room.wake()
			}
		case <-w.stop:
			w.running.Store(false)
			// A delivery announced since the sweep looked found the loop
			// running, and may not be queued yet: go on. One announced
			// after the store above starts a loop of its own.
			if (len(queue) == 0 && w.activity.Load() == w.stopAt.Load()) || !w.running.CompareAndSwap(false, true) {
				return
			}
		}
	}
}

// sweep is the sweep's look at the write loop of cl, at now (Unix ns).
func (w *deliveryWriter) sweep(cl *mqtt.Client, now int64) {
	queued := len(outboundOf(cl))
	if !w.running.Load() {
		if queued > 0 {
			w.kick(cl)
		}
		return
	}
	if a := w.activity.Load(); a != w.seenActivity {
		w.seenActivity, w.seenAt = a, now
		return
	}
	if queued == 0 && now-w.seenAt >= int64(writerLinger) {
		w.stopAt.Store(w.seenActivity)
		select {
		case w.stop <- struct{}{}:
		default:
		}
	}
}

func (w *deliveryWriter) write(cl *mqtt.Client, pk *packets.Packet) {
	if err := cl.WritePacket(*pk); err != nil {
		w.logger.Debug("mqtt delivery not written", "client_id", cl.ID, "error", err)
	}
}

// delivering readies cl for the delivery mochi queues next: a write loop
// to take it, and room in the queue (backpressure.go).
func (s *session) delivering(cl *mqtt.Client) {
	s.writer.kick(cl)
	makeRoom(cl, &s.writer)
}
