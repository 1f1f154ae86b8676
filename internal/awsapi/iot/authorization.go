package iot

import (
	"net/http"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/policy"
)

// TestAuthorization's limits, from the model.
const (
	maxAuthInfos     = 10
	maxResourceChars = 2048
)

var authActions = map[string]policy.Action{
	"PUBLISH":   policy.Publish,
	"SUBSCRIBE": policy.Subscribe,
	"RECEIVE":   policy.Receive,
	"CONNECT":   policy.Connect,
}

type authInfoJSON struct {
	ActionType string   `json:"actionType,omitempty"`
	Resources  []string `json:"resources"`
}

type policiesHolderJSON struct {
	Policies []policyJSON `json:"policies"`
}

type authResultJSON struct {
	AuthInfo *authInfoJSON `json:"authInfo"`
	Allowed  struct {
		Policies []policyJSON `json:"policies"`
	} `json:"allowed"`
	Denied struct {
		ImplicitDeny policiesHolderJSON `json:"implicitDeny"`
		ExplicitDeny policiesHolderJSON `json:"explicitDeny"`
	} `json:"denied"`
	AuthDecision         string   `json:"authDecision"`
	MissingContextValues []string `json:"missingContextValues"`
}

// testAuthorization evaluates what a certificate (principal: its ARN or ID)
// may do with the policies attached to it, through internal/policy: the
// evaluation the broker runs. Each authInfo is one result; with several
// resources, it is ALLOWED only when every resource is, and EXPLICIT_DENY
// when any is explicitly denied. The connection context is the certificate,
// the clientId query member and the thing resolved from them.
func (a policiesAPI) testAuthorization(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Principal             string          `json:"principal"`
		CognitoIdentityPoolID string          `json:"cognitoIdentityPoolId"`
		AuthInfos             []*authInfoJSON `json:"authInfos"`
		PolicyNamesToAdd      []string        `json:"policyNamesToAdd"`
		PolicyNamesToSkip     []string        `json:"policyNamesToSkip"`
	}
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	if err := validateAuthRequest(in.Principal, in.CognitoIdentityPoolID, in.AuthInfos); err != nil {
		a.fail(w, err)
		return
	}
	ctx := r.Context()
	ident, err := a.svc.IdentityOf(ctx, in.Principal)
	if err != nil {
		a.fail(w, err)
		return
	}
	skip := map[string]bool{}
	for _, n := range in.PolicyNamesToSkip {
		skip[n] = true
	}
	var policies []device.NamedPolicy
	for i, d := range ident.Policies {
		if name := ident.PolicyNames[i]; !skip[name] {
			policies = append(policies, device.NamedPolicy{Name: name, ARN: a.svc.PolicyARN(name), Document: d})
		}
	}
	added, err := a.svc.NamedPolicies(ctx, in.PolicyNamesToAdd)
	if err != nil {
		a.fail(w, err)
		return
	}
	policies = append(policies, added...)
	env := ident.PolicyEnv(r.URL.Query().Get("clientId"))

	out := struct {
		AuthResults []authResultJSON `json:"authResults"`
	}{AuthResults: make([]authResultJSON, 0, len(in.AuthInfos))}
	for _, info := range in.AuthInfos {
		out.AuthResults = append(out.AuthResults, authorize(env, info, policies))
	}
	a.ok(w, out)
}

func validateAuthRequest(principal, cognito string, infos []*authInfoJSON) error {
	if cognito != "" {
		return fault.Invalidf("Portico has no Amazon Cognito identities; test a certificate with principal")
	}
	if principal == "" {
		return fault.Invalidf("principal is required: the ARN or ID of a certificate")
	}
	if len(infos) < 1 || len(infos) > maxAuthInfos {
		return fault.Invalidf("1 validation error detected: Value at 'authInfos' failed to satisfy constraint: Member must have length between 1 and %d", maxAuthInfos)
	}
	for _, info := range infos {
		if info == nil {
			return fault.Invalidf("authInfos must not hold null")
		}
		if _, ok := authActions[info.ActionType]; !ok {
			return fault.Invalidf("1 validation error detected: Value '%s' at 'authInfos.member.actionType' failed to satisfy constraint: Member must satisfy enum value set: [PUBLISH, SUBSCRIBE, RECEIVE, CONNECT]", info.ActionType)
		}
		if len(info.Resources) == 0 {
			return fault.Invalidf("1 validation error detected: Value null at 'authInfos.member.resources' failed to satisfy constraint: Member must not be null")
		}
		for _, res := range info.Resources {
			if res == "" || len(res) > maxResourceChars {
				return fault.Invalidf("each resource must be 1 to %d characters", maxResourceChars)
			}
		}
	}
	return nil
}

// authorize decides one authInfo against the policies, as TestAuthorization
// reports it.
func authorize(env *policy.Env, info *authInfoJSON, policies []device.NamedPolicy) authResultJSON {
	action := authActions[info.ActionType]
	res := authResultJSON{AuthInfo: info, MissingContextValues: []string{}}
	res.Allowed.Policies = []policyJSON{}
	res.Denied.ImplicitDeny.Policies = []policyJSON{}
	res.Denied.ExplicitDeny.Policies = []policyJSON{}

	// Each policy's verdict over all the resources: explicit deny if it
	// denies any, allow if it allows every one, implicit deny otherwise.
	verdicts := make([]policy.Decision, len(policies))
	allowedEvery := true
	missing := map[string]bool{}
	for _, resource := range info.Resources {
		req := policy.Request{Action: action, ARN: resource, Env: env}
		anyAllow := false
		for i, p := range policies {
			d := p.Document.Evaluate(req)
			switch {
			case d == policy.ExplicitDeny:
				verdicts[i] = policy.ExplicitDeny
			case d == policy.Allow:
				anyAllow = true
			}
			for _, k := range p.Document.MissingKeys(req) {
				if !missing[k] {
					missing[k] = true
					res.MissingContextValues = append(res.MissingContextValues, k)
				}
			}
		}
		if !anyAllow {
			allowedEvery = false
		}
	}
	// A policy allows the authInfo when it allows every resource.
	for i, p := range policies {
		if verdicts[i] == policy.ExplicitDeny {
			continue
		}
		every := true
		for _, resource := range info.Resources {
			if p.Document.Evaluate(policy.Request{Action: action, ARN: resource, Env: env}) != policy.Allow {
				every = false
				break
			}
		}
		if every {
			verdicts[i] = policy.Allow
		}
	}

	decision := policy.ImplicitDeny
	for _, v := range verdicts {
		if v == policy.ExplicitDeny {
			decision = policy.ExplicitDeny
			break
		}
	}
	if decision != policy.ExplicitDeny && allowedEvery && len(info.Resources) > 0 {
		decision = policy.Allow
	}
	for i, p := range policies {
		pj := policyJSON{p.Name, p.ARN}
		switch {
		case verdicts[i] == policy.ExplicitDeny:
			res.Denied.ExplicitDeny.Policies = append(res.Denied.ExplicitDeny.Policies, pj)
		case verdicts[i] == policy.Allow || (decision == policy.Allow && allowsAny(p, action, env, info.Resources)):
			res.Allowed.Policies = append(res.Allowed.Policies, pj)
		default:
			res.Denied.ImplicitDeny.Policies = append(res.Denied.ImplicitDeny.Policies, pj)
		}
	}
	res.AuthDecision = decision.String()
	return res
}

func allowsAny(p device.NamedPolicy, action policy.Action, env *policy.Env, resources []string) bool {
	for _, resource := range resources {
		if p.Document.Evaluate(policy.Request{Action: action, ARN: resource, Env: env}) == policy.Allow {
			return true
		}
	}
	return false
}
