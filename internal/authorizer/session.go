package authorizer

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portico-iot/portico/internal/policy"
)

// The reserved parameter names of a presentation.
const (
	ParamName      = "x-amz-customauthorizer-name"
	ParamSignature = "x-amz-customauthorizer-signature"
)

// Presentation is what a device presented to a custom authorizer.
type Presentation struct {
	// Name is the authorizer the device named ("" when none).
	Name string
	// Signature is the token signature, URL-decoded.
	Signature string
	// Params are all the parameters, URL-decoded, for the token lookup
	// (tokenKeyName is the authorizer's, known only once it is chosen).
	Params url.Values
}

// Token returns the value of the authorizer's token key.
func (p Presentation) Token(a Authorizer) string {
	if a.TokenKeyName == "" {
		return ""
	}
	return p.Params.Get(a.TokenKeyName)
}

// ParseMQTTUsername splits an MQTT CONNECT username
// "<user>?k=v&k=v" into the user part and its parameters. Everything after
// the first "?" is parsed as "&"-separated k=v; unknown parameters (AWS
// device SDKs append SDK= and Version=) are kept. A second "?" is refused,
// as AWS refuses it.
func ParseMQTTUsername(username string) (user string, p Presentation, err error) {
	user, query, found := strings.Cut(username, "?")
	p.Params = url.Values{}
	if !found {
		return user, p, nil
	}
	if strings.Contains(query, "?") {
		return user, p, fmt.Errorf("the username has a second '?' in its query string")
	}
	if p.Params, err = url.ParseQuery(query); err != nil {
		return user, p, fmt.Errorf("the username's query string does not parse: %v", err)
	}
	p.Name = p.Params.Get(ParamName)
	p.Signature = p.Params.Get(ParamSignature)
	return user, p, nil
}

// DomainConfig is a domain configuration's authorizerConfig.
type DomainConfig struct {
	DefaultAuthorizerName   string
	AllowAuthorizerOverride bool
}

// Choose picks the authorizer of a connection, as AWS does: the one the
// device names when the domain allows overriding (or has no default
// authorizer of its own); otherwise the domain's default; otherwise the
// account default. A named authorizer the domain does not allow is
// refused rather than silently replaced, so that the device learns why.
// It returns the name, or an error saying why none applies.
func Choose(requested string, domain DomainConfig, accountDefault string) (string, error) {
	switch {
	case requested != "" && domain.DefaultAuthorizerName == "":
		return requested, nil
	case requested != "" && requested != domain.DefaultAuthorizerName && !domain.AllowAuthorizerOverride:
		return "", fmt.Errorf("the device named authorizer %q, but the domain configuration enforces %q (allowAuthorizerOverride is false)", requested, domain.DefaultAuthorizerName)
	case requested != "":
		return requested, nil
	case domain.DefaultAuthorizerName != "":
		return domain.DefaultAuthorizerName, nil
	case accountDefault != "":
		return accountDefault, nil
	}
	return "", fmt.Errorf("the device named no authorizer, and neither the domain configuration nor the account has a default authorizer")
}

// SessionAuthorizer decides the requests of one connection that a custom
// authorizer admitted, with the policy documents of its Decision: the
// broker's Authorizer (Connect, Publish, Subscribe, Receive). Policies may
// be swapped when the decision is refreshed.
type SessionAuthorizer struct {
	region, account string
	sourceIP        netip.Addr
	domain          string
	now             func() time.Time

	mu       sync.Mutex
	policies []*policy.Document
	clientID string
}

// NewSessionAuthorizer returns the authorizer of one connection.
func NewSessionAuthorizer(d *Decision, region, account string, sourceIP netip.Addr, domain string, now func() time.Time) *SessionAuthorizer {
	if now == nil {
		now = time.Now
	}
	return &SessionAuthorizer{region: region, account: account, sourceIP: sourceIP, domain: domain, now: now, policies: d.Policies}
}

// Refresh replaces the policies with those of a refreshed decision.
func (a *SessionAuthorizer) Refresh(d *Decision) {
	a.mu.Lock()
	a.policies = d.Policies
	a.mu.Unlock()
}

func (a *SessionAuthorizer) env() (*policy.Env, []*policy.Document) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &policy.Env{Region: a.region, Account: a.account, ClientID: a.clientID, SourceIP: a.sourceIP,
		DomainName: a.domain, Now: a.now()}, a.policies
}

// Connect decides iot:Connect and binds the client ID.
func (a *SessionAuthorizer) Connect(clientID string, connectAttributes []string) bool {
	a.mu.Lock()
	a.clientID = clientID
	a.mu.Unlock()
	env, docs := a.env()
	if len(connectAttributes) > 0 {
		env.Keys = map[string][]string{"iot:connectattributes": connectAttributes}
	}
	return policy.Evaluate(policy.NewRequest(env, policy.Connect, clientID), docs).Allowed()
}

func (a *SessionAuthorizer) decide(action policy.Action, name string) bool {
	env, docs := a.env()
	return policy.Evaluate(policy.NewRequest(env, action, name), docs).Allowed()
}

// Publish decides iot:Publish, and iot:RetainPublish when retain is set.
func (a *SessionAuthorizer) Publish(topic string, retain bool) bool {
	return a.decide(policy.Publish, topic) && (!retain || a.decide(policy.RetainPublish, topic))
}

// Subscribe decides iot:Subscribe on a topic filter.
func (a *SessionAuthorizer) Subscribe(filter string) bool { return a.decide(policy.Subscribe, filter) }

// Receive decides iot:Receive on a topic.
func (a *SessionAuthorizer) Receive(topic string) bool { return a.decide(policy.Receive, topic) }
