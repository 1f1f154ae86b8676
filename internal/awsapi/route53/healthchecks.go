package route53

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/health"
	"github.com/portico-iot/portico/internal/zone"
)

// Statuses is what the health-check operations need from the checker
// (health.Checker implements it).
type Statuses interface {
	Status(id string) (health.Status, bool)
}

// NewWithHealth returns the Route 53 handler serving hosted zones and
// health checks; statuses answers GetHealthCheckStatus and
// GetHealthCheckLastFailureReason (nil: no observations yet).
func NewWithHealth(svc *zone.Service, checks *health.Service, statuses Statuses, logger *slog.Logger) http.Handler {
	return &handler{svc: svc, checks: checks, statuses: statuses, logger: logger}
}

// RegisterWithHealth is Register with the health-check operations served.
func RegisterWithHealth(api *awsapi.Server, svc *zone.Service, checks *health.Service, statuses Statuses, logger *slog.Logger) {
	api.Register(awsapi.Service{SigningName: "route53", Protocol: awsapi.RestXML,
		Handler: NewWithHealth(svc, checks, statuses, logger), AnyRegion: true})
}

// routeHealth picks a health-check operation, or nil.
func (h *handler) routeHealth(method string, segments []string) (operation, string) {
	if h.checks == nil {
		return nil, ""
	}
	switch segments[0] {
	case "healthcheckcount":
		if len(segments) == 1 && method == http.MethodGet {
			return h.getHealthCheckCount, ""
		}
	case "healthcheck":
		switch {
		case len(segments) == 1 && method == http.MethodPost:
			return h.createHealthCheck, ""
		case len(segments) == 1 && method == http.MethodGet:
			return h.listHealthChecks, ""
		case len(segments) == 2 && method == http.MethodGet:
			return h.getHealthCheck, segments[1]
		case len(segments) == 2 && method == http.MethodPost:
			return h.updateHealthCheck, segments[1]
		case len(segments) == 2 && method == http.MethodDelete:
			return h.deleteHealthCheck, segments[1]
		case len(segments) == 3 && method == http.MethodGet && segments[2] == "status":
			return h.getHealthCheckStatus, segments[1]
		case len(segments) == 3 && method == http.MethodGet && segments[2] == "lastfailurereason":
			return h.getHealthCheckLastFailureReason, segments[1]
		}
	}
	return nil, ""
}

type xmlRegions struct {
	Region []string `xml:"Region"`
}

type xmlHealthCheckConfig struct {
	IPAddress                string       `xml:"IPAddress,omitempty"`
	Port                     int32        `xml:"Port,omitempty"`
	Type                     string       `xml:"Type"`
	ResourcePath             string       `xml:"ResourcePath,omitempty"`
	FullyQualifiedDomainName string       `xml:"FullyQualifiedDomainName,omitempty"`
	SearchString             string       `xml:"SearchString,omitempty"`
	RequestInterval          int32        `xml:"RequestInterval,omitempty"` // absent on CALCULATED checks
	FailureThreshold         int32        `xml:"FailureThreshold,omitempty"`
	MeasureLatency           bool         `xml:"MeasureLatency"`
	Inverted                 bool         `xml:"Inverted"`
	Disabled                 bool         `xml:"Disabled"`
	HealthThreshold          *int32       `xml:"HealthThreshold"`
	ChildHealthChecks        *xmlChildren `xml:"ChildHealthChecks"`
	EnableSNI                bool         `xml:"EnableSNI"`
	Regions                  *xmlRegions  `xml:"Regions,omitempty"`
}

type xmlChildren struct {
	ChildHealthCheck []string `xml:"ChildHealthCheck"`
}

type xmlHealthCheck struct {
	ID                 string               `xml:"Id"`
	CallerReference    string               `xml:"CallerReference"`
	HealthCheckConfig  xmlHealthCheckConfig `xml:"HealthCheckConfig"`
	HealthCheckVersion int64                `xml:"HealthCheckVersion"`
}

func healthCheckXML(hc *health.HealthCheck) xmlHealthCheck {
	c := hc.Config
	out := xmlHealthCheck{ID: hc.ID, CallerReference: hc.CallerReference, HealthCheckVersion: hc.Version,
		HealthCheckConfig: xmlHealthCheckConfig{IPAddress: c.IPAddress, Port: c.Port, Type: c.Type, ResourcePath: c.ResourcePath,
			FullyQualifiedDomainName: c.FullyQualifiedDomainName, SearchString: c.SearchString, RequestInterval: c.RequestInterval,
			FailureThreshold: c.FailureThreshold, MeasureLatency: c.MeasureLatency, Inverted: c.Inverted, Disabled: c.Disabled,
			EnableSNI: c.EnableSNI}}
	if c.Regions != nil {
		out.HealthCheckConfig.Regions = &xmlRegions{Region: c.Regions}
	}
	if c.Type == health.TypeCalculated {
		threshold := c.HealthThreshold
		out.HealthCheckConfig.HealthThreshold = &threshold
		out.HealthCheckConfig.ChildHealthChecks = &xmlChildren{ChildHealthCheck: c.ChildHealthChecks}
	}
	return out
}

// xmlHealthCheckConfigIn reads numbers and booleans as text so that bad
// values get InvalidInput naming the member.
type xmlHealthCheckConfigIn struct {
	IPAddress                *string      `xml:"IPAddress"`
	Port                     *string      `xml:"Port"`
	Type                     *string      `xml:"Type"`
	ResourcePath             *string      `xml:"ResourcePath"`
	FullyQualifiedDomainName *string      `xml:"FullyQualifiedDomainName"`
	SearchString             *string      `xml:"SearchString"`
	RequestInterval          *string      `xml:"RequestInterval"`
	FailureThreshold         *string      `xml:"FailureThreshold"`
	MeasureLatency           *string      `xml:"MeasureLatency"`
	Inverted                 *string      `xml:"Inverted"`
	Disabled                 *string      `xml:"Disabled"`
	EnableSNI                *string      `xml:"EnableSNI"`
	Regions                  *xmlRegions  `xml:"Regions"`
	HealthThreshold          *string      `xml:"HealthThreshold"`
	ChildHealthChecks        *xmlChildren `xml:"ChildHealthChecks"`
	AlarmIdentifier          *present     `xml:"AlarmIdentifier"`
	RoutingControlArn        *present     `xml:"RoutingControlArn"`
	HealthCheckVersion       *string      `xml:"HealthCheckVersion"`
	ResetElements            *struct {
		ResettableElementName []string `xml:"ResettableElementName"`
	} `xml:"ResetElements"`
}

func parseInt32(member string, s *string) (*int32, error) {
	if s == nil {
		return nil, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*s), 10, 32)
	if err != nil {
		return nil, fault.Coded(fault.Invalid, "InvalidInput", "Invalid value for %s: %q is not an integer", member, *s)
	}
	v := int32(n)
	return &v, nil
}

func parseBoolPtr(member string, s *string) (*bool, error) {
	if s == nil {
		return nil, nil
	}
	b, err := parseBool(member, *s)
	return &b, err
}

// children returns the child ids of a request, never nil: an empty
// ChildHealthChecks element names no children.
func children(x *xmlChildren) []string {
	out := []string{}
	for _, id := range x.ChildHealthCheck {
		out = append(out, strings.TrimSpace(id))
	}
	return out
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

type createHealthCheckRequest struct {
	CallerReference   *string                 `xml:"CallerReference"`
	HealthCheckConfig *xmlHealthCheckConfigIn `xml:"HealthCheckConfig"`
}

type healthCheckResponse struct {
	XMLName     xml.Name
	Xmlns       string         `xml:"xmlns,attr"`
	HealthCheck xmlHealthCheck `xml:"HealthCheck"`
}

func (h *handler) createHealthCheck(ctx context.Context, w http.ResponseWriter, r *http.Request, _ string) error {
	var req createHealthCheckRequest
	if err := decodeXML(r, &req); err != nil {
		return err
	}
	if req.CallerReference == nil {
		return missing("callerReference")
	}
	in := req.HealthCheckConfig
	if in == nil {
		return missing("healthCheckConfig")
	}
	if in.Type == nil {
		return missing("healthCheckConfig.type")
	}
	for _, u := range []struct {
		name string
		v    *present
	}{{"AlarmIdentifier", in.AlarmIdentifier}, {"RoutingControlArn", in.RoutingControlArn}} {
		if u.v != nil {
			return fault.Coded(fault.Invalid, "InvalidInput", "Portico does not support %s in health checks yet", u.name)
		}
	}
	cfg := health.Config{IPAddress: str(in.IPAddress), Type: str(in.Type), ResourcePath: str(in.ResourcePath),
		FullyQualifiedDomainName: str(in.FullyQualifiedDomainName), SearchString: str(in.SearchString)}
	for _, n := range []struct {
		member string
		src    *string
		dst    *int32
	}{{"Port", in.Port, &cfg.Port}, {"RequestInterval", in.RequestInterval, &cfg.RequestInterval}, {"FailureThreshold", in.FailureThreshold, &cfg.FailureThreshold},
		{"HealthThreshold", in.HealthThreshold, &cfg.HealthThreshold}} {
		v, err := parseInt32(n.member, n.src)
		if err != nil {
			return err
		}
		if v != nil {
			*n.dst = *v
		}
	}
	for _, b := range []struct {
		member string
		src    *string
		dst    *bool
	}{{"MeasureLatency", in.MeasureLatency, &cfg.MeasureLatency}, {"Inverted", in.Inverted, &cfg.Inverted}, {"Disabled", in.Disabled, &cfg.Disabled}, {"EnableSNI", in.EnableSNI, &cfg.EnableSNI}} {
		v, err := parseBoolPtr(b.member, b.src)
		if err != nil {
			return err
		}
		if v != nil {
			*b.dst = *v
		}
	}
	if in.Regions != nil {
		cfg.Regions = in.Regions.Region
	}
	if in.ChildHealthChecks != nil {
		cfg.ChildHealthChecks = children(in.ChildHealthChecks)
	}
	hc, err := h.checks.Create(ctx, str(req.CallerReference), cfg)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "https://route53.amazonaws.com/2013-04-01/healthcheck/"+hc.ID)
	awsapi.WriteXML(w, http.StatusCreated, healthCheckResponse{XMLName: xml.Name{Local: "CreateHealthCheckResponse"},
		Xmlns: awsapi.Route53Namespace, HealthCheck: healthCheckXML(hc)})
	return nil
}

func (h *handler) getHealthCheck(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	hc, err := h.checks.Get(ctx, id)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, healthCheckResponse{XMLName: xml.Name{Local: "GetHealthCheckResponse"},
		Xmlns: awsapi.Route53Namespace, HealthCheck: healthCheckXML(hc)})
	return nil
}

func (h *handler) updateHealthCheck(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) error {
	var in xmlHealthCheckConfigIn
	if err := decodeXML(r, &in); err != nil {
		return err
	}
	up := health.UpdateInput{IPAddress: in.IPAddress, ResourcePath: in.ResourcePath,
		FullyQualifiedDomainName: in.FullyQualifiedDomainName, SearchString: in.SearchString}
	var err error
	if up.Port, err = parseInt32("Port", in.Port); err != nil {
		return err
	}
	if up.FailureThreshold, err = parseInt32("FailureThreshold", in.FailureThreshold); err != nil {
		return err
	}
	if up.Inverted, err = parseBoolPtr("Inverted", in.Inverted); err != nil {
		return err
	}
	if up.Disabled, err = parseBoolPtr("Disabled", in.Disabled); err != nil {
		return err
	}
	if up.EnableSNI, err = parseBoolPtr("EnableSNI", in.EnableSNI); err != nil {
		return err
	}
	if in.HealthCheckVersion != nil {
		v, err := strconv.ParseInt(strings.TrimSpace(*in.HealthCheckVersion), 10, 64)
		if err != nil {
			return fault.Coded(fault.Invalid, "InvalidInput", "Invalid value for HealthCheckVersion: %q", *in.HealthCheckVersion)
		}
		up.Version = &v
	}
	if in.Regions != nil {
		up.Regions = in.Regions.Region
	}
	if in.ResetElements != nil {
		up.ResetElements = in.ResetElements.ResettableElementName
	}
	if up.HealthThreshold, err = parseInt32("HealthThreshold", in.HealthThreshold); err != nil {
		return err
	}
	if in.ChildHealthChecks != nil {
		up.ChildHealthChecks = children(in.ChildHealthChecks)
	}
	hc, err := h.checks.Update(ctx, id, up)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, healthCheckResponse{XMLName: xml.Name{Local: "UpdateHealthCheckResponse"},
		Xmlns: awsapi.Route53Namespace, HealthCheck: healthCheckXML(hc)})
	return nil
}

type deleteHealthCheckResponse struct {
	XMLName xml.Name `xml:"DeleteHealthCheckResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
}

func (h *handler) deleteHealthCheck(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	if err := h.checks.Delete(ctx, id); err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, deleteHealthCheckResponse{Xmlns: awsapi.Route53Namespace})
	return nil
}

type listHealthChecksResponse struct {
	XMLName      xml.Name `xml:"ListHealthChecksResponse"`
	Xmlns        string   `xml:"xmlns,attr"`
	HealthChecks struct {
		HealthCheck []xmlHealthCheck `xml:"HealthCheck"`
	} `xml:"HealthChecks"`
	Marker      string `xml:"Marker"`
	IsTruncated bool   `xml:"IsTruncated"`
	NextMarker  string `xml:"NextMarker,omitempty"`
	MaxItems    string `xml:"MaxItems"`
}

func (h *handler) listHealthChecks(ctx context.Context, w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	n, echo, err := maxItems(q, health.DefaultPageSize)
	if err != nil {
		return err
	}
	page, err := h.checks.List(ctx, q.Get("marker"), n)
	if err != nil {
		return err
	}
	resp := listHealthChecksResponse{Xmlns: awsapi.Route53Namespace, Marker: q.Get("marker"), IsTruncated: page.IsTruncated,
		NextMarker: page.NextMarker, MaxItems: echo}
	resp.HealthChecks.HealthCheck = []xmlHealthCheck{}
	for i := range page.HealthChecks {
		resp.HealthChecks.HealthCheck = append(resp.HealthChecks.HealthCheck, healthCheckXML(&page.HealthChecks[i]))
	}
	awsapi.WriteXML(w, http.StatusOK, resp)
	return nil
}

type getHealthCheckCountResponse struct {
	XMLName          xml.Name `xml:"GetHealthCheckCountResponse"`
	Xmlns            string   `xml:"xmlns,attr"`
	HealthCheckCount int64    `xml:"HealthCheckCount"`
}

func (h *handler) getHealthCheckCount(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ string) error {
	n, err := h.checks.Count(ctx)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, getHealthCheckCountResponse{Xmlns: awsapi.Route53Namespace, HealthCheckCount: n})
	return nil
}

type xmlObservation struct {
	Region       string `xml:"Region"`
	IPAddress    string `xml:"IPAddress,omitempty"`
	StatusReport struct {
		Status      string `xml:"Status"`
		CheckedTime string `xml:"CheckedTime"`
	} `xml:"StatusReport"`
}

type observationsResponse struct {
	XMLName                 xml.Name
	Xmlns                   string `xml:"xmlns,attr"`
	HealthCheckObservations struct {
		HealthCheckObservation []xmlObservation `xml:"HealthCheckObservation"`
	} `xml:"HealthCheckObservations"`
}

func (h *handler) observations(ctx context.Context, w http.ResponseWriter, id, root string, pick func(health.Status) *health.Observation) error {
	if _, err := h.checks.Get(ctx, id); err != nil {
		return err
	}
	resp := observationsResponse{XMLName: xml.Name{Local: root}, Xmlns: awsapi.Route53Namespace}
	resp.HealthCheckObservations.HealthCheckObservation = []xmlObservation{}
	if h.statuses != nil {
		if st, ok := h.statuses.Status(id); ok {
			if o := pick(st); o != nil {
				x := xmlObservation{Region: o.Region, IPAddress: o.IPAddress}
				x.StatusReport.Status = o.Status
				x.StatusReport.CheckedTime = Timestamp(o.CheckedTime)
				resp.HealthCheckObservations.HealthCheckObservation = append(resp.HealthCheckObservations.HealthCheckObservation, x)
			}
		}
	}
	awsapi.WriteXML(w, http.StatusOK, resp)
	return nil
}

func (h *handler) getHealthCheckStatus(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	return h.observations(ctx, w, id, "GetHealthCheckStatusResponse", func(s health.Status) *health.Observation { return s.Last })
}

func (h *handler) getHealthCheckLastFailureReason(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	return h.observations(ctx, w, id, "GetHealthCheckLastFailureReasonResponse", func(s health.Status) *health.Observation { return s.LastFailure })
}
