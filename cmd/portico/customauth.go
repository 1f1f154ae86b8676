package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/gateway"
)

// customAuth runs custom authorizers for the gateway's MQTT connections
// with ALPN mqtt: the authorizer the device names (where the domain allows
// it), else the domain configuration's default, else the account default.
type customAuth struct {
	endpoints       *endpoint.Service
	authorizers     *authorizer.Service
	region, account string
}

var _ gateway.CustomAuthenticator = (*customAuth)(nil)

// domainConfig is the authorizerConfig of the configuration serving a
// domain name ("" when none has one).
func (c *customAuth) domainConfig(ctx context.Context, domain string) (authorizer.DomainConfig, error) {
	all, err := c.endpoints.All(ctx)
	if err != nil {
		return authorizer.DomainConfig{}, err
	}
	for _, cfg := range all {
		if strings.EqualFold(cfg.DomainName, domain) && cfg.AuthorizerConfig != nil {
			ac := cfg.AuthorizerConfig
			return authorizer.DomainConfig{DefaultAuthorizerName: ac.DefaultAuthorizerName,
				AllowAuthorizerOverride: ac.AllowAuthorizerOverride != nil && *ac.AllowAuthorizerOverride}, nil
		}
	}
	return authorizer.DomainConfig{}, nil
}

func (c *customAuth) AuthenticateMQTT(ctx context.Context, req gateway.CustomMQTT) (string, gateway.Authorizer, time.Duration, error) {
	_, p, err := authorizer.ParseMQTTUsername(req.Username)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication refused at step username: %v", err)
	}
	dc, err := c.domainConfig(ctx, req.Domain)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication failed: %v", err)
	}
	accountDefault := ""
	if def, err := c.authorizers.Default(ctx); err == nil {
		accountDefault = def.Name
	} else if !fault.Is(err, fault.NotFound) {
		return "", nil, 0, fmt.Errorf("custom authentication failed: %v", err)
	}
	name, err := authorizer.Choose(p.Name, dc, accountDefault)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication refused at step choice: %v", err)
	}
	a, err := c.authorizers.Get(ctx, name)
	if err != nil {
		return "", nil, 0, fmt.Errorf("custom authentication refused at step choice: %v", err)
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
