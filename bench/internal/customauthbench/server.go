package customauthbench

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/servers"
	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/customauth"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/store"
)

// Names the stack uses.
const (
	Region         = "us-east-1"
	Account        = "123456789012"
	AuthorizerName = "bench"
	// SignedAuthorizerName has token signing: tokenKeyName "token" and one
	// RSA-2048 public key.
	SignedAuthorizerName = "bench-signed"
	SignedToken          = "bench-signed-token"
	FunctionName         = "bench-auth"
	// CachedToken is the token (MQTT password) of the cached-decision runs.
	CachedToken = "bench-cached-token"
)

// stack is Portico's device side as `portico serve` wires it for custom
// authorizers: a SQLite store in a temporary directory holding the function
// registry (internal/function), the authorizers (internal/authorizer) and
// the domain configurations (internal/endpoint); internal/customauth as the
// gateway's CustomAuthenticator; the gateway's ALPN listener (443's role)
// on loopback with the broker behind it; the device registry of the bench
// material for mTLS.
type stack struct {
	Addr string
	// SignedQuery is what follows the client ID in the username of a
	// device using the signed authorizer: its name, the token and the
	// token's signature.
	SignedQuery string
	dir         string
	st          *store.Store
	reg         *servers.Registry
	fns         *function.Registry
	gw          *gateway.Gateway
	b           *broker.Broker
	ln          net.Listener

	cancel context.CancelFunc
	served chan struct{}
	logs   *limitedHandler
}

// staticSource is a gateway.Source that never changes.
type staticSource struct {
	domains []gateway.Domain
	devices gateway.Devices
}

func (s staticSource) Domains(context.Context) ([]gateway.Domain, error) {
	return append([]gateway.Domain(nil), s.domains...), nil
}
func (s staticSource) Devices(context.Context) (gateway.Devices, error) { return s.devices, nil }

// startStack builds the stack; fnURL and secret are the user's function.
func startStack(ctx context.Context, set *material.Set, fnURL, secret string, netHTTPDefault bool, log io.Writer) (_ *stack, err error) {
	s := &stack{served: make(chan struct{}), logs: &limitedHandler{w: log, left: 10}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "portico-bench-customauth-"); err != nil {
		return nil, err
	}
	if s.st, err = store.Open(ctx, s.dir); err != nil {
		return nil, err
	}
	if s.reg, err = servers.NewRegistry(ctx, set); err != nil {
		return nil, err
	}
	logger := slog.New(s.logs)
	eps, err := endpoint.NewService(ctx, s.st, nil, endpoint.Config{Region: Region, Account: Account, BaseDomain: material.Zone})
	if err != nil {
		return nil, err
	}
	// Client nil: the HTTP client `portico serve` uses (function.New's).
	var client *http.Client
	if netHTTPDefault {
		client = &http.Client{}
	}
	if s.fns, err = function.New(ctx, s.st, function.Config{Region: Region, Account: Account, Client: client, Logger: logger.With("component", "function")}); err != nil {
		return nil, err
	}
	if _, err = s.fns.Put(ctx, function.Function{Name: FunctionName, URL: fnURL, Secret: secret, Timeout: function.DefaultTimeout}); err != nil {
		return nil, err
	}
	auths, err := authorizer.NewService(ctx, s.st, s.fns, authorizer.Config{Region: Region, Account: Account})
	if err != nil {
		return nil, err
	}
	arn, yes := s.fns.ARN(FunctionName), true
	if _, err = auths.Create(ctx, AuthorizerName, authorizer.Input{FunctionARN: &arn, SigningDisabled: &yes}); err != nil {
		return nil, fmt.Errorf("create authorizer: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tokenKey := "token"
	if _, err = auths.Create(ctx, SignedAuthorizerName, authorizer.Input{FunctionARN: &arn, TokenKeyName: &tokenKey,
		SigningPublicKeys: map[string]string{"bench": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}); err != nil {
		return nil, fmt.Errorf("create signed authorizer: %w", err)
	}
	sum := sha256.Sum256([]byte(SignedToken))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, err
	}
	s.SignedQuery = url.Values{authorizer.ParamName: {SignedAuthorizerName}, tokenKey: {SignedToken},
		authorizer.ParamSignature: {base64.StdEncoding.EncodeToString(sig)}}.Encode()
	ca := customauth.New(eps, auths, Region, Account)
	if err = ca.Refresh(ctx); err != nil {
		return nil, err
	}
	domains, err := servers.Domains(set)
	if err != nil {
		return nil, err
	}
	if s.b, err = broker.New(broker.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if s.gw, err = gateway.New(gctx, gateway.Config{Source: staticSource{domains: domains, devices: s.reg}, Broker: s.b,
		CustomAuth: ca, Region: Region, Logger: logger.With("component", "gateway")}); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.Addr = s.ln.Addr().String()
	go func() { s.gw.ServeALPN(s.ln); close(s.served) }()
	return s, nil
}

// Close shuts everything down and removes the temporary directory.
func (s *stack) Close() {
	if s.gw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.gw.Shutdown(ctx)
		cancel()
		if s.ln != nil {
			<-s.served
		}
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.b != nil {
		s.b.Close()
	}
	if s.reg != nil {
		s.reg.Close()
	}
	if s.st != nil {
		s.st.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// limitedHandler writes the first records at Info or above (refusals and
// failed function calls, with their reasons) and counts the rest.
type limitedHandler struct {
	w       io.Writer
	mu      sync.Mutex
	left    int
	dropped atomic.Int64
	attrs   []slog.Attr
	// failures counts "function call failed" records since the last
	// takeFailures, and first keeps the first one's reason.
	failures int64
	first    string
}

// takeFailures returns the failed function calls logged since the last
// call, and the first one's reason.
func (h *limitedHandler) takeFailures() (int64, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, first := h.failures, h.first
	h.failures, h.first = 0, ""
	return n, first
}

func (h *limitedHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *limitedHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Message == "function call failed" {
		if h.failures++; h.failures == 1 {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "reason" {
					h.first = a.Value.String()
					return false
				}
				return true
			})
		}
	}
	if h.left <= 0 {
		h.dropped.Add(1)
		return nil
	}
	h.left--
	r.AddAttrs(h.attrs...)
	return slog.NewTextHandler(h.w, nil).Handle(ctx, r)
}

func (h *limitedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sharedHandler{root: h, attrs: as}
}

func (h *limitedHandler) WithGroup(string) slog.Handler { return h }

// sharedHandler shares its root's budget.
type sharedHandler struct {
	root  *limitedHandler
	attrs []slog.Attr
}

func (h *sharedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.root.Enabled(ctx, l)
}
func (h *sharedHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(h.attrs...)
	return h.root.Handle(ctx, r)
}
func (h *sharedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &sharedHandler{root: h.root, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h *sharedHandler) WithGroup(string) slog.Handler { return h }
