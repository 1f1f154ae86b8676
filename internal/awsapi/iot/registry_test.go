package iot_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
)

const arnPrefix = "arn:aws:iot:" + apitest.Region + ":" + apitest.Account + ":"

func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	gotCode, msg, gotStatus := apiError(t, err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("error %s (%d) %q, want %s (%d)", gotCode, gotStatus, msg, code, status)
	}
}

func TestThingsThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	c := f.client
	out, err := c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String("lamp-1"), ThingTypeName: aws.String("lamp"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"floor": "3", "color": "red"}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ThingArn) != arnPrefix+"thing/lamp-1" || len(aws.ToString(out.ThingId)) != 36 {
		t.Fatalf("create: %+v", out)
	}
	// Same configuration again: the same thing; another: 409.
	again, err := c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String("lamp-1"), ThingTypeName: aws.String("lamp"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"floor": "3", "color": "red"}}})
	if err != nil || aws.ToString(again.ThingId) != aws.ToString(out.ThingId) {
		t.Fatalf("idempotent create: %+v %v", again, err)
	}
	_, err = c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String("lamp-1")})
	wantAPIError(t, err, "ResourceAlreadyExistsException", 409)
	var body map[string]any
	json.Unmarshal(f.wire.lastBody(), &body)
	if body["resourceArn"] != arnPrefix+"thing/lamp-1" {
		t.Errorf("conflict body: %s", f.wire.lastBody())
	}

	d, err := c.DescribeThing(ctx, &awsiot.DescribeThingInput{ThingName: aws.String("lamp-1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.DefaultClientId) != "lamp-1" || aws.ToString(d.ThingTypeName) != "lamp" || d.Version != 1 || d.Attributes["floor"] != "3" {
		t.Fatalf("describe: %+v", d)
	}
	_, err = c.DescribeThing(ctx, &awsiot.DescribeThingInput{ThingName: aws.String("nope")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	_, err = c.UpdateThing(ctx, &awsiot.UpdateThingInput{ThingName: aws.String("lamp-1"), ExpectedVersion: aws.Int64(7),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"floor": "4"}, Merge: true}})
	wantAPIError(t, err, "VersionConflictException", 409)
	if _, err := c.UpdateThing(ctx, &awsiot.UpdateThingInput{ThingName: aws.String("lamp-1"), ExpectedVersion: aws.Int64(1),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"floor": "4", "color": ""}, Merge: true}}); err != nil {
		t.Fatal(err)
	}
	d, _ = c.DescribeThing(ctx, &awsiot.DescribeThingInput{ThingName: aws.String("lamp-1")})
	if d.Version != 2 || d.Attributes["floor"] != "4" || len(d.Attributes) != 1 {
		t.Fatalf("after update: %+v", d)
	}
	_, err = c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String("bad/name")})
	wantAPIError(t, err, "InvalidRequestException", 400)

	for _, n := range []string{"a-1", "a-2", "a-3", "b-1"} {
		if _, err := c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String(n),
			AttributePayload: &types.AttributePayload{Attributes: map[string]string{"group": n[:1]}}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := awsiot.NewListThingsPaginator(c, &awsiot.ListThingsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range page.Things {
			names = append(names, aws.ToString(th.ThingName))
		}
	}
	if strings.Join(names, ",") != "a-1,a-2,a-3,b-1,lamp-1" {
		t.Fatalf("paged: %v", names)
	}
	filtered, err := c.ListThings(ctx, &awsiot.ListThingsInput{AttributeName: aws.String("group"), AttributeValue: aws.String("a")})
	if err != nil || len(filtered.Things) != 3 {
		t.Fatalf("filtered: %+v %v", filtered, err)
	}
	typed, err := c.ListThings(ctx, &awsiot.ListThingsInput{ThingTypeName: aws.String("lamp")})
	if err != nil || len(typed.Things) != 1 || aws.ToString(typed.Things[0].ThingArn) != arnPrefix+"thing/lamp-1" {
		t.Fatalf("by type: %+v %v", typed, err)
	}

	_, err = c.DeleteThing(ctx, &awsiot.DeleteThingInput{ThingName: aws.String("lamp-1"), ExpectedVersion: aws.Int64(1)})
	wantAPIError(t, err, "VersionConflictException", 409)
	if _, err := c.DeleteThing(ctx, &awsiot.DeleteThingInput{ThingName: aws.String("lamp-1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteThing(ctx, &awsiot.DeleteThingInput{ThingName: aws.String("lamp-1")}); err != nil {
		t.Fatalf("deleting a missing thing: %v", err)
	}
}

func TestThingPrincipalsThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	c := f.client
	cert, err := c.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"t1", "t2"} {
		if _, err := c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AttachThingPrincipal(ctx, &awsiot.AttachThingPrincipalInput{ThingName: aws.String(n), Principal: cert.CertificateArn}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.AttachThingPrincipal(ctx, &awsiot.AttachThingPrincipalInput{ThingName: aws.String("t1"), Principal: cert.CertificateArn,
		ThingPrincipalType: types.ThingPrincipalTypeExclusiveThing})
	wantAPIError(t, err, "InvalidRequestException", 400)
	_, err = c.AttachThingPrincipal(ctx, &awsiot.AttachThingPrincipalInput{ThingName: aws.String("t1"),
		Principal: aws.String(arnPrefix + "cert/" + strings.Repeat("0", 64))})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	principals, err := c.ListThingPrincipals(ctx, &awsiot.ListThingPrincipalsInput{ThingName: aws.String("t1")})
	if err != nil || len(principals.Principals) != 1 || principals.Principals[0] != aws.ToString(cert.CertificateArn) {
		t.Fatalf("principals: %+v %v", principals, err)
	}
	things, err := c.ListPrincipalThings(ctx, &awsiot.ListPrincipalThingsInput{Principal: cert.CertificateArn})
	if err != nil || strings.Join(things.Things, ",") != "t1,t2" {
		t.Fatalf("things: %+v %v", things, err)
	}

	// The certificate cannot go while things hold it, nor a thing while it
	// holds a certificate.
	if _, err := c.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: cert.CertificateId, NewStatus: types.CertificateStatusInactive}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: cert.CertificateId, ForceDelete: true})
	wantAPIError(t, err, "DeleteConflictException", 409)
	_, err = c.DeleteThing(ctx, &awsiot.DeleteThingInput{ThingName: aws.String("t1")})
	wantAPIError(t, err, "InvalidRequestException", 400)
	for _, n := range []string{"t1", "t2"} {
		if _, err := c.DetachThingPrincipal(ctx, &awsiot.DetachThingPrincipalInput{ThingName: aws.String(n), Principal: cert.CertificateArn}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: cert.CertificateId}); err != nil {
		t.Fatal(err)
	}
}

func TestPoliciesThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	c := f.client
	doc := func(topic string) string {
		return `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish","Resource":"` + arnPrefix + `topic/` + topic + `"}}`
	}
	created, err := c.CreatePolicy(ctx, &awsiot.CreatePolicyInput{PolicyName: aws.String("pub"), PolicyDocument: aws.String(doc("v1"))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.PolicyArn) != arnPrefix+"policy/pub" || aws.ToString(created.PolicyVersionId) != "1" || aws.ToString(created.PolicyDocument) != doc("v1") {
		t.Fatalf("create: %+v", created)
	}
	_, err = c.CreatePolicy(ctx, &awsiot.CreatePolicyInput{PolicyName: aws.String("pub"), PolicyDocument: aws.String(doc("v1"))})
	wantAPIError(t, err, "ResourceAlreadyExistsException", 409)
	_, err = c.CreatePolicy(ctx, &awsiot.CreatePolicyInput{PolicyName: aws.String("bad"), PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}`)})
	wantAPIError(t, err, "MalformedPolicyException", 400)
	_, _, _ = apiError(t, err)

	for i := 2; i <= 5; i++ {
		v, err := c.CreatePolicyVersion(ctx, &awsiot.CreatePolicyVersionInput{PolicyName: aws.String("pub"),
			PolicyDocument: aws.String(doc("v" + string(rune('0'+i)))), SetAsDefault: i == 4})
		if err != nil {
			t.Fatal(err)
		}
		if v.IsDefaultVersion != (i == 4) {
			t.Fatalf("version %d: %+v", i, v)
		}
	}
	_, err = c.CreatePolicyVersion(ctx, &awsiot.CreatePolicyVersionInput{PolicyName: aws.String("pub"), PolicyDocument: aws.String(doc("v6"))})
	wantAPIError(t, err, "VersionsLimitExceededException", 409)

	got, err := c.GetPolicy(ctx, &awsiot.GetPolicyInput{PolicyName: aws.String("pub")})
	if err != nil || aws.ToString(got.DefaultVersionId) != "4" || aws.ToString(got.PolicyDocument) != doc("v4") ||
		got.CreationDate == nil || got.LastModifiedDate == nil || aws.ToString(got.GenerationId) == "" {
		t.Fatalf("get: %+v %v", got, err)
	}
	versions, err := c.ListPolicyVersions(ctx, &awsiot.ListPolicyVersionsInput{PolicyName: aws.String("pub")})
	if err != nil || len(versions.PolicyVersions) != 5 || versions.PolicyVersions[0].CreateDate == nil {
		t.Fatalf("versions: %+v %v", versions, err)
	}
	if _, err := c.SetDefaultPolicyVersion(ctx, &awsiot.SetDefaultPolicyVersionInput{PolicyName: aws.String("pub"), PolicyVersionId: aws.String("5")}); err != nil {
		t.Fatal(err)
	}
	gv, err := c.GetPolicyVersion(ctx, &awsiot.GetPolicyVersionInput{PolicyName: aws.String("pub"), PolicyVersionId: aws.String("5")})
	if err != nil || !gv.IsDefaultVersion || aws.ToString(gv.PolicyName) != "pub" {
		t.Fatalf("get version: %+v %v", gv, err)
	}
	_, err = c.DeletePolicyVersion(ctx, &awsiot.DeletePolicyVersionInput{PolicyName: aws.String("pub"), PolicyVersionId: aws.String("5")})
	wantAPIError(t, err, "DeleteConflictException", 409)
	_, err = c.GetPolicyVersion(ctx, &awsiot.GetPolicyVersionInput{PolicyName: aws.String("pub"), PolicyVersionId: aws.String("9")})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	// Attach to a certificate: its ARN travels in a path label, '/' and all.
	cert, err := c.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePolicy(ctx, &awsiot.CreatePolicyInput{PolicyName: aws.String("other"), PolicyDocument: aws.String(doc("o"))}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"pub", "other"} {
		if _, err := c.AttachPolicy(ctx, &awsiot.AttachPolicyInput{PolicyName: aws.String(n), Target: cert.CertificateArn}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.AttachPolicy(ctx, &awsiot.AttachPolicyInput{PolicyName: aws.String("nope"), Target: cert.CertificateArn})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	attached, err := c.ListAttachedPolicies(ctx, &awsiot.ListAttachedPoliciesInput{Target: cert.CertificateArn})
	if err != nil || len(attached.Policies) != 2 || aws.ToString(attached.Policies[0].PolicyName) != "other" {
		t.Fatalf("attached: %+v %v", attached, err)
	}
	targets, err := c.ListTargetsForPolicy(ctx, &awsiot.ListTargetsForPolicyInput{PolicyName: aws.String("pub")})
	if err != nil || len(targets.Targets) != 1 || targets.Targets[0] != aws.ToString(cert.CertificateArn) {
		t.Fatalf("targets: %+v %v", targets, err)
	}
	legacy, err := c.ListPrincipalPolicies(ctx, &awsiot.ListPrincipalPoliciesInput{Principal: cert.CertificateArn})
	if err != nil || len(legacy.Policies) != 2 {
		t.Fatalf("ListPrincipalPolicies: %+v %v", legacy, err)
	}
	principals, err := c.ListPolicyPrincipals(ctx, &awsiot.ListPolicyPrincipalsInput{PolicyName: aws.String("other")})
	if err != nil || len(principals.Principals) != 1 {
		t.Fatalf("ListPolicyPrincipals: %+v %v", principals, err)
	}
	listed, err := c.ListPolicies(ctx, &awsiot.ListPoliciesInput{AscendingOrder: true})
	if err != nil || len(listed.Policies) != 2 || aws.ToString(listed.Policies[0].PolicyName) != "other" {
		t.Fatalf("list: %+v %v", listed, err)
	}

	_, err = c.DeletePolicy(ctx, &awsiot.DeletePolicyInput{PolicyName: aws.String("other")})
	wantAPIError(t, err, "DeleteConflictException", 409)
	if _, err := c.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: cert.CertificateId, NewStatus: types.CertificateStatusInactive}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: cert.CertificateId})
	wantAPIError(t, err, "DeleteConflictException", 409)
	if _, err := c.DetachPolicy(ctx, &awsiot.DetachPolicyInput{PolicyName: aws.String("other"), Target: cert.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeletePolicy(ctx, &awsiot.DeletePolicyInput{PolicyName: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	// forceDelete detaches what is left.
	if _, err := c.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: cert.CertificateId, ForceDelete: true}); err != nil {
		t.Fatal(err)
	}
	targets, err = c.ListTargetsForPolicy(ctx, &awsiot.ListTargetsForPolicyInput{PolicyName: aws.String("pub")})
	if err != nil || len(targets.Targets) != 0 {
		t.Fatalf("targets after forced delete: %+v %v", targets, err)
	}
}

func TestTestAuthorizationThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	c := f.client
	cert, err := c.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String("sensor-1"),
		AttributePayload: &types.AttributePayload{Attributes: map[string]string{"site": "lyon"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AttachThingPrincipal(ctx, &awsiot.AttachThingPrincipalInput{ThingName: aws.String("sensor-1"), Principal: cert.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	device := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"` + arnPrefix + `client/${iot:Connection.Thing.ThingName}","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}},
		{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"` + arnPrefix + `topic/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"` + arnPrefix + `topicfilter/${iot:Connection.Thing.Attributes[site]}/${iot:ClientId}/*"}]}`
	deny := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iot:Publish","Resource":"` + arnPrefix + `topic/*/alarm"}}`
	for name, d := range map[string]string{"device": device, "no-alarm": deny} {
		if _, err := c.CreatePolicy(ctx, &awsiot.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(d)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AttachPolicy(ctx, &awsiot.AttachPolicyInput{PolicyName: aws.String(name), Target: cert.CertificateArn}); err != nil {
			t.Fatal(err)
		}
	}
	test := func(clientID string, principal *string, action types.ActionType, resources ...string) types.AuthResult {
		t.Helper()
		out, err := c.TestAuthorization(ctx, &awsiot.TestAuthorizationInput{Principal: principal, ClientId: aws.String(clientID),
			AuthInfos: []types.AuthInfo{{ActionType: action, Resources: resources}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.AuthResults) != 1 {
			t.Fatalf("%d results", len(out.AuthResults))
		}
		return out.AuthResults[0]
	}
	names := func(ps []types.Policy) string {
		var n []string
		for _, p := range ps {
			n = append(n, aws.ToString(p.PolicyName))
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	cases := []struct {
		client   string
		action   types.ActionType
		resource string
		want     types.AuthDecision
	}{
		{"sensor-1", types.ActionTypeConnect, arnPrefix + "client/sensor-1", types.AuthDecisionAllowed},
		{"sensor-2", types.ActionTypeConnect, arnPrefix + "client/sensor-2", types.AuthDecisionImplicitDeny},
		{"sensor-1", types.ActionTypePublish, arnPrefix + "topic/lyon/sensor-1/temp", types.AuthDecisionAllowed},
		{"sensor-1", types.ActionTypeReceive, arnPrefix + "topic/lyon/sensor-1/cmd", types.AuthDecisionAllowed},
		{"sensor-1", types.ActionTypePublish, arnPrefix + "topic/paris/sensor-1/temp", types.AuthDecisionImplicitDeny},
		{"sensor-1", types.ActionTypePublish, arnPrefix + "topic/lyon/sensor-1/alarm", types.AuthDecisionExplicitDeny},
		{"sensor-1", types.ActionTypeSubscribe, arnPrefix + "topicfilter/lyon/sensor-1/#", types.AuthDecisionAllowed},
		{"sensor-1", types.ActionTypeSubscribe, arnPrefix + "topicfilter/lyon/#", types.AuthDecisionImplicitDeny},
		{"sensor-1", types.ActionTypeSubscribe, arnPrefix + "topic/lyon/sensor-1/x", types.AuthDecisionImplicitDeny},
		// A client ID full of wildcards widens nothing.
		{"*", types.ActionTypePublish, arnPrefix + "topic/lyon/other/temp", types.AuthDecisionImplicitDeny},
		{"+", types.ActionTypeSubscribe, arnPrefix + "topicfilter/lyon/x/#", types.AuthDecisionImplicitDeny},
		{"#", types.ActionTypeConnect, arnPrefix + "client/sensor-1", types.AuthDecisionImplicitDeny},
	}
	for _, tc := range cases {
		res := test(tc.client, cert.CertificateArn, tc.action, tc.resource)
		if res.AuthDecision != tc.want {
			t.Errorf("client %q %s %s: %s, want %s", tc.client, tc.action, tc.resource, res.AuthDecision, tc.want)
		}
	}
	res := test("sensor-1", cert.CertificateId, types.ActionTypePublish, arnPrefix+"topic/lyon/sensor-1/alarm")
	if names(res.Denied.ExplicitDeny.Policies) != "no-alarm" || res.AuthDecision != types.AuthDecisionExplicitDeny {
		t.Errorf("explicit deny by certificate ID: %+v", res)
	}
	res = test("sensor-1", cert.CertificateArn, types.ActionTypePublish, arnPrefix+"topic/lyon/sensor-1/t")
	if names(res.Allowed.Policies) != "device" || names(res.Denied.ImplicitDeny.Policies) != "no-alarm" {
		t.Errorf("allowed: %+v / %+v", res.Allowed, res.Denied)
	}
	res = test("other", cert.CertificateArn, types.ActionTypeConnect, arnPrefix+"client/other")
	if res.AuthDecision != types.AuthDecisionImplicitDeny || !strings.Contains(strings.Join(res.MissingContextValues, ","), "iot:Connection.Thing.ThingName") {
		t.Errorf("missing thing: %+v", res)
	}

	// policyNamesToSkip and policyNamesToAdd.
	out, err := c.TestAuthorization(ctx, &awsiot.TestAuthorizationInput{Principal: cert.CertificateArn, ClientId: aws.String("sensor-1"),
		PolicyNamesToSkip: []string{"no-alarm"},
		AuthInfos:         []types.AuthInfo{{ActionType: types.ActionTypePublish, Resources: []string{arnPrefix + "topic/lyon/sensor-1/alarm"}}}})
	if err != nil || out.AuthResults[0].AuthDecision != types.AuthDecisionAllowed {
		t.Fatalf("skip: %+v %v", out, err)
	}
	if _, err := c.DetachPolicy(ctx, &awsiot.DetachPolicyInput{PolicyName: aws.String("device"), Target: cert.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	out, err = c.TestAuthorization(ctx, &awsiot.TestAuthorizationInput{Principal: cert.CertificateArn, ClientId: aws.String("sensor-1"),
		PolicyNamesToAdd: []string{"device"},
		AuthInfos: []types.AuthInfo{
			{ActionType: types.ActionTypeConnect, Resources: []string{arnPrefix + "client/sensor-1"}},
			{ActionType: types.ActionTypePublish, Resources: []string{arnPrefix + "topic/lyon/sensor-1/a", arnPrefix + "topic/lyon/sensor-1/alarm"}},
		}})
	if err != nil || len(out.AuthResults) != 2 || out.AuthResults[0].AuthDecision != types.AuthDecisionAllowed ||
		out.AuthResults[1].AuthDecision != types.AuthDecisionExplicitDeny {
		t.Fatalf("add: %+v %v", out, err)
	}

	// Malformed requests.
	_, err = c.TestAuthorization(ctx, &awsiot.TestAuthorizationInput{Principal: cert.CertificateArn,
		AuthInfos: []types.AuthInfo{{ActionType: "DELETE", Resources: []string{"*"}}}})
	wantAPIError(t, err, "InvalidRequestException", 400)
	_, err = c.TestAuthorization(ctx, &awsiot.TestAuthorizationInput{Principal: aws.String(arnPrefix + "cert/" + strings.Repeat("f", 64)),
		AuthInfos: []types.AuthInfo{{ActionType: types.ActionTypeConnect, Resources: []string{"*"}}}})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
	_, err = c.TestAuthorization(ctx, &awsiot.TestAuthorizationInput{
		AuthInfos: []types.AuthInfo{{ActionType: types.ActionTypeConnect, Resources: []string{"*"}}}})
	wantAPIError(t, err, "InvalidRequestException", 400)
}

// TestRegistryWithAWSCLI walks the registry and TestAuthorization with the
// real aws CLI (botocore), the policy document read from a file.
func TestRegistryWithAWSCLI(t *testing.T) {
	f := newDeviceFixture(t)
	cli := f.srv.CLI(t)
	run := func(args ...string) map[string]any {
		t.Helper()
		var v map[string]any
		out := cli.Run(t, append([]string{"iot"}, args...)...)
		if len(strings.TrimSpace(string(out))) == 0 {
			return nil
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("aws iot %s printed %q: %v", strings.Join(args, " "), out, err)
		}
		return v
	}
	thing := run("create-thing", "--thing-name", "cli-thing", "--attribute-payload", `{"attributes":{"room":"kitchen"}}`)
	if thing["thingArn"] != arnPrefix+"thing/cli-thing" {
		t.Fatalf("create-thing: %v", thing)
	}
	docPath := filepath.Join(t.TempDir(), "policy.json")
	doc := `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect", "Resource": "` + arnPrefix + `client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": "` + arnPrefix + `topic/${iot:Connection.Thing.Attributes[room]}/*"}
  ]
}`
	if err := os.WriteFile(docPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	pol := run("create-policy", "--policy-name", "cli-policy", "--policy-document", "file://"+docPath)
	if pol["policyVersionId"] != "1" || pol["policyDocument"] != doc {
		t.Fatalf("create-policy: %v", pol)
	}
	cert := run("create-keys-and-certificate", "--set-as-active")
	certARN, _ := cert["certificateArn"].(string)
	run("attach-policy", "--policy-name", "cli-policy", "--target", certARN)
	run("attach-thing-principal", "--thing-name", "cli-thing", "--principal", certARN)
	attached := run("list-attached-policies", "--target", certARN)
	if ps, _ := attached["policies"].([]any); len(ps) != 1 {
		t.Fatalf("list-attached-policies: %v", attached)
	}
	res := run("test-authorization", "--principal", certARN, "--client-id", "cli-thing", "--auth-infos",
		`[{"actionType":"CONNECT","resources":["`+arnPrefix+`client/cli-thing"]},{"actionType":"PUBLISH","resources":["`+arnPrefix+`topic/kitchen/temp"]},{"actionType":"PUBLISH","resources":["`+arnPrefix+`topic/garage/temp"]}]`)
	results, _ := res["authResults"].([]any)
	if len(results) != 3 {
		t.Fatalf("test-authorization: %v", res)
	}
	var decisions []string
	for _, r := range results {
		m, _ := r.(map[string]any)
		d, _ := m["authDecision"].(string)
		decisions = append(decisions, d)
	}
	if strings.Join(decisions, ",") != "ALLOWED,ALLOWED,IMPLICIT_DENY" {
		t.Fatalf("decisions %v: %v", decisions, res)
	}
	_, stderr, err := cli.Output("iot", "create-policy", "--policy-name", "broken", "--policy-document", `{"Version":"2012-10-17"}`)
	if err == nil || !strings.Contains(stderr, "MalformedPolicyException") {
		t.Fatalf("malformed policy: %v %s", err, stderr)
	}
}
