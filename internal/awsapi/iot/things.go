package iot

import (
	"context"
	"net/http"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/device"
)

// Things is the thing registry (internal/device) as the adapter sees it. The
// Devices service provides it when it implements these methods too.
type Things interface {
	CreateThing(ctx context.Context, name string, in device.ThingInput) (*device.Thing, error)
	DescribeThing(ctx context.Context, name string) (*device.Thing, error)
	UpdateThing(ctx context.Context, name string, in device.ThingInput) error
	DeleteThing(ctx context.Context, name string, expectedVersion *int64) error
	ListThings(ctx context.Context, f device.ThingFilter, maxResults int, nextToken string) (*device.ThingPage, error)
	AttachThingPrincipal(ctx context.Context, thingName, principal string, typ device.ThingPrincipalType) error
	DetachThingPrincipal(ctx context.Context, thingName, principal string) error
	ListThingPrincipals(ctx context.Context, thingName string, maxResults int, nextToken string) (*device.NamePage, error)
	ListPrincipalThings(ctx context.Context, principal string, maxResults int, nextToken string) (*device.NamePage, error)
}

var _ Things = (*device.Service)(nil)

// registerThings adds the thing operations when the Devices service
// provides them.
func (h *handler) registerThings() {
	t, ok := h.Devices.(Things)
	if !ok {
		return
	}
	a := thingsAPI{handler: h, svc: t}
	h.mux.HandleFunc("POST /things/{thingName}", a.createThing)
	h.mux.HandleFunc("GET /things/{thingName}", a.describeThing)
	h.mux.HandleFunc("PATCH /things/{thingName}", a.updateThing)
	h.mux.HandleFunc("DELETE /things/{thingName}", a.deleteThing)
	h.mux.HandleFunc("GET /things", a.listThings)
	h.mux.HandleFunc("PUT /things/{thingName}/principals", a.attachThingPrincipal)
	h.mux.HandleFunc("DELETE /things/{thingName}/principals", a.detachThingPrincipal)
	h.mux.HandleFunc("GET /things/{thingName}/principals", a.listThingPrincipals)
	h.mux.HandleFunc("GET /principals/things", a.listPrincipalThings)
}

type thingsAPI struct {
	*handler
	svc Things
}

type attributePayloadJSON struct {
	Attributes map[string]string `json:"attributes"`
	Merge      bool              `json:"merge"`
}

func (a thingsAPI) createThing(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ThingTypeName    string                `json:"thingTypeName"`
		AttributePayload *attributePayloadJSON `json:"attributePayload"`
		BillingGroupName string                `json:"billingGroupName"`
	}
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	ti := device.ThingInput{TypeName: in.ThingTypeName, BillingGroupName: in.BillingGroupName}
	if in.AttributePayload != nil {
		ti.Attributes = in.AttributePayload.Attributes
	}
	t, err := a.svc.CreateThing(r.Context(), r.PathValue("thingName"), ti)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		ThingName string `json:"thingName"`
		ThingArn  string `json:"thingArn"`
		ThingID   string `json:"thingId"`
	}{t.Name, t.ARN, t.ID})
}

func attributesJSON(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (a thingsAPI) describeThing(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.DescribeThing(r.Context(), r.PathValue("thingName"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		DefaultClientID string            `json:"defaultClientId"`
		ThingName       string            `json:"thingName"`
		ThingID         string            `json:"thingId"`
		ThingArn        string            `json:"thingArn"`
		ThingTypeName   string            `json:"thingTypeName,omitempty"`
		Attributes      map[string]string `json:"attributes"`
		Version         int64             `json:"version"`
	}{t.Name, t.Name, t.ID, t.ARN, t.TypeName, attributesJSON(t.Attributes), t.Version})
}

func (a thingsAPI) updateThing(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ThingTypeName    string                `json:"thingTypeName"`
		AttributePayload *attributePayloadJSON `json:"attributePayload"`
		ExpectedVersion  *int64                `json:"expectedVersion"`
		RemoveThingType  bool                  `json:"removeThingType"`
	}
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	ti := device.ThingInput{TypeName: in.ThingTypeName, ExpectedVersion: in.ExpectedVersion, RemoveThingType: in.RemoveThingType}
	if in.AttributePayload != nil {
		// An attributePayload without attributes (nil) changes none.
		ti.Attributes, ti.Merge = in.AttributePayload.Attributes, in.AttributePayload.Merge
	}
	a.done(w, a.svc.UpdateThing(r.Context(), r.PathValue("thingName"), ti))
}

func (a thingsAPI) deleteThing(w http.ResponseWriter, r *http.Request) {
	expected, err := queryInt64(r, "expectedVersion")
	if err == nil {
		err = a.svc.DeleteThing(r.Context(), r.PathValue("thingName"), expected)
	}
	a.done(w, err)
}

type thingAttributeJSON struct {
	ThingName     string            `json:"thingName"`
	ThingTypeName string            `json:"thingTypeName,omitempty"`
	ThingArn      string            `json:"thingArn"`
	Attributes    map[string]string `json:"attributes"`
	Version       int64             `json:"version"`
}

func (a thingsAPI) listThings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	max, err := queryInt(r, "maxResults", device.MaxThingPageSize)
	if err != nil {
		a.fail(w, err)
		return
	}
	prefix, err := queryBool(r, "usePrefixAttributeValue")
	if err != nil {
		a.fail(w, err)
		return
	}
	f := device.ThingFilter{AttributeName: q.Get("attributeName"), AttributeValue: q.Get("attributeValue"),
		PrefixValue: prefix, TypeName: q.Get("thingTypeName")}
	page, err := a.svc.ListThings(r.Context(), f, max, q.Get("nextToken"))
	if err != nil {
		a.fail(w, err)
		return
	}
	out := struct {
		Things    []thingAttributeJSON `json:"things"`
		NextToken string               `json:"nextToken,omitempty"`
	}{Things: make([]thingAttributeJSON, 0, len(page.Things)), NextToken: page.NextToken}
	for _, t := range page.Things {
		out.Things = append(out.Things, thingAttributeJSON{t.Name, t.TypeName, t.ARN, attributesJSON(t.Attributes), t.Version})
	}
	a.ok(w, out)
}

func (a thingsAPI) attachThingPrincipal(w http.ResponseWriter, r *http.Request) {
	p, err := principalHeader(r, "x-amzn-principal")
	if err == nil {
		typ := device.ThingPrincipalType(r.URL.Query().Get("thingPrincipalType"))
		err = a.svc.AttachThingPrincipal(r.Context(), r.PathValue("thingName"), p, typ)
	}
	a.done(w, err)
}

func (a thingsAPI) detachThingPrincipal(w http.ResponseWriter, r *http.Request) {
	p, err := principalHeader(r, "x-amzn-principal")
	if err == nil {
		err = a.svc.DetachThingPrincipal(r.Context(), r.PathValue("thingName"), p)
	}
	a.done(w, err)
}

func (a thingsAPI) listThingPrincipals(w http.ResponseWriter, r *http.Request) {
	max, err := queryInt(r, "maxResults", device.MaxThingPageSize)
	if err != nil {
		a.fail(w, err)
		return
	}
	page, err := a.svc.ListThingPrincipals(r.Context(), r.PathValue("thingName"), max, r.URL.Query().Get("nextToken"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		Principals []string `json:"principals"`
		NextToken  string   `json:"nextToken,omitempty"`
	}{page.Names, page.NextToken})
}

func (a thingsAPI) listPrincipalThings(w http.ResponseWriter, r *http.Request) {
	max, err := queryInt(r, "maxResults", device.MaxThingPageSize)
	if err != nil {
		a.fail(w, err)
		return
	}
	p, err := principalHeader(r, "x-amzn-principal")
	if err != nil {
		a.fail(w, err)
		return
	}
	page, err := a.svc.ListPrincipalThings(r.Context(), p, max, r.URL.Query().Get("nextToken"))
	if err != nil {
		a.fail(w, err)
		return
	}
	a.ok(w, struct {
		Things    []string `json:"things"`
		NextToken string   `json:"nextToken,omitempty"`
	}{page.Names, page.NextToken})
}
