package route53

import (
	"context"
	"encoding/xml"
	"net/http"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/zone"
)

// Wire shapes. Response roots carry the Route 53 namespace; requests are
// read by element name whatever their namespace and order.

type xmlChangeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
	Comment     string `xml:"Comment,omitempty"`
}

func changeInfo(c *zone.ChangeInfo) xmlChangeInfo {
	return xmlChangeInfo{ID: "/change/" + c.ID, Status: c.Status, SubmittedAt: Timestamp(c.SubmittedAt), Comment: c.Comment}
}

type xmlHostedZoneConfig struct {
	Comment     string `xml:"Comment,omitempty"`
	PrivateZone bool   `xml:"PrivateZone"`
}

type xmlHostedZone struct {
	ID                     string              `xml:"Id"`
	Name                   string              `xml:"Name"`
	CallerReference        string              `xml:"CallerReference"`
	Config                 xmlHostedZoneConfig `xml:"Config"`
	ResourceRecordSetCount int64               `xml:"ResourceRecordSetCount"`
}

func hostedZone(z *zone.HostedZone) xmlHostedZone {
	return xmlHostedZone{ID: "/hostedzone/" + z.ID, Name: z.Name, CallerReference: z.CallerReference,
		Config: xmlHostedZoneConfig{Comment: z.Comment, PrivateZone: z.Private}, ResourceRecordSetCount: z.RecordSetCount}
}

type xmlDelegationSet struct {
	NameServers struct {
		NameServer []string `xml:"NameServer"`
	} `xml:"NameServers"`
}

func delegationSet(z *zone.HostedZone) *xmlDelegationSet {
	d := &xmlDelegationSet{}
	d.NameServers.NameServer = z.NameServers
	return d
}

type xmlHostedZones struct {
	HostedZone []xmlHostedZone `xml:"HostedZone"`
}

func hostedZones(zs []zone.HostedZone) xmlHostedZones {
	out := xmlHostedZones{HostedZone: make([]xmlHostedZone, len(zs))}
	for i := range zs {
		out.HostedZone[i] = hostedZone(&zs[i])
	}
	return out
}

// --- CreateHostedZone: POST /2013-04-01/hostedzone

type createHostedZoneRequest struct {
	Name             *string `xml:"Name"`
	CallerReference  *string `xml:"CallerReference"`
	HostedZoneConfig *struct {
		Comment     string `xml:"Comment"`
		PrivateZone string `xml:"PrivateZone"`
	} `xml:"HostedZoneConfig"`
	VPC             *struct{} `xml:"VPC"`
	DelegationSetID string    `xml:"DelegationSetId"`
}

type createHostedZoneResponse struct {
	XMLName       xml.Name          `xml:"CreateHostedZoneResponse"`
	Xmlns         string            `xml:"xmlns,attr"`
	HostedZone    xmlHostedZone     `xml:"HostedZone"`
	ChangeInfo    xmlChangeInfo     `xml:"ChangeInfo"`
	DelegationSet *xmlDelegationSet `xml:"DelegationSet"`
}

func missing(member string) error {
	return fault.Coded(fault.Invalid, "InvalidInput", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

func (h *handler) createHostedZone(ctx context.Context, w http.ResponseWriter, r *http.Request, _ string) error {
	var req createHostedZoneRequest
	if err := decodeXML(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return missing("name")
	}
	if req.CallerReference == nil {
		return missing("callerReference")
	}
	in := zone.CreateHostedZoneInput{Name: *req.Name, CallerReference: *req.CallerReference}
	if c := req.HostedZoneConfig; c != nil {
		private, err := parseBool("HostedZoneConfig.PrivateZone", c.PrivateZone)
		if err != nil {
			return err
		}
		in.Comment, in.Private = c.Comment, private
	}
	if req.VPC != nil {
		in.Private = true
	}
	if req.DelegationSetID != "" {
		return fault.Coded(fault.NotFound, "NoSuchDelegationSet", "A reusable delegation set with the specified ID does not exist: %s", req.DelegationSetID)
	}
	out, err := h.svc.CreateHostedZone(ctx, in)
	if err != nil {
		return err
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	w.Header().Set("Location", scheme+"://"+r.Host+APIVersion+"hostedzone/"+out.HostedZone.ID)
	awsapi.WriteXML(w, http.StatusCreated, createHostedZoneResponse{Xmlns: awsapi.Route53Namespace,
		HostedZone: hostedZone(&out.HostedZone), ChangeInfo: changeInfo(&out.Change), DelegationSet: delegationSet(&out.HostedZone)})
	return nil
}

// --- GetHostedZone: GET /2013-04-01/hostedzone/{Id}

type getHostedZoneResponse struct {
	XMLName       xml.Name          `xml:"GetHostedZoneResponse"`
	Xmlns         string            `xml:"xmlns,attr"`
	HostedZone    xmlHostedZone     `xml:"HostedZone"`
	DelegationSet *xmlDelegationSet `xml:"DelegationSet"`
}

func (h *handler) getHostedZone(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	z, err := h.svc.GetHostedZone(ctx, id)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, getHostedZoneResponse{Xmlns: awsapi.Route53Namespace,
		HostedZone: hostedZone(z), DelegationSet: delegationSet(z)})
	return nil
}

// --- UpdateHostedZoneComment: POST /2013-04-01/hostedzone/{Id}

type updateHostedZoneCommentRequest struct {
	Comment string `xml:"Comment"`
}

type updateHostedZoneCommentResponse struct {
	XMLName    xml.Name      `xml:"UpdateHostedZoneCommentResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	HostedZone xmlHostedZone `xml:"HostedZone"`
}

func (h *handler) updateHostedZoneComment(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) error {
	var req updateHostedZoneCommentRequest
	if err := decodeXML(r, &req); err != nil {
		return err
	}
	z, err := h.svc.UpdateHostedZoneComment(ctx, id, req.Comment)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, updateHostedZoneCommentResponse{Xmlns: awsapi.Route53Namespace, HostedZone: hostedZone(z)})
	return nil
}

// --- DeleteHostedZone: DELETE /2013-04-01/hostedzone/{Id}

type deleteHostedZoneResponse struct {
	XMLName    xml.Name      `xml:"DeleteHostedZoneResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

func (h *handler) deleteHostedZone(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	info, err := h.svc.DeleteHostedZone(ctx, id)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, deleteHostedZoneResponse{Xmlns: awsapi.Route53Namespace, ChangeInfo: changeInfo(info)})
	return nil
}

// --- ListHostedZones: GET /2013-04-01/hostedzone

type listHostedZonesResponse struct {
	XMLName     xml.Name       `xml:"ListHostedZonesResponse"`
	Xmlns       string         `xml:"xmlns,attr"`
	HostedZones xmlHostedZones `xml:"HostedZones"`
	Marker      string         `xml:"Marker"`
	IsTruncated bool           `xml:"IsTruncated"`
	NextMarker  string         `xml:"NextMarker,omitempty"`
	MaxItems    string         `xml:"MaxItems"`
}

func (h *handler) listHostedZones(ctx context.Context, w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	n, echo, err := maxItems(q, zone.DefaultZonePageSize)
	if err != nil {
		return err
	}
	if id := q.Get("delegationsetid"); id != "" {
		return fault.Coded(fault.NotFound, "NoSuchDelegationSet", "A reusable delegation set with the specified ID does not exist: %s", id)
	}
	resp := listHostedZonesResponse{Xmlns: awsapi.Route53Namespace, Marker: q.Get("marker"), MaxItems: echo}
	switch q.Get("hostedzonetype") {
	case "":
	case "PrivateHostedZone":
		// Portico has no private hosted zones.
		resp.HostedZones = hostedZones(nil)
		awsapi.WriteXML(w, http.StatusOK, resp)
		return nil
	default:
		return fault.Coded(fault.Invalid, "InvalidInput", "1 validation error detected: Value '%s' at 'hostedZoneType' failed to satisfy constraint: Member must satisfy enum value set: [PrivateHostedZone]", q.Get("hostedzonetype"))
	}
	page, err := h.svc.ListHostedZones(ctx, q.Get("marker"), n)
	if err != nil {
		return err
	}
	resp.HostedZones = hostedZones(page.HostedZones)
	resp.IsTruncated = page.IsTruncated
	if page.IsTruncated {
		resp.NextMarker = page.NextMarker
	}
	awsapi.WriteXML(w, http.StatusOK, resp)
	return nil
}

// --- ListHostedZonesByName: GET /2013-04-01/hostedzonesbyname

type listHostedZonesByNameResponse struct {
	XMLName          xml.Name       `xml:"ListHostedZonesByNameResponse"`
	Xmlns            string         `xml:"xmlns,attr"`
	HostedZones      xmlHostedZones `xml:"HostedZones"`
	DNSName          string         `xml:"DNSName,omitempty"`
	HostedZoneID     string         `xml:"HostedZoneId,omitempty"`
	IsTruncated      bool           `xml:"IsTruncated"`
	NextDNSName      string         `xml:"NextDNSName,omitempty"`
	NextHostedZoneID string         `xml:"NextHostedZoneId,omitempty"`
	MaxItems         string         `xml:"MaxItems"`
}

func (h *handler) listHostedZonesByName(ctx context.Context, w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	n, echo, err := maxItems(q, zone.DefaultZonePageSize)
	if err != nil {
		return err
	}
	page, err := h.svc.ListHostedZonesByName(ctx, q.Get("dnsname"), q.Get("hostedzoneid"), n)
	if err != nil {
		return err
	}
	resp := listHostedZonesByNameResponse{Xmlns: awsapi.Route53Namespace, HostedZones: hostedZones(page.HostedZones),
		DNSName: q.Get("dnsname"), HostedZoneID: q.Get("hostedzoneid"), IsTruncated: page.IsTruncated, MaxItems: echo}
	if page.IsTruncated {
		resp.NextDNSName, resp.NextHostedZoneID = page.NextDNSName, page.NextHostedZoneID
	}
	awsapi.WriteXML(w, http.StatusOK, resp)
	return nil
}

// --- GetHostedZoneCount: GET /2013-04-01/hostedzonecount

type getHostedZoneCountResponse struct {
	XMLName         xml.Name `xml:"GetHostedZoneCountResponse"`
	Xmlns           string   `xml:"xmlns,attr"`
	HostedZoneCount int64    `xml:"HostedZoneCount"`
}

func (h *handler) getHostedZoneCount(ctx context.Context, w http.ResponseWriter, _ *http.Request, _ string) error {
	n, err := h.svc.HostedZoneCount(ctx)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, getHostedZoneCountResponse{Xmlns: awsapi.Route53Namespace, HostedZoneCount: n})
	return nil
}

// --- GetChange: GET /2013-04-01/change/{Id}

type getChangeResponse struct {
	XMLName    xml.Name      `xml:"GetChangeResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

func (h *handler) getChange(ctx context.Context, w http.ResponseWriter, _ *http.Request, id string) error {
	info, err := h.svc.GetChange(ctx, id)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, getChangeResponse{Xmlns: awsapi.Route53Namespace, ChangeInfo: changeInfo(info)})
	return nil
}
