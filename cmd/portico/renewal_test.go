package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	sdkiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/awsapi"
	acmapi "github.com/portico-iot/portico/internal/awsapi/acm"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	iotapi "github.com/portico-iot/portico/internal/awsapi/iot"
	route53api "github.com/portico-iot/portico/internal/awsapi/route53"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/ocspstaple"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
)

// testClock is a clock the test moves; every service of the renewal test
// reads it, so 140 days pass without sleeping.
type testClock struct{ nanos atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.nanos.Store(time.Now().UnixNano())
	return c
}
func (c *testClock) Now() time.Time  { return time.Unix(0, c.nanos.Load()) }
func (c *testClock) Set(t time.Time) { c.nanos.Store(t.UnixNano()) }

func pemLeaf(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestValidateServeRenew is the "done when", wired as
// `portico serve` wires it (store, certificate, zone, endpoint, device
// services, the validator with the zone resolver and the server CA, the
// gateway over gatewaySource) with one controllable clock, driven through
// aws-sdk-go-v2: request -> validation CNAME in a Portico hosted zone ->
// ISSUED -> used by a domain configuration -> a device connected over mTLS
// through that domain -> the clock moved to 59 days before expiry ->
// renewed under the same ARN with a new NotAfter -> a new handshake gets the
// renewed certificate, and the connected device's session lives on: it
// publishes after the renewal to a device connected since. Finally the
// certificate is revoked and no longer served.
func TestRequestValidateServeRenew(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := newTestClock()
	logger := apitest.Logger()
	const domain = "iot.fleet.example"

	// The services, as build() makes them, on the test clock.
	st := storetest.New(t)
	dataDir := t.TempDir()
	serverCA, err := pki.LoadOrCreate(dataDir, serverCAName, pkix.Name{Organization: []string{"Portico"}, CommonName: "Portico server CA"}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	deviceCA, err := openCA(dataDir, deviceCAName)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certificate.NewService(ctx, st, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	certs.Now = clock.Now
	certs.Revoker = serverCA
	endpoints, err := endpoint.NewService(ctx, st, certificateChecker{certs},
		endpoint.Config{Region: apitest.Region, Account: apitest.Account, BaseDomain: "portico.internal", Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	certs.InUse = inUseBy(endpoints)
	devices, err := device.NewService(ctx, st, deviceCA, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	zones, err := zone.NewService(ctx, st, []string{"ns1.portico.internal."})
	if err != nil {
		t.Fatal(err)
	}
	brk, err := broker.New(broker.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer brk.Close()
	srv := apitest.Start(t, func(s *awsapi.Server) {
		acmapi.Register(s, certs, logger)
		route53api.Register(s, zones, logger)
		iotapi.Register(s, iotapi.Deps{Endpoints: endpoints, Devices: devices, Logger: logger})
	})
	acm, r53, iot := sdkacm.NewFromConfig(srv.Config), route53.NewFromConfig(srv.Config), sdkiot.NewFromConfig(srv.Config)

	n := &node{cfg: config.Config{AdvertiseAddr: "127.0.0.1"}, endpoints: endpoints}
	defaultCert, err := n.defaultEndpointCertificate(serverCA)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(ctx, gateway.Config{
		Source: gatewaySource{endpoints: endpoints, certs: certs, devices: devices, defaultCertificate: defaultCert,
			managed: newManagedCertificates(serverCA), stapler: ocspstaple.New(ocspstaple.Config{Logger: logger})},
		Broker: brk, Region: apitest.Region, Logger: logger, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	changes, stopChanges := st.Subscribe()
	defer stopChanges()
	go gw.Run(ctx, changes)
	mqttLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gw.ServeMQTT(mqttLn)
	defer func() {
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		gw.Shutdown(shutdown)
	}()
	// Passes are made by the test (Tick), so each step is deterministic.
	v := &certificate.Validator{Service: certs, Resolver: validationResolver{zones: zones},
		Issuer: certificate.CAIssuer{CA: serverCA}, Now: clock.Now, Logger: logger}

	// Request, and the validation CNAME in a Portico hosted zone.
	req, err := acm.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String(domain),
		ValidationMethod: acmtypes.ValidationMethodDns, KeyAlgorithm: acmtypes.KeyAlgorithmEcPrime256v1})
	if err != nil {
		t.Fatal(err)
	}
	arn := req.CertificateArn
	describe := func() *acmtypes.CertificateDetail {
		t.Helper()
		d, err := acm.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		return d.Certificate
	}
	rr := describe().DomainValidationOptions[0].ResourceRecord
	z, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("fleet.example"), CallerReference: aws.String("renewal")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id,
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionCreate,
			ResourceRecordSet: &r53types.ResourceRecordSet{Name: rr.Name, Type: r53types.RRTypeCname, TTL: aws.Int64(300),
				ResourceRecords: []r53types.ResourceRecord{{Value: rr.Value}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	first := describe()
	if first.Status != acmtypes.CertificateStatusIssued {
		t.Fatalf("status after validation: %s", first.Status)
	}
	firstSerial := certSerial(t, ctx, acm, arn)

	// Used by a domain configuration; a device with a policy.
	if _, err := iot.CreateDomainConfiguration(ctx, &sdkiot.CreateDomainConfigurationInput{DomainConfigurationName: aws.String("fleet"),
		DomainName: aws.String(domain), ServerCertificateArns: []string{*arn}}); err != nil {
		t.Fatal(err)
	}
	if d := describe(); len(d.InUseBy) != 1 || d.RenewalEligibility != acmtypes.RenewalEligibilityEligible {
		t.Fatalf("after the domain configuration: InUseBy %v, RenewalEligibility %s", d.InUseBy, d.RenewalEligibility)
	}
	keys, err := iot.CreateKeysAndCertificate(ctx, &sdkiot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iot.CreatePolicy(ctx, &sdkiot.CreatePolicyInput{PolicyName: aws.String("fleet"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := iot.AttachPolicy(ctx, &sdkiot.AttachPolicyInput{PolicyName: aws.String("fleet"), Target: keys.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	deviceCert, err := tls.X509KeyPair([]byte(aws.ToString(keys.CertificatePem)), []byte(aws.ToString(keys.KeyPair.PrivateKey)))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := &tls.Config{ServerName: domain, RootCAs: serverCA.Pool(), Certificates: []tls.Certificate{deviceCert},
		Time: clock.Now, MinVersion: tls.VersionTLS12}
	addr := mqttLn.Addr().String()
	served := func() *x509.Certificate {
		conn, err := tls.Dial("tcp", addr, clientTLS)
		if err != nil {
			return nil
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	eventually(t, "the domain served with the issued certificate", func() bool {
		c := served()
		return c != nil && c.SerialNumber.Cmp(firstSerial) == 0
	})

	// The device connects through the domain and publishes.
	lost := make(chan error, 2)
	connect := func(id string, onMessage paho.MessageHandler) paho.Client {
		t.Helper()
		opts := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(id).SetTLSConfig(clientTLS).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetKeepAlive(30 * time.Second).
			SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: connect: %v", id, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(100) })
		return c
	}
	publish := func(c paho.Client, topic, payload string) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	sensor := connect("sensor-1", nil)
	publish(sensor, "fleet/sensor-1/telemetry", "before renewal")

	// 139 days later: 59 days before expiry, inside the 60-day window.
	clock.Set(first.NotAfter.Add(-59 * 24 * time.Hour))
	if err := v.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := describe()
	if aws.ToString(renewed.CertificateArn) != aws.ToString(arn) || renewed.Status != acmtypes.CertificateStatusIssued {
		t.Fatalf("after renewal: %s %s", aws.ToString(renewed.CertificateArn), renewed.Status)
	}
	if !renewed.NotAfter.After(*first.NotAfter) || renewed.RenewalSummary == nil || renewed.RenewalSummary.RenewalStatus != acmtypes.RenewalStatusSuccess {
		t.Fatalf("not renewed: NotAfter %v (was %v), summary %+v", renewed.NotAfter, first.NotAfter, renewed.RenewalSummary)
	}
	newSerial := certSerial(t, ctx, acm, arn)
	if newSerial.Cmp(firstSerial) == 0 {
		t.Fatal("the renewed certificate has the old serial")
	}
	eventually(t, "a new handshake served the renewed certificate", func() bool {
		c := served()
		return c != nil && c.SerialNumber.Cmp(newSerial) == 0 && c.NotAfter.Equal(*renewed.NotAfter)
	})

	// The session opened before the renewal is alive: its message reaches
	// a device that connected (and saw the renewed certificate) since.
	got := make(chan string, 1)
	console := connect("console-1", nil)
	if tok := console.Subscribe("fleet/+/telemetry", 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if !sensor.IsConnectionOpen() {
		t.Fatal("the device's connection closed at renewal")
	}
	publish(sensor, "fleet/sensor-1/telemetry", "after renewal")
	select {
	case p := <-got:
		if p != "after renewal" {
			t.Fatalf("received %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message published after renewal did not arrive")
	}
	select {
	case err := <-lost:
		t.Fatalf("a connection was lost: %v", err)
	default:
	}

	// Revoked: new handshakes no longer get it (the domain has no other).
	if _, err := acm.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: arn, RevocationReason: acmtypes.RevocationReasonSuperseded}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the revoked certificate no longer served", func() bool { return served() == nil })
	if rev, ok := serverCA.Revoked(newSerial); !ok || rev.Reason != 4 {
		t.Fatalf("server CA revocation: %+v %v", rev, ok)
	}
}

// certSerial reads the serial of arn's certificate through GetCertificate.
func certSerial(t *testing.T, ctx context.Context, acm *sdkacm.Client, arn *string) *big.Int {
	t.Helper()
	got, err := acm.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	return pemLeaf(t, aws.ToString(got.Certificate)).SerialNumber
}
