// Package deviceauth turns a device's registry identity into what the
// gateway and broker ask of it: the principal of a TLS connection, and an
// authorizer that decides each MQTT and HTTPS request with the IoT policies
// attached to the certificate. It is the one place where device, policy and
// gateway meet, so that none of them imports another.
package deviceauth

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/portico-iot/portico/internal/awsapi/iotdata"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/policy"
)

// PolicyAuthorizer decides the requests of one device connection with the
// policies attached to its certificate, as AWS IoT does: iot:Connect for the
// client ID, iot:Publish and iot:RetainPublish, iot:Subscribe, iot:Receive.
// The policy context is the certificate's, the client ID, the client's
// address (aws:SourceIp) and the domain it connected through
// (iot:DomainName).
//
// Decisions are cached per connection. Time enters a policy only through
// aws:CurrentTime and aws:EpochTime, which have a resolution of one second:
// requests are evaluated at the start of the current second, and the cache
// holds the decisions of that second only, so a cached answer is always the
// one a fresh evaluation would give. A changed registry snapshot gives the
// connection a new PolicyAuthorizer (gateway.Principal), with an empty cache.
type PolicyAuthorizer struct {
	ident    device.Identity
	sourceIP netip.Addr
	domain   string
	now      func() time.Time

	mu     sync.Mutex
	base   *policy.Env // the connection's context, without the time
	second int64       // the Unix second env and the cache are for
	env    *policy.Env // base at the start of second
	cache  [numCached]map[string]bool
}

// The cached actions.
const (
	cachePublish = iota
	cacheRetain
	cacheSubscribe
	cacheReceive
	numCached
)

// maxCached bounds each cache of a connection; a full cache is emptied.
const maxCached = 256

// NewPolicyAuthorizer returns the authorizer of one connection.
func NewPolicyAuthorizer(ident device.Identity, sourceIP netip.Addr, domain string, now func() time.Time) *PolicyAuthorizer {
	return &PolicyAuthorizer{ident: ident, sourceIP: sourceIP, domain: domain, now: now}
}

// envFor is the connection's context for a client ID: "" for HTTPS, which
// has no client ID.
func (a *PolicyAuthorizer) envFor(clientID string) *policy.Env {
	env := a.ident.PolicyEnv(clientID)
	env.SourceIP = a.sourceIP
	env.DomainName = a.domain
	return env
}

// Connect decides iot:Connect, with iot:ConnectAttributes, and binds the
// client ID for the connection's later requests.
func (a *PolicyAuthorizer) Connect(clientID string, connectAttributes []string) bool {
	base := a.envFor(clientID)
	connect := *base
	connect.Now = a.now()
	if len(connectAttributes) > 0 {
		connect.Keys = map[string][]string{"iot:connectattributes": connectAttributes}
	}
	a.mu.Lock()
	a.base, a.env = base, nil
	a.mu.Unlock()
	return policy.Evaluate(policy.NewRequest(&connect, policy.Connect, clientID), a.ident.Policies).Allowed()
}

func (a *PolicyAuthorizer) Publish(topic string, retain bool) bool {
	if !a.decide(cachePublish, policy.Publish, topic) {
		return false
	}
	return !retain || a.decide(cacheRetain, policy.RetainPublish, topic)
}

func (a *PolicyAuthorizer) Subscribe(filter string) bool {
	return a.decide(cacheSubscribe, policy.Subscribe, filter)
}

func (a *PolicyAuthorizer) Receive(topic string) bool {
	return a.decide(cacheReceive, policy.Receive, topic)
}

func (a *PolicyAuthorizer) decide(kind int, action policy.Action, name string) bool {
	sec := a.now().Unix()
	a.mu.Lock()
	if a.base == nil {
		a.base = a.envFor("") // HTTPS publish: no CONNECT, no client ID
	}
	if a.env == nil || sec != a.second {
		env := *a.base
		env.Now = time.Unix(sec, 0)
		a.env, a.second = &env, sec
		for i := range a.cache {
			clear(a.cache[i])
		}
	}
	if allowed, ok := a.cache[kind][name]; ok {
		a.mu.Unlock()
		return allowed
	}
	env := a.env
	a.mu.Unlock()

	allowed := policy.Evaluate(policy.NewRequest(env, action, name), a.ident.Policies).Allowed()

	a.mu.Lock()
	if a.env == env {
		c := a.cache[kind]
		if c == nil || len(c) >= maxCached {
			if c == nil {
				c = make(map[string]bool)
				a.cache[kind] = c
			}
			clear(c)
		}
		c[name] = allowed
	}
	a.mu.Unlock()
	return allowed
}

// Decide decides any IoT policy action on a resource name without the
// per-connection cache (the retained-message actions of HTTPS requests).
func (a *PolicyAuthorizer) Decide(action policy.Action, name string) bool {
	a.mu.Lock()
	if a.base == nil {
		a.base = a.envFor("")
	}
	env := *a.base
	a.mu.Unlock()
	env.Now = a.now()
	return policy.Evaluate(policy.NewRequest(&env, action, name), a.ident.Policies).Allowed()
}

// Decider is an authorizer that decides any action: PolicyAuthorizer, and
// the custom authorizers' SessionAuthorizer.
type Decider interface {
	Decide(action policy.Action, name string) bool
}

// AuthorizeDeviceRetained authorizes iot:GetRetainedMessage (on the topic)
// and iot:ListRetainedMessages (topic "") for a device's HTTPS request with
// the authorizer the gateway attached to it; a request without one, or
// whose authorizer cannot decide these actions, is refused.
func AuthorizeDeviceRetained(r *http.Request, action policy.Action, topic string) bool {
	a, ok := gateway.DeviceAuthorizer(r.Context())
	if !ok {
		return false
	}
	if a == nil {
		return true
	}
	d, ok := a.(Decider)
	return ok && d.Decide(action, topic)
}

var _ iotdata.AuthorizeRetained = AuthorizeDeviceRetained

// AuthorizeDevicePublish authorizes an HTTPS publish by a device with the
// authorizer the gateway attached to the request; a request without one is
// refused.
func AuthorizeDevicePublish(r *http.Request, topic string, retain bool) bool {
	a, ok := gateway.DeviceAuthorizer(r.Context())
	if !ok {
		return false
	}
	return a == nil || a.Publish(topic, retain)
}

var _ iotdata.Authorize = AuthorizeDevicePublish

// Authenticator adapts a registry snapshot to the gateway: a certificate's
// principal carries its policies, things and certificate variables as the
// snapshot holds them, so authorizing needs no database.
type Authenticator struct{ Snapshot *device.Snapshot }

// Authenticate implements gateway.Devices.
func (a Authenticator) Authenticate(der []byte, serverName string, now time.Time) (gateway.Principal, error) {
	id, err := a.Snapshot.Authenticate(der, serverName, now)
	if err != nil {
		return gateway.Principal{CertificateID: id.ID}, err
	}
	return gateway.Principal{CertificateID: id.ID, Identity: &id, Authorizer: func(sourceIP netip.Addr, domain string) gateway.Authorizer {
		return NewPolicyAuthorizer(id, sourceIP, domain, time.Now)
	}}, nil
}

var _ gateway.Devices = Authenticator{}
