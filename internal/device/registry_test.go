package device

import (
	"context"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/policy"
)

const testPolicyArn = "arn:aws:iot:eu-west-1:111122223333:"

func pubPolicy(topic string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"` + testPolicyArn + `client/${iot:Connection.Thing.ThingName}"},` +
		`{"Effect":"Allow","Action":"iot:Publish","Resource":"` + testPolicyArn + `topic/` + topic + `"}]}`
}

func TestThingLifecycle(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	th, err := svc.CreateThing(ctx, "lamp-1", ThingInput{TypeName: "lamp", Attributes: map[string]string{"floor": "3", "empty": ""}})
	if err != nil {
		t.Fatal(err)
	}
	if th.ARN != "arn:aws:iot:eu-west-1:111122223333:thing/lamp-1" || len(th.ID) != 36 || th.Version != 1 {
		t.Fatalf("created %+v", th)
	}
	// The same again is fine and changes nothing; different is a conflict.
	again, err := svc.CreateThing(ctx, "lamp-1", ThingInput{TypeName: "lamp", Attributes: map[string]string{"floor": "3"}})
	if err != nil || again.ID != th.ID {
		t.Fatalf("idempotent create: %+v, %v", again, err)
	}
	_, err = svc.CreateThing(ctx, "lamp-1", ThingInput{Attributes: map[string]string{"floor": "4"}})
	wantFault(t, err, fault.AlreadyExists, "")

	d, err := svc.DescribeThing(ctx, "lamp-1")
	if err != nil || d.TypeName != "lamp" || d.Attributes["floor"] != "3" || len(d.Attributes) != 1 {
		t.Fatalf("describe: %+v, %v", d, err)
	}
	_, err = svc.DescribeThing(ctx, "nope")
	wantFault(t, err, fault.NotFound, "")

	// Merge adds and removes; replace replaces.
	v1 := int64(1)
	if err := svc.UpdateThing(ctx, "lamp-1", ThingInput{Attributes: map[string]string{"color": "red", "floor": ""}, Merge: true, ExpectedVersion: &v1}); err != nil {
		t.Fatal(err)
	}
	d, _ = svc.DescribeThing(ctx, "lamp-1")
	if d.Version != 2 || d.Attributes["color"] != "red" || len(d.Attributes) != 1 {
		t.Fatalf("after merge: %+v", d)
	}
	err = svc.UpdateThing(ctx, "lamp-1", ThingInput{Attributes: map[string]string{"x": "y"}, ExpectedVersion: &v1})
	wantFault(t, err, fault.Conflict, "VersionConflictException")
	if err := svc.UpdateThing(ctx, "lamp-1", ThingInput{Attributes: map[string]string{"x": "y"}, RemoveThingType: true}); err != nil {
		t.Fatal(err)
	}
	d, _ = svc.DescribeThing(ctx, "lamp-1")
	if d.Version != 3 || d.TypeName != "" || len(d.Attributes) != 1 || d.Attributes["x"] != "y" {
		t.Fatalf("after replace: %+v", d)
	}

	// Without a type, three attributes at most; with one, fifty.
	four := map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}
	_, err = svc.CreateThing(ctx, "t4", ThingInput{Attributes: four})
	wantFault(t, err, fault.Invalid, "")
	if _, err := svc.CreateThing(ctx, "t4", ThingInput{TypeName: "big", Attributes: four}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []ThingInput{
		{Attributes: map[string]string{"a b": "1"}},
		{Attributes: map[string]string{"a": "x*y"}},
		{Attributes: map[string]string{"a": strings.Repeat("v", 801)}},
		{TypeName: "bad type"},
		{BillingGroupName: "b"},
	} {
		_, err := svc.CreateThing(ctx, "bad", bad)
		wantFault(t, err, fault.Invalid, "")
	}
	for _, name := range []string{"", "a/b", "a b", strings.Repeat("n", 129)} {
		_, err := svc.CreateThing(ctx, name, ThingInput{})
		wantFault(t, err, fault.Invalid, "")
	}

	// Delete: expected version, idempotent on unknown things.
	v9 := int64(9)
	wantFault(t, svc.DeleteThing(ctx, "lamp-1", &v9), fault.Conflict, "VersionConflictException")
	if err := svc.DeleteThing(ctx, "lamp-1", nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteThing(ctx, "lamp-1", nil); err != nil {
		t.Fatalf("deleting a deleted thing: %v", err)
	}
}

func TestListThings(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		attrs := map[string]string{"color": []string{"red", "green"}[i%2], "serial": fmt.Sprintf("SN-%d", i)}
		typ := ""
		if i < 2 {
			typ = "lamp"
		}
		if _, err := svc.CreateThing(ctx, fmt.Sprintf("thing-%d", i), ThingInput{TypeName: typ, Attributes: attrs}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	token := ""
	for {
		page, err := svc.ListThings(ctx, ThingFilter{}, 3, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range page.Things {
			names = append(names, th.Name)
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	if strings.Join(names, ",") != "thing-0,thing-1,thing-2,thing-3,thing-4,thing-5,thing-6" {
		t.Fatalf("paged names %v", names)
	}
	count := func(f ThingFilter) int {
		page, err := svc.ListThings(ctx, f, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Things)
	}
	if n := count(ThingFilter{AttributeName: "color", AttributeValue: "red"}); n != 4 {
		t.Errorf("color=red: %d", n)
	}
	if n := count(ThingFilter{AttributeName: "serial", AttributeValue: "SN-", PrefixValue: true}); n != 7 {
		t.Errorf("serial prefix: %d", n)
	}
	if n := count(ThingFilter{AttributeName: "serial"}); n != 7 {
		t.Errorf("has serial: %d", n)
	}
	if n := count(ThingFilter{TypeName: "lamp"}); n != 2 {
		t.Errorf("type lamp: %d", n)
	}
	_, err := svc.ListThings(ctx, ThingFilter{}, 251, "")
	wantFault(t, err, fault.Invalid, "")
	_, err = svc.ListThings(ctx, ThingFilter{}, 0, "!!")
	wantFault(t, err, fault.Invalid, "")
}

func TestThingPrincipals(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	c1, err := svc.CreateKeysAndCertificate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := svc.CreateKeysAndCertificate(ctx, true)
	for _, n := range []string{"a", "b"} {
		if _, err := svc.CreateThing(ctx, n, ThingInput{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.AttachThingPrincipal(ctx, "a", c1.ARN, ""); err != nil {
		t.Fatal(err)
	}
	if err := svc.AttachThingPrincipal(ctx, "b", c1.ARN, NonExclusiveThing); err != nil {
		t.Fatal(err)
	}
	// c1 is attached to two things: it cannot become exclusive to one.
	wantFault(t, svc.AttachThingPrincipal(ctx, "a", c1.ARN, ExclusiveThing), fault.Invalid, "")
	if err := svc.AttachThingPrincipal(ctx, "a", c2.ARN, ExclusiveThing); err != nil {
		t.Fatal(err)
	}
	wantFault(t, svc.AttachThingPrincipal(ctx, "b", c2.ARN, ""), fault.Invalid, "")
	wantFault(t, svc.AttachThingPrincipal(ctx, "a", c1.ARN, "SHARED"), fault.Invalid, "")
	wantFault(t, svc.AttachThingPrincipal(ctx, "nope", c1.ARN, ""), fault.NotFound, "")
	wantFault(t, svc.AttachThingPrincipal(ctx, "a", "arn:aws:iot:eu-west-1:111122223333:cert/"+strings.Repeat("0", 64), ""), fault.NotFound, "")
	wantFault(t, svc.AttachThingPrincipal(ctx, "a", "arn:aws:iot:us-east-1:111122223333:cert/"+c1.ID, ""), fault.NotFound, "")
	wantFault(t, svc.AttachThingPrincipal(ctx, "a", c1.ID, ""), fault.Invalid, "")
	wantFault(t, svc.AttachThingPrincipal(ctx, "a", "us-east-1:1234:identity", ""), fault.Invalid, "")

	page, err := svc.ListThingPrincipals(ctx, "a", 0, "")
	if err != nil || len(page.Names) != 2 {
		t.Fatalf("principals of a: %+v, %v", page, err)
	}
	things, err := svc.ListPrincipalThings(ctx, c1.ARN, 1, "")
	if err != nil || len(things.Names) != 1 || things.Names[0] != "a" || things.NextToken == "" {
		t.Fatalf("things of c1, page 1: %+v, %v", things, err)
	}
	things, err = svc.ListPrincipalThings(ctx, c1.ARN, 1, things.NextToken)
	if err != nil || len(things.Names) != 1 || things.Names[0] != "b" || things.NextToken != "" {
		t.Fatalf("things of c1, page 2: %+v, %v", things, err)
	}

	// A thing with principals cannot be deleted; a certificate with things
	// cannot either, even forced.
	wantFault(t, svc.DeleteThing(ctx, "b", nil), fault.Invalid, "")
	if err := svc.UpdateCertificate(ctx, c1.ID, StatusInactive); err != nil {
		t.Fatal(err)
	}
	wantFault(t, svc.DeleteCertificate(ctx, c1.ID, true), fault.Conflict, "DeleteConflictException")
	for _, th := range []string{"a", "b"} {
		if err := svc.DetachThingPrincipal(ctx, th, c1.ARN); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.DetachThingPrincipal(ctx, "a", c1.ARN); err != nil {
		t.Fatalf("detaching twice: %v", err)
	}
	wantFault(t, svc.DetachThingPrincipal(ctx, "nope", c1.ARN), fault.NotFound, "")
	if err := svc.DeleteThing(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteCertificate(ctx, c1.ID, false); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyVersions(t *testing.T) {
	svc, clk, _ := newTestService(t)
	ctx := context.Background()
	v, err := svc.CreatePolicy(ctx, "pub", pubPolicy("a"), []PolicyTag{{"team", "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.VersionID != "1" || !v.IsDefault || v.PolicyARN != "arn:aws:iot:eu-west-1:111122223333:policy/pub" {
		t.Fatalf("created %+v", v)
	}
	_, err = svc.CreatePolicy(ctx, "pub", pubPolicy("a"), nil)
	wantFault(t, err, fault.AlreadyExists, "")
	_, err = svc.CreatePolicy(ctx, "bad", `{"Version":"2012-10-17"}`, nil)
	wantFault(t, err, fault.Invalid, "MalformedPolicyException")
	_, err = svc.CreatePolicy(ctx, "bad name!", pubPolicy("a"), nil)
	wantFault(t, err, fault.Invalid, "")

	clk.Advance(time.Second)
	for i := 2; i <= 5; i++ {
		v, err := svc.CreatePolicyVersion(ctx, "pub", pubPolicy(fmt.Sprint(i)), i == 3)
		if err != nil {
			t.Fatal(err)
		}
		if v.VersionID != fmt.Sprint(i) || v.IsDefault != (i == 3) {
			t.Fatalf("version %d: %+v", i, v)
		}
	}
	_, err = svc.CreatePolicyVersion(ctx, "pub", pubPolicy("6"), false)
	wantFault(t, err, fault.Conflict, "VersionsLimitExceededException")
	_, err = svc.CreatePolicyVersion(ctx, "pub", "{", false)
	wantFault(t, err, fault.Invalid, "MalformedPolicyException")
	_, err = svc.CreatePolicyVersion(ctx, "nope", pubPolicy("x"), false)
	wantFault(t, err, fault.NotFound, "")

	p, err := svc.GetPolicy(ctx, "pub")
	if err != nil || p.DefaultVersionID != "3" || p.Document != pubPolicy("3") || !p.LastModifiedDate.After(p.CreationDate) {
		t.Fatalf("get: %+v, %v", p, err)
	}
	versions, err := svc.ListPolicyVersions(ctx, "pub")
	if err != nil || len(versions) != 5 || versions[0].VersionID != "5" || !versions[2].IsDefault {
		t.Fatalf("versions: %+v, %v", versions, err)
	}
	wantFault(t, svc.DeletePolicyVersion(ctx, "pub", "3"), fault.Conflict, "DeleteConflictException")
	wantFault(t, svc.DeletePolicyVersion(ctx, "pub", "9"), fault.NotFound, "")
	wantFault(t, svc.DeletePolicyVersion(ctx, "pub", "x"), fault.Invalid, "")
	if err := svc.DeletePolicyVersion(ctx, "pub", "5"); err != nil {
		t.Fatal(err)
	}
	// Version IDs are not reused.
	v6, err := svc.CreatePolicyVersion(ctx, "pub", pubPolicy("6"), false)
	if err != nil || v6.VersionID != "6" {
		t.Fatalf("after a deletion: %+v, %v", v6, err)
	}
	if err := svc.SetDefaultPolicyVersion(ctx, "pub", "6"); err != nil {
		t.Fatal(err)
	}
	wantFault(t, svc.SetDefaultPolicyVersion(ctx, "pub", "5"), fault.NotFound, "")
	gv, err := svc.GetPolicyVersion(ctx, "pub", "6")
	if err != nil || !gv.IsDefault || gv.Document != pubPolicy("6") {
		t.Fatalf("get version: %+v, %v", gv, err)
	}
	_, err = svc.GetPolicyVersion(ctx, "pub", "5")
	wantFault(t, err, fault.NotFound, "")

	// Non-default versions block DeletePolicy.
	wantFault(t, svc.DeletePolicy(ctx, "pub"), fault.Conflict, "DeleteConflictException")
	for _, id := range []string{"1", "2", "3", "4"} {
		if err := svc.DeletePolicyVersion(ctx, "pub", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.DeletePolicy(ctx, "pub"); err != nil {
		t.Fatal(err)
	}
	_, err = svc.GetPolicy(ctx, "pub")
	wantFault(t, err, fault.NotFound, "")
}

func TestListPolicies(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	for _, n := range []string{"c", "a", "e", "b", "d"} {
		if _, err := svc.CreatePolicy(ctx, n, pubPolicy(n), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, asc := range []bool{true, false} {
		var got []string
		marker := ""
		for {
			page, err := svc.ListPolicies(ctx, 2, marker, asc)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Policies {
				got = append(got, p.Name)
			}
			if marker = page.NextMarker; marker == "" {
				break
			}
		}
		want := "a,b,c,d,e"
		if !asc {
			want = "e,d,c,b,a"
		}
		if strings.Join(got, ",") != want {
			t.Errorf("ascending=%v: %v", asc, got)
		}
	}
}

func TestPolicyAttachments(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	c, _ := svc.CreateKeysAndCertificate(ctx, true)
	for i := 0; i <= MaxPoliciesPerTarget; i++ {
		if _, err := svc.CreatePolicy(ctx, fmt.Sprintf("p%02d", i), pubPolicy("t"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < MaxPoliciesPerTarget; i++ {
		if err := svc.AttachPolicy(ctx, fmt.Sprintf("p%02d", i), c.ARN); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.AttachPolicy(ctx, "p00", c.ARN); err != nil {
		t.Fatalf("attaching again: %v", err)
	}
	wantFault(t, svc.AttachPolicy(ctx, "p10", c.ARN), fault.LimitExceeded, "")
	wantFault(t, svc.AttachPolicy(ctx, "nope", c.ARN), fault.NotFound, "")
	wantFault(t, svc.AttachPolicy(ctx, "p10", "arn:aws:iot:eu-west-1:111122223333:thinggroup/g"), fault.Invalid, "")

	page, err := svc.ListAttachedPolicies(ctx, c.ARN, 4, "")
	if err != nil || len(page.Policies) != 4 || page.Policies[0].Name != "p00" || page.NextMarker == "" {
		t.Fatalf("attached: %+v, %v", page, err)
	}
	targets, err := svc.ListTargetsForPolicy(ctx, "p03", 0, "")
	if err != nil || len(targets.Names) != 1 || targets.Names[0] != c.ARN {
		t.Fatalf("targets: %+v, %v", targets, err)
	}
	wantFault(t, svc.DeletePolicy(ctx, "p03"), fault.Conflict, "DeleteConflictException")

	// A certificate with policies: refused, unless forced.
	if err := svc.UpdateCertificate(ctx, c.ID, StatusInactive); err != nil {
		t.Fatal(err)
	}
	wantFault(t, svc.DeleteCertificate(ctx, c.ID, false), fault.Conflict, "DeleteConflictException")
	if err := svc.DetachPolicy(ctx, "p03", c.ARN); err != nil {
		t.Fatal(err)
	}
	if err := svc.DetachPolicy(ctx, "p03", c.ARN); err != nil {
		t.Fatalf("detaching twice: %v", err)
	}
	if err := svc.DeletePolicy(ctx, "p03"); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteCertificate(ctx, c.ID, true); err != nil {
		t.Fatal(err)
	}
	targets, err = svc.ListTargetsForPolicy(ctx, "p00", 0, "")
	if err != nil || len(targets.Names) != 0 {
		t.Fatalf("targets after forced delete: %+v, %v", targets, err)
	}
}

// TestSnapshotAuthorization: the snapshot carries what the broker needs to
// authorize without the database.
func TestSnapshotAuthorization(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	c, _ := svc.CreateKeysAndCertificate(ctx, true)
	if _, err := svc.CreateThing(ctx, "thermo-1", ThingInput{TypeName: "thermostat", Attributes: map[string]string{"site": "lyon"}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.AttachThingPrincipal(ctx, "thermo-1", c.ARN, ""); err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"` + testPolicyArn + `client/${iot:Connection.Thing.ThingName}","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"` + testPolicyArn + `topic/${iot:Connection.Thing.Attributes[site]}/${iot:Certificate.Subject.CommonName}/*"}]}`
	if _, err := svc.CreatePolicy(ctx, "things", doc, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.AttachPolicy(ctx, "things", c.ARN); err != nil {
		t.Fatal(err)
	}
	snap, err := svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	block := mustPEM(t, c.CertificatePEM)
	id, err := snap.Authenticate(block, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(id.Policies) != 1 || id.PolicyNames[0] != "things" || len(id.Things) != 1 || id.Things[0].Attributes["site"] != "lyon" {
		t.Fatalf("identity: %+v", id)
	}
	env := id.PolicyEnv("thermo-1")
	if !policy.Evaluate(policy.NewRequest(env, policy.Connect, "thermo-1"), id.Policies).Allowed() {
		t.Error("thermo-1 may not connect as itself")
	}
	if !policy.Evaluate(policy.NewRequest(env, policy.Publish, "lyon/AWS IoT Certificate/t"), id.Policies).Allowed() {
		t.Error("publish under site/CN refused")
	}
	// Another client ID: the thing is attached non-exclusively, so it does
	// not resolve, and the thing policy grants nothing.
	other := id.PolicyEnv("intruder")
	if policy.Evaluate(policy.NewRequest(other, policy.Connect, "intruder"), id.Policies).Allowed() {
		t.Error("intruder may connect")
	}
	// Exclusive attachment resolves the thing whatever the client ID.
	if err := svc.AttachThingPrincipal(ctx, "thermo-1", c.ARN, ExclusiveThing); err != nil {
		t.Fatal(err)
	}
	snap, _ = svc.Snapshot(ctx)
	id, _ = snap.Authenticate(block, "", time.Now())
	if !policy.Evaluate(policy.NewRequest(id.PolicyEnv("other"), policy.Publish, "lyon/AWS IoT Certificate/t"), id.Policies).Allowed() {
		t.Error("exclusive thing does not resolve")
	}
	// A new default version is what the next snapshot enforces.
	if _, err := svc.CreatePolicyVersion(ctx, "things", pubPolicy("nothing"), true); err != nil {
		t.Fatal(err)
	}
	snap, _ = svc.Snapshot(ctx)
	id, _ = snap.Authenticate(block, "", time.Now())
	if policy.Evaluate(policy.NewRequest(id.PolicyEnv("thermo-1"), policy.Publish, "lyon/AWS IoT Certificate/t"), id.Policies).Allowed() {
		t.Error("the old default version still applies")
	}
	named, err := svc.NamedPolicies(ctx, []string{"things"})
	if err != nil || len(named) != 1 || named[0].VersionID != "2" {
		t.Fatalf("NamedPolicies: %+v, %v", named, err)
	}
	for _, principal := range []string{c.ID, c.ARN} {
		ident, err := svc.IdentityOf(ctx, principal)
		if err != nil || ident.ID != c.ID || len(ident.Policies) != 1 || len(ident.Things) != 1 || ident.Certificate == nil {
			t.Fatalf("IdentityOf(%s): %+v, %v", principal, ident, err)
		}
	}
	_, err = svc.IdentityOf(ctx, strings.Repeat("a", 64))
	wantFault(t, err, fault.NotFound, "")
	_, err = svc.IdentityOf(ctx, "nope")
	wantFault(t, err, fault.Invalid, "")
}

func mustPEM(t *testing.T, text string) []byte {
	t.Helper()
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		t.Fatal("not PEM")
	}
	return block.Bytes
}
