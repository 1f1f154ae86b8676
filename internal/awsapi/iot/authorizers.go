package iot

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/tagging"
)

// Authorizers is the custom authorizer service (internal/authorizer) as the
// adapter sees it. It is also the Tagger of "authorizer" ARNs.
type Authorizers interface {
	Tagger
	Create(ctx context.Context, name string, in authorizer.Input) (authorizer.Authorizer, error)
	Update(ctx context.Context, name string, in authorizer.Input) (authorizer.Authorizer, error)
	Get(ctx context.Context, name string) (authorizer.Authorizer, error)
	List(ctx context.Context, in authorizer.ListInput) ([]authorizer.Authorizer, string, error)
	Delete(ctx context.Context, name string, inUse func(ctx context.Context, name string) ([]string, error)) error
	SetDefault(ctx context.Context, name string) (authorizer.Authorizer, error)
	Default(ctx context.Context) (authorizer.Authorizer, error)
	ClearDefault(ctx context.Context) error
	// Test runs the authorizer without its result cache.
	Test(ctx context.Context, a authorizer.Authorizer, req authorizer.Request) (*authorizer.Decision, error)
}

var _ Authorizers = (*authorizer.Service)(nil)

func (h *handler) registerAuthorizers() {
	h.mux.HandleFunc("POST /authorizer/{name}", h.createAuthorizer)
	h.mux.HandleFunc("PUT /authorizer/{name}", h.updateAuthorizer)
	h.mux.HandleFunc("GET /authorizer/{name}", h.describeAuthorizer)
	h.mux.HandleFunc("DELETE /authorizer/{name}", h.deleteAuthorizer)
	h.mux.HandleFunc("GET /authorizers/", h.listAuthorizers)
	h.mux.HandleFunc("GET /authorizers", h.listAuthorizers)
	h.mux.HandleFunc("POST /default-authorizer", h.setDefaultAuthorizer)
	h.mux.HandleFunc("GET /default-authorizer", h.describeDefaultAuthorizer)
	h.mux.HandleFunc("DELETE /default-authorizer", h.clearDefaultAuthorizer)
	h.mux.HandleFunc("POST /authorizer/{name}/test", h.testInvokeAuthorizer)
}

type authorizerRequest struct {
	AuthorizerFunctionArn  *string           `json:"authorizerFunctionArn"`
	TokenKeyName           *string           `json:"tokenKeyName"`
	TokenSigningPublicKeys map[string]string `json:"tokenSigningPublicKeys"`
	Status                 *string           `json:"status"`
	Tags                   []tag             `json:"tags"`
	SigningDisabled        *bool             `json:"signingDisabled"`
	EnableCachingForHttp   *bool             `json:"enableCachingForHttp"`
}

func (r authorizerRequest) input() authorizer.Input {
	in := authorizer.Input{FunctionARN: r.AuthorizerFunctionArn, TokenKeyName: r.TokenKeyName,
		SigningPublicKeys: r.TokenSigningPublicKeys, Status: r.Status, SigningDisabled: r.SigningDisabled,
		EnableCachingForHTTP: r.EnableCachingForHttp}
	if r.Tags != nil {
		in.Tags = fromWireTags(r.Tags)
	}
	return in
}

type authorizerRef struct {
	AuthorizerName string `json:"authorizerName"`
	AuthorizerArn  string `json:"authorizerArn"`
}

type authorizerDescription struct {
	AuthorizerName         string            `json:"authorizerName"`
	AuthorizerArn          string            `json:"authorizerArn"`
	AuthorizerFunctionArn  string            `json:"authorizerFunctionArn"`
	TokenKeyName           string            `json:"tokenKeyName,omitempty"`
	TokenSigningPublicKeys map[string]string `json:"tokenSigningPublicKeys,omitempty"`
	Status                 string            `json:"status"`
	CreationDate           float64           `json:"creationDate"`
	LastModifiedDate       float64           `json:"lastModifiedDate"`
	SigningDisabled        bool              `json:"signingDisabled"`
	EnableCachingForHttp   bool              `json:"enableCachingForHttp"`
}

func describeAuthorizer(a authorizer.Authorizer) any {
	return struct {
		D authorizerDescription `json:"authorizerDescription"`
	}{authorizerDescription{
		AuthorizerName: a.Name, AuthorizerArn: a.ARN, AuthorizerFunctionArn: a.FunctionARN,
		TokenKeyName: a.TokenKeyName, TokenSigningPublicKeys: a.SigningPublicKeys, Status: a.Status,
		CreationDate: epochSeconds(a.Created.UnixMilli()), LastModifiedDate: epochSeconds(a.Modified.UnixMilli()),
		SigningDisabled: a.SigningDisabled, EnableCachingForHttp: a.EnableCachingForHTTP,
	}}
}

func (h *handler) createAuthorizer(w http.ResponseWriter, r *http.Request) {
	var req authorizerRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if req.AuthorizerFunctionArn == nil {
		h.fail(w, notNull("authorizerFunctionArn"))
		return
	}
	if req.Tags != nil {
		if err := tagging.Validate(fromWireTags(req.Tags)); err != nil {
			h.fail(w, err)
			return
		}
	}
	a, err := h.Authorizers.Create(r.Context(), r.PathValue("name"), req.input())
	h.respond(w, authorizerRef{a.Name, a.ARN}, err)
}

func (h *handler) updateAuthorizer(w http.ResponseWriter, r *http.Request) {
	var req authorizerRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	// signingDisabled and tags are not Update members; ignore them as an
	// unknown member would be.
	req.SigningDisabled, req.Tags = nil, nil
	a, err := h.Authorizers.Update(r.Context(), r.PathValue("name"), req.input())
	h.respond(w, authorizerRef{a.Name, a.ARN}, err)
}

func (h *handler) describeAuthorizer(w http.ResponseWriter, r *http.Request) {
	a, err := h.Authorizers.Get(r.Context(), r.PathValue("name"))
	h.respond(w, describeAuthorizer(a), err)
}

func (h *handler) deleteAuthorizer(w http.ResponseWriter, r *http.Request) {
	h.done(w, h.Authorizers.Delete(r.Context(), r.PathValue("name"), h.AuthorizerUsers))
}

func (h *handler) listAuthorizers(w http.ResponseWriter, r *http.Request) {
	size, err := queryInt(r, "pageSize", authorizer.MaxPageSize)
	if err != nil {
		h.fail(w, err)
		return
	}
	asc, err := queryBool(r, "isAscendingOrder")
	if err != nil {
		h.fail(w, err)
		return
	}
	page, next, err := h.Authorizers.List(r.Context(), authorizer.ListInput{PageSize: size, Marker: r.URL.Query().Get("marker"),
		Ascending: asc, Status: r.URL.Query().Get("status")})
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		Authorizers []authorizerRef `json:"authorizers"`
		NextMarker  string          `json:"nextMarker,omitempty"`
	}{Authorizers: []authorizerRef{}, NextMarker: next}
	for _, a := range page {
		out.Authorizers = append(out.Authorizers, authorizerRef{a.Name, a.ARN})
	}
	h.ok(w, out)
}

func (h *handler) setDefaultAuthorizer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AuthorizerName *string `json:"authorizerName"`
	}
	name, err := decodeRequired(r, &req, "authorizerName", &req.AuthorizerName)
	if err != nil {
		h.fail(w, err)
		return
	}
	a, err := h.Authorizers.SetDefault(r.Context(), name)
	h.respond(w, authorizerRef{a.Name, a.ARN}, err)
}

func (h *handler) describeDefaultAuthorizer(w http.ResponseWriter, r *http.Request) {
	a, err := h.Authorizers.Default(r.Context())
	h.respond(w, describeAuthorizer(a), err)
}

func (h *handler) clearDefaultAuthorizer(w http.ResponseWriter, r *http.Request) {
	h.done(w, h.Authorizers.ClearDefault(r.Context()))
}

// testInvokeAuthorizer runs the authorizer as a connection would: a refusal
// before the function answers is InvalidRequestException (status, token,
// signature) or InvalidResponseException (the function failed or answered
// something invalid), with the step and the reason in the message.
func (h *handler) testInvokeAuthorizer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token          string `json:"token"`
		TokenSignature string `json:"tokenSignature"`
		HTTPContext    *struct {
			Headers     map[string]string `json:"headers"`
			QueryString string            `json:"queryString"`
		} `json:"httpContext"`
		MQTTContext *struct {
			Username string  `json:"username"`
			Password *string `json:"password"`
			ClientID string  `json:"clientId"`
		} `json:"mqttContext"`
		TLSContext *struct {
			ServerName string `json:"serverName"`
		} `json:"tlsContext"`
	}
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	a, err := h.Authorizers.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, err)
		return
	}
	in := authorizer.Request{Token: req.Token, Signature: req.TokenSignature, Protocols: []string{"tls"}, ConnectionID: newConnectionID()}
	if req.TLSContext != nil {
		in.ServerName = req.TLSContext.ServerName
	}
	if req.HTTPContext != nil {
		in.Protocols = append(in.Protocols, "http")
		in.HTTP = &authorizer.HTTPData{Headers: req.HTTPContext.Headers, QueryString: req.HTTPContext.QueryString}
	}
	if req.MQTTContext != nil {
		in.Protocols = append(in.Protocols, "mqtt")
		m := &authorizer.MQTTData{Username: req.MQTTContext.Username, ClientID: req.MQTTContext.ClientID}
		if req.MQTTContext.Password != nil {
			p, err := base64.StdEncoding.DecodeString(*req.MQTTContext.Password)
			if err != nil {
				h.fail(w, fault.Invalidf("mqttContext.password must be base64: %v", err))
				return
			}
			m.Password, m.HasPassword = p, true
		}
		in.MQTT = m
	}
	d, err := h.Authorizers.Test(r.Context(), a, in)
	if ref, ok := err.(*authorizer.Refusal); ok {
		h.Logger.Info("TestInvokeAuthorizer refused", "authorizer", ref.Authorizer, "step", ref.Step, "reason", ref.Reason)
		h.fail(w, ref.Fault())
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		IsAuthenticated          bool     `json:"isAuthenticated"`
		PrincipalID              string   `json:"principalId,omitempty"`
		PolicyDocuments          []string `json:"policyDocuments"`
		RefreshAfterInSeconds    int64    `json:"refreshAfterInSeconds,omitempty"`
		DisconnectAfterInSeconds int64    `json:"disconnectAfterInSeconds,omitempty"`
	}{IsAuthenticated: d.IsAuthenticated, PrincipalID: d.PrincipalID, PolicyDocuments: d.PolicyDocuments,
		RefreshAfterInSeconds: int64(d.RefreshAfter.Seconds()), DisconnectAfterInSeconds: int64(d.DisconnectAfter.Seconds())}
	if out.PolicyDocuments == nil {
		out.PolicyDocuments = []string{}
	}
	h.ok(w, out)
}

// newConnectionID returns a random UUID (version 4).
func newConnectionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}
