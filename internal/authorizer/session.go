package authorizer

import (
	"fmt"
	"net/http"
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
	// Header holds an HTTP request's headers, where the token may be too.
	Header http.Header
}

// Token returns the value of the authorizer's token key: a parameter, or
// else a header of that name.
func (p Presentation) Token(a Authorizer) string {
	if a.TokenKeyName == "" {
		return ""
	}
	if v := p.Params.Get(a.TokenKeyName); v != "" {
		return v
	}
	return p.Header.Get(a.TokenKeyName)
}

// ParseHTTP reads the presentation of an HTTPS request or a WebSocket
// upgrade: the reserved names and the token in its headers or its query
// string (reference 7.4), a header first.
func ParseHTTP(header http.Header, rawQuery string) (Presentation, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Presentation{Params: url.Values{}}, fmt.Errorf("the query string does not parse: %v", err)
	}
	p := Presentation{Params: q, Header: header}
	p.Name = first(header.Get(ParamName), q.Get(ParamName))
	p.Signature = first(header.Get(ParamSignature), q.Get(ParamSignature))
	return p, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
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
	base     *Base
	returned []*policy.Document // the function's
	policies []*policy.Document // base's and returned, evaluated together
	clientID string
}

// Base is what a connection holds besides the function's answer: with
// CUSTOM_AUTH_X509, the client certificate's policy context and attached
// policies. Effective permissions are the union of both sets, evaluated
// together so that an explicit Deny in either wins.
type Base struct {
	Env      func(clientID string) *policy.Env
	Policies []*policy.Document
}

// NewSessionAuthorizer returns the authorizer of one connection; base may
// be nil.
func NewSessionAuthorizer(d *Decision, region, account string, sourceIP netip.Addr, domain string, base *Base, now func() time.Time) *SessionAuthorizer {
	if now == nil {
		now = time.Now
	}
	return &SessionAuthorizer{region: region, account: account, sourceIP: sourceIP, domain: domain, base: base, now: now,
		returned: d.Policies, policies: withBase(base, d.Policies)}
}

func withBase(base *Base, docs []*policy.Document) []*policy.Document {
	if base == nil {
		return docs
	}
	return append(append(make([]*policy.Document, 0, len(base.Policies)+len(docs)), base.Policies...), docs...)
}

// Refresh replaces the function's policies with those of a refreshed
// decision.
func (a *SessionAuthorizer) Refresh(d *Decision) {
	a.mu.Lock()
	a.returned = d.Policies
	a.policies = withBase(a.base, d.Policies)
	a.mu.Unlock()
}

// Rebase replaces the certificate's part (CUSTOM_AUTH_X509) when the
// registry changes: its policies, attachments or variables as they are now.
func (a *SessionAuthorizer) Rebase(base *Base) {
	a.mu.Lock()
	a.base = base
	a.policies = withBase(base, a.returned)
	a.mu.Unlock()
}

func (a *SessionAuthorizer) env() (*policy.Env, []*policy.Document) {
	a.mu.Lock()
	defer a.mu.Unlock()
	env := &policy.Env{Region: a.region, Account: a.account, ClientID: a.clientID}
	if a.base != nil {
		env = a.base.Env(a.clientID)
	}
	env.SourceIP, env.DomainName, env.Now = a.sourceIP, a.domain, a.now()
	return env, a.policies
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

// Decide decides any IoT policy action on a resource name (the
// retained-message actions of HTTPS requests).
func (a *SessionAuthorizer) Decide(action policy.Action, name string) bool {
	return a.decide(action, name)
}

// Publish decides iot:Publish, and iot:RetainPublish when retain is set.
func (a *SessionAuthorizer) Publish(topic string, retain bool) bool {
	return a.decide(policy.Publish, topic) && (!retain || a.decide(policy.RetainPublish, topic))
}

// Subscribe decides iot:Subscribe on a topic filter.
func (a *SessionAuthorizer) Subscribe(filter string) bool { return a.decide(policy.Subscribe, filter) }

// Receive decides iot:Receive on a topic.
func (a *SessionAuthorizer) Receive(topic string) bool { return a.decide(policy.Receive, topic) }
