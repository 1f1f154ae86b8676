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

// --- ChangeResourceRecordSets: POST /2013-04-01/hostedzone/{Id}/rrset/

// present marks an element whose content Portico does not read.
type present struct {
	Inner string `xml:",innerxml"`
}

type xmlAliasTargetIn struct {
	HostedZoneID         *string `xml:"HostedZoneId"`
	DNSName              *string `xml:"DNSName"`
	EvaluateTargetHealth *string `xml:"EvaluateTargetHealth"`
}

type xmlResourceRecordSetIn struct {
	Name                    *string           `xml:"Name"`
	Type                    *string           `xml:"Type"`
	TTL                     *string           `xml:"TTL"`
	SetIdentifier           *string           `xml:"SetIdentifier"`
	Weight                  *string           `xml:"Weight"`
	Region                  *string           `xml:"Region"`
	GeoLocation             *present          `xml:"GeoLocation"`
	Failover                *string           `xml:"Failover"`
	MultiValueAnswer        *string           `xml:"MultiValueAnswer"`
	AliasTarget             *xmlAliasTargetIn `xml:"AliasTarget"`
	HealthCheckID           *string           `xml:"HealthCheckId"`
	TrafficPolicyInstanceID *present          `xml:"TrafficPolicyInstanceId"`
	CidrRoutingConfig       *present          `xml:"CidrRoutingConfig"`
	GeoProximityLocation    *present          `xml:"GeoProximityLocation"`
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

// unsupportedRouting names the routing elements Portico refuses, with the
// policy each one selects.
func unsupportedRouting(rs *xmlResourceRecordSetIn) (element, policy string) {
	for _, u := range []struct {
		element, policy string
		value           *present
	}{
		{"GeoLocation", "geolocation", rs.GeoLocation},
		{"GeoProximityLocation", "geoproximity", rs.GeoProximityLocation},
		{"CidrRoutingConfig", "IP-based (CIDR)", rs.CidrRoutingConfig},
		{"TrafficPolicyInstanceId", "traffic policy", rs.TrafficPolicyInstanceID},
	} {
		if u.value != nil {
			return u.element, u.policy
		}
	}
	return "", ""
}

// decodeChangeBatch turns a ChangeResourceRecordSetsRequest body into a
// change batch. Routing policies Portico does not serve (geolocation,
// geoproximity, CIDR, traffic policies) are refused by name.
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
		if element, policy := unsupportedRouting(rs); element != "" {
			return zone.ChangeBatch{}, fault.Coded(fault.Invalid, "InvalidInput",
				"Portico does not support %s routing (%s) in resource record sets: it serves simple, failover, weighted, latency and multivalue answer routing and alias records; change %d, %s %s",
				policy, element, i+1, *rs.Name, *rs.Type)
		}
		in := zone.RecordSetInput{Name: strings.TrimSpace(*rs.Name), Type: strings.TrimSpace(*rs.Type),
			SetIdentifier: str(rs.SetIdentifier), Failover: str(rs.Failover), Region: strings.TrimSpace(str(rs.Region)),
			HealthCheckID: str(rs.HealthCheckID)}
		if rs.TTL != nil {
			ttl, err := strconv.ParseInt(strings.TrimSpace(*rs.TTL), 10, 64)
			if err != nil {
				return zone.ChangeBatch{}, fault.Coded(fault.Invalid, "InvalidInput",
					"Invalid value for %s.resourceRecordSet.TTL: %q is not an integer", member, *rs.TTL)
			}
			in.TTL = &ttl
		}
		if rs.Weight != nil {
			w, err := strconv.ParseInt(strings.TrimSpace(*rs.Weight), 10, 64)
			if err != nil {
				return zone.ChangeBatch{}, fault.Coded(fault.Invalid, "InvalidInput",
					"Invalid value for %s.resourceRecordSet.Weight: %q is not an integer", member, *rs.Weight)
			}
			in.Weight = &w
		}
		multi, err := parseBoolPtr(member+".resourceRecordSet.MultiValueAnswer", rs.MultiValueAnswer)
		if err != nil {
			return zone.ChangeBatch{}, err
		}
		in.MultiValueAnswer = multi
		if a := rs.AliasTarget; a != nil {
			switch {
			case a.HostedZoneID == nil:
				return zone.ChangeBatch{}, missing(member + ".resourceRecordSet.aliasTarget.hostedZoneId")
			case a.DNSName == nil:
				return zone.ChangeBatch{}, missing(member + ".resourceRecordSet.aliasTarget.dNSName")
			case a.EvaluateTargetHealth == nil:
				return zone.ChangeBatch{}, missing(member + ".resourceRecordSet.aliasTarget.evaluateTargetHealth")
			}
			evaluate, err := parseBool(member+".resourceRecordSet.AliasTarget.EvaluateTargetHealth", *a.EvaluateTargetHealth)
			if err != nil {
				return zone.ChangeBatch{}, err
			}
			in.Alias = &zone.AliasTarget{HostedZoneID: str(a.HostedZoneID), DNSName: str(a.DNSName), EvaluateTargetHealth: evaluate}
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

// xmlResourceRecordSetOut follows the model's member order.
type xmlResourceRecordSetOut struct {
	Name             string              `xml:"Name"`
	Type             string              `xml:"Type"`
	SetIdentifier    string              `xml:"SetIdentifier,omitempty"`
	Weight           *int64              `xml:"Weight"`
	Region           string              `xml:"Region,omitempty"`
	Failover         string              `xml:"Failover,omitempty"`
	MultiValueAnswer *bool               `xml:"MultiValueAnswer"`
	TTL              *int64              `xml:"TTL"`
	ResourceRecords  *xmlResourceRecords `xml:"ResourceRecords"`
	AliasTarget      *xmlAliasTargetOut  `xml:"AliasTarget"`
	HealthCheckID    string              `xml:"HealthCheckId,omitempty"`
}

type xmlResourceRecords struct {
	ResourceRecord []xmlResourceRecord `xml:"ResourceRecord"`
}

type xmlResourceRecord struct {
	Value string `xml:"Value"`
}

type xmlAliasTargetOut struct {
	HostedZoneID         string `xml:"HostedZoneId"`
	DNSName              string `xml:"DNSName"`
	EvaluateTargetHealth bool   `xml:"EvaluateTargetHealth"`
}

func recordSetOut(rs zone.RecordSet) xmlResourceRecordSetOut {
	out := xmlResourceRecordSetOut{Name: rs.Name, Type: rs.Type, SetIdentifier: rs.SetIdentifier, Weight: rs.Weight,
		Region: rs.Region, Failover: rs.Failover, HealthCheckID: rs.HealthCheckID}
	if rs.MultiValueAnswer {
		yes := true
		out.MultiValueAnswer = &yes
	}
	if a := rs.Alias; a != nil {
		// Alias sets have neither TTL nor ResourceRecords.
		out.AliasTarget = &xmlAliasTargetOut{HostedZoneID: a.HostedZoneID, DNSName: a.DNSName, EvaluateTargetHealth: a.EvaluateTargetHealth}
		return out
	}
	ttl := rs.TTL
	out.TTL = &ttl
	out.ResourceRecords = &xmlResourceRecords{}
	for _, v := range rs.Values {
		out.ResourceRecords.ResourceRecord = append(out.ResourceRecords.ResourceRecord, xmlResourceRecord{Value: v})
	}
	return out
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
		resp.ResourceRecordSets.ResourceRecordSet[i] = recordSetOut(rs)
	}
	if page.IsTruncated {
		resp.NextRecordName, resp.NextRecordType, resp.NextRecordIdentifier = page.NextName, page.NextType, page.NextIdentifier
	}
	awsapi.WriteXML(w, http.StatusOK, resp)
	return nil
}
