package zone

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

func weightedChange(action, name, id string, weight int64, value string) Change {
	c := change(action, name, "A", 60, value)
	c.RecordSet.SetIdentifier, c.RecordSet.Weight = id, &weight
	return c
}

func multiValueChange(action, name, id, value string) Change {
	c := change(action, name, "A", 60, value)
	yes := true
	c.RecordSet.SetIdentifier, c.RecordSet.MultiValueAnswer = id, &yes
	return c
}

func aliasChange(action, name, typ, zoneID, target string, evaluate bool) Change {
	return Change{Action: action, RecordSet: RecordSetInput{Name: name, Type: typ,
		Alias: &AliasTarget{HostedZoneID: zoneID, DNSName: target, EvaluateTargetHealth: evaluate}}}
}

func TestRoutingPolicies(t *testing.T) {
	ctx := context.Background()
	svc, _ := newTestService(t)
	z := createZone(t, svc, "example.com")
	other := createZone(t, svc, "other.example")
	apply := func(changes ...Change) error {
		_, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: changes})
		return err
	}
	// A weighted alias needs SetIdentifier and Weight like any weighted set.
	wa := aliasChange(ActionCreate, "ww.example.com", "A", z.ID, "w.example.com", false)
	five := int64(5)
	wa.RecordSet.SetIdentifier, wa.RecordSet.Weight = "via-alias", &five
	if err := apply(
		weightedChange(ActionCreate, "w.example.com", "blue", 10, "192.0.2.1"),
		weightedChange(ActionCreate, "w.example.com", "green", 0, "192.0.2.2"),
		multiValueChange(ActionCreate, "mv.example.com", "a", "192.0.2.11"),
		multiValueChange(ActionCreate, "mv.example.com", "b", "192.0.2.12"),
		aliasChange(ActionCreate, "example.com", "A", "/hostedzone/"+z.ID, "W.example.com", true),
		wa,
		weightedChange(ActionCreate, "ww.example.com", "direct", 1, "192.0.2.3"),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ChangeResourceRecordSets(ctx, other.ID, ChangeBatch{Changes: []Change{
		change(ActionCreate, "t.other.example", "AAAA", 60, "2001:db8::1"),
		aliasChange(ActionCreate, "cross.other.example", "A", z.ID, "mv.example.com", false),
	}}); err != nil {
		t.Fatalf("alias into another Portico zone: %v", err)
	}

	sets := listAll(t, svc, z.ID)
	byID := map[string]RecordSet{}
	for _, rs := range sets {
		byID[rs.Name+"/"+rs.Type+"/"+rs.SetIdentifier] = rs
	}
	apex := byID["example.com./A/"]
	if apex.Alias == nil || apex.Alias.HostedZoneID != z.ID || apex.Alias.DNSName != "w.example.com." || !apex.Alias.EvaluateTargetHealth ||
		apex.TTL != 0 || len(apex.Values) != 0 {
		t.Errorf("apex alias listed as %+v (alias %+v)", apex, apex.Alias)
	}
	if g := byID["w.example.com./A/green"]; g.Weight == nil || *g.Weight != 0 || g.Policy() != PolicyWeighted {
		t.Errorf("green listed as %+v", g)
	}
	if m := byID["mv.example.com./A/a"]; !m.MultiValueAnswer || m.Policy() != PolicyMultiValue {
		t.Errorf("multivalue listed as %+v", m)
	}
	if v := byID["ww.example.com./A/via-alias"]; v.Alias == nil || v.Weight == nil || *v.Weight != 5 {
		t.Errorf("weighted alias listed as %+v", v)
	}

	data := mustSnapshot(t, svc)
	var groups []Group
	for _, zd := range data.Zones {
		if zd.ID == z.ID {
			groups = zd.Groups()
		}
	}
	var summary []string
	for _, g := range groups {
		summary = append(summary, g.Name+" "+g.Type+" "+g.Policy)
	}
	want := "example.com. A simple|mv.example.com. A multivalue answer|w.example.com. A weighted|ww.example.com. A weighted"
	if got := strings.Join(summary, "|"); got != want {
		t.Errorf("groups %q\nwant   %q", got, want)
	}

	tenTwenty := int64(256)
	tooHeavy := weightedChange(ActionCreate, "x.example.com", "h", 0, "192.0.2.1")
	tooHeavy.RecordSet.Weight = &tenTwenty
	weightAndFailover := weightedChange(ActionCreate, "x.example.com", "wf", 1, "192.0.2.1")
	weightAndFailover.RecordSet.Failover = FailoverPrimary
	weightNoID := weightedChange(ActionCreate, "x.example.com", "", 1, "192.0.2.1")
	aliasWithTTL := aliasChange(ActionCreate, "x.example.com", "A", z.ID, "w.example.com", false)
	aliasWithTTL.RecordSet.TTL = ttl(60)
	multiAlias := aliasChange(ActionCreate, "x.example.com", "A", z.ID, "w.example.com", false)
	yes := true
	multiAlias.RecordSet.SetIdentifier, multiAlias.RecordSet.MultiValueAnswer = "m", &yes
	failoverAlias := aliasChange(ActionCreate, "x.example.com", "A", z.ID, "w.example.com", false)
	failoverAlias.RecordSet.SetIdentifier, failoverAlias.RecordSet.Failover = "p", FailoverPrimary
	multiCNAME := multiValueChange(ActionCreate, "x.example.com", "c", "192.0.2.1")
	multiCNAME.RecordSet.Type, multiCNAME.RecordSet.Values = "CNAME", []string{"t.example.com"}

	cases := []struct {
		name          string
		changes       []Change
		code, message string
	}{
		{"weight over 255", []Change{tooHeavy}, "InvalidInput",
			"1 validation error detected: Value '256' at 'changeBatch.changes.1.member.resourceRecordSet.weight' failed to satisfy constraint: Member must have value less than or equal to 255"},
		{"weight with failover", []Change{weightAndFailover}, "InvalidInput",
			"Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found more than one in Change with [Action=CREATE, Name=x.example.com., Type=A, SetIdentifier=wf]"},
		{"weight without set identifier", []Change{weightNoID}, "InvalidInput",
			"Invalid request: Missing field 'SetIdentifier' in Change with [Action=CREATE, Name=x.example.com., Type=A, SetIdentifier=null]"},
		{"alias with TTL", []Change{aliasWithTTL}, "InvalidInput",
			"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in Change with [Action=CREATE, Name=x.example.com., Type=A, SetIdentifier=null]"},
		{"multivalue alias", []Change{multiAlias}, "InvalidInput",
			"Invalid request: multivalue answer record sets cannot be alias record sets in Change with [Action=CREATE, Name=x.example.com., Type=A, SetIdentifier=m]"},
		{"failover alias without evaluate", []Change{failoverAlias}, "InvalidInput",
			"Invalid request: failover alias record sets must set EvaluateTargetHealth to true in Change with [Action=CREATE, Name=x.example.com., Type=A, SetIdentifier=p]"},
		{"multivalue CNAME", []Change{multiCNAME}, "InvalidInput", ""},
		{"duplicate identifier", []Change{weightedChange(ActionCreate, "w.example.com", "blue", 3, "192.0.2.9")}, "InvalidChangeBatch",
			"[Tried to create resource record set [name='w.example.com.', type='A', set-identifier='blue'] but it already exists]"},
		{"failover beside weighted", []Change{failover(ActionCreate, "w.example.com", "p", FailoverPrimary, "", "192.0.2.9")}, "InvalidChangeBatch",
			"[RRSet with DNS name w.example.com., type A, SetIdentifier p cannot be created as a non-failover set exists with the same name and type.]"},
		{"weighted beside multivalue", []Change{weightedChange(ActionCreate, "mv.example.com", "w", 1, "192.0.2.9")}, "InvalidChangeBatch",
			"[RRSet with DNS name mv.example.com., type A, SetIdentifier w cannot be created as a non-weighted set exists with the same name and type.]"},
		{"simple beside weighted", []Change{change(ActionCreate, "w.example.com", "A", 60, "192.0.2.9")}, "InvalidChangeBatch",
			"[RRSet with DNS name w.example.com., type A cannot be created as other RRSets exist with the same name and type.]"},
		{"alias target missing", []Change{aliasChange(ActionCreate, "x.example.com", "A", z.ID, "nothing.example.com", false)}, "InvalidChangeBatch",
			"[Tried to create an alias that targets nothing.example.com., type A in zone " + z.ID + ", but that target was not found]"},
		{"alias target of another type", []Change{aliasChange(ActionCreate, "x.example.com", "AAAA", z.ID, "w.example.com", false)}, "InvalidChangeBatch",
			"[Tried to create an alias that targets w.example.com., type AAAA in zone " + z.ID + ", but that target was not found]"},
		{"alias target outside its zone", []Change{aliasChange(ActionCreate, "x.example.com", "A", z.ID, "t.other.example", false)}, "InvalidChangeBatch",
			"[Tried to create an alias that targets t.other.example., type A in zone " + z.ID + ", but the alias target name does not lie within the target zone]"},
		{"alias to itself", []Change{aliasChange(ActionCreate, "x.example.com", "A", z.ID, "x.example.com", false)}, "InvalidChangeBatch",
			"[Tried to create an alias that targets x.example.com., type A in zone " + z.ID + ", but an alias record set cannot target its own name and type]"},
		{"alias to CloudFront", []Change{aliasChange(ActionCreate, "x.example.com", "A", "Z2FDTNDATAQYW2", "d111111abcdef8.cloudfront.net", false)}, "InvalidChangeBatch",
			"[Tried to create an alias that targets d111111abcdef8.cloudfront.net., type A in zone Z2FDTNDATAQYW2, but that zone is not a Portico hosted zone: " +
				"Portico answers alias records only for record sets in its own hosted zones and its endpoint hostnames, not for a CloudFront distribution (Elastic Load Balancing, CloudFront, S3 and other AWS alias targets are not supported)]"},
		{"CNAME alias at apex", []Change{aliasChange(ActionCreate, "example.com", "CNAME", z.ID, "w.example.com", false)}, "InvalidChangeBatch",
			"[RRSet of type CNAME with DNS name example.com. is not permitted at apex in zone example.com.]"},
		{"delete alias with other values", []Change{aliasChange(ActionDelete, "example.com", "A", z.ID, "w.example.com", false)}, "InvalidChangeBatch",
			"[Tried to delete resource record set [name='example.com.', type='A'] but the values provided do not match the current values]"},
		{"delete weighted with other weight", []Change{weightedChange(ActionDelete, "w.example.com", "blue", 11, "192.0.2.1")}, "InvalidChangeBatch",
			"[Tried to delete resource record set [name='w.example.com.', type='A', set-identifier='blue'] but the values provided do not match the current values]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertFault(t, apply(tc.changes...), tc.code, tc.message)
		})
	}

	// A weighted set may hold several values; MultiValueAnswer false is no policy.
	two := weightedChange(ActionCreate, "two.example.com", "both", 1, "192.0.2.1")
	two.RecordSet.Values = append(two.RecordSet.Values, "192.0.2.2")
	if err := apply(two); err != nil {
		t.Errorf("weighted set with two values: %v", err)
	}
	no := false
	notMulti := change(ActionCreate, "y.example.com", "A", 60, "192.0.2.1")
	notMulti.RecordSet.SetIdentifier, notMulti.RecordSet.MultiValueAnswer = "n", &no
	assertFault(t, apply(notMulti), "InvalidInput",
		"Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found none in Change with [Action=CREATE, Name=y.example.com., Type=A, SetIdentifier=n]")
	assertFault(t, apply(aliasChange(ActionCreate, "y.example.com", "A", z.ID, "bad..name", false)), "InvalidChangeBatch", "")
	// The target of an alias may be deleted: the alias then answers nothing.
	if _, err := svc.ChangeResourceRecordSets(ctx, other.ID, ChangeBatch{Changes: []Change{
		change(ActionDelete, "t.other.example", "AAAA", 60, "2001:db8::1"),
	}}); err != nil {
		t.Fatal(err)
	}
	if err := apply(multiValueChange(ActionDelete, "mv.example.com", "b", "192.0.2.12")); err != nil {
		t.Errorf("deleting a member of a cross-zone alias's target: %v", err)
	}

	// Exact deletes work; the alias first goes, then its target.
	if err := apply(
		aliasChange(ActionDelete, "example.com", "A", z.ID, "w.example.com.", true),
		weightedChange(ActionDelete, "w.example.com", "blue", 10, "192.0.2.1"),
		multiValueChange(ActionDelete, "mv.example.com", "a", "192.0.2.11"),
	); err != nil {
		t.Fatal(err)
	}
}

func TestWeightedLimit(t *testing.T) {
	svc, _ := newTestService(t)
	z := createZone(t, svc, "example.com")
	var changes []Change
	for i := range MaxWeightedSets + 1 {
		changes = append(changes, weightedChange(ActionCreate, "w.example.com", "id-"+strconv.Itoa(i), 1, "192.0.2.1"))
	}
	_, err := svc.ChangeResourceRecordSets(context.Background(), z.ID, ChangeBatch{Changes: changes})
	assertFault(t, err, "InvalidChangeBatch",
		"[Tried to create resource record set [name='w.example.com.', type='A', set-identifier='id-100'] but a name and type can have at most 100 weighted record sets]")
}
