package iot_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iot"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

type checker struct{ certs *certificate.Service }

func (c checker) Check(ctx context.Context, arn, domain string) (endpoint.CertificateState, error) {
	st, err := c.certs.Standing(ctx, arn)
	if err != nil {
		return endpoint.CertificateState{}, err
	}
	return endpoint.CertificateState{Status: st.Status, Covers: st.Covers(domain), NotBefore: st.NotBefore, NotAfter: st.NotAfter}, nil
}

type fixture struct {
	url       string
	client    *awsiot.Client
	certs     *certificate.Service
	endpoints *endpoint.Service
	ca        *testpki.CA
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	certs, err := certificate.NewService(ctx, st, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := endpoint.NewService(ctx, st, checker{certs}, endpoint.Config{Region: apitest.Region, Account: apitest.Account, BaseDomain: "portico.internal"})
	if err != nil {
		t.Fatal(err)
	}
	certs.InUse = eps.UsingCertificate
	srv := apitest.Start(t, func(s *awsapi.Server) {
		iot.Register(s, iot.Deps{Endpoints: eps, Logger: apitest.Logger()})
	})
	return &fixture{url: srv.URL, client: awsiot.NewFromConfig(srv.Config), certs: certs, endpoints: eps, ca: testpki.NewCA(t, "Your Company Root")}
}

func (f *fixture) importCert(t testing.TB, names ...string) string {
	t.Helper()
	leaf := f.ca.Server(t, names...)
	arn, err := f.certs.Import(context.Background(), certificate.ImportInput{Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: f.ca.PEM})
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestDomainConfigurationLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	arn := f.importCert(t, "iot.yourcompany.com")

	created, err := f.client.CreateDomainConfiguration(ctx, &awsiot.CreateDomainConfigurationInput{
		DomainConfigurationName: aws.String("CustomIoTDomain"),
		DomainName:              aws.String("iot.yourcompany.com"),
		ServerCertificateArns:   []string{arn},
		ServiceType:             types.ServiceTypeData,
		TlsConfig:               &types.TlsConfig{SecurityPolicy: aws.String("IotSecurityPolicy_TLS13_1_3_2022_10")},
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := aws.ToString(created.DomainConfigurationArn); len(got) != len("arn:aws:iot:us-east-1:123456789012:domainconfiguration/CustomIoTDomain/")+5 {
		t.Fatalf("ARN %q lacks the 5-character suffix", got)
	}

	d, err := f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("CustomIoTDomain")})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if d.DomainConfigurationStatus != types.DomainConfigurationStatusEnabled || d.DomainType != types.DomainTypeCustomerManaged ||
		aws.ToString(d.TlsConfig.SecurityPolicy) != "IoTSecurityPolicy_TLS13_1_3_2022_10" || aws.ToString(d.DomainName) != "iot.yourcompany.com" {
		t.Fatalf("describe = %+v", d)
	}
	if len(d.ServerCertificates) != 1 || d.ServerCertificates[0].ServerCertificateStatus != types.ServerCertificateStatusValid {
		t.Fatalf("server certificates = %+v", d.ServerCertificates)
	}
	if d.LastStatusChangeDate == nil || d.LastStatusChangeDate.IsZero() {
		t.Fatal("lastStatusChangeDate missing")
	}

	// Delete is refused while ENABLED, and so is deleting the certificate.
	_, err = f.client.DeleteDomainConfiguration(ctx, &awsiot.DeleteDomainConfigurationInput{DomainConfigurationName: aws.String("CustomIoTDomain")})
	if errorCode(err) != "InvalidRequestException" {
		t.Fatalf("delete while enabled: %v", err)
	}
	if users, _ := f.endpoints.UsingCertificate(ctx, arn); len(users) != 1 {
		t.Fatalf("certificate users = %v", users)
	}

	_, err = f.client.UpdateDomainConfiguration(ctx, &awsiot.UpdateDomainConfigurationInput{
		DomainConfigurationName: aws.String("CustomIoTDomain"), DomainConfigurationStatus: types.DomainConfigurationStatusDisabled})
	if err != nil {
		t.Fatalf("disable: %v", err)
	}
	d2, _ := f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("CustomIoTDomain")})
	if d2.DomainConfigurationStatus != types.DomainConfigurationStatusDisabled || !d2.LastStatusChangeDate.After(*d.LastStatusChangeDate) && !d2.LastStatusChangeDate.Equal(*d.LastStatusChangeDate) {
		t.Fatalf("after disable: %+v", d2)
	}

	list, err := f.client.ListDomainConfigurations(ctx, &awsiot.ListDomainConfigurationsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range list.DomainConfigurations {
		names = append(names, aws.ToString(it.DomainConfigurationName))
	}
	want := []string{"CustomIoTDomain", "iot:CredentialProvider", "iot:Data-ATS", "iot:Jobs"}
	if len(names) != len(want) {
		t.Fatalf("list = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("list = %v, want %v (sorted by name)", names, want)
		}
	}

	if _, err := f.client.DeleteDomainConfiguration(ctx, &awsiot.DeleteDomainConfigurationInput{DomainConfigurationName: aws.String("CustomIoTDomain")}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("CustomIoTDomain")})
	if errorCode(err) != "ResourceNotFoundException" {
		t.Fatalf("describe after delete: %v", err)
	}
}

func TestCreateDomainConfigurationErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	good := f.importCert(t, "iot.yourcompany.com")
	other := f.importCert(t, "other.example.com")
	create := func(name, domain string, arns []string, policy string, svc types.ServiceType) error {
		in := &awsiot.CreateDomainConfigurationInput{DomainConfigurationName: aws.String(name), DomainName: aws.String(domain),
			ServerCertificateArns: arns, ServiceType: svc}
		if policy != "" {
			in.TlsConfig = &types.TlsConfig{SecurityPolicy: aws.String(policy)}
		}
		_, err := f.client.CreateDomainConfiguration(ctx, in)
		return err
	}
	if err := create("first", "iot.yourcompany.com", []string{good}, "", ""); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		code string
	}{
		{"duplicate name", create("first", "x.yourcompany.com", []string{good}, "", ""), "ResourceAlreadyExistsException"},
		{"duplicate domain", create("second", "iot.yourcompany.com", []string{good}, "", ""), "ResourceAlreadyExistsException"},
		{"certificate does not cover domain", create("third", "iot.yourcompany.com", []string{other}, "", ""), "CertificateValidationException"},
		{"unknown certificate", create("fourth", "iot.yourcompany.com", []string{"arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"}, "", ""), "CertificateValidationException"},
		{"bad policy", create("fifth", "a.yourcompany.com", []string{good}, "TLS_PLEASE", ""), "InvalidRequestException"},
		{"bad name", create("has:colon", "a.yourcompany.com", []string{good}, "", ""), "InvalidRequestException"},
		{"jobs service type", create("sixth", "a.yourcompany.com", []string{good}, "", types.ServiceTypeJobs), "InvalidRequestException"},
	}
	for _, c := range cases {
		if got := errorCode(c.err); got != c.code {
			t.Errorf("%s: error %v (code %q), want %s", c.name, c.err, got, c.code)
		}
	}
	var exists *types.ResourceAlreadyExistsException
	if err := create("first", "y.yourcompany.com", []string{good}, "", ""); !errors.As(err, &exists) || aws.ToString(exists.ResourceArn) == "" {
		t.Errorf("duplicate name: %v, want ResourceAlreadyExistsException with resourceArn", err)
	}
}

func TestDefaultEndpoints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ep, err := f.client.DescribeEndpoint(ctx, &awsiot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := f.client.DescribeEndpoint(ctx, &awsiot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	host := aws.ToString(ep.EndpointAddress)
	if host != aws.ToString(again.EndpointAddress) || host != f.endpoints.Prefix()+"-ats.iot.us-east-1.portico.internal" {
		t.Fatalf("endpoint = %q", host)
	}
	if _, err := f.client.DescribeEndpoint(ctx, &awsiot.DescribeEndpointInput{EndpointType: aws.String("iot:Nope")}); errorCode(err) != "InvalidRequestException" {
		t.Fatalf("unknown endpoint type: %v", err)
	}
	d, err := f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("iot:Data-ATS")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.DomainName) != host || d.DomainType != types.DomainTypeEndpoint || aws.ToString(d.DomainConfigurationArn) != "arn:aws:iot:us-east-1:123456789012:domainconfiguration/iot:Data-ATS" {
		t.Fatalf("iot:Data-ATS = %+v", d)
	}
	if _, err := f.client.UpdateDomainConfiguration(ctx, &awsiot.UpdateDomainConfigurationInput{DomainConfigurationName: aws.String("iot:Data-ATS"),
		TlsConfig: &types.TlsConfig{SecurityPolicy: aws.String("iotsecuritypolicy_tls12_1_2_2022_10")}}); err != nil {
		t.Fatalf("update default TLS policy: %v", err)
	}
	d, _ = f.client.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("iot:Data-ATS")})
	if aws.ToString(d.TlsConfig.SecurityPolicy) != "IoTSecurityPolicy_TLS12_1_2_2022_10" {
		t.Fatalf("policy = %q", aws.ToString(d.TlsConfig.SecurityPolicy))
	}
	if _, err := f.client.DeleteDomainConfiguration(ctx, &awsiot.DeleteDomainConfigurationInput{DomainConfigurationName: aws.String("iot:Data-ATS")}); errorCode(err) != "InvalidRequestException" {
		t.Fatalf("delete default: %v", err)
	}
}

func TestListPagination(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var names []string
	p := awsiot.NewListDomainConfigurationsPaginator(f.client, &awsiot.ListDomainConfigurationsInput{PageSize: aws.Int32(1)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, it := range page.DomainConfigurations {
			names = append(names, aws.ToString(it.DomainConfigurationName))
		}
	}
	if pages != 3 || len(names) != 3 || names[0] != "iot:CredentialProvider" {
		t.Fatalf("pages=%d names=%v", pages, names)
	}
	_, err := f.client.ListDomainConfigurations(ctx, &awsiot.ListDomainConfigurationsInput{PageSize: aws.Int32(251)})
	if errorCode(err) != "InvalidRequestException" {
		t.Fatalf("pageSize 251: %v", err)
	}
}
