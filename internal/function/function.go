// Package function holds the user functions Portico calls where AWS IoT
// calls a Lambda function (custom authorizers today): a registry of
// functions by name (URL, timeout, signing secret) kept in the store, and
// Invoke, which POSTs the JSON event AWS would send to the Lambda and
// returns the JSON the function answers.
//
// Each call is signed so that the function can check it came from Portico:
//
//	X-Portico-Function:  the function's name
//	X-Portico-Timestamp: Unix seconds when the call was made
//	X-Portico-Signature: hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// Verify is the check a function (written in Go) makes.
package function

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
)

// The headers of a signed call.
const (
	HeaderFunction  = "X-Portico-Function"
	HeaderTimestamp = "X-Portico-Timestamp"
	HeaderSignature = "X-Portico-Signature"
)

// Limits.
const (
	DefaultTimeout = 5 * time.Second
	MaxTimeout     = 900 * time.Second // Lambda's maximum
	// MaxResponseBytes bounds a function's answer (Lambda's synchronous
	// response limit is 6 MB; an authorizer's answer is far smaller).
	MaxResponseBytes = 1 << 20
)

// Function is one registered user function.
type Function struct {
	Name    string
	URL     string
	Timeout time.Duration
	Secret  string
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// Config configures the registry.
type Config struct {
	Region  string
	Account string
	// Client makes the calls; nil means NewClient() (no timeout of its own:
	// each call is bounded by its function's timeout).
	Client *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// Registry stores functions and invokes them.
type Registry struct {
	st     *store.Store
	cfg    Config
	client *http.Client

	mu    sync.Mutex
	gen   uint64
	cache map[string]Function // by name, valid while st.Generation() == gen
}

var migrations = []string{`
CREATE TABLE functions (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  timeout_ms INTEGER NOT NULL,
  secret TEXT NOT NULL,
  created INTEGER NOT NULL
);
`}

// New opens the registry.
func New(ctx context.Context, st *store.Store, cfg Config) (*Registry, error) {
	if err := st.Migrate(ctx, "function", migrations); err != nil {
		return nil, err
	}
	c := cfg.Client
	if c == nil {
		c = NewClient()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{st: st, cfg: cfg, client: c}, nil
}

// Idle connections the default client keeps (NewClient): per function
// host, as many as AWS Lambda's default concurrency (1,000 calls in flight
// per account), rounded up; an idle connection costs two goroutines and
// 8 KB of buffers, and closes after 90 s unused.
const (
	MaxIdleConns        = 4096
	MaxIdleConnsPerHost = 1024
)

// NewClient is the client a registry uses when its Config has none:
// net/http's default transport (proxy from the environment, dial and TLS
// handshake timeouts, HTTP/2) with an idle pool sized for a connect storm.
// The default transport keeps only 2 idle connections per host, so when more
// calls than that are in flight to one function (devices with distinct
// tokens connecting at once), all but 2 connections are closed after their
// call and the next calls dial new ones: a TCP (and, for https, a TLS)
// handshake per call on both ends, and a TIME_WAIT socket per call on
// Portico's side, which at a few hundred calls a second for a minute runs
// out of ephemeral ports towards one remote function (where
// net.ipv4.tcp_tw_reuse does not let Linux reuse them). The number of
// connections in use stays unbounded (as many as calls in flight, which the
// gateway's connect and call timeouts bound); only how many are kept idle
// changes, and those close after IdleConnTimeout (90 s). With 256 idle
// connections per host, 2,000 devices connecting at once on a busy 2-core
// machine still had over 1,000 calls in flight at the transport (a call's
// round trip stretches far beyond the function's own time when the CPU is
// short), so most calls still dialled; with 1,024, none did once the pool
// had grown (bench/cmd/customauth).
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = MaxIdleConns
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	return &http.Client{Transport: t}
}

func (r *Registry) now() time.Time {
	if r.cfg.Now != nil {
		return r.cfg.Now()
	}
	return time.Now()
}

// Validate checks a function's fields; a zero Timeout is DefaultTimeout.
func Validate(f *Function) error {
	if !nameRE.MatchString(f.Name) {
		return fault.Invalidf("function name %q must be 1 to 64 letters, digits, hyphens or underscores", f.Name)
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fault.Invalidf("function URL %q must be an absolute http or https URL", f.URL)
	}
	if f.Timeout == 0 {
		f.Timeout = DefaultTimeout
	}
	if f.Timeout < time.Millisecond || f.Timeout > MaxTimeout {
		return fault.Invalidf("function timeout %s must be between 1ms and %s", f.Timeout, MaxTimeout)
	}
	return nil
}

// NewSecret returns a random signing secret (32 bytes, hex).
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Put creates or replaces a function. An empty Secret keeps the existing
// function's secret, or generates one for a new function. It returns the
// function as stored.
func (r *Registry) Put(ctx context.Context, f Function) (Function, error) {
	out, err := r.PutAll(ctx, []Function{f})
	if err != nil {
		return Function{}, err
	}
	return out[0], nil
}

// PutAll registers or replaces several functions, all or none (the
// functions file of `portico serve --functions`).
func (r *Registry) PutAll(ctx context.Context, fs []Function) ([]Function, error) {
	fs = slices.Clone(fs)
	for i := range fs {
		if err := Validate(&fs[i]); err != nil {
			return nil, err
		}
	}
	_, err := r.st.Update(ctx, func(tx *sql.Tx) error {
		for i := range fs {
			if err := r.putTx(ctx, tx, &fs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fs, nil
}

func (r *Registry) putTx(ctx context.Context, tx *sql.Tx, f *Function) error {
	if f.Secret == "" {
		err := tx.QueryRowContext(ctx, `SELECT secret FROM functions WHERE name=?`, f.Name).Scan(&f.Secret)
		if errors.Is(err, sql.ErrNoRows) {
			f.Secret = NewSecret()
		} else if err != nil {
			return fmt.Errorf("function: read %s: %w", f.Name, err)
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO functions (name, url, timeout_ms, secret, created) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET url=excluded.url, timeout_ms=excluded.timeout_ms, secret=excluded.secret`,
		f.Name, f.URL, f.Timeout.Milliseconds(), f.Secret, r.now().Unix())
	if err != nil {
		return fmt.Errorf("function: put %s: %w", f.Name, err)
	}
	return nil
}

// Delete removes a function; an unknown name is fault.NotFound.
func (r *Registry) Delete(ctx context.Context, name string) error {
	_, err := r.st.Update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM functions WHERE name=?`, name)
		if err != nil {
			return fmt.Errorf("function: delete %s: %w", name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("Function %s is not registered", name)
		}
		return nil
	})
	return err
}

// snapshot returns the registered functions, re-read only after a store
// change, so that Invoke does not query the database per call.
func (r *Registry) snapshot(ctx context.Context) (map[string]Function, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	gen := r.st.Generation()
	if r.cache != nil && gen == r.gen {
		return r.cache, nil
	}
	rows, err := r.st.DB().QueryContext(ctx, `SELECT name, url, timeout_ms, secret FROM functions`)
	if err != nil {
		return nil, fmt.Errorf("function: list: %w", err)
	}
	defer rows.Close()
	m := map[string]Function{}
	for rows.Next() {
		var f Function
		var ms int64
		if err := rows.Scan(&f.Name, &f.URL, &ms, &f.Secret); err != nil {
			return nil, fmt.Errorf("function: list: %w", err)
		}
		f.Timeout = time.Duration(ms) * time.Millisecond
		m[f.Name] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("function: list: %w", err)
	}
	r.cache, r.gen = m, gen
	return m, nil
}

// Get returns a function by name; an unknown name is fault.NotFound.
func (r *Registry) Get(ctx context.Context, name string) (Function, error) {
	m, err := r.snapshot(ctx)
	if err != nil {
		return Function{}, err
	}
	f, ok := m[name]
	if !ok {
		return Function{}, fault.NotFoundf("Function %s is not registered (portico function put %s --url ...)", name, name)
	}
	return f, nil
}

// List returns the functions by name.
func (r *Registry) List(ctx context.Context) ([]Function, error) {
	m, err := r.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Function, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// NameFromARN returns the function name of
// arn:aws:lambda:<region>:<account>:function:<NAME> when region and account
// are Portico's. Anything else is fault.Invalid.
func (r *Registry) NameFromARN(arn string) (string, error) {
	p := strings.Split(arn, ":")
	if len(p) != 7 || p[0] != "arn" || !strings.HasPrefix(p[1], "aws") || p[2] != "lambda" || p[5] != "function" || !nameRE.MatchString(p[6]) {
		return "", fault.Invalidf("%q is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)", arn)
	}
	if (r.cfg.Region != "" && p[3] != r.cfg.Region) || (r.cfg.Account != "" && p[4] != r.cfg.Account) {
		return "", fault.Invalidf("function ARN %q names region %q and account %q; Portico serves region %q and account %q", arn, p[3], p[4], r.cfg.Region, r.cfg.Account)
	}
	return p[6], nil
}

// Resolve returns the registered function an ARN names. An ARN of another
// shape, region or account, or naming an unregistered function, is
// fault.Invalid (the API's InvalidRequestException).
func (r *Registry) Resolve(ctx context.Context, arn string) (Function, error) {
	name, err := r.NameFromARN(arn)
	if err != nil {
		return Function{}, err
	}
	f, err := r.Get(ctx, name)
	if fault.Is(err, fault.NotFound) {
		return Function{}, fault.Invalidf("function %s is not registered with Portico (portico function put %s --url ...)", arn, name)
	}
	return f, err
}

// FunctionName is Resolve returning the name only.
func (r *Registry) FunctionName(ctx context.Context, arn string) (string, error) {
	f, err := r.Resolve(ctx, arn)
	return f.Name, err
}

// ARN returns the Lambda ARN that names a function in Portico's region and
// account.
func (r *Registry) ARN(name string) string {
	return "arn:aws:lambda:" + r.cfg.Region + ":" + r.cfg.Account + ":function:" + name
}

// InvokeError is a failed call, with the reason.
type InvokeError struct {
	Function string
	Reason   string
	// Timeout is set when the function did not answer in time.
	Timeout bool
}

func (e *InvokeError) Error() string { return "function " + e.Function + ": " + e.Reason }

// Sign returns the signature of a call: hex(HMAC-SHA256(secret,
// timestamp + "." + body)).
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a call's signature headers against body, and that the
// timestamp is within tolerance of now.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("function: missing or malformed " + HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("function: timestamp outside the tolerance")
	}
	got, err := hex.DecodeString(h.Get(HeaderSignature))
	want, _ := hex.DecodeString(Sign(secret, ts, body))
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("function: signature does not match")
	}
	return nil
}

// Invoke calls the named function with the JSON of event and returns its
// JSON answer. A failure (unknown function, timeout, transport error,
// non-2xx status, an answer over MaxResponseBytes or not JSON) is an
// *InvokeError (fault.NotFound for an unknown function) and is logged with
// its reason.
func (r *Registry) Invoke(ctx context.Context, name string, event any) ([]byte, error) {
	f, err := r.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("function %s: encode event: %w", name, err)
	}
	start := r.now()
	out, err := r.call(ctx, f, body, start)
	if err != nil {
		r.cfg.Logger.Warn("function call failed", "function", name, "url", f.URL, "reason", err.(*InvokeError).Reason,
			"elapsed", time.Since(start).Round(time.Millisecond))
		return nil, err
	}
	r.cfg.Logger.Debug("function called", "function", name, "elapsed", time.Since(start).Round(time.Millisecond))
	return out, nil
}

func (r *Registry) call(ctx context.Context, f Function, body []byte, now time.Time) ([]byte, error) {
	fail := func(timeout bool, format string, args ...any) error {
		return &InvokeError{Function: f.Name, Reason: fmt.Sprintf(format, args...), Timeout: timeout}
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fail(false, "bad URL: %v", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Portico")
	req.Header.Set(HeaderFunction, f.Name)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(f.Secret, ts, body))
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fail(true, "no answer within the timeout of %s", f.Timeout)
		}
		return nil, fail(false, "call failed: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fail(true, "answer not complete within the timeout of %s", f.Timeout)
		}
		return nil, fail(false, "reading the answer: %v", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fail(false, "answered HTTP %d: %s", resp.StatusCode, snippet(out))
	}
	if len(out) > MaxResponseBytes {
		return nil, fail(false, "answer is larger than %d bytes", MaxResponseBytes)
	}
	if !json.Valid(out) {
		return nil, fail(false, "answer is not JSON: %s", snippet(out))
	}
	return out, nil
}

// snippet is the start of a body, for a log line.
func snippet(b []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strconv.Quote(s)
}
