package zone

import (
	"context"
	"testing"
)

func failover(action, name, id, role, hc string, values ...string) Change {
	c := change(action, name, "A", 60, values...)
	c.RecordSet.SetIdentifier, c.RecordSet.Failover, c.RecordSet.HealthCheckID = id, role, hc
	return c
}

func TestFailoverRecordSets(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)
	known := map[string]bool{"hc-1": true}
	svc.HealthCheckExists = func(_ context.Context, id string) (bool, error) { return known[id], nil }
	z := createZone(t, svc, "example.com")

	_, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
		failover(ActionCreate, "iot.example.com", "primary", FailoverPrimary, "hc-1", "192.0.2.1"),
		failover(ActionCreate, "iot.example.com", "secondary", FailoverSecondary, "", "192.0.2.2"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got []RecordSet
	for _, rs := range listAll(t, svc, z.ID) {
		if rs.Type == "A" {
			got = append(got, rs)
		}
	}
	if len(got) != 2 || got[0].SetIdentifier != "primary" || got[0].Failover != FailoverPrimary || got[0].HealthCheckID != "hc-1" ||
		got[1].SetIdentifier != "secondary" || got[1].Failover != FailoverSecondary {
		t.Fatalf("listed %+v", got)
	}

	cases := []struct {
		name          string
		changes       []Change
		code, message string
	}{
		{"unknown health check", []Change{failover(ActionCreate, "b.example.com", "p", FailoverPrimary, "nope", "192.0.2.1")},
			"NoSuchHealthCheck", "A health check with id nope does not exist."},
		{"failover without set identifier", []Change{failover(ActionCreate, "b.example.com", "", FailoverPrimary, "", "192.0.2.1")},
			"InvalidInput", "Invalid request: Missing field 'SetIdentifier' in Change with [Action=CREATE, Name=b.example.com., Type=A, SetIdentifier=null]"},
		{"set identifier without policy", []Change{failover(ActionCreate, "b.example.com", "x", "", "", "192.0.2.1")},
			"InvalidInput", "Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none in Change with [Action=CREATE, Name=b.example.com., Type=A, SetIdentifier=x]"},
		{"second primary", []Change{failover(ActionCreate, "iot.example.com", "other", FailoverPrimary, "", "192.0.2.3")},
			"InvalidChangeBatch", "[Tried to create resource record set [name='iot.example.com.', type='A', set-identifier='other'] but a PRIMARY failover record set with the same name and type already exists (set-identifier='primary')]"},
		{"simple beside failover", []Change{change(ActionCreate, "iot.example.com", "A", 60, "192.0.2.3")},
			"InvalidChangeBatch", "[RRSet with DNS name iot.example.com., type A cannot be created as other RRSets exist with the same name and type.]"},
		{"CNAME beside failover", []Change{change(ActionCreate, "iot.example.com", "CNAME", 60, "x.example.com")},
			"InvalidChangeBatch", "[RRSet of type CNAME with DNS name iot.example.com. is not permitted as it conflicts with other records with the same DNS name in zone example.com.]"},
		{"delete with other health check", []Change{failover(ActionDelete, "iot.example.com", "primary", FailoverPrimary, "", "192.0.2.1")},
			"InvalidChangeBatch", "[Tried to delete resource record set [name='iot.example.com.', type='A', set-identifier='primary'] but the values provided do not match the current values]"},
		{"already exists", []Change{failover(ActionCreate, "iot.example.com", "primary", FailoverPrimary, "hc-1", "192.0.2.1")},
			"InvalidChangeBatch", "[Tried to create resource record set [name='iot.example.com.', type='A', set-identifier='primary'] but it already exists]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: tc.changes})
			assertFault(t, err, tc.code, tc.message)
		})
	}
	if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
		change(ActionCreate, "www.example.com", "A", 60, "192.0.2.9"),
	}}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
		failover(ActionCreate, "www.example.com", "p", FailoverPrimary, "", "192.0.2.1")}})
	assertFault(t, err, "InvalidChangeBatch", "[RRSet with DNS name www.example.com., type A, SetIdentifier p cannot be created as a non-failover set exists with the same name and type.]")

	data, err := svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zd := data.Zones[0]
	groups := zd.Groups()
	if len(groups) != 1 || groups[0].Policy != PolicyFailover || len(groups[0].Sets) != 2 || groups[0].Sets[0].HealthCheckID != "hc-1" ||
		groups[0].Sets[1].Failover != FailoverSecondary || groups[0].Sets[1].Values[0] != "192.0.2.2" {
		t.Fatalf("groups %+v", groups)
	}
	rrs, err := zd.RRs()
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range rrs {
		if rr.Header().Name == "iot.example.com." {
			t.Fatalf("failover record among the simple records: %v", rr)
		}
	}

	// Deleting the pair with matching values works; listing pages by identifier.
	page, err := svc.ListResourceRecordSets(ctx, z.ID, ListRecordSetsInput{StartName: "iot.example.com", StartType: "A", StartIdentifier: "secondary", MaxItems: 1})
	if err != nil || len(page.RecordSets) != 1 || page.RecordSets[0].SetIdentifier != "secondary" {
		t.Fatalf("page %+v, %v", page, err)
	}
	if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
		failover(ActionDelete, "iot.example.com", "primary", FailoverPrimary, "hc-1", "192.0.2.1"),
		failover(ActionDelete, "iot.example.com", "secondary", FailoverSecondary, "", "192.0.2.2"),
	}}); err != nil {
		t.Fatal(err)
	}
	if groups := mustSnapshot(t, svc).Zones[0].Groups(); len(groups) != 0 {
		t.Fatalf("groups after delete %+v", groups)
	}
}

func mustSnapshot(t *testing.T, svc *Service) *Data {
	t.Helper()
	d, err := svc.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
