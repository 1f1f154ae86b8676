// Package dnsserver is Portico's authoritative DNS server (UDP and TCP). It
// answers from an immutable snapshot of its zones, rebuilt from a Source when
// the store's change feed fires and swapped atomically: a query never waits
// on the database.
//
// Answers are authoritative (AA), follow CNAME chains across every served
// zone (so a custom domain's CNAME to an endpoint host name arrives with that
// host's address), expand wildcards, give NXDOMAIN or NODATA with the zone's
// SOA, refer below delegations, refuse names outside every zone, answer ANY
// minimally (RFC 8482), honour EDNS0 buffer sizes and truncate over UDP.
//
// Zone transfers (AXFR, and IXFR incremental from recent versions) go to
// the addresses of Config.TransferAllow, and NOTIFY to Config.Notify
// whenever a zone's serial changes: the serial follows the served content
// (transfer.go).
//
// Route 53 routing policies arrive as record groups (routing.go): failover
// and health filtering are decided when a snapshot is built (on every reload
// and health change), aliases are resolved to their targets' answers then
// too, latency groups get one answer per region of Config.Latency
// (latency.go), and per query only weighted and large multivalue groups draw
// a random number and latency groups look the client up (EDNS Client Subnet,
// else the source address; the ECS option is echoed with its scope).
package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Server.
type Config struct {
	// Addr is the host:port served over both UDP and TCP. Port 0 picks one
	// port free for both. Ignored for a protocol whose listener is given.
	Addr string
	// PacketConn and Listener, when set, are used instead of binding Addr
	// (tests pass sockets bound to 127.0.0.1:0).
	PacketConn net.PacketConn
	Listener   net.Listener
	// Source supplies the zones.
	Source Source
	// Health decides the answers of record groups (failover, weighted,
	// multivalue, aliases evaluating target health); nil counts every
	// check healthy. Call HealthChanged when it changes.
	Health Health
	// Rand makes the per-query choices of weighted and multivalue groups;
	// nil means math/rand/v2. Tests pass a seeded source.
	Rand RandN
	// Latency maps client addresses to regions for latency groups; nil
	// answers every client of a latency group as one of no region.
	Latency *LatencyTable
	// Logger receives reload problems; nil discards.
	Logger *slog.Logger
	// MaxUDPSize caps UDP answers whatever EDNS0 buffer the client
	// advertises (and is the size Portico advertises). Default 1232.
	MaxUDPSize int
	// TransferAllow lists the addresses allowed zone transfers (AXFR over
	// TCP, IXFR); others are REFUSED. Empty: no transfers.
	TransferAllow []netip.Prefix
	// Notify lists the secondaries sent a NOTIFY (over UDP, from the
	// listening address) whenever a zone's serial changes, and for every
	// zone on start-up.
	Notify []netip.AddrPort
	// Now is the clock of serials (Unix time); nil means time.Now.
	Now func() time.Time
}

// Server is an authoritative DNS server.
type Server struct {
	cfg    Config
	logger *slog.Logger
	maxUDP int

	snap     atomic.Pointer[snapshot]
	reloadMu sync.Mutex
	// zones and generation are the Source's last answer (under reloadMu),
	// kept so a health change rebuilds answers without the Source.
	zones      []Zone
	generation uint64
	loaded     bool
	// serials are the serials served per zone origin (under reloadMu).
	serials map[string]serialState
	notify  *notifier

	// packBuffers hold answers being written (UDP answers are at most
	// MaxUDPSize; PackBuffer allocates for a longer TCP one).
	packBuffers sync.Pool

	listenMu sync.Mutex
	pc       net.PacketConn
	ln       net.Listener
}

// New returns a server; it serves nothing until Run.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, logger: cfg.Logger, maxUDP: cfg.MaxUDPSize}
	s.packBuffers.New = func() any { b := make([]byte, 4096); return &b }
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.maxUDP <= 0 {
		s.maxUDP = defaultUDPSize
	}
	s.maxUDP = max(minUDPSize, min(s.maxUDP, dns.MaxMsgSize))
	if s.cfg.Rand == nil {
		s.cfg.Rand = rand.Uint32N
	}
	if len(cfg.Notify) > 0 {
		s.notify = newNotifier(cfg.Notify, s.logger)
	}
	return s
}

// Served returns the store generation of the snapshot being served (0
// before the first load). Wire it to zone.Service.Served.
func (s *Server) Served() uint64 {
	if snap := s.snap.Load(); snap != nil {
		return snap.generation
	}
	return 0
}

// Reload rebuilds the snapshot from the Source and swaps it in. A snapshot
// older than the one served is discarded, so concurrent reloads never go
// back in time.
func (s *Server) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.cfg.Source == nil {
		return errors.New("dnsserver: no Source configured")
	}
	zones, gen, err := s.cfg.Source.Zones(ctx)
	if err != nil {
		return fmt.Errorf("dnsserver: reload: %w", err)
	}
	if cur := s.snap.Load(); cur != nil && cur.generation > gen {
		return nil
	}
	s.zones, s.generation, s.loaded = zones, gen, true
	s.publish(buildSnapshot(zones, gen, s.cfg.Health, s.cfg.Rand, s.cfg.Latency, s.logger))
	return nil
}

// publish gives snap its zones' serials, serves it and notifies the
// secondaries of the zones whose serial changed. Called under reloadMu.
func (s *Server) publish(snap *snapshot) {
	changed := s.assignSerials(snap)
	s.snap.Store(snap)
	s.notify.enqueue(changed)
}

// HealthChanged recomputes the answers of record groups from the zones
// last loaded and Config.Health, without asking the Source: wire it to the
// health checker's change callback. Before the first load it does nothing.
func (s *Server) HealthChanged() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if !s.loaded {
		return
	}
	s.publish(buildSnapshot(s.zones, s.generation, s.cfg.Health, s.cfg.Rand, s.cfg.Latency, s.logger))
}

// Listen binds the UDP and TCP sockets (Run calls it if needed). Call it
// first to fail start-up early on a busy port.
func (s *Server) Listen() error {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.pc == nil {
		s.pc = s.cfg.PacketConn
	}
	if s.ln == nil {
		s.ln = s.cfg.Listener
	}
	if s.pc != nil && s.ln != nil {
		return nil
	}
	host, port, err := net.SplitHostPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dnsserver: address %q: %w", s.cfg.Addr, err)
	}
	switch {
	case s.ln == nil && s.pc == nil:
		// Port 0: take a TCP port, then the same UDP port; another process
		// may hold that UDP port, so try a few times.
		for attempt := 0; ; attempt++ {
			ln, err := net.Listen("tcp", s.cfg.Addr)
			if err != nil {
				return fmt.Errorf("dnsserver: listen tcp: %w", err)
			}
			udpAddr := net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
			pc, err := net.ListenPacket("udp", udpAddr)
			if err == nil {
				s.ln, s.pc = ln, pc
				return nil
			}
			ln.Close()
			if port != "0" || attempt == 9 {
				return fmt.Errorf("dnsserver: listen udp: %w", err)
			}
		}
	case s.ln == nil:
		ln, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("dnsserver: listen tcp: %w", err)
		}
		s.ln = ln
	default:
		pc, err := net.ListenPacket("udp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("dnsserver: listen udp: %w", err)
		}
		s.pc = pc
	}
	return nil
}

// UDPAddr is the bound UDP address (nil before Listen).
func (s *Server) UDPAddr() net.Addr {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.pc == nil {
		return nil
	}
	return s.pc.LocalAddr()
}

// TCPAddr is the bound TCP address (nil before Listen).
func (s *Server) TCPAddr() net.Addr {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// reloadRetry is how long Run waits before retrying a failed reload when no
// new change arrives.
const reloadRetry = time.Second

// Run loads the zones, serves UDP and TCP, and reloads after every value on
// changes (store.Subscribe's channel; nil means never) until ctx ends. A
// failed reload keeps the previous snapshot and is retried. Run returns nil
// after ctx ends, or the error that stopped it.
func (s *Server) Run(ctx context.Context, changes <-chan struct{}) error {
	if err := s.Listen(); err != nil {
		return err
	}
	if s.notify != nil {
		conn, err := s.notifySocket()
		if err != nil {
			s.pc.Close()
			s.ln.Close()
			return err
		}
		notifyCtx, stopNotify := context.WithCancel(ctx)
		notified := make(chan struct{})
		go func() {
			defer close(notified)
			s.notify.run(notifyCtx, conn)
		}()
		defer func() {
			stopNotify()
			conn.Close()
			<-notified
		}()
	}
	if err := s.Reload(ctx); err != nil {
		s.pc.Close()
		s.ln.Close()
		return err
	}
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	tcp := &dns.Server{Listener: s.ln, Handler: s, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		NotifyStartedFunc: notify}
	errc := make(chan error, 2)
	// UDP on one address: Portico's own loop (udp.go); on a wildcard
	// address, miekg's server, which answers from the address asked.
	udp := &dns.Server{PacketConn: s.pc, Handler: s, UDPSize: s.maxUDP, NotifyStartedFunc: notify}
	udpDone := make(chan struct{})
	if conn, ok := ownUDPLoop(s.pc); ok {
		udp = nil
		go func() {
			defer close(udpDone)
			s.serveUDP(conn)
		}()
		notify()
	} else {
		close(udpDone)
		go func() { errc <- serveErr("udp", udp.ActivateAndServe()) }()
	}
	go func() { errc <- serveErr("tcp", tcp.ActivateAndServe()) }()
	// Shutting a miekg server down before it started leaves it running:
	// wait for both to start.
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			s.pc.Close()
			s.ln.Close()
			if udp != nil {
				udp.Shutdown()
			}
			tcp.Shutdown()
			<-udpDone
			return err
		}
	}

	retry := time.NewTimer(0)
	if !retry.Stop() {
		<-retry.C
	}
	reload := func() {
		if err := s.Reload(ctx); err != nil {
			if ctx.Err() == nil {
				s.logger.Error("dns reload failed; serving the previous zones", "err", err)
				retry.Reset(reloadRetry)
			}
			return
		}
		retry.Stop()
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-changes:
			reload()
		case <-retry.C:
			reload()
		}
	}
	retry.Stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if udp != nil {
		udp.ShutdownContext(shutdownCtx)
	} else {
		s.pc.Close()
	}
	<-udpDone
	tcp.ShutdownContext(shutdownCtx)
	return runErr
}

func serveErr(proto string, err error) error {
	if err == nil {
		return fmt.Errorf("dnsserver: %s server stopped", proto)
	}
	return fmt.Errorf("dnsserver: %s server: %w", proto, err)
}

// notifySocket binds the UDP socket NOTIFY messages leave from: the DNS
// server's own address (secondaries accept NOTIFY from their primary's
// address), any port.
func (s *Server) notifySocket() (net.PacketConn, error) {
	host := "127.0.0.1"
	if a, ok := s.UDPAddr().(*net.UDPAddr); ok {
		host = a.IP.String()
		if a.IP.IsUnspecified() {
			host = ""
		}
	}
	conn, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("dnsserver: NOTIFY socket: %w", err)
	}
	return conn, nil
}

// ServeDNS answers one query; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, udp := w.LocalAddr().(*net.UDPAddr)
	if s.transferRequest(req, remoteAddr(w.RemoteAddr())) {
		for _, m := range s.transferReplies(req, udp) {
			if err := w.WriteMsg(m); err != nil {
				return
			}
		}
		return
	}
	resp := s.respond(req, udp, remoteAddr(w.RemoteAddr()))
	if resp == nil {
		return
	}
	// Pack into a pooled buffer: WriteMsg would allocate one per answer.
	bp := s.packBuffers.Get().(*[]byte)
	defer s.packBuffers.Put(bp)
	out, err := resp.PackBuffer(*bp)
	if err != nil {
		resp = new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
		if out, err = resp.PackBuffer(*bp); err != nil {
			return
		}
	}
	if _, err := w.Write(out); err != nil {
		// Nothing the client can be told; the query is lost like a dropped packet.
		return
	}
}
