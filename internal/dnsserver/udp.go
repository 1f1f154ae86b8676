package dnsserver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/miekg/dns"
)

// Portico's own UDP loop. miekg/dns's server starts a goroutine per packet
// (whose stack then grows), sets a read deadline per read and parses the
// destination address of every packet; on a socket bound to one address
// none of that is needed. A fixed set of workers each read, answer into
// reused buffers and write: while one waits in the read, the others answer.
// A socket bound to a wildcard address keeps miekg's server, which answers
// from the address each query was sent to.

// ownUDPLoop reports whether pc can be served by serveUDP.
func ownUDPLoop(pc net.PacketConn) (*net.UDPConn, bool) {
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		return nil, false
	}
	a, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || a.IP == nil || a.IP.IsUnspecified() {
		return nil, false
	}
	return conn, true
}

// serveUDP answers on conn until it is closed.
func (s *Server) serveUDP(conn *net.UDPConn) {
	var wg sync.WaitGroup
	for range max(2, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := make([]byte, dns.MaxMsgSize)
			out := make([]byte, s.maxUDP)
			for {
				n, from, err := conn.ReadFromUDPAddrPort(in)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // an ICMP error reported on the socket, a truncated read
				}
				resp := s.answerPacket(in[:n], from.Addr().Unmap())
				if resp == nil {
					continue
				}
				b, err := resp.PackBuffer(out)
				if err != nil {
					continue
				}
				conn.WriteToUDPAddrPort(b, from) // a lost answer is a lost packet
			}
		}()
	}
	wg.Wait()
}

// answerPacket is the reply to one UDP packet, or nil when none must be
// sent. It treats malformed and unsupported messages as miekg's server
// does (dns.DefaultMsgAcceptFunc): responses and packets without a header
// are ignored, other opcodes than QUERY and NOTIFY get NOTIMP, messages
// with unexpected section counts or that do not unpack FORMERR.
func (s *Server) answerPacket(raw []byte, remote netip.Addr) *dns.Msg {
	const headerSize = 12
	if len(raw) < headerSize {
		return nil
	}
	bits := binary.BigEndian.Uint16(raw[2:])
	if bits&(1<<15) != 0 { // QR: a response
		return nil
	}
	count := func(i int) uint16 { return binary.BigEndian.Uint16(raw[4+2*i:]) }
	opcode := int(bits>>11) & 0xF
	reject := -1
	switch {
	case opcode != dns.OpcodeQuery && opcode != dns.OpcodeNotify:
		reject = dns.RcodeNotImplemented
	case count(0) != 1 || count(1) > 1 || count(2) > 1 || count(3) > 2:
		reject = dns.RcodeFormatError
	}
	req := new(dns.Msg)
	if reject < 0 {
		if err := req.Unpack(raw); err != nil {
			reject = dns.RcodeFormatError
		}
	}
	if reject >= 0 {
		resp := new(dns.Msg)
		resp.Id = binary.BigEndian.Uint16(raw)
		resp.Response = true
		resp.Opcode = opcode
		if opcode == dns.OpcodeQuery {
			resp.RecursionDesired = bits&(1<<8) != 0
			resp.CheckingDisabled = bits&(1<<4) != 0
		}
		if len(req.Question) > 0 {
			resp.Question = req.Question[:1]
		}
		resp.Rcode = reject
		return resp
	}
	if s.transferRequest(req, remote) {
		// Over UDP a transfer request has a single reply.
		return s.transferReplies(req, true)[0]
	}
	return s.respond(req, true, remote)
}
