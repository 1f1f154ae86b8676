package mqttbench

import (
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
)

// idleSet holds idle MQTT-over-TLS connections (CONNECT with a 600 s
// keep-alive, then nothing) for the RSS-per-connection measurement.
type idleSet struct {
	mu    sync.Mutex
	conns []*tls.Conn
}

// hold connects until total connections are held, parallel at a time.
func (s *idleSet) hold(d dialer, tag string, total, parallel int) (held, failed int, firstErr string) {
	s.mu.Lock()
	start := len(s.conns)
	s.mu.Unlock()
	if parallel < 1 {
		parallel = 1
	}
	var (
		next  atomic.Int64
		fails atomic.Int64
		errMu sync.Mutex
		wg    sync.WaitGroup
	)
	next.Store(int64(start))
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				c, err := d.connect(i, fmt.Sprintf("%s-idle-%d", tag, i), 600)
				if err != nil {
					// Bounded: each slot is tried once.
					if fails.Add(1) == 1 {
						errMu.Lock()
						firstErr = err.Error()
						errMu.Unlock()
					}
					continue
				}
				s.mu.Lock()
				s.conns = append(s.conns, c)
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns), int(fails.Load()), firstErr
}

// release closes every held connection.
func (s *idleSet) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}
