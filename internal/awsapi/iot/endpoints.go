package iot

import (
	"context"
	"net/http"
	"strconv"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
)

// Endpoints is the domain-configuration service as the adapter sees it.
type Endpoints interface {
	Create(ctx context.Context, in endpoint.CreateInput) (*endpoint.Configuration, error)
	Describe(ctx context.Context, name string) (*endpoint.Configuration, error)
	CertificateStatuses(ctx context.Context, c *endpoint.Configuration) []endpoint.CertificateStatus
	Update(ctx context.Context, in endpoint.UpdateInput) (*endpoint.Configuration, error)
	Delete(ctx context.Context, name string) error
	List(ctx context.Context, in endpoint.ListInput) ([]endpoint.Summary, string, error)
	Hostname(endpointType string) (string, error)
	// Tagger tags domain configurations (ARN resource type "domainconfiguration").
	Tagger
}

var _ Endpoints = (*endpoint.Service)(nil)

func (h *handler) registerEndpoints() {
	h.mux.HandleFunc("POST /domainConfigurations/{name}", h.createDomainConfiguration)
	h.mux.HandleFunc("GET /domainConfigurations/{name}", h.describeDomainConfiguration)
	h.mux.HandleFunc("PUT /domainConfigurations/{name}", h.updateDomainConfiguration)
	h.mux.HandleFunc("DELETE /domainConfigurations/{name}", h.deleteDomainConfiguration)
	h.mux.HandleFunc("GET /domainConfigurations", h.listDomainConfigurations)
	h.mux.HandleFunc("GET /endpoint", h.describeEndpoint)
}

type tlsConfig struct {
	SecurityPolicy string `json:"securityPolicy,omitempty"`
}

type createDomainConfigurationRequest struct {
	DomainName               *string                           `json:"domainName"`
	ServerCertificateArns    []string                          `json:"serverCertificateArns"`
	ValidationCertificateArn string                            `json:"validationCertificateArn"`
	AuthorizerConfig         *endpoint.AuthorizerConfig        `json:"authorizerConfig"`
	ServiceType              string                            `json:"serviceType"`
	Tags                     []tag                             `json:"tags"`
	TLSConfig                *tlsConfig                        `json:"tlsConfig"`
	ServerCertificateConfig  *endpoint.ServerCertificateConfig `json:"serverCertificateConfig"`
	AuthenticationType       string                            `json:"authenticationType"`
	ApplicationProtocol      string                            `json:"applicationProtocol"`
	ClientCertificateConfig  *endpoint.ClientCertificateConfig `json:"clientCertificateConfig"`
}

type domainConfigurationRef struct {
	Name string `json:"domainConfigurationName"`
	ARN  string `json:"domainConfigurationArn"`
}

func (h *handler) createDomainConfiguration(w http.ResponseWriter, r *http.Request) {
	var req createDomainConfigurationRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	// An absent domainName makes an AWS-managed configuration; an empty one
	// breaks the model's length constraint (1-253).
	if req.DomainName != nil && *req.DomainName == "" {
		h.fail(w, fault.Invalidf("1 validation error detected: Value '' at 'domainName' failed to satisfy constraint: Member must have length between 1 and 253"))
		return
	}
	domainName := ""
	if req.DomainName != nil {
		domainName = *req.DomainName
	}
	in := endpoint.CreateInput{
		Name: r.PathValue("name"), DomainName: domainName, ServerCertificateARNs: req.ServerCertificateArns,
		ValidationCertificateARN: req.ValidationCertificateArn, ServiceType: req.ServiceType,
		AuthenticationType: req.AuthenticationType, ApplicationProtocol: req.ApplicationProtocol,
		AuthorizerConfig: req.AuthorizerConfig, ServerCertificateConfig: req.ServerCertificateConfig,
		ClientCertificateConfig: req.ClientCertificateConfig,
	}
	if req.TLSConfig != nil {
		in.SecurityPolicy = req.TLSConfig.SecurityPolicy
	}
	in.Tags = fromWireTags(req.Tags)
	c, err := h.Endpoints.Create(r.Context(), in)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, domainConfigurationRef{Name: c.Name, ARN: c.ARN})
}

type serverCertificateSummary struct {
	ARN    string `json:"serverCertificateArn"`
	Status string `json:"serverCertificateStatus"`
	Detail string `json:"serverCertificateStatusDetail,omitempty"`
}

type describeDomainConfigurationResponse struct {
	Name                    string                            `json:"domainConfigurationName"`
	ARN                     string                            `json:"domainConfigurationArn"`
	DomainName              string                            `json:"domainName,omitempty"`
	ServerCertificates      []serverCertificateSummary        `json:"serverCertificates"`
	AuthorizerConfig        *endpoint.AuthorizerConfig        `json:"authorizerConfig,omitempty"`
	Status                  string                            `json:"domainConfigurationStatus"`
	ServiceType             string                            `json:"serviceType"`
	DomainType              string                            `json:"domainType"`
	LastStatusChangeDate    float64                           `json:"lastStatusChangeDate"`
	TLSConfig               tlsConfig                         `json:"tlsConfig"`
	ServerCertificateConfig *endpoint.ServerCertificateConfig `json:"serverCertificateConfig,omitempty"`
	AuthenticationType      string                            `json:"authenticationType,omitempty"`
	ApplicationProtocol     string                            `json:"applicationProtocol,omitempty"`
	ClientCertificateConfig *endpoint.ClientCertificateConfig `json:"clientCertificateConfig,omitempty"`
}

func (h *handler) describeDomainConfiguration(w http.ResponseWriter, r *http.Request) {
	c, err := h.Endpoints.Describe(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, err)
		return
	}
	out := describeDomainConfigurationResponse{
		Name: c.Name, ARN: c.ARN, DomainName: c.DomainName, AuthorizerConfig: c.AuthorizerConfig,
		Status: c.Status, ServiceType: c.ServiceType, DomainType: c.DomainType,
		LastStatusChangeDate: epochSeconds(c.LastStatusChange.UnixMilli()),
		TLSConfig:            tlsConfig{SecurityPolicy: c.SecurityPolicy}, ServerCertificateConfig: c.ServerCertificateConfig,
		AuthenticationType: c.AuthenticationType, ApplicationProtocol: c.ApplicationProtocol,
		ClientCertificateConfig: c.ClientCertificateConfig,
		ServerCertificates:      []serverCertificateSummary{},
	}
	for _, cs := range h.Endpoints.CertificateStatuses(r.Context(), c) {
		out.ServerCertificates = append(out.ServerCertificates, serverCertificateSummary{ARN: cs.ARN, Status: cs.Status, Detail: cs.Detail})
	}
	h.ok(w, out)
}

type updateDomainConfigurationRequest struct {
	AuthorizerConfig        *endpoint.AuthorizerConfig        `json:"authorizerConfig"`
	Status                  string                            `json:"domainConfigurationStatus"`
	RemoveAuthorizerConfig  *bool                             `json:"removeAuthorizerConfig"`
	TLSConfig               *tlsConfig                        `json:"tlsConfig"`
	ServerCertificateConfig *endpoint.ServerCertificateConfig `json:"serverCertificateConfig"`
	AuthenticationType      string                            `json:"authenticationType"`
	ApplicationProtocol     string                            `json:"applicationProtocol"`
	ClientCertificateConfig *endpoint.ClientCertificateConfig `json:"clientCertificateConfig"`
	// ServerCertificateArns is a Portico extension (see docs/compatibility.md).
	ServerCertificateArns []string `json:"serverCertificateArns"`
}

func (h *handler) updateDomainConfiguration(w http.ResponseWriter, r *http.Request) {
	var req updateDomainConfigurationRequest
	if err := awsapi.DecodeJSON(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	in := endpoint.UpdateInput{
		Name: r.PathValue("name"), Status: req.Status, AuthorizerConfig: req.AuthorizerConfig,
		RemoveAuthorizerConfig:  req.RemoveAuthorizerConfig != nil && *req.RemoveAuthorizerConfig,
		ServerCertificateConfig: req.ServerCertificateConfig, AuthenticationType: req.AuthenticationType,
		ApplicationProtocol: req.ApplicationProtocol, ClientCertificateConfig: req.ClientCertificateConfig,
		ServerCertificateARNs: req.ServerCertificateArns,
	}
	if req.TLSConfig != nil {
		in.SecurityPolicy = req.TLSConfig.SecurityPolicy
	}
	c, err := h.Endpoints.Update(r.Context(), in)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, domainConfigurationRef{Name: c.Name, ARN: c.ARN})
}

func (h *handler) deleteDomainConfiguration(w http.ResponseWriter, r *http.Request) {
	h.done(w, h.Endpoints.Delete(r.Context(), r.PathValue("name")))
}

type domainConfigurationSummary struct {
	Name        string `json:"domainConfigurationName"`
	ARN         string `json:"domainConfigurationArn"`
	ServiceType string `json:"serviceType"`
}

func (h *handler) listDomainConfigurations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	in := endpoint.ListInput{Marker: q.Get("marker"), ServiceType: q.Get("serviceType")}
	if ps := q.Get("pageSize"); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil {
			h.fail(w, fault.Invalidf("pageSize must be an integer between 1 and 250"))
			return
		}
		in.PageSize = n
	}
	items, next, err := h.Endpoints.List(r.Context(), in)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		Items      []domainConfigurationSummary `json:"domainConfigurations"`
		NextMarker string                       `json:"nextMarker,omitempty"`
	}{Items: []domainConfigurationSummary{}, NextMarker: next}
	for _, it := range items {
		out.Items = append(out.Items, domainConfigurationSummary{Name: it.Name, ARN: it.ARN, ServiceType: it.ServiceType})
	}
	h.ok(w, out)
}

func (h *handler) describeEndpoint(w http.ResponseWriter, r *http.Request) {
	host, err := h.Endpoints.Hostname(r.URL.Query().Get("endpointType"))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, struct {
		Address string `json:"endpointAddress"`
	}{host})
}

// epochSeconds renders milliseconds since the epoch as restJson1 timestamps:
// seconds, with a fraction.
func epochSeconds(ms int64) float64 { return float64(ms) / 1000 }
