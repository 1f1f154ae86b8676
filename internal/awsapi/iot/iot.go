// Package iot is the restJson1 adapter for the AWS IoT control plane (signing
// name "iot"): domain configurations, DescribeEndpoint and the certificate
// registry. Each area registers its routes from its own file.
package iot

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
)

// codes are the IoT control plane's default error codes per fault kind.
var codes = awsapi.Codes{
	fault.Invalid:       "InvalidRequestException",
	fault.NotFound:      "ResourceNotFoundException",
	fault.AlreadyExists: "ResourceAlreadyExistsException",
	fault.Conflict:      "DeleteConflictException",
	fault.LimitExceeded: "LimitExceededException",
	fault.Internal:      "InternalFailureException",
}

// Deps are the domain services the adapter calls. A nil service leaves its
// operations answering "not implemented".
type Deps struct {
	Endpoints Endpoints
	Devices   Devices
	// Authorizers serves the custom authorizer operations and tags
	// "authorizer" ARNs.
	Authorizers Authorizers
	// AuthorizerUsers, when set, names the domain configurations that use
	// an authorizer; DeleteAuthorizer refuses while there are any.
	AuthorizerUsers func(ctx context.Context, name string) ([]string, error)
	// Taggers tag further resource kinds, keyed by the resource type of
	// their ARNs (see Tagger); Endpoints is added as "domainconfiguration".
	Taggers map[string]Tagger
	Logger  *slog.Logger
}

type handler struct {
	Deps
	mux     *http.ServeMux
	taggers map[string]Tagger
}

// New returns the IoT control-plane handler.
func New(d Deps) http.Handler {
	h := &handler{Deps: d, mux: http.NewServeMux(), taggers: map[string]Tagger{}}
	for kind, t := range d.Taggers {
		h.taggers[kind] = t
	}
	if d.Endpoints != nil {
		h.registerEndpoints()
		h.taggers[endpoint.ResourceType] = d.Endpoints
	}
	if d.Authorizers != nil {
		h.registerAuthorizers()
		h.taggers[authorizer.ResourceType] = d.Authorizers
	}
	if t, ok := d.Devices.(CATags); ok {
		h.taggers[device.CAResourceType] = caTagger{t}
	}
	if len(h.taggers) > 0 {
		h.registerTags()
	}
	if d.Devices != nil {
		h.registerDevices()
	}
	h.mux.HandleFunc("/", h.unknown)
	return h
}

// Register adds the IoT adapter to an API server.
func Register(api *awsapi.Server, d Deps) {
	api.Register(awsapi.Service{SigningName: "iot", Protocol: awsapi.RestJSON, Handler: New(d)})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) fail(w http.ResponseWriter, err error) {
	awsapi.WriteFault(w, awsapi.RestJSON, codes, h.Logger, err)
}

func (h *handler) ok(w http.ResponseWriter, v any) { awsapi.WriteJSON(w, awsapi.RestJSON, v) }

// unknown answers any route not registered, naming the model operation when
// the method and path match one.
func (h *handler) unknown(w http.ResponseWriter, r *http.Request) {
	op := OperationFor(r.Method, r.URL.EscapedPath())
	if op == "" {
		op = r.Method + " " + r.URL.Path
	}
	awsapi.NotImplemented(w, awsapi.RestJSON, op)
}
