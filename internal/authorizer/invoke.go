package authorizer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/policy"
)

// Limits of an invocation.
const (
	// Budget bounds one call of the function, as AWS's 5 s.
	Budget          = 5 * time.Second
	MaxPolicies     = 10
	MinRefreshAfter = 300
	MaxRefreshAfter = 86400
)

// Request is what a connection presented, as the gateway found it.
type Request struct {
	Token string
	// Signature is the base64 token signature (already URL-decoded).
	Signature  string
	Protocols  []string // "tls", "http", "mqtt"
	ServerName string
	HTTP       *HTTPData
	MQTT       *MQTTData
	// CertificatePEM and CertificateID are the client certificate of a
	// CUSTOM_AUTH_X509 connection (protocolData.tls), else empty.
	CertificatePEM string
	CertificateID  string
	// ConnectionID identifies the connection in logs (a UUID).
	ConnectionID string
}

// HTTPData is the HTTP part of the event.
type HTTPData struct {
	Headers     map[string]string
	QueryString string // raw, with its leading "?" (added when missing)
}

// MQTTData is the MQTT part of the event.
type MQTTData struct {
	Username    string
	Password    []byte
	HasPassword bool
	ClientID    string
}

// Decision is a validated answer of the function.
type Decision struct {
	IsAuthenticated bool
	PrincipalID     string
	// PolicyDocuments are the documents as JSON text, Policies parsed.
	PolicyDocuments []string
	Policies        []*policy.Document
	RefreshAfter    time.Duration
	DisconnectAfter time.Duration
}

// Refusal is a failed authorization: which step refused and why. It is a
// *fault.Error too (see Fault) so that the API can answer it.
type Refusal struct {
	Authorizer string
	// Step is "status", "token", "signature", "function" or "response".
	Step   string
	Reason string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("authorizer %s refused at step %s: %s", r.Authorizer, r.Step, r.Reason)
}

// Fault is the API error of a refusal for TestInvokeAuthorizer: an
// unusable function or answer is InvalidResponseException, the rest
// InvalidRequestException.
func (r *Refusal) Fault() *fault.Error {
	if r.Step == "function" || r.Step == "response" {
		return fault.Coded(fault.Invalid, "InvalidResponseException", "%s", r.Error())
	}
	return fault.Invalidf("%s", r.Error())
}

// VerifySignature checks an RSA-SHA256 (PKCS#1 v1.5) base64 signature of
// token against any of the authorizer's keys.
func VerifySignature(a Authorizer, token, signature string) error {
	if token == "" {
		return fmt.Errorf("no token under %q", a.TokenKeyName)
	}
	if signature == "" {
		return fmt.Errorf("no x-amz-customauthorizer-signature")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("the signature is not base64: %v", err)
	}
	sum := sha256.Sum256([]byte(token))
	keys := a.parsedKeys()
	for _, k := range keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("the signature does not verify with any of the %d token signing keys", len(keys))
}

// Event builds the JSON event AWS sends to the authorizer Lambda.
func Event(req Request, signatureVerified bool) map[string]any {
	ev := map[string]any{"signatureVerified": signatureVerified}
	if req.Token != "" {
		ev["token"] = req.Token
	}
	protocols := req.Protocols
	if protocols == nil {
		protocols = []string{}
	}
	ev["protocols"] = protocols
	pd := map[string]any{}
	if req.ServerName != "" || req.CertificateID != "" {
		t := map[string]any{}
		if req.ServerName != "" {
			t["serverName"] = req.ServerName
		}
		if req.CertificateID != "" {
			t["x509CertificatePem"] = req.CertificatePEM
			t["principalId"] = req.CertificateID
		}
		pd["tls"] = t
	}
	if req.HTTP != nil {
		h := map[string]any{}
		headers := req.HTTP.Headers
		if headers == nil {
			headers = map[string]string{}
		}
		h["headers"] = headers
		q := req.HTTP.QueryString
		if q != "" && q[0] != '?' {
			q = "?" + q
		}
		h["queryString"] = q
		pd["http"] = h
	}
	if req.MQTT != nil {
		m := map[string]any{"username": req.MQTT.Username}
		if req.MQTT.HasPassword {
			m["password"] = base64.StdEncoding.EncodeToString(req.MQTT.Password)
		}
		if req.MQTT.ClientID != "" {
			m["clientId"] = req.MQTT.ClientID
		}
		pd["mqtt"] = m
	}
	ev["protocolData"] = pd
	if req.ConnectionID != "" {
		ev["connectionMetadata"] = map[string]any{"id": req.ConnectionID}
	}
	return ev
}

var principalRE = regexp.MustCompile(`^[a-zA-Z0-9]{1,128}$`)

// ParseResponse validates the function's answer.
func ParseResponse(out []byte) (*Decision, error) {
	var r struct {
		IsAuthenticated          *bool             `json:"isAuthenticated"`
		PrincipalID              *string           `json:"principalId"`
		PolicyDocuments          []json.RawMessage `json:"policyDocuments"`
		RefreshAfterInSeconds    *int64            `json:"refreshAfterInSeconds"`
		DisconnectAfterInSeconds *int64            `json:"disconnectAfterInSeconds"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("the answer is not the authorizer response object: %v", err)
	}
	if r.IsAuthenticated == nil {
		return nil, fmt.Errorf("isAuthenticated is missing")
	}
	d := &Decision{IsAuthenticated: *r.IsAuthenticated}
	if !d.IsAuthenticated {
		if r.PrincipalID != nil {
			d.PrincipalID = *r.PrincipalID
		}
		return d, nil
	}
	if r.PrincipalID == nil || !principalRE.MatchString(*r.PrincipalID) {
		return nil, fmt.Errorf("principalId must match [a-zA-Z0-9]{1,128}")
	}
	d.PrincipalID = *r.PrincipalID
	if len(r.PolicyDocuments) > MaxPolicies {
		return nil, fmt.Errorf("%d policy documents; at most %d are allowed", len(r.PolicyDocuments), MaxPolicies)
	}
	for i, raw := range r.PolicyDocuments {
		text := string(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil { // a document as a JSON string
			text = s
		}
		doc, err := policy.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("policy document %d: %v", i+1, err)
		}
		d.PolicyDocuments = append(d.PolicyDocuments, text)
		d.Policies = append(d.Policies, doc)
	}
	for _, f := range []struct {
		name string
		v    *int64
		d    *time.Duration
	}{{"refreshAfterInSeconds", r.RefreshAfterInSeconds, &d.RefreshAfter}, {"disconnectAfterInSeconds", r.DisconnectAfterInSeconds, &d.DisconnectAfter}} {
		if f.v == nil {
			return nil, fmt.Errorf("%s is missing", f.name)
		}
		if *f.v < MinRefreshAfter || *f.v > MaxRefreshAfter {
			return nil, fmt.Errorf("%s is %d; it must be between %d and %d", f.name, *f.v, MinRefreshAfter, MaxRefreshAfter)
		}
		*f.d = time.Duration(*f.v) * time.Second
	}
	return d, nil
}

// Invoke runs an authorizer for one request: the status, then the token
// signature (unless signing is disabled; a bad signature never reaches the
// function), then the function within Budget, then its answer. A refusal
// before the answer is a *Refusal; an answer with isAuthenticated false is a
// Decision, not an error.
func (s *Service) Invoke(ctx context.Context, a Authorizer, req Request) (*Decision, error) {
	return s.invoke(ctx, a, req, cacheAll)
}

// InvokeHTTP runs an authorizer for an HTTPS request. As with AWS, the
// function is called for every request unless the authorizer has
// enableCachingForHttp; failures are cached briefly either way, so that a
// misbehaving client cannot hammer the function.
func (s *Service) InvokeHTTP(ctx context.Context, a Authorizer, req Request) (*Decision, error) {
	if a.EnableCachingForHTTP {
		return s.invoke(ctx, a, req, cacheAll)
	}
	return s.invoke(ctx, a, req, cacheFailures)
}

// Test is Invoke without the result cache, for TestInvokeAuthorizer: the
// function is always called (unless a step before it refuses).
func (s *Service) Test(ctx context.Context, a Authorizer, req Request) (*Decision, error) {
	return s.invoke(ctx, a, req, cacheNone)
}

// cacheMode says which results of the function the cache keeps.
type cacheMode int

const (
	cacheNone     cacheMode = iota // TestInvokeAuthorizer: always call
	cacheFailures                  // HTTP without enableCachingForHttp
	cacheAll                       // MQTT and WebSocket sessions
)

func (s *Service) invoke(ctx context.Context, a Authorizer, req Request, mode cacheMode) (*Decision, error) {
	refuse := func(step, format string, args ...any) error {
		return &Refusal{Authorizer: a.Name, Step: step, Reason: fmt.Sprintf(format, args...)}
	}
	if a.Status != Active {
		return nil, refuse("status", "the authorizer is %s", a.Status)
	}
	verify := func() error {
		if a.SigningDisabled {
			return nil
		}
		if err := VerifySignature(a, req.Token, req.Signature); err != nil {
			return refuse("signature", "%v", err)
		}
		return nil
	}
	event := Event(req, !a.SigningDisabled)
	if mode == cacheNone {
		if err := verify(); err != nil {
			return nil, err
		}
		return s.call(ctx, a, event, refuse)
	}
	// The cache is asked before the signature is checked: an entry exists
	// only for a presentation whose signature verified with the keys of the
	// authorizer as last modified (both are in the key), so a hit needs no
	// second RSA verification.
	key := s.cache.key(a, req.Signature, event)
	if d, err, ok := s.cache.get(key, s.now()); ok {
		return d, err
	}
	if err := verify(); err != nil {
		return nil, err
	}
	d, err := s.call(ctx, a, event, refuse)
	if mode == cacheAll || err != nil || !d.IsAuthenticated {
		s.cache.put(key, d, err, s.now())
	}
	return d, err
}

func (s *Service) call(ctx context.Context, a Authorizer, event map[string]any, refuse func(step, format string, args ...any) error) (*Decision, error) {
	name, err := s.fn.FunctionName(ctx, a.FunctionARN)
	if err != nil {
		return nil, refuse("function", "%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, Budget)
	defer cancel()
	out, err := s.fn.Invoke(ctx, name, event)
	if err != nil {
		return nil, refuse("function", "%v", err)
	}
	d, err := ParseResponse(out)
	if err != nil {
		return nil, refuse("response", "%v", err)
	}
	return d, nil
}
