//go:build !linux

package broker

import (
	"errors"
	"syscall"
)

// Without epoll, connections are never parked: each keeps its read loop.
type readiness struct{}

var poller *readiness

func sharedReadiness() (*readiness, error) {
	return nil, errors.New("broker: parking idle connections needs epoll (Linux)")
}

func (r *readiness) register(wake func()) uint64 { return 0 }
func (r *readiness) unregister(id uint64)        {}
func (r *readiness) arm(rc syscall.RawConn, id uint64, added bool) error {
	return errors.ErrUnsupported
}
func (r *readiness) remove(rc syscall.RawConn) {}
func open(rc syscall.RawConn) bool             { return rc.Control(func(uintptr) {}) == nil }
