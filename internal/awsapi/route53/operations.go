package route53

import (
	"context"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

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

// --- ChangeResourceRecordSets: POST /2013-04-01/hostedzone/{Id}/rrset/

// present marks an element whose content Portico does not read.
type present struct {
	Inner string `xml:",innerxml"`
}

type xmlResourceRecordSetIn struct {
	Name                    *string  `xml:"Name"`
	Type                    *string  `xml:"Type"`
	TTL                     *string  `xml:"TTL"`
	SetIdentifier           *string  `xml:"SetIdentifier"`
	Weight                  *present `xml:"Weight"`
	Region                  *present `xml:"Region"`
	GeoLocation             *present `xml:"GeoLocation"`
	Failover                *string  `xml:"Failover"`
	MultiValueAnswer        *present `xml:"MultiValueAnswer"`
	AliasTarget             *present `xml:"AliasTarget"`
	HealthCheckID           *string  `xml:"HealthCheckId"`
	TrafficPolicyInstanceID *present `xml:"TrafficPolicyInstanceId"`
	CidrRoutingConfig       *present `xml:"CidrRoutingConfig"`
	GeoProximityLocation    *present `xml:"GeoProximityLocation"`
	ResourceRecords         *struct {
		ResourceRecord []struct {
			Value *string `xml:"Value"`
		} `xml:"ResourceRecord"`
	} `xml:"ResourceRecords"`
}

type changeResourceRecordSetsRequest struct {
	ChangeBatch *struct {
		Comment string `xml:"Comment"`
		Changes struct {
			Change []struct {
				Action            string                  `xml:"Action"`
				ResourceRecordSet *xmlResourceRecordSetIn `xml:"ResourceRecordSet"`
			} `xml:"Change"`
		} `xml:"Changes"`
	} `xml:"ChangeBatch"`
}

type changeResourceRecordSetsResponse struct {
	XMLName    xml.Name      `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string        `xml:"xmlns,attr"`
	ChangeInfo xmlChangeInfo `xml:"ChangeInfo"`
}

// decodeChangeBatch turns a ChangeResourceRecordSetsRequest body into a
// change batch. Members of routing policies, alias records and health checks
// are refused by name: Portico does not serve them yet.
func decodeChangeBatch(body []byte) (zone.ChangeBatch, error) {
	var req changeResourceRecordSetsRequest
	if err := unmarshalXML(body, &req); err != nil {
		return zone.ChangeBatch{}, err
	}
	if req.ChangeBatch == nil {
		return zone.ChangeBatch{}, missing("changeBatch")
	}
	batch := zone.ChangeBatch{Comment: req.ChangeBatch.Comment}
	for i, c := range req.ChangeBatch.Changes.Change {
		member := "changeBatch.changes." + strconv.Itoa(i+1) + ".member"
		rs := c.ResourceRecordSet
		if rs == nil {
			return zone.ChangeBatch{}, missing(member + ".resourceRecordSet")
		}
		if rs.Name == nil {
			return zone.ChangeBatch{}, missing(member + ".resourceRecordSet.name")
		}
		if rs.Type == nil {
			return zone.ChangeBatch{}, missing(member + ".resourceRecordSet.type")
		}
		for _, u := range []struct {
			element string
			value   *present
		}{
			{"Weight", rs.Weight}, {"Region", rs.Region},
			{"GeoLocation", rs.GeoLocation}, {"MultiValueAnswer", rs.MultiValueAnswer},
			{"AliasTarget", rs.AliasTarget},
			{"TrafficPolicyInstanceId", rs.TrafficPolicyInstanceID}, {"CidrRoutingConfig", rs.CidrRoutingConfig},
			{"GeoProximityLocation", rs.GeoProximityLocation},
		} {
			if u.value != nil {
				return zone.ChangeBatch{}, fault.Coded(fault.Invalid, "InvalidInput",
					"Portico does not support %s in resource record sets yet (only simple and failover routing with TTL and ResourceRecords): change %d, %s %s",
					u.element, i+1, *rs.Name, *rs.Type)
			}
		}
		in := zone.RecordSetInput{Name: strings.TrimSpace(*rs.Name), Type: strings.TrimSpace(*rs.Type),
			SetIdentifier: str(rs.SetIdentifier), Failover: str(rs.Failover), HealthCheckID: str(rs.HealthCheckID)}
		if rs.TTL != nil {
			ttl, err := strconv.ParseInt(strings.TrimSpace(*rs.TTL), 10, 64)
			if err != nil {
				return zone.ChangeBatch{}, fault.Coded(fault.Invalid, "InvalidInput",
					"Invalid value for %s.resourceRecordSet.TTL: %q is not an integer", member, *rs.TTL)
			}
			in.TTL = &ttl
		}
		if rs.ResourceRecords != nil {
			for j, rr := range rs.ResourceRecords.ResourceRecord {
				if rr.Value == nil {
					return zone.ChangeBatch{}, missing(member + ".resourceRecordSet.resourceRecords." + strconv.Itoa(j+1) + ".member.value")
				}
				in.Values = append(in.Values, *rr.Value)
			}
		}
		batch.Changes = append(batch.Changes, zone.Change{Action: strings.TrimSpace(c.Action), RecordSet: in})
	}
	return batch, nil
}

func (h *handler) changeResourceRecordSets(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	batch, err := decodeChangeBatch(body)
	if err != nil {
		return err
	}
	info, err := h.svc.ChangeResourceRecordSets(ctx, id, batch)
	if err != nil {
		return err
	}
	awsapi.WriteXML(w, http.StatusOK, changeResourceRecordSetsResponse{Xmlns: awsapi.Route53Namespace, ChangeInfo: changeInfo(info)})
	return nil
}

// --- ListResourceRecordSets: GET /2013-04-01/hostedzone/{Id}/rrset

type xmlResourceRecordSetOut struct {
	Name            string `xml:"Name"`
	Type            string `xml:"Type"`
	SetIdentifier   string `xml:"SetIdentifier,omitempty"`
	Failover        string `xml:"Failover,omitempty"`
	TTL             int64  `xml:"TTL"`
	ResourceRecords struct {
		ResourceRecord []xmlResourceRecord `xml:"ResourceRecord"`
	} `xml:"ResourceRecords"`
	HealthCheckID string `xml:"HealthCheckId,omitempty"`
}

type xmlResourceRecord struct {
	Value string `xml:"Value"`
}

type listResourceRecordSetsResponse struct {
	XMLName            xml.Name `xml:"ListResourceRecordSetsResponse"`
	Xmlns              string   `xml:"xmlns,attr"`
	ResourceRecordSets struct {
		ResourceRecordSet []xmlResourceRecordSetOut `xml:"ResourceRecordSet"`
	} `xml:"ResourceRecordSets"`
	IsTruncated          bool   `xml:"IsTruncated"`
	NextRecordName       string `xml:"NextRecordName,omitempty"`
	NextRecordType       string `xml:"NextRecordType,omitempty"`
	NextRecordIdentifier string `xml:"NextRecordIdentifier,omitempty"`
	MaxItems             string `xml:"MaxItems"`
}

func (h *handler) listResourceRecordSets(ctx context.Context, w http.ResponseWriter, r *http.Request, id string) error {
	q := r.URL.Query()
	n, echo, err := maxItems(q, zone.DefaultRecordPageSize)
	if err != nil {
		return err
	}
	page, err := h.svc.ListResourceRecordSets(ctx, id, zone.ListRecordSetsInput{
		StartName: q.Get("name"), StartType: q.Get("type"), StartIdentifier: q.Get("identifier"), MaxItems: n})
	if err != nil {
		return err
	}
	resp := listResourceRecordSetsResponse{Xmlns: awsapi.Route53Namespace, IsTruncated: page.IsTruncated, MaxItems: echo}
	resp.ResourceRecordSets.ResourceRecordSet = make([]xmlResourceRecordSetOut, len(page.RecordSets))
	for i, rs := range page.RecordSets {
		out := xmlResourceRecordSetOut{Name: rs.Name, Type: rs.Type, TTL: rs.TTL,
			SetIdentifier: rs.SetIdentifier, Failover: rs.Failover, HealthCheckID: rs.HealthCheckID}
		for _, v := range rs.Values {
			out.ResourceRecords.ResourceRecord = append(out.ResourceRecords.ResourceRecord, xmlResourceRecord{Value: v})
		}
		resp.ResourceRecordSets.ResourceRecordSet[i] = out
	}
	if page.IsTruncated {
		resp.NextRecordName, resp.NextRecordType, resp.NextRecordIdentifier = page.NextName, page.NextType, page.NextIdentifier
	}
	awsapi.WriteXML(w, http.StatusOK, resp)
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
