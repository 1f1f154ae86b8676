package acmeissuer

import (
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// ChallengeTTL is the TTL of the challenge TXT records: short, since they
// live only while an order is being validated.
const ChallengeTTL = 60

// Challenges is the set of ACME DNS-01 TXT records Portico publishes while
// orders are validated: owner name -> values. It is safe for concurrent use.
// The DNS wiring includes Records in the validation zone and reloads on
// OnChange; it holds nothing on disk (an order interrupted by a restart is
// simply retried).
type Challenges struct {
	mu      sync.Mutex
	records map[string][]string
	// OnChange, when set, is called after every change, outside the lock
	// (the wiring reloads the DNS server there, so a record is served when
	// Add returns).
	OnChange func()
}

// Add publishes value as a TXT record at name (a fully qualified name; a
// trailing dot is added if missing).
func (c *Challenges) Add(name, value string) {
	name = canonical(name)
	c.mu.Lock()
	if c.records == nil {
		c.records = map[string][]string{}
	}
	if !slices.Contains(c.records[name], value) {
		c.records[name] = append(c.records[name], value)
	}
	c.mu.Unlock()
	c.changed()
}

// Remove withdraws the TXT record value at name.
func (c *Challenges) Remove(name, value string) {
	name = canonical(name)
	c.mu.Lock()
	vals := slices.DeleteFunc(slices.Clone(c.records[name]), func(v string) bool { return v == value })
	if len(vals) == 0 {
		delete(c.records, name)
	} else {
		c.records[name] = vals
	}
	c.mu.Unlock()
	c.changed()
}

// Values returns the values published at name.
func (c *Challenges) Values(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.records[canonical(name)])
}

// Records returns every published record as TXT resource records, sorted
// by name.
func (c *Challenges) Records() []dns.RR {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.records))
	for n := range c.records {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []dns.RR
	for _, n := range names {
		for _, v := range c.records[n] {
			out = append(out, &dns.TXT{
				Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ChallengeTTL},
				Txt: []string{v},
			})
		}
	}
	return out
}

func (c *Challenges) changed() {
	if c.OnChange != nil {
		c.OnChange()
	}
}

func canonical(name string) string {
	return dns.Fqdn(strings.ToLower(name))
}
