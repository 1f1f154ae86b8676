// Package ocspstaple keeps a current OCSP response for each server
// certificate that is to be stapled (AWS IoT's
// serverCertificateConfig.enableOCSPCheck): it fetches the response from the
// responder the certificate names (its Authority Information Access OCSP
// URL), verifies it against the issuer or an authorized responder
// certificate, refreshes it before its nextUpdate, keeps the last good one
// through failures until that nextUpdate, and drops it afterwards.
//
// The TLS gateway reads staples with Stapler.Staple when it builds its
// snapshot and rebuilds the snapshot when Stapler.Changes fires; a handshake
// never waits on a responder. The package never touches the store.
package ocspstaple

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxResponseSize is the largest response stapled, as AWS IoT: 4 KiB.
const MaxResponseSize = 4 << 10

// Defaults of the Config fields.
const (
	// DefaultInterval: AWS IoT queries the responder every hour.
	DefaultInterval      = time.Hour
	DefaultMinInterval   = time.Minute
	DefaultRetryInterval = time.Minute
	DefaultFetchTimeout  = 10 * time.Second
)

// maxConcurrentFetches bounds the fetches one refresh runs at once.
const maxConcurrentFetches = 4

// Target is a certificate to staple.
type Target struct {
	// Leaf is the server certificate; its first http(s) OCSPServer URL is
	// where responses are fetched.
	Leaf *x509.Certificate
	// Issuer signed Leaf. The request identifies Leaf by Issuer's name and
	// key, and without Responder a response must be signed by Issuer or by
	// a responder certificate Issuer delegated OCSP signing to.
	Issuer *x509.Certificate
	// Responder, when set (ocspAuthorizedResponderArn), is the only
	// certificate whose key may sign the responses.
	Responder *x509.Certificate
	// Lambda, when set (ocspLambdaArn), is the user function that answers
	// the OCSP requests instead of the certificate's responder URL; its
	// responses are verified the same way.
	Lambda string
}

// key identifies a target: the same leaf verified by another responder is
// another target.
type key struct {
	certs  [3][sha256.Size]byte
	lambda string
}

func keyOf(t Target) key {
	k := key{lambda: t.Lambda}
	k.certs[0] = sha256.Sum256(t.Leaf.Raw)
	if t.Issuer != nil {
		k.certs[1] = sha256.Sum256(t.Issuer.Raw)
	}
	if t.Responder != nil {
		k.certs[2] = sha256.Sum256(t.Responder.Raw)
	}
	return k
}

// Config configures a Stapler. The zero value works.
type Config struct {
	// Client fetches responses; nil means a client with
	// http.DefaultTransport. Each fetch is bounded by FetchTimeout whatever
	// the client's own timeout.
	Client *http.Client
	// Now is the clock; nil means time.Now. Run's timers wait for the
	// durations this clock computes.
	Now func() time.Time
	// Interval is the longest wait between two fetches of a target whose
	// last fetch succeeded (default DefaultInterval). Within it, the next
	// fetch comes after half the time left until the response's nextUpdate.
	Interval time.Duration
	// MinInterval is the shortest wait after a successful fetch (default
	// DefaultMinInterval).
	MinInterval time.Duration
	// RetryInterval is the wait after a failed fetch (default
	// DefaultRetryInterval); it doubles with every further failure, up to
	// Interval.
	RetryInterval time.Duration
	// FetchTimeout bounds one fetch (default DefaultFetchTimeout).
	FetchTimeout time.Duration
	// Lambda calls a target's ocspLambdaArn function with a DER OCSP
	// request and returns its DER response; nil leaves such targets
	// without a staple.
	Lambda func(ctx context.Context, arn string, request []byte) ([]byte, error)
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Defaults are read through these and never written back into Config.
func (c *Config) interval() time.Duration { return orDefault(c.Interval, DefaultInterval) }

func (c *Config) minInterval() time.Duration { return orDefault(c.MinInterval, DefaultMinInterval) }

func (c *Config) retryInterval() time.Duration {
	return orDefault(c.RetryInterval, DefaultRetryInterval)
}

func (c *Config) fetchTimeout() time.Duration { return orDefault(c.FetchTimeout, DefaultFetchTimeout) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Stapler holds the staples of a set of targets. Run refreshes them; Set,
// Staple and Changes may be called from any goroutine.
type Stapler struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	entries map[key]*entry // guarded by mu

	wake    chan struct{} // Set has new targets for Run
	changes chan struct{}
}

// entry is one target's state. Its fields are guarded by Stapler.mu.
type entry struct {
	target Target
	url    string // "" when the target cannot be fetched
	// staple is the last verified response, nil when there is none;
	// expires is its nextUpdate.
	staple   []byte
	expires  time.Time
	next     time.Time // when to fetch next
	failures int       // consecutive failed fetches
}

// New returns a Stapler with no targets.
func New(cfg Config) *Stapler {
	s := &Stapler{
		cfg: cfg, client: cfg.Client, now: cfg.Now, logger: cfg.Logger,
		entries: map[key]*entry{},
		wake:    make(chan struct{}, 1),
		changes: make(chan struct{}, 1),
	}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s
}

// Set replaces the targets. Staples of targets that stay are kept; new
// targets are fetched at once by Run. Set does not fire Changes: its caller
// is rebuilding from the new set already.
func (s *Stapler) Set(targets []Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[key]*entry, len(targets))
	added := false
	for _, t := range targets {
		if t.Leaf == nil {
			continue
		}
		k := keyOf(t)
		if e, ok := s.entries[k]; ok {
			next[k] = e
			continue
		}
		if _, dup := next[k]; dup {
			continue
		}
		e := &entry{target: t}
		// A target that cannot be fetched stays in the set, so that the
		// warning is logged once, not at every Set.
		switch {
		case t.Issuer == nil:
			s.logger.Warn("ocsp stapling: the certificate's issuer is not in its chain; handshakes go without a staple",
				"certificate", t.String())
		case t.Leaf.Equal(t.Issuer):
			s.logger.Warn("ocsp stapling: the certificate is self-signed; handshakes go without a staple",
				"certificate", t.String())
		case t.Lambda != "":
			if s.cfg.Lambda == nil {
				s.logger.Warn("ocsp stapling: ocspLambdaArn is set but no function runner is configured; handshakes go without a staple",
					"certificate", t.String())
			} else {
				e.url = lambdaScheme + t.Lambda
			}
		default:
			if e.url = responderURL(t.Leaf); e.url == "" {
				s.logger.Warn("ocsp stapling: the certificate names no http OCSP responder; handshakes go without a staple",
					"certificate", t.String())
			}
		}
		next[k] = e
		added = true
	}
	s.entries = next
	if added {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// lambdaScheme marks, in an entry's url, a target answered by a function.
const lambdaScheme = "lambda:"

// responderURL returns the first http or https OCSP URL of leaf.
func responderURL(leaf *x509.Certificate) string {
	for _, u := range leaf.OCSPServer {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return u
		}
	}
	return ""
}

// Staple returns the current response (DER) for t, or nil when there is
// none or it has passed its nextUpdate. Callers must not modify it; it is
// what tls.Certificate.OCSPStaple takes.
func (s *Stapler) Staple(t Target) []byte {
	if t.Leaf == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[keyOf(t)]
	if e == nil || e.staple == nil || !s.now().Before(e.expires) {
		return nil
	}
	return e.staple
}

// Changes fires (it is buffered, and coalesces) when a staple appears,
// changes or is dropped. It is meant for one reader: the gateway's reload
// loop.
func (s *Stapler) Changes() <-chan struct{} { return s.changes }

func (s *Stapler) notify() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// Run fetches and refreshes staples until ctx ends. Fetches in progress are
// cancelled and waited for before Run returns.
func (s *Stapler) Run(ctx context.Context) {
	for {
		next := s.refresh(ctx)
		if ctx.Err() != nil {
			return
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(max(next.Sub(s.now()), 0))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// refresh drops expired staples, fetches every target that is due, and
// returns when it next has something to do (zero: nothing until Set).
func (s *Stapler) refresh(ctx context.Context) time.Time {
	now := s.now()
	var due []*entry
	s.mu.Lock()
	dropped := s.expireLocked(now)
	for _, e := range s.entries {
		if e.url != "" && !e.next.After(now) {
			due = append(due, e)
		}
	}
	s.mu.Unlock()
	if dropped {
		s.notify()
	}

	var wg sync.WaitGroup
	slots := make(chan struct{}, maxConcurrentFetches)
	for _, e := range due {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			der, nextUpdate, err := s.fetch(ctx, e.target, e.url)
			if ctx.Err() != nil {
				return // shutting down: not the responder's failure
			}
			s.record(e, der, nextUpdate, err)
		}()
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextWakeLocked()
}

// expireLocked drops the staples past their nextUpdate. AWS IoT does the
// same: the handshake then goes on without a staple.
func (s *Stapler) expireLocked(now time.Time) bool {
	dropped := false
	for _, e := range s.entries {
		if e.staple != nil && !now.Before(e.expires) {
			s.logger.Warn("ocsp stapling: the last response passed its nextUpdate; handshakes go without a staple until a fetch succeeds",
				"certificate", e.target.String(), "next_update", e.expires)
			e.staple = nil
			dropped = true
		}
	}
	return dropped
}

func (s *Stapler) nextWakeLocked() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, e := range s.entries {
		if e.url != "" {
			earlier(e.next)
		}
		if e.staple != nil {
			earlier(e.expires)
		}
	}
	return next
}

// record applies the outcome of a fetch to e and schedules its next one.
func (s *Stapler) record(e *entry, der []byte, nextUpdate time.Time, err error) {
	now := s.now()
	s.mu.Lock()
	if s.entries[keyOf(e.target)] != e {
		s.mu.Unlock()
		return // the target left the set during the fetch
	}
	if err != nil {
		e.failures++
		wait := s.cfg.interval()
		if e.failures <= 16 {
			wait = min(s.cfg.retryInterval()<<(e.failures-1), wait)
		}
		e.next = now.Add(wait)
		kept := e.staple != nil && now.Before(e.expires)
		expires := e.expires
		s.mu.Unlock()
		if kept {
			s.logger.Warn("ocsp stapling: fetch failed; stapling the last response until its nextUpdate",
				"certificate", e.target.String(), "url", e.url, "err", err, "next_update", expires, "retry_in", wait)
		} else {
			s.logger.Warn("ocsp stapling: fetch failed; handshakes go without a staple",
				"certificate", e.target.String(), "url", e.url, "err", err, "retry_in", wait)
		}
		return
	}
	if nextUpdate.IsZero() {
		// "Newer information is always available": staple it until the
		// next regular fetch.
		nextUpdate = now.Add(s.cfg.interval())
	}
	changed := !bytes.Equal(e.staple, der)
	e.staple, e.expires, e.failures = der, nextUpdate, 0
	wait := min(max(nextUpdate.Sub(now)/2, s.cfg.minInterval()), s.cfg.interval())
	e.next = now.Add(wait)
	s.mu.Unlock()
	if changed {
		s.logger.Debug("ocsp stapling: new response", "certificate", e.target.String(), "next_update", nextUpdate, "refresh_in", wait)
		s.notify()
	}
}

// String names the target's leaf, for logs.
func (t Target) String() string {
	if t.Leaf == nil {
		return "<no leaf>"
	}
	return fmt.Sprintf("%s (serial %s)", t.Leaf.Subject, t.Leaf.SerialNumber.Text(16))
}
