// Package policy parses and evaluates AWS IoT Core policy documents: the
// JSON documents of CreatePolicy and CreatePolicyVersion, decided for the
// MQTT actions a connected device takes (iot:Connect, iot:Publish,
// iot:Subscribe, iot:Receive, iot:RetainPublish and the retained-message
// actions).
//
// It is a pure package: no I/O, no clock unless a condition asks for the
// time. Parse compiles a document once (wildcard patterns, policy variables,
// conditions, an index of statements by action), so that Evaluate costs a few
// hundred nanoseconds and allocates nothing for the common documents.
//
// Security rules, which the tests pin down:
//   - '*' and '?' are wildcards only in the policy's own text. Policy
//     variables are substituted as literal text, and the request's client
//     ID, topic or topic filter is never read as a pattern: a client ID or
//     topic holding '*', '?', '+', '#' or "${" cannot widen a policy.
//   - MQTT's '+' and '#' are ordinary characters everywhere.
//   - A statement with a variable that cannot be resolved (no thing
//     attached, a missing certificate field) does not apply, whether it
//     allows or denies.
//   - An explicit Deny wins over any Allow; nothing allowed is denied.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Version is the only policy language version accepted.
const Version = "2012-10-17"

// MaxDocumentChars is AWS IoT's limit on a policy document: 2048 characters,
// not counting whitespace.
const MaxDocumentChars = 2048

// MaxDocumentBytes is the model's limit on the policyDocument member.
const MaxDocumentBytes = 404600

// Error is a document that is not a valid IoT policy; its message says why.
// The API answers it as MalformedPolicyException.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func malformed(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// Action is an IoT action that a device's MQTT traffic is authorized for.
type Action uint8

// The actions Evaluate decides.
const (
	Connect Action = iota
	Publish
	Subscribe
	Receive
	RetainPublish
	DeleteRetainedMessage
	GetRetainedMessage
	ListRetainedMessages
	numActions
)

var actionNames = [numActions]string{
	"iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive", "iot:RetainPublish",
	"iot:DeleteRetainedMessage", "iot:GetRetainedMessage", "iot:ListRetainedMessages",
}

// String returns the action's policy name ("iot:Publish").
func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", a)
}

// Kind is the resource type of a request.
type Kind uint8

const (
	// KindNone is the resource of iot:ListRetainedMessages: only a policy
	// Resource of "*" matches it.
	KindNone Kind = iota
	// KindClient is "client/<clientId>", the resource of iot:Connect.
	KindClient
	// KindTopic is "topic/<topic>", the resource of iot:Publish,
	// iot:Receive, iot:RetainPublish and the retained-message actions.
	KindTopic
	// KindTopicFilter is "topicfilter/<filter>", the resource of
	// iot:Subscribe.
	KindTopicFilter
)

var kindPrefixes = [...]string{"", ":client/", ":topic/", ":topicfilter/"}

// KindOf returns the resource kind an action is evaluated on.
func KindOf(a Action) Kind {
	switch a {
	case Connect:
		return KindClient
	case Subscribe:
		return KindTopicFilter
	case ListRetainedMessages:
		return KindNone
	}
	return KindTopic
}

// Request is one authorization question: may the connection in Env take
// Action on the resource?
type Request struct {
	Action Action
	// Kind and Name are the resource: the ARN
	// arn:aws:iot:<Env.Region>:<Env.Account>:<kind>/<Name>, never built.
	Kind Kind
	Name string
	// ARN, when not empty, is the resource ARN as given (TestAuthorization)
	// and replaces Kind and Name.
	ARN string
	// Env is the connection. Nil evaluates without any context: variables
	// and condition keys are absent.
	Env *Env
}

// NewRequest returns the request for action on name (a client ID, topic or
// topic filter, by the action's kind) in env.
func NewRequest(env *Env, action Action, name string) Request {
	return Request{Action: action, Kind: KindOf(action), Name: name, Env: env}
}

func (r *Request) input() input {
	if r.ARN != "" {
		return makeInput(r.ARN)
	}
	if r.Kind == KindNone || int(r.Kind) >= len(kindPrefixes) {
		return input{}
	}
	region, account := "", ""
	if r.Env != nil {
		region, account = r.Env.Region, r.Env.Account
	}
	return makeInput("arn:aws:iot:", region, ":", account, kindPrefixes[r.Kind], r.Name)
}

// Decision is the outcome of an evaluation, named as TestAuthorization's
// authDecision.
type Decision uint8

const (
	// ImplicitDeny: no statement allowed the request.
	ImplicitDeny Decision = iota
	// Allow: a statement allowed it and none denied it.
	Allow
	// ExplicitDeny: a Deny statement applied.
	ExplicitDeny
)

// Allowed reports whether the request may go ahead.
func (d Decision) Allowed() bool { return d == Allow }

func (d Decision) String() string {
	switch d {
	case Allow:
		return "ALLOWED"
	case ExplicitDeny:
		return "EXPLICIT_DENY"
	}
	return "IMPLICIT_DENY"
}

// Document is a parsed, compiled policy document. It is immutable and safe
// for concurrent use.
type Document struct {
	statements []statement
	// byAction lists, per action, the statements whose Action or NotAction
	// covers it, Deny statements first.
	byAction [numActions][]int32
}

type statement struct {
	sid         string
	deny        bool
	actions     uint16 // bit per Action covered
	resources   []*pattern
	notResource bool
	conditions  []condition
}

// Parse validates and compiles a policy document.
func Parse(text string) (*Document, error) {
	if strings.TrimSpace(text) == "" {
		return nil, malformed("the policy document is empty")
	}
	if len(text) > MaxDocumentBytes {
		return nil, malformed("the policy document is %d bytes long; the limit is %d", len(text), MaxDocumentBytes)
	}
	if !utf8.ValidString(text) {
		return nil, malformed("the policy document is not valid UTF-8")
	}
	if n := nonSpaceChars(text); n > MaxDocumentChars {
		return nil, malformed("the policy document has %d characters excluding whitespace; the limit is %d", n, MaxDocumentChars)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, malformed("the policy document is not valid JSON: %v", err)
	}
	if strings.TrimSpace(text[dec.InputOffset():]) != "" {
		return nil, malformed("the policy document has text after its JSON object")
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, malformed("the policy document must be a JSON object")
	}
	for k := range obj {
		switch k {
		case "Version", "Statement", "Id":
		default:
			return nil, malformed("the policy document has the unknown element %q (expected Version, Statement and optionally Id)", k)
		}
	}
	version, ok := obj["Version"].(string)
	if !ok {
		return nil, malformed("the policy document must have \"Version\": %q", Version)
	}
	if version != Version {
		return nil, malformed("policy version %q is not supported; use %q", version, Version)
	}
	var raws []any
	switch s := obj["Statement"].(type) {
	case map[string]any:
		raws = []any{s}
	case []any:
		raws = s
	case nil:
		return nil, malformed("the policy document has no Statement")
	default:
		return nil, malformed("Statement must be an object or an array of objects")
	}
	if len(raws) == 0 {
		return nil, malformed("the policy document has an empty Statement list")
	}
	d := &Document{}
	for i, raw := range raws {
		st, err := parseStatement(raw)
		if err != nil {
			return nil, fmt.Errorf("statement %d: %w", i+1, err)
		}
		d.statements = append(d.statements, st)
	}
	// Deny statements first, so that an explicit deny ends the evaluation
	// without looking at allows.
	for pass := 0; pass < 2; pass++ {
		for i, st := range d.statements {
			if st.deny != (pass == 0) {
				continue
			}
			for a := Action(0); a < numActions; a++ {
				if st.actions&(1<<a) != 0 {
					d.byAction[a] = append(d.byAction[a], int32(i))
				}
			}
		}
	}
	return d, nil
}

// IsMalformed reports whether err is a document error from Parse.
func IsMalformed(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

func nonSpaceChars(s string) int {
	n := 0
	for _, r := range s {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

func parseStatement(raw any) (statement, error) {
	var st statement
	obj, ok := raw.(map[string]any)
	if !ok {
		return st, malformed("a statement must be a JSON object")
	}
	for k := range obj {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return st, malformed("%s is not allowed in an AWS IoT policy: the policy applies to the principals it is attached to", k)
		default:
			return st, malformed("unknown statement element %q", k)
		}
	}
	if sid, ok := obj["Sid"]; ok {
		s, ok := sid.(string)
		if !ok {
			return st, malformed("Sid must be a string")
		}
		st.sid = s
	}
	switch obj["Effect"] {
	case "Allow":
	case "Deny":
		st.deny = true
	case nil:
		return st, malformed("Effect is required (Allow or Deny)")
	default:
		return st, malformed("Effect must be Allow or Deny, not %v", obj["Effect"])
	}

	action, hasAction := obj["Action"]
	notAction, hasNotAction := obj["NotAction"]
	switch {
	case hasAction && hasNotAction:
		return st, malformed("a statement cannot have both Action and NotAction")
	case !hasAction && !hasNotAction:
		return st, malformed("a statement needs Action or NotAction")
	}
	name, rawActions := "Action", action
	if hasNotAction {
		name, rawActions = "NotAction", notAction
	}
	actions, err := stringList(name, rawActions)
	if err != nil {
		return st, err
	}
	for _, a := range actions {
		mask, err := actionMask(a)
		if err != nil {
			return st, err
		}
		st.actions |= mask
	}
	if hasNotAction {
		st.actions = ^st.actions & (1<<numActions - 1)
	}

	resource, hasResource := obj["Resource"]
	notResource, hasNotResource := obj["NotResource"]
	switch {
	case hasResource && hasNotResource:
		return st, malformed("a statement cannot have both Resource and NotResource")
	case !hasResource && !hasNotResource:
		return st, malformed("a statement needs Resource or NotResource")
	}
	name, rawResources := "Resource", resource
	if hasNotResource {
		name, rawResources = "NotResource", notResource
		st.notResource = true
	}
	resources, err := stringList(name, rawResources)
	if err != nil {
		return st, err
	}
	for _, r := range resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return st, malformed("%s %q is neither \"*\" nor an ARN", name, r)
		}
		p, err := compilePattern(r, true)
		if err != nil {
			return st, err
		}
		st.resources = append(st.resources, p)
	}

	if cond, ok := obj["Condition"]; ok {
		if st.conditions, err = parseConditions(cond); err != nil {
			return st, err
		}
	}
	return st, nil
}

// stringList reads an element that is a string or a non-empty array of
// strings.
func stringList(name string, raw any) ([]string, error) {
	switch v := raw.(type) {
	case string:
		if v == "" {
			return nil, malformed("%s must not be empty", name)
		}
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, malformed("%s must not be an empty list", name)
		}
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, malformed("%s must hold non-empty strings", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, malformed("%s must be a string or an array of strings", name)
}

// actionMask validates an action pattern ("*", "iot:Publish", "iot:*",
// "iot:?ublish", or another service's action) and returns the MQTT actions
// it covers. Action names are case-insensitive.
func actionMask(a string) (uint16, error) {
	if a != "*" {
		svc, op, ok := strings.Cut(a, ":")
		if !ok || svc == "" || op == "" || strings.ContainsAny(svc, " \t") || strings.Contains(op, ":") {
			return 0, malformed("action %q is not of the form service:action", a)
		}
	}
	p, err := compilePattern(strings.ToLower(a), true)
	if err != nil {
		return 0, malformed("action %q cannot hold a policy variable", a)
	}
	if p.vars > 0 {
		return 0, malformed("action %q cannot hold a policy variable", a)
	}
	var mask uint16
	for i, name := range actionNames {
		in := stringInput(strings.ToLower(name))
		if m, _ := p.match(nil, &in); m {
			mask |= 1 << i
		}
	}
	return mask, nil
}

// Evaluate decides a request against the policies attached to the
// principal: an explicit Deny in any of them wins, otherwise any Allow
// allows, otherwise the request is implicitly denied.
func Evaluate(req Request, docs []*Document) Decision {
	if req.Action >= numActions {
		return ImplicitDeny
	}
	in := req.input()
	allowed := false
	for _, d := range docs {
		if d == nil {
			continue
		}
		switch d.evaluate(&req, &in) {
		case ExplicitDeny:
			return ExplicitDeny
		case Allow:
			allowed = true
		}
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

// Evaluate decides a request against this document alone.
func (d *Document) Evaluate(req Request) Decision {
	if req.Action >= numActions {
		return ImplicitDeny
	}
	in := req.input()
	return d.evaluate(&req, &in)
}

func (d *Document) evaluate(req *Request, in *input) Decision {
	allowed := false
	for _, i := range d.byAction[req.Action] {
		st := &d.statements[i]
		if !st.deny && allowed {
			continue
		}
		if !st.applies(req.Env, in) {
			continue
		}
		if st.deny {
			return ExplicitDeny
		}
		allowed = true
	}
	if allowed {
		return Allow
	}
	return ImplicitDeny
}

// applies reports whether the statement's resources and conditions hold.
func (st *statement) applies(env *Env, in *input) bool {
	matched := false
	for _, p := range st.resources {
		m, ok := p.match(env, in)
		if !ok {
			// An unresolved variable: the statement does not apply.
			return false
		}
		if m {
			matched = true
			break
		}
	}
	if matched == st.notResource {
		return false
	}
	for i := range st.conditions {
		r, ok := st.conditions[i].eval(env)
		if !ok || !r {
			return false
		}
	}
	return true
}

// MissingKeys returns the policy variables and condition keys that the
// statements covering req's action use and that req's Env cannot supply,
// for TestAuthorization's missingContextValues.
func (d *Document) MissingKeys(req Request) []string {
	if req.Action >= numActions {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	note := func(r *ref) {
		if seen[r.name] {
			return
		}
		if _, ok := r.values(req.Env); ok {
			return
		}
		seen[r.name] = true
		out = append(out, r.name)
	}
	for _, i := range d.byAction[req.Action] {
		st := &d.statements[i]
		for _, p := range st.resources {
			for _, t := range p.tokens {
				if t.kind == tokVar {
					note(t.ref)
				}
			}
		}
		for _, c := range st.conditions {
			if c.base != opNull && !c.ifExists {
				note(c.key)
			}
			for _, v := range c.values {
				if v.pat == nil {
					continue
				}
				for _, t := range v.pat.tokens {
					if t.kind == tokVar {
						note(t.ref)
					}
				}
			}
		}
	}
	return out
}
