//go:build linux

package broker

// The readiness poller: one epoll instance, and one goroutine blocked in
// epoll_wait, that tell a parked connection (park.go) its client sent
// something. Go's own poller offers no way to wait for a socket without a
// goroutine blocked on it, and a goroutine is what an idle device must not
// cost.
//
// A socket is registered one-shot: each registration reports readiness
// once, then stays disarmed until the connection parks again. Every
// epoll_ctl runs inside the socket's RawConn.Control, which holds the file
// descriptor open, so a registration can never reach a descriptor number
// that was closed and reused by another connection. Closing a socket
// removes it from the epoll set; park.go's sweep notices such closes.

import (
	"sync"
	"syscall"
)

type readiness struct {
	epfd int

	mu      sync.Mutex
	waiting map[uint64]func() // registration ID -> what its readiness wakes
	nextID  uint64
}

var (
	pollerOnce sync.Once
	poller     *readiness
	pollerErr  error
)

// sharedReadiness is the process's poller, started at first use.
func sharedReadiness() (*readiness, error) {
	pollerOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			pollerErr = err
			return
		}
		poller = &readiness{epfd: fd, waiting: make(map[uint64]func())}
		go poller.run()
	})
	return poller, pollerErr
}

// register gives a socket its registration ID; wake runs (on the poller's
// goroutine: it must not block) each time an armed registration fires.
func (r *readiness) register(wake func()) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	r.waiting[r.nextID] = wake
	return r.nextID
}

// unregister forgets id; a late event for it is ignored.
func (r *readiness) unregister(id uint64) {
	r.mu.Lock()
	delete(r.waiting, id)
	r.mu.Unlock()
}

// arm asks for one readiness report of rc's socket under id. added says
// whether the socket is already in the epoll set (it is after its first
// arm, until it closes). It fails when the socket is closed.
func (r *readiness) arm(rc syscall.RawConn, id uint64, added bool) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	// EpollEvent keeps the user data in Fd and Pad: 8 bytes, the ID.
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
	var ctlErr error
	err := rc.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !added {
			op = syscall.EPOLL_CTL_ADD
		}
		ctlErr = syscall.EpollCtl(r.epfd, op, int(fd), &ev)
		if ctlErr == syscall.EEXIST {
			ctlErr = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		} else if ctlErr == syscall.ENOENT {
			ctlErr = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil {
		return err
	}
	return ctlErr
}

// remove takes rc's socket out of the epoll set, if it is still open.
func (r *readiness) remove(rc syscall.RawConn) {
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
}

// open reports whether rc's socket is still open.
func open(rc syscall.RawConn) bool {
	return rc.Control(func(uintptr) {}) == nil
}

func (r *readiness) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(r.epfd, events, -1)
		if err != nil {
			continue // EINTR
		}
		r.mu.Lock()
		for i := range events[:n] {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if wake := r.waiting[id]; wake != nil {
				wake()
			}
		}
		r.mu.Unlock()
	}
}
