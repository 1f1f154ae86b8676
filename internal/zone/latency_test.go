package zone

import (
	"context"
	"fmt"
	"testing"
)

func latencyChange(action, name, id, region, value string) Change {
	c := change(action, name, "A", 60, value)
	c.RecordSet.SetIdentifier, c.RecordSet.Region = id, region
	return c
}

func TestLatencyRecordSets(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)
	z := createZone(t, svc, "example.com")
	apply := func(changes ...Change) error {
		_, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: changes})
		return err
	}
	east := latencyChange(ActionCreate, "iot.example.com", "east", "us-east-1", "192.0.2.1")
	east.RecordSet.HealthCheckID = "hc-east"
	la := aliasChange(ActionCreate, "iot.example.com", "A", z.ID, "eu.example.com", true)
	la.RecordSet.SetIdentifier, la.RecordSet.Region = "eu", "eu-west-1"
	if err := apply(
		change(ActionCreate, "eu.example.com", "A", 60, "192.0.2.9"),
		east,
		latencyChange(ActionCreate, "iot.example.com", "west", "us-west-2", "192.0.2.2"),
		la,
	); err != nil {
		t.Fatal(err)
	}
	byID := map[string]RecordSet{}
	for _, rs := range listAll(t, svc, z.ID) {
		byID[rs.SetIdentifier] = rs
	}
	if e := byID["east"]; e.Region != "us-east-1" || e.HealthCheckID != "hc-east" || e.Policy() != PolicyLatency || e.TTL != 60 {
		t.Errorf("east listed as %+v", e)
	}
	if e := byID["eu"]; e.Region != "eu-west-1" || e.Alias == nil || e.Policy() != PolicyLatency {
		t.Errorf("latency alias listed as %+v", e)
	}
	var found bool
	for _, g := range mustSnapshot(t, svc).Zones[0].Groups() {
		if g.Name == "iot.example.com." {
			found = g.Policy == PolicyLatency && len(g.Sets) == 3
		}
	}
	if !found {
		t.Error("no latency group of three sets in the snapshot")
	}

	where := "[Action=CREATE, Name=x.example.com., Type=A, SetIdentifier=%s]"
	noID := latencyChange(ActionCreate, "x.example.com", "", "us-east-1", "192.0.2.1")
	both := latencyChange(ActionCreate, "x.example.com", "b", "us-east-1", "192.0.2.1")
	w := int64(1)
	both.RecordSet.Weight = &w
	ns := latencyChange(ActionCreate, "x.example.com", "n", "us-east-1", "ns1.example.net")
	ns.RecordSet.Type = "NS"
	cases := []struct {
		name    string
		changes []Change
		code    string
		message string
	}{
		{"unknown region", []Change{latencyChange(ActionCreate, "x.example.com", "r", "mars-north-1", "192.0.2.1")}, "InvalidInput", ""},
		{"no set identifier", []Change{noID}, "InvalidInput", "Invalid request: Missing field 'SetIdentifier' in Change with " + fmt.Sprintf(where, "null")},
		{"region and weight", []Change{both}, "InvalidInput",
			"Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found more than one in Change with " + fmt.Sprintf(where, "b")},
		{"latency NS", []Change{ns}, "InvalidInput", ""},
		{"second set for a region", []Change{latencyChange(ActionCreate, "iot.example.com", "east-2", "us-east-1", "192.0.2.3")}, "InvalidChangeBatch",
			"[Tried to create resource record set [name='iot.example.com.', type='A', set-identifier='east-2'] but a latency record set for region us-east-1 with the same name and type already exists (set-identifier='east')]"},
		{"weighted beside latency", []Change{weightedChange(ActionCreate, "iot.example.com", "w", 1, "192.0.2.3")}, "InvalidChangeBatch",
			"[RRSet with DNS name iot.example.com., type A, SetIdentifier w cannot be created as a non-weighted set exists with the same name and type.]"},
		{"latency beside simple", []Change{latencyChange(ActionCreate, "eu.example.com", "l", "us-east-1", "192.0.2.3")}, "InvalidChangeBatch",
			"[RRSet with DNS name eu.example.com., type A, SetIdentifier l cannot be created as a non-latency set exists with the same name and type.]"},
		{"simple beside latency", []Change{change(ActionCreate, "iot.example.com", "A", 60, "192.0.2.3")}, "InvalidChangeBatch",
			"[RRSet with DNS name iot.example.com., type A cannot be created as other RRSets exist with the same name and type.]"},
		{"delete with another region", []Change{latencyChange(ActionDelete, "iot.example.com", "west", "us-west-1", "192.0.2.2")}, "InvalidChangeBatch",
			"[Tried to delete resource record set [name='iot.example.com.', type='A', set-identifier='west'] but the values provided do not match the current values]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertFault(t, apply(tc.changes...), tc.code, tc.message)
		})
	}
	// UPSERT moves a set to another region; an exact DELETE removes it.
	if err := apply(latencyChange(ActionUpsert, "iot.example.com", "west", "us-west-1", "192.0.2.2")); err != nil {
		t.Fatal(err)
	}
	if err := apply(latencyChange(ActionDelete, "iot.example.com", "west", "us-west-1", "192.0.2.2")); err != nil {
		t.Fatal(err)
	}
}

func TestOwnZoneAliases(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)
	own := &OwnZone{ID: OwnZoneID("portico.example"), Name: "portico.example",
		Serves: func(_ context.Context, name, typ string) (bool, error) {
			return name == "abc-ats.iot.us-east-1.portico.example." && typ == "A", nil
		}}
	svc.Own = own
	if OwnZoneID("Portico.Example.") != own.ID || len(own.ID) != 21 || OwnZoneID("other.example") == own.ID {
		t.Errorf("own zone IDs: %s", own.ID)
	}
	z := createZone(t, svc, "example.com")
	apply := func(changes ...Change) error {
		_, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: changes})
		return err
	}
	if err := apply(aliasChange(ActionCreate, "example.com", "A", "/hostedzone/"+own.ID, "ABC-ats.iot.us-east-1.portico.example", true)); err != nil {
		t.Fatalf("alias to the endpoint hostname: %v", err)
	}
	prefix := "[Tried to create an alias that targets "
	assertFault(t, apply(aliasChange(ActionCreate, "x.example.com", "AAAA", own.ID, "abc-ats.iot.us-east-1.portico.example", false)), "InvalidChangeBatch",
		prefix+"abc-ats.iot.us-east-1.portico.example., type AAAA in zone "+own.ID+", but that target was not found: Portico serves no AAAA record for that endpoint hostname]")
	assertFault(t, apply(aliasChange(ActionCreate, "x.example.com", "A", own.ID, "www.example.com", false)), "InvalidChangeBatch",
		prefix+"www.example.com., type A in zone "+own.ID+", but the alias target name does not lie within the target zone]")
	assertFault(t, apply(aliasChange(ActionCreate, "x.example.com", "A", "Z0NOTAZONE", "abc-ats.iot.us-east-1.portico.example", false)), "InvalidChangeBatch", "")
	assertFault(t, apply(aliasChange(ActionCreate, "x.example.com", "A", z.ID, "abc-ats.iot.us-east-1.portico.example", false)), "InvalidChangeBatch",
		prefix+"abc-ats.iot.us-east-1.portico.example., type A in zone "+z.ID+", but the alias target name does not lie within the target zone; Portico's endpoint hostnames are in hosted zone "+own.ID+"]")
	if _, err := svc.GetHostedZone(ctx, own.ID); err == nil {
		t.Error("GetHostedZone shows Portico's own zone")
	}
	data := mustSnapshot(t, svc)
	if data.Own == nil || data.Own.ID != own.ID || data.Own.Origin != "portico.example." {
		t.Errorf("snapshot's own zone: %+v", data.Own)
	}
}
