package iot_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/endpoint"
)

// These tests drive the whole domain-configuration model through the real
// aws-sdk-go-v2 IoT client: tags, AWS-managed configurations, certificate
// status details and model validation.

func (f *fixture) create(t *testing.T, name, domain string, arns ...string) *awsiot.CreateDomainConfigurationOutput {
	t.Helper()
	in := &awsiot.CreateDomainConfigurationInput{DomainConfigurationName: aws.String(name), ServerCertificateArns: arns}
	if domain != "" {
		in.DomainName = aws.String(domain)
	}
	out, err := f.client.CreateDomainConfiguration(context.Background(), in)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return out
}

func (f *fixture) describe(t *testing.T, name string) *awsiot.DescribeDomainConfigurationOutput {
	t.Helper()
	d, err := f.client.DescribeDomainConfiguration(context.Background(), &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String(name)})
	if err != nil {
		t.Fatalf("describe %s: %v", name, err)
	}
	return d
}

func (f *fixture) tags(t *testing.T, arn string) map[string]string {
	t.Helper()
	out, err := f.client.ListTagsForResource(context.Background(), &awsiot.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("list tags of %s: %v", arn, err)
	}
	if out.NextToken != nil {
		t.Errorf("nextToken %q on a single page", aws.ToString(out.NextToken))
	}
	m := map[string]string{}
	for _, tg := range out.Tags {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

func TestDomainConfigurationTags(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cert := f.importCert(t, "iot.yourcompany.com")
	created, err := f.client.CreateDomainConfiguration(ctx, &awsiot.CreateDomainConfigurationInput{
		DomainConfigurationName: aws.String("tagged"), DomainName: aws.String("iot.yourcompany.com"),
		ServerCertificateArns: []string{cert},
		Tags:                  []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("owner:team/x=y+z@a.b-c_d")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.DomainConfigurationArn)
	if got := f.tags(t, arn); len(got) != 2 || got["env"] != "prod" || got["owner:team/x=y+z@a.b-c_d"] != "" {
		t.Fatalf("tags after create = %v", got)
	}

	if _, err := f.client.TagResource(ctx, &awsiot.TagResourceInput{ResourceArn: aws.String(arn),
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}, {Key: aws.String("cost center"), Value: aws.String("42")}}}); err != nil {
		t.Fatalf("tag: %v", err)
	}
	if got := f.tags(t, arn); len(got) != 3 || got["env"] != "dev" || got["cost center"] != "42" {
		t.Fatalf("tags after TagResource = %v", got)
	}
	if _, err := f.client.UntagResource(ctx, &awsiot.UntagResourceInput{ResourceArn: aws.String(arn),
		TagKeys: []string{"env", "never-set"}}); err != nil {
		t.Fatalf("untag: %v", err)
	}
	if got := f.tags(t, arn); len(got) != 2 || got["cost center"] != "42" {
		t.Fatalf("tags after UntagResource = %v", got)
	}
	// The default endpoints have ARNs too, and an empty tag list.
	ats := f.describe(t, "iot:Data-ATS")
	if got := f.tags(t, aws.ToString(ats.DomainConfigurationArn)); len(got) != 0 {
		t.Fatalf("iot:Data-ATS tags = %v", got)
	}

	var many []types.Tag
	for i := range 49 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	tagErr := func(arn string, tags ...types.Tag) error {
		_, err := f.client.TagResource(ctx, &awsiot.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
		return err
	}
	listErr := func(arn, next string) error {
		in := &awsiot.ListTagsForResourceInput{ResourceArn: aws.String(arn)}
		if next != "" {
			in.NextToken = aws.String(next)
		}
		_, err := f.client.ListTagsForResource(ctx, in)
		return err
	}
	untagErr := func(arn string, keys ...string) error {
		_, err := f.client.UntagResource(ctx, &awsiot.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: keys})
		return err
	}
	createErr := func(tags ...types.Tag) error {
		_, err := f.client.CreateDomainConfiguration(ctx, &awsiot.CreateDomainConfigurationInput{
			DomainConfigurationName: aws.String("other"), Tags: tags})
		return err
	}
	gone := strings.TrimSuffix(arn, arn[len(arn)-5:]) + "zzzzz"
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"49 more tags (51)", tagErr(arn, many...), "LimitExceededException"},
		{"48 more tags (50)", tagErr(arn, many[:48]...), ""},
		{"bad key", tagErr(arn, types.Tag{Key: aws.String("a#b")}), "InvalidRequestException"},
		{"long key", tagErr(arn, types.Tag{Key: aws.String(strings.Repeat("k", 129))}), "InvalidRequestException"},
		{"long value", tagErr(arn, types.Tag{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}), "InvalidRequestException"},
		{"duplicate keys", tagErr(arn, types.Tag{Key: aws.String("d"), Value: aws.String("1")}, types.Tag{Key: aws.String("d"), Value: aws.String("2")}), "InvalidRequestException"},
		{"not an ARN", tagErr("domainconfiguration/tagged", types.Tag{Key: aws.String("k")}), "InvalidRequestException"},
		{"not an IoT ARN", tagErr("arn:aws:acm:us-east-1:123456789012:certificate/x", types.Tag{Key: aws.String("k")}), "InvalidRequestException"},
		{"thing ARN", tagErr("arn:aws:iot:us-east-1:123456789012:thing/lamp", types.Tag{Key: aws.String("k")}), "ResourceNotFoundException"},
		{"unknown configuration", tagErr(gone, types.Tag{Key: aws.String("k")}), "ResourceNotFoundException"},
		{"other account", tagErr(strings.Replace(arn, "123456789012", "210987654321", 1), types.Tag{Key: aws.String("k")}), "ResourceNotFoundException"},
		{"list unknown", listErr(gone, ""), "ResourceNotFoundException"},
		{"list not an ARN", listErr("nope", ""), "InvalidRequestException"},
		{"list with a foreign nextToken", listErr(arn, "abc"), "InvalidRequestException"},
		{"untag unknown", untagErr(gone, "k"), "ResourceNotFoundException"},
		{"untag bad key", untagErr(arn, "a#b"), "InvalidRequestException"},
		{"untag thing", untagErr("arn:aws:iot:us-east-1:123456789012:thing/lamp", "k"), "ResourceNotFoundException"},
		{"create with a bad key", createErr(types.Tag{Key: aws.String("")}), "InvalidRequestException"},
		{"create with duplicate keys", createErr(types.Tag{Key: aws.String("a")}, types.Tag{Key: aws.String("a")}), "InvalidRequestException"},
		{"create with 51 tags", createErr(append(many, types.Tag{Key: aws.String("x")}, types.Tag{Key: aws.String("y")})...), "LimitExceededException"},
	}
	for _, c := range cases {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("%s: %v (code %q), want %q", c.name, c.err, got, c.code)
		}
	}
	var limit *types.LimitExceededException
	if !errors.As(tagErr(arn, types.Tag{Key: aws.String("one-too-many")}), &limit) {
		t.Error("the 51st tag is not a modeled LimitExceededException")
	}
	if got := f.tags(t, arn); len(got) != 50 {
		t.Errorf("%d tags, want 50", len(got))
	}
	// Tags die with their configuration; a new one of the same name has a new ARN.
	f.client.UpdateDomainConfiguration(ctx, &awsiot.UpdateDomainConfigurationInput{DomainConfigurationName: aws.String("tagged"),
		DomainConfigurationStatus: types.DomainConfigurationStatusDisabled})
	if _, err := f.client.DeleteDomainConfiguration(ctx, &awsiot.DeleteDomainConfigurationInput{DomainConfigurationName: aws.String("tagged")}); err != nil {
		t.Fatal(err)
	}
	if err := listErr(arn, ""); errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("tags of a deleted configuration: %v", err)
	}
}

var managedHost = regexp.MustCompile(`^[a-z0-9]{20}-ats\.iot\.us-east-1\.portico\.internal$`)

func TestAWSManagedDomainConfiguration(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	created := f.create(t, "managed", "")
	d := f.describe(t, "managed")
	host := aws.ToString(d.DomainName)
	if d.DomainType != types.DomainTypeAwsManaged || !managedHost.MatchString(host) ||
		d.ServerCertificates == nil || len(d.ServerCertificates) != 0 ||
		d.DomainConfigurationStatus != types.DomainConfigurationStatusEnabled || d.ServiceType != types.ServiceTypeData ||
		aws.ToString(d.DomainConfigurationArn) != aws.ToString(created.DomainConfigurationArn) ||
		aws.ToString(d.TlsConfig.SecurityPolicy) != "IoTSecurityPolicy_TLS13_1_2_2022_10" {
		t.Fatalf("describe = %+v", d)
	}
	if again := f.describe(t, "managed"); aws.ToString(again.DomainName) != host {
		t.Fatalf("hostname changed: %s then %s", host, aws.ToString(again.DomainName))
	}
	if other := f.describe(t, aws.ToString(f.create(t, "managed-2", "").DomainConfigurationName)); aws.ToString(other.DomainName) == host {
		t.Fatal("two AWS-managed configurations share a hostname")
	}
	ep, _ := f.client.DescribeEndpoint(ctx, &awsiot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if aws.ToString(ep.EndpointAddress) == host {
		t.Fatal("an AWS-managed configuration took the account's iot:Data-ATS hostname")
	}
	// The runtime sees the hostname through All().
	all, err := f.endpoints.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range all {
		found = found || c.Name == "managed" && c.DomainName == host && c.DomainType == "AWS_MANAGED"
	}
	if !found {
		t.Fatal("All() lacks the AWS-managed hostname")
	}

	cert := f.importCert(t, host)
	for name, in := range map[string]*awsiot.CreateDomainConfigurationInput{
		"server certificate":      {DomainConfigurationName: aws.String("m3"), ServerCertificateArns: []string{cert}},
		"validation certificate":  {DomainConfigurationName: aws.String("m4"), ValidationCertificateArn: aws.String(cert)},
		"empty domain name":       {DomainConfigurationName: aws.String("m5"), DomainName: aws.String("")},
		"domain in Portico's own": {DomainConfigurationName: aws.String("m6"), DomainName: aws.String(host), ServerCertificateArns: []string{cert}},
	} {
		if _, err := f.client.CreateDomainConfiguration(ctx, in); errorCode(err) != "InvalidRequestException" {
			t.Errorf("create AWS-managed with %s: %v", name, err)
		}
	}

	// Seven days DISABLED before Delete, by the service's clock.
	del := func() error {
		_, err := f.client.DeleteDomainConfiguration(ctx, &awsiot.DeleteDomainConfigurationInput{DomainConfigurationName: aws.String("managed")})
		return err
	}
	if err := del(); errorCode(err) != "InvalidRequestException" {
		t.Fatalf("delete while enabled: %v", err)
	}
	if _, err := f.client.UpdateDomainConfiguration(ctx, &awsiot.UpdateDomainConfigurationInput{DomainConfigurationName: aws.String("managed"),
		DomainConfigurationStatus: types.DomainConfigurationStatusDisabled}); err != nil {
		t.Fatal(err)
	}
	disabledAt := *f.describe(t, "managed").LastStatusChangeDate
	f.endpoints.Now = func() time.Time { return disabledAt.Add(6*24*time.Hour + 23*time.Hour) }
	if err := del(); errorCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "7 days") {
		t.Fatalf("delete after 6 days 23 hours: %v", err)
	}
	f.endpoints.Now = func() time.Time { return disabledAt.Add(7*24*time.Hour + time.Second) }
	if err := del(); err != nil {
		t.Fatalf("delete after 7 days: %v", err)
	}
	if _, err := f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("managed")}); errorCode(err) != "ResourceNotFoundException" {
		t.Fatalf("describe after delete: %v", err)
	}
}

func TestServerCertificateStatusDetail(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const domain = "iot.yourcompany.com"
	good := f.importCert(t, domain)
	covered := f.importCert(t, domain)
	deleted := f.importCert(t, domain)
	f.create(t, "c", domain, good)
	// Three more through the Update extension (the SDK has no member for it).
	if _, err := f.endpoints.Update(ctx, updateCertificates("c", good, covered, deleted)); err != nil {
		t.Fatal(err)
	}
	statuses := func() []types.ServerCertificateSummary { return f.describe(t, "c").ServerCertificates }
	if s := statuses(); len(s) != 3 || s[0].ServerCertificateStatus != types.ServerCertificateStatusValid || s[0].ServerCertificateStatusDetail != nil {
		t.Fatalf("fresh: %+v", s)
	}

	// Deleted from ACM (the in-use guard lifted to get there).
	inUse := f.certs.InUse
	f.certs.InUse = nil
	if err := f.certs.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	f.certs.InUse = inUse
	// Re-imported under the same ARN for another name.
	leaf := f.ca.Server(t, "other.yourcompany.com")
	if _, err := f.certs.Import(ctx, certificate.ImportInput{CertificateArn: covered, Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: f.ca.PEM}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status types.ServerCertificateStatus
		detail string
	}{
		{types.ServerCertificateStatusValid, ""},
		{types.ServerCertificateStatusInvalid, "The certificate does not cover the domain name iot.yourcompany.com"},
		{types.ServerCertificateStatusInvalid, "The certificate does not exist in ACM; it may have been deleted"},
	}
	// check compares the first n certificates with want.
	check := func(when string, n int) {
		t.Helper()
		s := statuses()
		if len(s) != len(want) {
			t.Fatalf("%s: %+v", when, s)
		}
		for i, w := range want[:n] {
			if s[i].ServerCertificateStatus != w.status || aws.ToString(s[i].ServerCertificateStatusDetail) != w.detail {
				t.Errorf("%s: certificate %d is %s %q, want %s %q", when, i, s[i].ServerCertificateStatus,
					aws.ToString(s[i].ServerCertificateStatusDetail), w.status, w.detail)
			}
		}
	}
	check("after delete and re-import", 3)

	m, err := f.certs.Material(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	// The clock moves for every certificate; the first one tells.
	f.endpoints.Now = func() time.Time { return m.NotAfter.Add(time.Minute) }
	want[0] = struct {
		status types.ServerCertificateStatus
		detail string
	}{types.ServerCertificateStatusInvalid, "The certificate expired at " + m.NotAfter.UTC().Format(time.RFC3339)}
	check("after NotAfter", 1)
	f.endpoints.Now = func() time.Time { return m.NotBefore.Add(-time.Minute) }
	want[0].detail = "The certificate is not valid yet: its validity starts at " + m.NotBefore.UTC().Format(time.RFC3339)
	check("before NotBefore", 1)
}

func TestDomainConfigurationValidation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cert := f.importCert(t, "iot.yourcompany.com", "b.yourcompany.com")
	f.create(t, "c", "iot.yourcompany.com", cert)
	yes := true
	create := func(name string, mod func(*awsiot.CreateDomainConfigurationInput)) error {
		in := &awsiot.CreateDomainConfigurationInput{DomainConfigurationName: aws.String(name),
			DomainName: aws.String("b.yourcompany.com"), ServerCertificateArns: []string{cert}}
		if mod != nil {
			mod(in)
		}
		_, err := f.client.CreateDomainConfiguration(ctx, in)
		return err
	}
	update := func(name string, mod func(*awsiot.UpdateDomainConfigurationInput)) error {
		in := &awsiot.UpdateDomainConfigurationInput{DomainConfigurationName: aws.String(name)}
		if mod != nil {
			mod(in)
		}
		_, err := f.client.UpdateDomainConfiguration(ctx, in)
		return err
	}
	describe := func(name string) error {
		_, err := f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String(name)})
		return err
	}
	del := func(name string) error {
		_, err := f.client.DeleteDomainConfiguration(ctx, &awsiot.DeleteDomainConfigurationInput{DomainConfigurationName: aws.String(name)})
		return err
	}
	list := func(marker string) error {
		_, err := f.client.ListDomainConfigurations(ctx, &awsiot.ListDomainConfigurationsInput{Marker: aws.String(marker)})
		return err
	}
	long := strings.Repeat("n", 129)
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"create: colon in name", create("a:b", nil), "InvalidRequestException"},
		{"create: 129-character name", create(long, nil), "InvalidRequestException"},
		{"create: domain name of 254", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.DomainName = aws.String(strings.Repeat("a.", 126) + "xy")
		}), "InvalidRequestException"},
		{"create: validation ARN pattern", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.ValidationCertificateArn = aws.String("arn:aws:acm:us-east-1:123456789012:cert/x")
		}), "InvalidRequestException"},
		{"create: OCSP responder ARN pattern", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.ServerCertificateConfig = &types.ServerCertificateConfig{OcspAuthorizedResponderArn: aws.String("arn:aws:lambda:us-east-1:123456789012:function:f")}
		}), "InvalidRequestException"},
		{"create: OCSP Lambda ARN of 141", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.ServerCertificateConfig = &types.ServerCertificateConfig{OcspLambdaArn: aws.String(strings.Repeat("l", 141))}
		}), "InvalidRequestException"},
		{"create: callback ARN of 2049", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.ClientCertificateConfig = &types.ClientCertificateConfig{ClientCertificateCallbackArn: aws.String(strings.Repeat("l", 2049))}
		}), "InvalidRequestException"},
		{"create: authorizer name pattern", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.AuthorizerConfig = &types.AuthorizerConfig{DefaultAuthorizerName: aws.String("no spaces"), AllowAuthorizerOverride: &yes}
		}), "InvalidRequestException"},
		{"create: authorizer without allowAuthorizerOverride", create("d", func(in *awsiot.CreateDomainConfigurationInput) {
			in.AuthorizerConfig = &types.AuthorizerConfig{DefaultAuthorizerName: aws.String("auth")}
		}), "InvalidRequestException"},
		{"create: authentication type enum", create("d", func(in *awsiot.CreateDomainConfigurationInput) { in.AuthenticationType = "PASSWORD" }), "InvalidRequestException"},
		{"create: application protocol enum", create("d", func(in *awsiot.CreateDomainConfigurationInput) { in.ApplicationProtocol = "COAP" }), "InvalidRequestException"},
		{"create: service type enum", create("d", func(in *awsiot.CreateDomainConfigurationInput) { in.ServiceType = "VIDEO" }), "InvalidRequestException"},
		{"describe: colon allowed", describe("iot:Jobs"), ""},
		{"describe: 129-character name", describe(long), "InvalidRequestException"},
		{"describe: space in name", describe("a b"), "InvalidRequestException"},
		{"update: colon allowed", update("iot:Data-ATS", func(in *awsiot.UpdateDomainConfigurationInput) {
			in.TlsConfig = &types.TlsConfig{SecurityPolicy: aws.String("IoTSecurityPolicy_TLS13_1_2_2022_10")}
		}), ""},
		{"update: 129-character name", update(long, nil), "InvalidRequestException"},
		{"update: status enum", update("c", func(in *awsiot.UpdateDomainConfigurationInput) { in.DomainConfigurationStatus = "PAUSED" }), "InvalidRequestException"},
		{"update: authorizer without allowAuthorizerOverride", update("c", func(in *awsiot.UpdateDomainConfigurationInput) {
			in.AuthorizerConfig = &types.AuthorizerConfig{DefaultAuthorizerName: aws.String("auth")}
		}), "InvalidRequestException"},
		{"update: OCSP Lambda ARN of 141", update("c", func(in *awsiot.UpdateDomainConfigurationInput) {
			in.ServerCertificateConfig = &types.ServerCertificateConfig{OcspLambdaArn: aws.String(strings.Repeat("l", 141))}
		}), "InvalidRequestException"},
		{"delete: colon refused", del("iot:Data-ATS"), "InvalidRequestException"},
		{"delete: 129-character name", del(long), "InvalidRequestException"},
		{"delete: unknown", del("nope"), "ResourceNotFoundException"},
		{"list: marker outside base64", list("not base64!"), "InvalidRequestException"},
		{"list: marker too long", list(strings.Repeat("A", 1028)), "InvalidRequestException"},
	}
	for _, c := range cases {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("%s: %v (code %q), want %q", c.name, c.err, got, c.code)
		}
	}

	// authorizerConfig round-trips, and removeAuthorizerConfig clears it.
	if err := update("c", func(in *awsiot.UpdateDomainConfigurationInput) {
		in.AuthorizerConfig = &types.AuthorizerConfig{DefaultAuthorizerName: aws.String("my-authorizer"), AllowAuthorizerOverride: &yes}
	}); err != nil {
		t.Fatal(err)
	}
	d := f.describe(t, "c")
	if d.AuthorizerConfig == nil || aws.ToString(d.AuthorizerConfig.DefaultAuthorizerName) != "my-authorizer" || !aws.ToBool(d.AuthorizerConfig.AllowAuthorizerOverride) {
		t.Fatalf("authorizerConfig = %+v", d.AuthorizerConfig)
	}
	if err := update("c", func(in *awsiot.UpdateDomainConfigurationInput) { in.RemoveAuthorizerConfig = true }); err != nil {
		t.Fatal(err)
	}
	if d := f.describe(t, "c"); d.AuthorizerConfig != nil {
		t.Fatalf("authorizerConfig after removeAuthorizerConfig = %+v", d.AuthorizerConfig)
	}
	// lastStatusChangeDate moves on a real change only.
	before := *f.describe(t, "c").LastStatusChangeDate
	f.endpoints.Now = func() time.Time { return before.Add(time.Hour) }
	update("c", func(in *awsiot.UpdateDomainConfigurationInput) {
		in.DomainConfigurationStatus = types.DomainConfigurationStatusEnabled
	})
	if got := *f.describe(t, "c").LastStatusChangeDate; !got.Equal(before) {
		t.Fatalf("ENABLED -> ENABLED moved lastStatusChangeDate from %v to %v", before, got)
	}
	update("c", func(in *awsiot.UpdateDomainConfigurationInput) {
		in.DomainConfigurationStatus = types.DomainConfigurationStatusDisabled
	})
	if got := *f.describe(t, "c").LastStatusChangeDate; !got.Equal(before.Add(time.Hour)) {
		t.Fatalf("ENABLED -> DISABLED: lastStatusChangeDate %v, want %v", got, before.Add(time.Hour))
	}
}

func updateCertificates(name string, arns ...string) endpoint.UpdateInput {
	return endpoint.UpdateInput{Name: name, ServerCertificateARNs: arns}
}
