package dnsserver

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// NOTIFY (RFC 1996): when a zone's serial changes, every configured
// secondary is told over UDP, so it transfers the zone at once instead of
// at its next refresh. Each message is retried until the secondary
// acknowledges it or notifyAttempts are spent; a newer serial of the same
// zone replaces one still being retried.

// Retries of a NOTIFY: notifyAttempts sends, the first notifyInterval after
// the previous, doubling up to notifyMaxInterval (about 15 s in all).
const (
	notifyAttempts    = 5
	notifyInterval    = time.Second
	notifyMaxInterval = 8 * time.Second
)

// notice is a zone whose serial changed.
type notice struct {
	zone string
	soa  *dns.SOA
}

type notifyKey struct {
	target netip.AddrPort
	zone   string
}

type notifyState struct {
	soa      *dns.SOA
	id       uint16
	attempts int
	next     time.Time
}

// notifyReply is a parsed reply from a secondary.
type notifyReply struct {
	from netip.AddrPort
	id   uint16
	zone string
}

// notifier sends NOTIFY messages to the configured secondaries.
type notifier struct {
	targets []netip.AddrPort
	logger  *slog.Logger
	// interval is the first retry interval (tests shorten it).
	interval time.Duration

	mu     sync.Mutex
	queued []notice
	wake   chan struct{}
}

func newNotifier(targets []netip.AddrPort, logger *slog.Logger) *notifier {
	return &notifier{targets: targets, logger: logger, interval: notifyInterval, wake: make(chan struct{}, 1)}
}

// enqueue schedules NOTIFY messages for zones; it never blocks.
func (n *notifier) enqueue(zones []notice) {
	if n == nil || len(zones) == 0 {
		return
	}
	n.mu.Lock()
	n.queued = append(n.queued, zones...)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// run sends from conn until ctx ends.
func (n *notifier) run(ctx context.Context, conn net.PacketConn) {
	replies := make(chan notifyReply, 16)
	go func() {
		buf := make([]byte, dns.MaxMsgSize)
		for {
			k, from, err := conn.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
					return
				}
				continue
			}
			ua, ok := from.(*net.UDPAddr)
			if !ok {
				continue
			}
			r, ok := parseNotifyReply(buf[:k])
			if !ok {
				continue
			}
			r.from = netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
			select {
			case replies <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	pending := map[notifyKey]*notifyState{}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		next := time.Time{}
		for k, st := range pending {
			if !st.next.After(now) {
				if st.attempts == notifyAttempts {
					n.logger.Warn("dns NOTIFY not acknowledged; the secondary will refresh on its own schedule",
						"secondary", k.target.String(), "zone", k.zone, "serial", st.soa.Serial, "attempts", st.attempts)
					delete(pending, k)
					continue
				}
				n.send(conn, k, st)
				st.attempts++
				st.next = now.Add(min(n.interval<<(st.attempts-1), notifyMaxInterval))
			}
			if next.IsZero() || st.next.Before(next) {
				next = st.next
			}
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
			n.mu.Lock()
			queued := n.queued
			n.queued = nil
			n.mu.Unlock()
			for _, z := range queued {
				for _, t := range n.targets {
					pending[notifyKey{t, z.zone}] = &notifyState{soa: z.soa, id: uint16(rand.Uint32())}
				}
			}
		case r := <-replies:
			k := notifyKey{r.from, r.zone}
			if st := pending[k]; st != nil && st.id == r.id {
				delete(pending, k)
			}
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// send writes one NOTIFY for k.
func (n *notifier) send(conn net.PacketConn, k notifyKey, st *notifyState) {
	m := new(dns.Msg)
	m.SetNotify(k.zone)
	m.Id = st.id
	m.Authoritative = true
	m.Answer = []dns.RR{st.soa}
	b, err := m.Pack()
	if err != nil {
		n.logger.Error("dns NOTIFY does not pack", "zone", k.zone, "err", err)
		return
	}
	if _, err := conn.WriteTo(b, net.UDPAddrFromAddrPort(k.target)); err != nil {
		n.logger.Warn("dns NOTIFY not sent", "secondary", k.target.String(), "zone", k.zone, "err", err)
	}
}

// parseNotifyReply reads a secondary's reply to a NOTIFY: a response of
// opcode NOTIFY with one SOA question. Anything else is ignored.
func parseNotifyReply(b []byte) (notifyReply, bool) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return notifyReply{}, false
	}
	if !m.Response || m.Opcode != dns.OpcodeNotify || len(m.Question) != 1 || m.Question[0].Qtype != dns.TypeSOA {
		return notifyReply{}, false
	}
	// Any rcode ends the retries: a secondary that answers NOTAUTH or
	// REFUSED will not change its mind on a retry.
	return notifyReply{id: m.Id, zone: lowerASCII(m.Question[0].Name)}, true
}
