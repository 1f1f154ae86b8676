package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/gateway"
)

// customAuth runs custom authorizers for the gateway's MQTT connections
// with ALPN mqtt: the authorizer the device names (where the domain allows
// it), else the domain configuration's default, else the account default.
// What it needs to choose is read from a view rebuilt on every store change,
// so a CONNECT never waits on the database; only the user's function is
// called.
type customAuth struct {
	endpoints       *endpoint.Service
	authorizers     *authorizer.Service
	region, account string

	view atomic.Pointer[customAuthView]
}

// customAuthView is the immutable state a CONNECT is decided from.
type customAuthView struct {
	domains        map[string]authorizer.DomainConfig // by lower-case domain name
	authorizers    map[string]authorizer.Authorizer
	accountDefault string
}

var _ gateway.CustomAuthenticator = (*customAuth)(nil)

// load reads a new view.
func (c *customAuth) load(ctx context.Context) (*customAuthView, error) {
	v := &customAuthView{domains: map[string]authorizer.DomainConfig{}, authorizers: map[string]authorizer.Authorizer{}}
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

// refresh replaces the view with the store's current state.
func (c *customAuth) refresh(ctx context.Context) error {
	v, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.view.Store(v)
	return nil
}

// Run keeps the view current until ctx ends.
func (c *customAuth) Run(ctx context.Context, changes <-chan struct{}, logger interface{ Error(string, ...any) }) {
	for {
		if err := c.refresh(ctx); err != nil && ctx.Err() == nil {
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
func (c *customAuth) current(ctx context.Context) (*customAuthView, error) {
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

func (c *customAuth) AuthenticateMQTT(ctx context.Context, req gateway.CustomMQTT) (string, gateway.Authorizer, time.Duration, error) {
	_, p, err := authorizer.ParseMQTTUsername(req.Username)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication refused at step username: %v", err)
	}
	v, err := c.current(ctx)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication failed: %v", err)
	}
	name, err := authorizer.Choose(p.Name, v.domains[strings.ToLower(req.Domain)], v.accountDefault)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication refused at step choice: %v", err)
	}
	a, ok := v.authorizers[name]
	if !ok {
		return "", nil, 0, fmt.Errorf("custom authentication refused at step choice: authorizer %s does not exist", name)
	}
	d, err := c.authorizers.Invoke(ctx, a, authorizer.Request{
		Token: p.Token(a), Signature: p.Signature, Protocols: []string{"tls", "mqtt"}, ServerName: req.ServerName,
		MQTT:         &authorizer.MQTTData{Username: req.Username, Password: req.Password, HasPassword: req.HasPassword, ClientID: req.ClientID},
		ConnectionID: connectionID(),
	})
	if err != nil {
		return "", nil, 0, err
	}
	if !d.IsAuthenticated {
		return "", nil, 0, fmt.Errorf("authorizer %s refused at step response: the function answered isAuthenticated false", name)
	}
	return d.PrincipalID, authorizer.NewSessionAuthorizer(d, c.region, c.account, req.SourceIP, req.Domain, nil), d.DisconnectAfter, nil
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
