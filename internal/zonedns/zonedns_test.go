package zonedns

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/zone"
)

func TestZonesConvertsGroups(t *testing.T) {
	w := int64(7)
	data := &zone.Data{Generation: 3, Zones: []zone.ZoneData{
		{ID: "ZA", Name: "example.com.", Origin: "example.com.", RecordSets: []zone.RecordSet{
			{Name: "example.com.", Type: "SOA", TTL: 900, Values: []string{"ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400"}},
			{Name: "example.com.", Type: "A", Alias: &zone.AliasTarget{HostedZoneID: "ZB", DNSName: "\\052.other.example.", EvaluateTargetHealth: true}},
			{Name: "\\052.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}, SetIdentifier: "blue", Weight: &w, HealthCheckID: "hc"},
			{Name: "gone.example.com.", Type: "A", Alias: &zone.AliasTarget{HostedZoneID: "ZDELETED", DNSName: "x.deleted.example."}},
			{Name: "plain.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.9"}},
		}},
		{ID: "ZB", Name: "other.example.", Origin: "other.example.", RecordSets: nil},
	}}
	zones, err := Zones(data)
	if err != nil {
		t.Fatal(err)
	}
	z := zones[0]
	if len(z.Records) != 2 {
		t.Errorf("plain records %v: want the SOA and plain.example.com. only", z.Records)
	}
	if len(z.Groups) != 3 {
		t.Fatalf("groups %+v", z.Groups)
	}
	apex, weighted, gone := z.Groups[0], z.Groups[1], z.Groups[2]
	if apex.Name != "example.com." || apex.Type != dns.TypeA || apex.Policy != dnsserver.PolicySimple ||
		apex.Members[0].Alias == nil || *apex.Members[0].Alias != (dnsserver.Alias{Zone: "other.example.", Name: "*.other.example.", EvaluateTargetHealth: true}) {
		t.Errorf("apex alias %+v", apex)
	}
	if weighted.Name != "*.example.com." || weighted.Policy != dnsserver.PolicyWeighted || weighted.Members[0].Weight != 7 ||
		weighted.Members[0].HealthCheck != "hc" || len(weighted.Members[0].Records) != 1 {
		t.Errorf("weighted %+v", weighted)
	}
	if len(gone.Members) != 0 {
		t.Errorf("an alias into a deleted zone kept a member: %+v", gone)
	}
}

func TestZonesLatencyAndOwnZone(t *testing.T) {
	data := &zone.Data{Generation: 4, Own: &zone.ZoneRef{ID: "ZPORTICOABC", Origin: "portico.internal."}, Zones: []zone.ZoneData{
		{ID: "ZA", Name: "example.com.", Origin: "example.com.", RecordSets: []zone.RecordSet{
			{Name: "example.com.", Type: "A", Alias: &zone.AliasTarget{HostedZoneID: "ZPORTICOABC", DNSName: "abc-ats.iot.us-east-1.portico.internal.", EvaluateTargetHealth: true}},
			{Name: "lat.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.1"}, SetIdentifier: "east", Region: "us-east-1", HealthCheckID: "hc"},
			{Name: "lat.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.2"}, SetIdentifier: "west", Region: "us-west-2"},
		}},
	}}
	zones, err := Zones(data)
	if err != nil {
		t.Fatal(err)
	}
	apex, lat := zones[0].Groups[0], zones[0].Groups[1]
	if apex.Members[0].Alias == nil || *apex.Members[0].Alias != (dnsserver.Alias{Zone: "portico.internal.", Name: "abc-ats.iot.us-east-1.portico.internal.", EvaluateTargetHealth: true}) {
		t.Errorf("alias to the endpoint hostname: %+v", apex)
	}
	if lat.Policy != dnsserver.PolicyLatency || len(lat.Members) != 2 || lat.Members[0].Region != "us-east-1" ||
		lat.Members[0].HealthCheck != "hc" || lat.Members[1].Region != "us-west-2" {
		t.Errorf("latency group %+v", lat)
	}
}
