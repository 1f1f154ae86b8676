// Package customauth runs AWS IoT custom authorizers for the gateway: it
// chooses the authorizer of a connection (the one the device names where
// the domain allows it, else the domain configuration's default, else the
// account default), builds the event AWS sends to the Lambda from what the
// connection presented, calls the user's function through
// internal/authorizer, and turns the answer into a session whose policies
// decide every request and are refreshed at refreshAfterInSeconds. It also
// runs the other user functions of a domain configuration: the client
// certificate callback and the OCSP function. It is where gateway, endpoint,
// authorizer and device meet, so that none of them imports another.
package customauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/gateway"
)

// MaxHTTPData bounds the headers and query string forwarded to the
// function, as AWS's 8 KB.
const MaxHTTPData = 8 << 10

// Authenticator implements gateway.CustomAuthenticator. What it needs to
// choose is read from a view rebuilt on every store change, so a connection
// never waits on the database; only the user's function is called.
type Authenticator struct {
	endpoints       *endpoint.Service
	authorizers     *authorizer.Service
	region, account string
	now             func() time.Time

	view atomic.Pointer[view]
}

// view is the immutable state a connection is decided from.
type view struct {
	domains        map[string]authorizer.DomainConfig // by lower-case domain name
	authorizers    map[string]authorizer.Authorizer
	accountDefault string
}

var _ gateway.CustomAuthenticator = (*Authenticator)(nil)

// New returns an Authenticator; call Run to keep it current.
func New(endpoints *endpoint.Service, authorizers *authorizer.Service, region, account string) *Authenticator {
	return &Authenticator{endpoints: endpoints, authorizers: authorizers, region: region, account: account, now: time.Now}
}

// load reads a new view.
func (c *Authenticator) load(ctx context.Context) (*view, error) {
	v := &view{domains: map[string]authorizer.DomainConfig{}, authorizers: map[string]authorizer.Authorizer{}}
	all, err := c.endpoints.All(ctx)
	if err != nil {
		return nil, err
	}
	for _, cfg := range all {
		if ac := cfg.AuthorizerConfig; ac != nil {
			v.domains[strings.ToLower(cfg.DomainName)] = authorizer.DomainConfig{DefaultAuthorizerName: ac.DefaultAuthorizerName,
				AllowAuthorizerOverride: ac.AllowAuthorizerOverride != nil && *ac.AllowAuthorizerOverride}
		}
	}
	for marker := ""; ; {
		page, next, err := c.authorizers.List(ctx, authorizer.ListInput{Marker: marker, Ascending: true})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			v.authorizers[a.Name] = a
		}
		if next == "" {
			break
		}
		marker = next
	}
	if def, err := c.authorizers.Default(ctx); err == nil {
		v.accountDefault = def.Name
	} else if !fault.Is(err, fault.NotFound) {
		return nil, err
	}
	return v, nil
}

// Refresh replaces the view with the store's current state.
func (c *Authenticator) Refresh(ctx context.Context) error {
	v, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.view.Store(v)
	return nil
}

// Run keeps the view current until ctx ends: once now, then after every
// signal on changes.
func (c *Authenticator) Run(ctx context.Context, changes <-chan struct{}, logger *slog.Logger) {
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			logger.Error("custom authorizer view not refreshed; keeping the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
	}
}

// current returns the view, loading it once if Run has not yet.
func (c *Authenticator) current(ctx context.Context) (*view, error) {
	if v := c.view.Load(); v != nil {
		return v, nil
	}
	v, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	c.view.CompareAndSwap(nil, v)
	return v, nil
}

// Authenticate decides a connection or an HTTPS request. Every refusal
// names the step that refused and why.
func (c *Authenticator) Authenticate(ctx context.Context, req gateway.CustomRequest) (*gateway.CustomSession, error) {
	p, areq, err := presentation(req)
	if err != nil {
		return nil, &gateway.ConnectRefusal{Code: gateway.BadCredentials, Err: err}
	}
	v, err := c.current(ctx)
	if err != nil {
		return nil, &gateway.ConnectRefusal{Code: gateway.ServerUnavailable, Err: fmt.Errorf("custom authentication failed: %v", err)}
	}
	name, err := authorizer.Choose(p.Name, v.domains[strings.ToLower(req.Domain)], v.accountDefault)
	if err != nil {
		return nil, fmt.Errorf("custom authentication refused at step choice: %v", err)
	}
	a, ok := v.authorizers[name]
	if !ok {
		return nil, fmt.Errorf("custom authentication refused at step choice: authorizer %s does not exist", name)
	}
	areq.Token, areq.Signature, areq.ServerName, areq.ConnectionID = p.Token(a), p.Signature, req.ServerName, connectionID()
	invoke := c.authorizers.Invoke
	if req.HTTP != nil && req.MQTT == nil {
		invoke = c.authorizers.InvokeHTTP
	}
	d, err := decide(ctx, invoke, a, areq, req.Certificate)
	if err != nil {
		return nil, classify(err)
	}
	var base *authorizer.Base
	if req.Certificate != nil {
		if id, ok := req.Certificate.Principal.Identity.(*device.Identity); ok {
			base = &authorizer.Base{Env: id.PolicyEnv, Policies: id.Policies}
		}
	}
	authz := authorizer.NewSessionAuthorizer(d, c.region, c.account, req.SourceIP, req.Domain, base, c.now)
	var rebase func(gateway.Principal)
	if base != nil {
		rebase = func(p gateway.Principal) {
			if id, ok := p.Identity.(*device.Identity); ok {
				authz.Rebase(&authorizer.Base{Env: id.PolicyEnv, Policies: id.Policies})
			}
		}
	}
	return &gateway.CustomSession{Rebase: rebase,
		Principal: d.PrincipalID, Authz: authz, Lifetime: d.DisconnectAfter, RefreshAfter: d.RefreshAfter,
		Refresh: func(ctx context.Context) error {
			// The authorizer as it is now: it may have been updated or
			// deactivated since the connection was admitted.
			cur, ok := c.view.Load().authorizers[name]
			if !ok {
				return fmt.Errorf("authorizer %s refused at step status: it no longer exists", name)
			}
			areq.ConnectionID = connectionID()
			d, err := decide(ctx, c.authorizers.Invoke, cur, areq, req.Certificate)
			if err != nil {
				return err
			}
			authz.Refresh(d)
			return nil
		},
	}, nil
}

// classify gives a refusal its CONNACK: a token or signature that does not
// verify is bad credentials; a function that failed or answered nonsense
// leaves the decision unmade (server unavailable, the device may retry);
// the rest is not authorized.
func classify(err error) error {
	var r *authorizer.Refusal
	if !errors.As(err, &r) {
		return err
	}
	switch r.Step {
	case "signature", "token":
		return &gateway.ConnectRefusal{Code: gateway.BadCredentials, Err: err}
	case "function":
		return &gateway.ConnectRefusal{Code: gateway.ServerUnavailable, Err: err}
	case "response":
		if r.Reason != notAuthenticated {
			return &gateway.ConnectRefusal{Code: gateway.ServerUnavailable, Err: err}
		}
	}
	return err
}

const notAuthenticated = "the function answered isAuthenticated false"

// decide invokes the authorizer and checks that the answer admits the
// connection.
func decide(ctx context.Context, invoke func(context.Context, authorizer.Authorizer, authorizer.Request) (*authorizer.Decision, error),
	a authorizer.Authorizer, req authorizer.Request, cert *gateway.CustomCertificate) (*authorizer.Decision, error) {
	d, err := invoke(ctx, a, req)
	if err != nil {
		return nil, err
	}
	if !d.IsAuthenticated {
		return nil, &authorizer.Refusal{Authorizer: a.Name, Step: "response", Reason: notAuthenticated}
	}
	if cert != nil && d.PrincipalID != cert.Principal.CertificateID {
		// Reference 7.6: with CUSTOM_AUTH_X509 the principal is the
		// certificate's.
		return nil, &authorizer.Refusal{Authorizer: a.Name, Step: "response",
			Reason: fmt.Sprintf("principalId %q must equal the client certificate's ID %s (protocolData.tls.principalId)", d.PrincipalID, cert.Principal.CertificateID)}
	}
	return d, nil
}

// presentation reads what the connection presented and the protocol part
// of the event.
func presentation(req gateway.CustomRequest) (authorizer.Presentation, authorizer.Request, error) {
	var (
		p    authorizer.Presentation
		areq authorizer.Request
		err  error
	)
	switch {
	case req.MQTT != nil:
		if _, p, err = authorizer.ParseMQTTUsername(req.MQTT.Username); err != nil {
			return p, areq, fmt.Errorf("custom authentication refused at step username: %v", err)
		}
		areq.Protocols = []string{"tls", "mqtt"}
		areq.MQTT = &authorizer.MQTTData{Username: req.MQTT.Username, Password: req.MQTT.Password, HasPassword: req.MQTT.HasPassword, ClientID: req.MQTT.ClientID}
	case req.HTTP != nil:
		if p, err = authorizer.ParseHTTP(req.HTTP.Header, req.HTTP.RawQuery); err != nil {
			return p, areq, fmt.Errorf("custom authentication refused at step request: %v", err)
		}
		headers := make(map[string]string, len(req.HTTP.Header))
		size := len(req.HTTP.RawQuery)
		for k, vs := range req.HTTP.Header {
			headers[k] = strings.Join(vs, ",")
			size += len(k) + len(headers[k])
		}
		if size > MaxHTTPData {
			return p, areq, fmt.Errorf("custom authentication refused at step request: the headers and query string are %d bytes; at most %d are forwarded to the authorizer", size, MaxHTTPData)
		}
		areq.Protocols = []string{"tls", "http"}
		areq.HTTP = &authorizer.HTTPData{Headers: headers, QueryString: req.HTTP.RawQuery}
	default:
		return p, areq, fmt.Errorf("custom authentication refused at step request: nothing was presented")
	}
	if cert := req.Certificate; cert != nil {
		areq.CertificateID = cert.Principal.CertificateID
		areq.CertificatePEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.DER}))
	}
	return p, areq, nil
}

// connectionID is a random UUID (version 4) for connectionMetadata.id.
func connectionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
