package broker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// pipe is a connection whose peer reads only when the test says: net.Pipe
// has no buffer, so every write waits for the peer.
func pipe(t *testing.T) (conn, peer net.Conn) {
	conn, peer = net.Pipe()
	t.Cleanup(func() { conn.Close(); peer.Close() })
	return conn, peer
}

// within fails the test when fn does not return within d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

func TestOutboxWritesReturnAtOnceAndArriveInOrder(t *testing.T) {
	conn, peer := pipe(t)
	var o outbox
	var want bytes.Buffer
	within(t, 2*time.Second, "writes to a peer that does not read", func() {
		for i := range 1000 {
			p := []byte{byte(i), byte(i >> 8), 0xAA}
			want.Write(p)
			if n, err := o.write(conn, p); n != len(p) || err != nil {
				t.Errorf("write %d: %d, %v", i, n, err)
			}
		}
	})
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the bytes arrived out of order")
	}
	within(t, 2*time.Second, "the flusher", o.wait)
	if o.pending != nil || o.spare != nil {
		t.Fatal("an idle outbox still holds its buffers")
	}
}

func TestOutboxLimitEndsTheConnection(t *testing.T) {
	conn, peer := pipe(t)
	o := outbox{limit: 1000}
	var err error
	writes := 0
	for ; writes < 100 && err == nil; writes++ {
		_, err = o.write(conn, make([]byte, 200))
	}
	if !errors.Is(err, errNotReading) {
		t.Fatalf("after %d writes of 200 bytes with a limit of 1000: %v, want errNotReading", writes, err)
	}
	if writes > 7 { // the flusher holds one batch, at most 1000 more wait
		t.Fatalf("%d writes of 200 bytes accepted with a limit of 1000", writes)
	}
	within(t, 2*time.Second, "the flusher of a closed connection", o.wait)
	if _, err := io.ReadAll(peer); err != nil {
		t.Fatal(err) // EOF: the connection is closed
	}
	if _, err := o.write(conn, []byte{1}); !errors.Is(err, errNotReading) {
		t.Fatalf("write after the limit: %v", err)
	}
}

func TestOutboxCloseWritesWhatIsPendingFirst(t *testing.T) {
	conn, peer := pipe(t)
	var o outbox
	o.write(conn, []byte("CONNACK refused"))
	within(t, time.Second, "close", func() { o.close(conn) })
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "CONNACK refused" {
		t.Fatalf("peer read %q, %v; want the pending bytes, then the end", got, err)
	}
	if _, err := o.write(conn, []byte{1}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestOutboxCloseCutsAPeerThatDoesNotRead(t *testing.T) {
	conn, peer := pipe(t)
	var o outbox
	o.write(conn, []byte("never read"))
	start := time.Now()
	o.close(conn)
	within(t, closeFlushTimeout+2*time.Second, "the flusher", o.wait)
	if waited := time.Since(start); waited < closeFlushTimeout/2 {
		t.Fatalf("cut after %v; a reading peer gets %v", waited, closeFlushTimeout)
	}
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open")
	}
}
