package iot

import (
	"context"
	"net/http"

	"github.com/portico-iot/portico/internal/device"
)

// Policies is the policy registry (internal/device) as the adapter sees it.
// The Devices service provides it when it implements these methods too.
type Policies interface {
	CreatePolicy(ctx context.Context, name, document string, tags []device.PolicyTag) (*device.PolicyVersion, error)
	GetPolicy(ctx context.Context, name string) (*device.Policy, error)
	ListPolicies(ctx context.Context, pageSize int, marker string, ascending bool) (*device.PolicyPage, error)
	DeletePolicy(ctx context.Context, name string) error
	CreatePolicyVersion(ctx context.Context, name, document string, setAsDefault bool) (*device.PolicyVersion, error)
	GetPolicyVersion(ctx context.Context, name, versionID string) (*device.PolicyVersion, error)
	ListPolicyVersions(ctx context.Context, name string) ([]device.PolicyVersion, error)
	SetDefaultPolicyVersion(ctx context.Context, name, versionID string) error
	DeletePolicyVersion(ctx context.Context, name, versionID string) error
	AttachPolicy(ctx context.Context, name, target string) error
	DetachPolicy(ctx context.Context, name, target string) error
	ListAttachedPolicies(ctx context.Context, target string, pageSize int, marker string) (*device.PolicyPage, error)
	ListTargetsForPolicy(ctx context.Context, name string, pageSize int, marker string) (*device.NamePage, error)
	// For TestAuthorization.
	IdentityOf(ctx context.Context, principal string) (device.Identity, error)
	NamedPolicies(ctx context.Context, names []string) ([]device.NamedPolicy, error)
	PolicyARN(name string) string
}

var _ Policies = (*device.Service)(nil)

// registerPolicies adds the policy operations and TestAuthorization when
// the Devices service provides them.
func (h *handler) registerPolicies() {
	p, ok := h.Devices.(Policies)
	if !ok {
		return
	}
	a := policiesAPI{handler: h, svc: p}
	h.mux.HandleFunc("POST /policies/{policyName}", a.createPolicy)
	h.mux.HandleFunc("GET /policies/{policyName}", a.getPolicy)
	h.mux.HandleFunc("DELETE /policies/{policyName}", a.deletePolicy)
	h.mux.HandleFunc("GET /policies", a.listPolicies)
	h.mux.HandleFunc("POST /policies/{policyName}/version", a.createPolicyVersion)
	h.mux.HandleFunc("GET /policies/{policyName}/version", a.listPolicyVersions)
	h.mux.HandleFunc("GET /policies/{policyName}/version/{policyVersionId}", a.getPolicyVersion)
	h.mux.HandleFunc("PATCH /policies/{policyName}/version/{policyVersionId}", a.setDefaultPolicyVersion)
	h.mux.HandleFunc("DELETE /policies/{policyName}/version/{policyVersionId}", a.deletePolicyVersion)
	h.mux.HandleFunc("PUT /target-policies/{policyName}", a.attachPolicy)
	h.mux.HandleFunc("POST /target-policies/{policyName}", a.detachPolicy)
	h.mux.HandleFunc("POST /attached-policies/{target}", a.listAttachedPolicies)
	h.mux.HandleFunc("POST /policy-targets/{policyName}", a.listTargetsForPolicy)
	// The deprecated principal-policy operations, as aliases.
	h.mux.HandleFunc("PUT /principal-policies/{policyName}", a.attachPrincipalPolicy)
	h.mux.HandleFunc("DELETE /principal-policies/{policyName}", a.detachPrincipalPolicy)
	h.mux.HandleFunc("GET /principal-policies", a.listPrincipalPolicies)
	h.mux.HandleFunc("GET /policy-principals", a.listPolicyPrincipals)
	h.mux.HandleFunc("POST /test-authorization", a.testAuthorization)
}

// policyTagJSON is the model's Tag structure (capitalised member names).
type policyTagJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type policiesAPI struct {
	*handler
	svc Policies
}

func (a policiesAPI) createPolicy(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PolicyDocument *string         `json:"policyDocument"`
		Tags           []policyTagJSON `json:"tags"`
	}
	doc, err := decodeRequired(r, &in, "policyDocument", &in.PolicyDocument)
	if err != nil {
		a.fail(w, err)
		return
	}
	tags := make([]device.PolicyTag, 0, len(in.Tags))
	for _, t := range in.Tags {
		tags = append(tags, device.PolicyTag{Key: t.Key, Value: t.Value})
	}
	v, err := a.svc.CreatePolicy(r.Context(), r.PathValue("policyName"), doc, tags)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		PolicyName      string `json:"policyName"`
		PolicyArn       string `json:"policyArn"`
		PolicyDocument  string `json:"policyDocument"`
		PolicyVersionID string `json:"policyVersionId"`
	}{v.PolicyName, v.PolicyARN, v.Document, v.VersionID})
}

func (a policiesAPI) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := a.svc.GetPolicy(r.Context(), r.PathValue("policyName"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		PolicyName       string   `json:"policyName"`
		PolicyArn        string   `json:"policyArn"`
		PolicyDocument   string   `json:"policyDocument"`
		DefaultVersionID string   `json:"defaultVersionId"`
		CreationDate     *float64 `json:"creationDate,omitempty"`
		LastModifiedDate *float64 `json:"lastModifiedDate,omitempty"`
		GenerationID     string   `json:"generationId"`
	}{p.Name, p.ARN, p.Document, p.DefaultVersionID, certEpoch(p.CreationDate), certEpoch(p.LastModifiedDate), p.GenerationID})
}

func (a policiesAPI) deletePolicy(w http.ResponseWriter, r *http.Request) {
	a.done(w, a.svc.DeletePolicy(r.Context(), r.PathValue("policyName")))
}

type policyJSON struct {
	PolicyName string `json:"policyName"`
	PolicyArn  string `json:"policyArn"`
}

func policiesJSON(ps []device.PolicySummary) []policyJSON {
	out := make([]policyJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, policyJSON{p.Name, p.ARN})
	}
	return out
}

type policyListJSON struct {
	Policies   []policyJSON `json:"policies"`
	NextMarker string       `json:"nextMarker,omitempty"`
}

func (a policiesAPI) listPolicies(w http.ResponseWriter, r *http.Request) {
	size, marker, err := pageQuery(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	asc, err := queryBool(r, "isAscendingOrder")
	if err != nil {
		a.fail(w, err)
		return
	}
	page, err := a.svc.ListPolicies(r.Context(), size, marker, asc)
	a.policyPage(w, page, err)
}

func (a policiesAPI) createPolicyVersion(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PolicyDocument *string `json:"policyDocument"`
	}
	doc, err := decodeRequired(r, &in, "policyDocument", &in.PolicyDocument)
	if err != nil {
		a.fail(w, err)
		return
	}
	setAsDefault, err := queryBool(r, "setAsDefault")
	if err != nil {
		a.fail(w, err)
		return
	}
	v, err := a.svc.CreatePolicyVersion(r.Context(), r.PathValue("policyName"), doc, setAsDefault)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		PolicyArn        string `json:"policyArn"`
		PolicyDocument   string `json:"policyDocument"`
		PolicyVersionID  string `json:"policyVersionId"`
		IsDefaultVersion bool   `json:"isDefaultVersion"`
	}{v.PolicyARN, v.Document, v.VersionID, v.IsDefault})
}

func (a policiesAPI) listPolicyVersions(w http.ResponseWriter, r *http.Request) {
	vs, err := a.svc.ListPolicyVersions(r.Context(), r.PathValue("policyName"))
	if err != nil {
		a.fail(w, err)
		return
	}
	type versionJSON struct {
		VersionID        string   `json:"versionId"`
		IsDefaultVersion bool     `json:"isDefaultVersion"`
		CreateDate       *float64 `json:"createDate,omitempty"`
	}
	out := struct {
		PolicyVersions []versionJSON `json:"policyVersions"`
	}{PolicyVersions: make([]versionJSON, 0, len(vs))}
	for _, v := range vs {
		out.PolicyVersions = append(out.PolicyVersions, versionJSON{v.VersionID, v.IsDefault, certEpoch(v.CreationDate)})
	}
	a.ok(w, out)
}

func (a policiesAPI) getPolicyVersion(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.GetPolicyVersion(r.Context(), r.PathValue("policyName"), r.PathValue("policyVersionId"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		PolicyArn        string   `json:"policyArn"`
		PolicyName       string   `json:"policyName"`
		PolicyDocument   string   `json:"policyDocument"`
		PolicyVersionID  string   `json:"policyVersionId"`
		IsDefaultVersion bool     `json:"isDefaultVersion"`
		CreationDate     *float64 `json:"creationDate,omitempty"`
		LastModifiedDate *float64 `json:"lastModifiedDate,omitempty"`
		GenerationID     string   `json:"generationId"`
	}{v.PolicyARN, v.PolicyName, v.Document, v.VersionID, v.IsDefault, certEpoch(v.CreationDate), certEpoch(v.LastModifiedDate), v.GenerationID})
}

func (a policiesAPI) setDefaultPolicyVersion(w http.ResponseWriter, r *http.Request) {
	a.done(w, a.svc.SetDefaultPolicyVersion(r.Context(), r.PathValue("policyName"), r.PathValue("policyVersionId")))
}

func (a policiesAPI) deletePolicyVersion(w http.ResponseWriter, r *http.Request) {
	a.done(w, a.svc.DeletePolicyVersion(r.Context(), r.PathValue("policyName"), r.PathValue("policyVersionId")))
}

// decodeTarget reads the body's target member.
func decodeTarget(r *http.Request) (string, error) {
	var in struct {
		Target *string `json:"target"`
	}
	return decodeRequired(r, &in, "target", &in.Target)
}

// principalPolicyHeader reads the deprecated operations' principal header.
func principalPolicyHeader(r *http.Request) (string, error) {
	return principalHeader(r, "x-amzn-iot-principal")
}

// attachment runs attach or detach for the path's policy and the target
// that target reads from the request.
func (a policiesAPI) attachment(w http.ResponseWriter, r *http.Request, target func(*http.Request) (string, error), op func(ctx context.Context, name, target string) error) {
	t, err := target(r)
	if err == nil {
		err = op(r.Context(), r.PathValue("policyName"), t)
	}
	a.done(w, err)
}

func (a policiesAPI) attachPolicy(w http.ResponseWriter, r *http.Request) {
	a.attachment(w, r, decodeTarget, a.svc.AttachPolicy)
}

func (a policiesAPI) detachPolicy(w http.ResponseWriter, r *http.Request) {
	a.attachment(w, r, decodeTarget, a.svc.DetachPolicy)
}

// listAttachedPolicies ignores recursive: certificates have no parents.
func (a policiesAPI) listAttachedPolicies(w http.ResponseWriter, r *http.Request) {
	if _, err := queryBool(r, "recursive"); err != nil {
		a.fail(w, err)
		return
	}
	a.attachedPolicies(w, r, r.PathValue("target"))
}

func (a policiesAPI) attachedPolicies(w http.ResponseWriter, r *http.Request, target string) {
	size, marker, err := pageQuery(r)
	if err != nil {
		a.fail(w, err)
		return
	}
	page, err := a.svc.ListAttachedPolicies(r.Context(), target, size, marker)
	a.policyPage(w, page, err)
}

// policyPage answers with a page of policies, or with the error that
// listing it returned.
func (a policiesAPI) policyPage(w http.ResponseWriter, page *device.PolicyPage, err error) {
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, policyListJSON{policiesJSON(page.Policies), page.NextMarker})
}

func (a policiesAPI) listTargetsForPolicy(w http.ResponseWriter, r *http.Request) {
	page, ok := a.targets(w, r, r.PathValue("policyName"))
	if !ok {
		return
	}
	a.ok(w, struct {
		Targets    []string `json:"targets"`
		NextMarker string   `json:"nextMarker,omitempty"`
	}{page.Names, page.NextToken})
}

func (a policiesAPI) targets(w http.ResponseWriter, r *http.Request, name string) (*device.NamePage, bool) {
	size, marker, err := pageQuery(r)
	if err == nil {
		var page *device.NamePage
		if page, err = a.svc.ListTargetsForPolicy(r.Context(), name, size, marker); err == nil {
			return page, true
		}
	}
	a.fail(w, err)
	return nil, false
}

func (a policiesAPI) attachPrincipalPolicy(w http.ResponseWriter, r *http.Request) {
	a.attachment(w, r, principalPolicyHeader, a.svc.AttachPolicy)
}

func (a policiesAPI) detachPrincipalPolicy(w http.ResponseWriter, r *http.Request) {
	a.attachment(w, r, principalPolicyHeader, a.svc.DetachPolicy)
}

// listPrincipalPolicies answers in name order; isAscendingOrder is
// accepted and ignored.
func (a policiesAPI) listPrincipalPolicies(w http.ResponseWriter, r *http.Request) {
	p, err := principalPolicyHeader(r)
	if err == nil {
		_, err = queryBool(r, "isAscendingOrder")
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	a.attachedPolicies(w, r, p)
}

func (a policiesAPI) listPolicyPrincipals(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get("x-amzn-iot-policy")
	if name == "" {
		a.fail(w, notNull("policyName"))
		return
	}
	if _, err := queryBool(r, "isAscendingOrder"); err != nil {
		a.fail(w, err)
		return
	}
	page, ok := a.targets(w, r, name)
	if !ok {
		return
	}
	a.ok(w, struct {
		Principals []string `json:"principals"`
		NextMarker string   `json:"nextMarker,omitempty"`
	}{page.Names, page.NextToken})
}
