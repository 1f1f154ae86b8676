// Package route53 is the REST-XML adapter for the Route 53 hosted-zone API
// (signing name "route53", paths under /2013-04-01/). It routes by method and
// path, tolerating trailing slashes and /hostedzone/ or /change/ prefixes on
// IDs, decodes XML by element name in any order, calls the zone service and
// encodes answers and errors (always the ErrorResponse form) as the botocore
// model says.
package route53

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/health"
	"github.com/portico-iot/portico/internal/zone"
)

// APIVersion is the path prefix of every Route 53 operation.
const APIVersion = "/2013-04-01/"

// Codes are Route 53's default error codes per fault kind; the zone service
// names the specific code (NoSuchHostedZone, InvalidChangeBatch, ...) itself.
var Codes = awsapi.Codes{
	fault.Invalid:       "InvalidInput",
	fault.NotFound:      "NoSuchHostedZone",
	fault.AlreadyExists: "HostedZoneAlreadyExists",
	fault.Conflict:      "InvalidInput",
	fault.LimitExceeded: "TooManyHostedZones",
	fault.Internal:      "InternalError",
}

type handler struct {
	svc      *zone.Service
	checks   *health.Service // nil: health-check operations are not served
	statuses Statuses
	logger   *slog.Logger
}

// New returns the Route 53 handler.
func New(svc *zone.Service, logger *slog.Logger) http.Handler {
	return &handler{svc: svc, logger: logger}
}

// Register adds the Route 53 adapter to an API server. Route 53 is global:
// SDKs given a custom endpoint sign it with whatever region they have, so any
// region is accepted.
func Register(api *awsapi.Server, svc *zone.Service, logger *slog.Logger) {
	api.Register(awsapi.Service{SigningName: "route53", Protocol: awsapi.RestXML, Handler: New(svc, logger), AnyRegion: true})
}

// route is one operation's method and path pattern under /2013-04-01/.
type route struct {
	method, pattern, operation string
}

func (rt route) matches(method string, segments []string) bool {
	if rt.method != method {
		return false
	}
	parts := strings.Split(rt.pattern, "/")
	if len(parts) != len(segments) {
		return false
	}
	for i, p := range parts {
		if !strings.HasPrefix(p, "{") && p != segments[i] {
			return false
		}
	}
	return true
}

type operation func(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) error

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	escaped, ok := strings.CutPrefix(r.URL.EscapedPath(), APIVersion)
	if !ok {
		awsapi.NotImplemented(w, awsapi.RestXML, r.Method+" "+r.URL.Path)
		return
	}
	var segments []string
	for _, s := range strings.Split(escaped, "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			h.fail(w, fault.Coded(fault.Invalid, "InvalidInput", "The request path has a bad escape: %s", s))
			return
		}
		segments = append(segments, u)
	}
	for len(segments) > 0 && segments[len(segments)-1] == "" {
		segments = segments[:len(segments)-1]
	}
	op, id, name := h.route(r.Method, segments)
	if op == nil {
		awsapi.NotImplemented(w, awsapi.RestXML, name)
		return
	}
	if err := op(r.Context(), w, r, id); err != nil {
		h.fail(w, err)
	}
}

// route picks the operation for a request. When none is served it returns
// the operation's name from the model, or the method and path.
func (h *handler) route(method string, segments []string) (operation, string, string) {
	if len(segments) == 0 {
		return nil, "", method + " " + APIVersion
	}
	if op, id := h.routeHealth(method, segments); op != nil {
		return op, id, ""
	}
	switch segments[0] {
	case "hostedzone":
		if len(segments) == 1 {
			switch method {
			case http.MethodPost:
				return h.createHostedZone, "", ""
			case http.MethodGet:
				return h.listHostedZones, "", ""
			}
			break
		}
		id, rest := takeID(segments[1:], "hostedzone")
		if id == "" {
			break
		}
		switch {
		case len(rest) == 0 && method == http.MethodGet:
			return h.getHostedZone, id, ""
		case len(rest) == 0 && method == http.MethodDelete:
			return h.deleteHostedZone, id, ""
		case len(rest) == 0 && method == http.MethodPost:
			return h.updateHostedZoneComment, id, ""
		case len(rest) == 1 && rest[0] == "rrset" && method == http.MethodPost:
			return h.changeResourceRecordSets, id, ""
		case len(rest) == 1 && rest[0] == "rrset" && method == http.MethodGet:
			return h.listResourceRecordSets, id, ""
		}
		segments = append([]string{"hostedzone", id}, rest...)
	case "change":
		if len(segments) > 1 {
			id, rest := takeID(segments[1:], "change")
			if len(rest) == 0 && method == http.MethodGet {
				return h.getChange, id, ""
			}
		}
	case "hostedzonesbyname":
		if len(segments) == 1 && method == http.MethodGet {
			return h.listHostedZonesByName, "", ""
		}
	case "hostedzonecount":
		if len(segments) == 1 && method == http.MethodGet {
			return h.getHostedZoneCount, "", ""
		}
	}
	for _, rt := range unimplemented {
		if rt.matches(method, segments) {
			return nil, "", rt.operation
		}
	}
	return nil, "", method + " " + APIVersion + strings.Join(segments, "/")
}

// takeID reads the ID label of a path, accepting it bare (Z1), prefixed and
// percent-encoded (%2Fhostedzone%2FZ1) or prefixed raw (/hostedzone//hostedzone/Z1).
func takeID(rest []string, prefix string) (string, []string) {
	for len(rest) > 1 && rest[0] == "" {
		rest = rest[1:]
	}
	if len(rest) > 1 && rest[0] == prefix {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return "", nil
	}
	return zone.StripIDPrefix(rest[0]), rest[1:]
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	awsapi.WriteFault(w, awsapi.RestXML, Codes, h.logger, err)
}

// readBody reads a request body (the API server bounds its size).
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fault.Coded(fault.Invalid, "InvalidInput", "The request body exceeds %d bytes", tooBig.Limit)
		}
		return nil, fault.Coded(fault.Invalid, "InvalidInput", "Could not read the request body: %v", err)
	}
	return body, nil
}

// decodeXML reads a request body into v, by element name.
func decodeXML(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshalXML(body, v)
}

func unmarshalXML(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return fault.Coded(fault.Invalid, "InvalidInput", "The request body is empty; an XML document is required")
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return fault.Coded(fault.Invalid, "InvalidInput", "Invalid XML: %v", err)
	}
	return nil
}

// maxItems parses the maxitems query parameter; it returns the value to use
// (0 = the service default) and the string to echo.
func maxItems(q url.Values, def int) (int, string, error) {
	raw := q.Get("maxitems")
	if raw == "" {
		return 0, strconv.Itoa(def), nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, "", fault.Coded(fault.Invalid, "InvalidInput", "Invalid value for maxitems: %q is not a positive integer", raw)
	}
	return n, raw, nil
}

// Timestamp formats a time as Route 53 does: ISO 8601 UTC with milliseconds.
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func parseBool(member, s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fault.Coded(fault.Invalid, "InvalidInput", "Invalid value for %s: %q is not a boolean", member, s)
}
