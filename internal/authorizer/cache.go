package authorizer

import (
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Result caching: the same presentation to the same authorizer (unchanged
// since) gets the same result without calling the function again, for
// refreshAfterInSeconds when it was a Decision, and for FailureTTL when it
// was a failure, so that a misbehaving device cannot hammer the function.
const (
	FailureTTL = 5 * time.Second
	maxCached  = 10000
)

type cacheEntry struct {
	d       *Decision
	err     error
	expires time.Time
}

type resultCache struct {
	mu sync.Mutex
	m  map[[32]byte]cacheEntry
}

// key identifies a presentation: the authorizer as last modified, the
// token signature (not in the event, but a hit must prove that this very
// signature verified) and the event without its connection ID.
func (c *resultCache) key(a Authorizer, signature string, event map[string]any) [32]byte {
	ev := make(map[string]any, len(event))
	for k, v := range event {
		if k != "connectionMetadata" {
			ev[k] = v
		}
	}
	b, _ := json.Marshal(ev)
	h := sha256.New()
	h.Write([]byte(a.Name + "\x00" + strconv.FormatInt(a.Modified.UnixMilli(), 10) + "\x00" + signature + "\x00"))
	h.Write(b)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *resultCache) get(k [32]byte, now time.Time) (*Decision, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		return nil, nil, false
	}
	return e.d, e.err, true
}

func (c *resultCache) put(k [32]byte, d *Decision, err error, now time.Time) {
	ttl := FailureTTL
	if err == nil && d.IsAuthenticated {
		ttl = d.RefreshAfter
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[[32]byte]cacheEntry)
	}
	c.m[k] = cacheEntry{d: d, err: err, expires: now.Add(ttl)}
}
