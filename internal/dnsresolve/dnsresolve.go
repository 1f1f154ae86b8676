// Package dnsresolve looks up CNAME records through recursive DNS resolvers,
// for names Portico is not authoritative for: the ACM validator asks it
// whether an operator's validation CNAME is visible in public (or corporate)
// DNS. Queries ask for recursion, go over UDP and fall back to TCP when the
// answer is truncated; every query is bounded by a timeout, and CNAME chains
// are followed a bounded number of steps.
package dnsresolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Defaults of Resolver.
const (
	DefaultTimeout  = 3 * time.Second
	DefaultMaxChain = 8
	// udpSize is the EDNS0 buffer size advertised over UDP (the DNS flag
	// day 2020 value: no IP fragmentation).
	udpSize = 1232
)

// Resolver asks recursive resolvers. The zero value is not usable: set
// Servers. A Resolver is safe for concurrent use.
type Resolver struct {
	// Servers are host:port addresses of recursive resolvers, asked in
	// order until one answers (NOERROR or NXDOMAIN).
	Servers []string
	// Timeout bounds each query to one server (UDP, then TCP on
	// truncation, each get the whole timeout); 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxChain is how many CNAMEs LookupCNAMEChain follows; 0 means
	// DefaultMaxChain.
	MaxChain int
}

// ErrNoServers is returned by a Resolver without servers.
var ErrNoServers = errors.New("dnsresolve: no resolvers configured")

// FromResolvConf returns the nameservers (host:port) of a resolv.conf file
// such as /etc/resolv.conf.
func FromResolvConf(path string) ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dnsresolve: %w", err)
	}
	var out []string
	for _, s := range cfg.Servers {
		out = append(out, net.JoinHostPort(s, cfg.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dnsresolve: %s names no nameserver", path)
	}
	return out, nil
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// LookupCNAME returns the target of the CNAME record at name (one step, not
// followed); found is false when the name has none (NXDOMAIN, or NOERROR
// without a CNAME). An error means no resolver gave an answer.
func (r *Resolver) LookupCNAME(ctx context.Context, name string) (string, bool, error) {
	if len(r.Servers) == 0 {
		return "", false, ErrNoServers
	}
	name = dns.Fqdn(strings.ToLower(name))
	var errs []error
	for _, server := range r.Servers {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		in, err := r.exchange(ctx, name, server)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			// SERVFAIL, REFUSED...: this resolver cannot say; ask the next.
			errs = append(errs, fmt.Errorf("%s answered %s", server, dns.RcodeToString[in.Rcode]))
			continue
		}
		// A resolver may return the whole chain; take the record at name.
		for _, rr := range in.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
				return strings.ToLower(c.Target), true, nil
			}
		}
		return "", false, nil
	}
	return "", false, fmt.Errorf("dnsresolve: CNAME %s: %w", name, errors.Join(errs...))
}

// exchange asks one server over UDP, then over TCP if the answer is
// truncated.
func (r *Resolver) exchange(ctx context.Context, name, server string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeCNAME) // sets RD: ask the resolver to recurse
	m.SetEdns0(udpSize, false)
	udp := &dns.Client{Net: "udp", Timeout: r.timeout(), UDPSize: udpSize}
	in, _, err := r.query(ctx, udp, m, server)
	if err != nil {
		return nil, err
	}
	if in.Truncated {
		tcp := &dns.Client{Net: "tcp", Timeout: r.timeout()}
		if in, _, err = r.query(ctx, tcp, m, server); err != nil {
			return nil, fmt.Errorf("%s over TCP after a truncated answer: %w", server, err)
		}
	}
	if in.Id != m.Id {
		return nil, fmt.Errorf("%s: answer id mismatch", server)
	}
	return in, nil
}

func (r *Resolver) query(ctx context.Context, c *dns.Client, m *dns.Msg, server string) (*dns.Msg, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	in, rtt, err := c.ExchangeContext(ctx, m, server)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", server, err)
	}
	return in, rtt, nil
}

// LookupCNAMEChain follows the CNAMEs from name and returns their targets
// in order (empty when name has no CNAME). See Follow.
func (r *Resolver) LookupCNAMEChain(ctx context.Context, name string) ([]string, error) {
	return Follow(ctx, name, r.MaxChain, r.LookupCNAME)
}

// LookupFunc is one CNAME step, as Resolver.LookupCNAME.
type LookupFunc func(ctx context.Context, name string) (target string, found bool, err error)

// Follow follows CNAMEs from name with lookup, at most maxChain steps (0
// means DefaultMaxChain), and returns the targets in order. It stops at a
// name without a CNAME, at a loop, or after maxChain steps. An error at a
// later step is returned with the targets found before it, which the
// caller may still use (the end of a chain can sit in a zone the resolvers
// cannot reach).
func Follow(ctx context.Context, name string, maxChain int, lookup LookupFunc) ([]string, error) {
	if maxChain <= 0 {
		maxChain = DefaultMaxChain
	}
	seen := map[string]bool{dns.Fqdn(strings.ToLower(name)): true}
	var chain []string
	for range maxChain {
		target, found, err := lookup(ctx, name)
		if err != nil {
			return chain, err
		}
		if !found {
			return chain, nil
		}
		target = dns.Fqdn(strings.ToLower(target))
		if seen[target] {
			return chain, nil // a loop: nothing new beyond this point
		}
		seen[target] = true
		chain = append(chain, target)
		name = target
	}
	return chain, nil
}
