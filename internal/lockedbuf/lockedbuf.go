// Package lockedbuf is a bytes.Buffer that one goroutine (a child
// process's output, a logger) writes while another reads it: the tests and
// benchmarks that watch a server's log.
package lockedbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent Write and String. Its zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
