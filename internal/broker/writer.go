package broker

// The write loop, run only while there is something to write.
//
// mochi queues each delivery on the subscriber's channel (publishToClient)
// and its attachClient keeps a goroutine per connection waiting on it for
// the connection's whole life: 8 KiB of stack for every idle device.
// Portico starts that goroutine when a delivery is coming (OnACLCheck
// allows one just before mochi queues it) and lets it end once the queue
// has stayed empty for writerLinger. A delivery queued in the instant the
// loop ends is picked up by the sweep (park.go) within a second.

import (
	"log/slog"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// writerLinger is how long a write loop waits for the next delivery before
// it ends: long enough that a device receiving a steady stream keeps one
// goroutine, short enough that a quiet one soon holds none.
const writerLinger = time.Second

type deliveryWriter struct {
	running atomic.Bool
	logger  *slog.Logger
}

// kick makes sure a write loop runs for cl: mochi is about to queue a
// delivery, or one waits in its queue.
func (w *deliveryWriter) kick(cl *mqtt.Client) {
	if !w.running.Load() && w.running.CompareAndSwap(false, true) {
		go w.loop(cl)
	}
}

func (w *deliveryWriter) loop(cl *mqtt.Client) {
	queue := outboundOf(cl)
	var linger *time.Timer
	for {
		select {
		case pk := <-queue:
			w.write(cl, pk)
			continue
		default:
		}
		if linger == nil {
			linger = time.NewTimer(writerLinger)
			defer linger.Stop()
		} else {
			linger.Reset(writerLinger)
		}
		select {
		case pk := <-queue:
			w.write(cl, pk)
			continue
		case <-linger.C:
		}
		w.running.Store(false)
		// A delivery queued after the last receive and before the store
		// above found the loop still running: take it.
		if len(queue) == 0 || !w.running.CompareAndSwap(false, true) {
			return
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
	makeRoom(cl)
}
