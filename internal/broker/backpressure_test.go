package broker

import (
	"sync/atomic"
	"testing"
	"time"
)

// A publisher waiting for room is woken by the write loop's wake, not by
// its timeout; one that finds room once registered does not wait; and a
// write loop that never runs costs it the timeout, then it gives up.
func TestRoomSignal(t *testing.T) {
	var r roomSignal
	var full atomic.Bool
	full.Store(true)
	woken := make(chan bool)
	go func() { woken <- r.wait(full.Load, time.Minute) }()
	for !r.waiting.Load() {
		time.Sleep(time.Millisecond)
	}
	full.Store(false)
	r.wake()
	select {
	case ok := <-woken:
		if !ok {
			t.Fatal("wait reported a timeout")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wake did not release the waiter")
	}

	start := time.Now()
	if !r.wait(full.Load, time.Minute) || time.Since(start) > 10*time.Second {
		t.Fatal("waited though there was room")
	}

	full.Store(true)
	start = time.Now()
	if r.wait(full.Load, 50*time.Millisecond) {
		t.Fatal("no wake, yet wait reported room")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the timeout", d)
	}
}
