package route53_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	r53 "github.com/portico-iot/portico/internal/awsapi/route53"
	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/health"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
	"github.com/portico-iot/portico/internal/zonedns"
)

type healthEnv struct {
	api     *apitest.Server
	client  *route53.Client
	zones   *zone.Service
	checks  *health.Service
	checker *health.Checker
	dns     *dnsserver.Server
	dnsAddr string // UDP
	dnsTCP  string
}

// setupHealth wires zones, health checks, the checker and a DNS server the
// way cmd/portico must.
func setupHealth(t *testing.T, options ...func(*dnsserver.Config)) *healthEnv {
	t.Helper()
	return setupHealthZones(t, nil, options...)
}

// setupHealthZones is setupHealth with zoneOption applied to the zone
// service before anything uses it.
func setupHealthZones(t *testing.T, zoneOption func(*zone.Service), options ...func(*dnsserver.Config)) *healthEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := storetest.New(t)
	zones, err := zone.NewService(ctx, st, nameServers)
	if err != nil {
		t.Fatal(err)
	}
	if zoneOption != nil {
		zoneOption(zones)
	}
	checks, err := health.NewService(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	zones.HealthCheckExists = checks.Exists
	checker := &health.Checker{TCPTimeout: time.Second, ConnectTimeout: time.Second, ResponseTimeout: time.Second, BodyTimeout: time.Second}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := dnsserver.Config{PacketConn: pc, Listener: ln, Source: zonedns.Source(zones), Health: checker}
	for _, o := range options {
		o(&cfg)
	}
	srv := dnsserver.New(cfg)
	checker.OnChange = srv.HealthChanged
	zones.Served = srv.Served
	dnsChanges, cancelDNS := st.Subscribe()
	hcChanges, cancelHC := st.Subscribe()
	dnsDone, hcDone := make(chan error, 1), make(chan error, 1)
	go func() { dnsDone <- srv.Run(ctx, dnsChanges) }()
	go func() { hcDone <- checker.Run(ctx, checks.All, hcChanges) }()
	t.Cleanup(func() {
		cancel()
		<-dnsDone
		<-hcDone
		cancelDNS()
		cancelHC()
	})
	api := apitest.Start(t, func(s *awsapi.Server) { r53.RegisterWithHealth(s, zones, checks, checker, apitest.Logger()) })
	return &healthEnv{api: api, client: route53.NewFromConfig(api.Config), zones: zones, checks: checks, checker: checker, dns: srv, dnsAddr: pc.LocalAddr().String(), dnsTCP: ln.Addr().String()}
}

func (e *healthEnv) lookup(t *testing.T, name string) string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, e.dnsAddr)
	if err != nil {
		t.Fatalf("DNS %s: %v", name, err)
	}
	var out []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return strings.Join(out, ",")
}

func (e *healthEnv) waitAnswer(t *testing.T, name, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := e.lookup(t, name)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s answered %q, want %q after %v", name, got, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func acceptAll(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func TestHealthChecksAndFailoverEndToEnd(t *testing.T) {
	ctx := context.Background()
	e := setupHealth(t)

	primary, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go acceptAll(primary)
	primaryAddr := primary.Addr().String()
	_, portText, _ := net.SplitHostPort(primaryAddr)
	port, _ := strconv.Atoi(portText)

	in := &route53.CreateHealthCheckInput{CallerReference: aws.String("primary-8883"), HealthCheckConfig: &types.HealthCheckConfig{
		Type: types.HealthCheckTypeTcp, IPAddress: aws.String("127.0.0.1"), Port: aws.Int32(int32(port)),
		RequestInterval: aws.Int32(1), FailureThreshold: aws.Int32(1)}}
	created, err := e.client.CreateHealthCheck(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	hc := created.HealthCheck
	if created.Location == nil || !strings.HasSuffix(*created.Location, "/healthcheck/"+*hc.Id) ||
		aws.ToInt64(hc.HealthCheckVersion) != 1 || aws.ToInt32(hc.HealthCheckConfig.FailureThreshold) != 1 ||
		aws.ToBool(hc.HealthCheckConfig.Inverted) {
		t.Fatalf("created %+v", hc)
	}
	replay, err := e.client.CreateHealthCheck(ctx, in)
	if err != nil || *replay.HealthCheck.Id != *hc.Id {
		t.Fatalf("replay %v", err)
	}
	in2 := *in
	cfg2 := *in.HealthCheckConfig
	cfg2.Port = aws.Int32(1)
	in2.HealthCheckConfig = &cfg2
	_, err = e.client.CreateHealthCheck(ctx, &in2)
	apiError(t, err, "HealthCheckAlreadyExists", 409, "")
	_, err = e.client.GetHealthCheck(ctx, &route53.GetHealthCheckInput{HealthCheckId: aws.String("nope")})
	apiError(t, err, "NoSuchHealthCheck", 404, "A health check with id nope does not exist.")
	_, err = e.client.CreateHealthCheck(ctx, &route53.CreateHealthCheckInput{CallerReference: aws.String("bad"),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, IPAddress: aws.String("127.0.0.1"), Port: aws.Int32(1), RequestInterval: aws.Int32(20)}})
	apiError(t, err, "InvalidInput", 400, "")
	count, err := e.client.GetHealthCheckCount(ctx, &route53.GetHealthCheckCountInput{})
	if err != nil || aws.ToInt64(count.HealthCheckCount) != 1 {
		t.Fatalf("count %v %v", count, err)
	}
	list, err := e.client.ListHealthChecks(ctx, &route53.ListHealthChecksInput{})
	if err != nil || len(list.HealthChecks) != 1 || *list.HealthChecks[0].Id != *hc.Id {
		t.Fatalf("list %v", err)
	}

	z, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("yourcompany.com"), CallerReference: aws.String("zone-1")})
	if err != nil {
		t.Fatal(err)
	}
	pair := func(action types.ChangeAction) *types.ChangeBatch {
		p := rrset("iot.yourcompany.com", types.RRTypeA, 60, "192.0.2.10")
		p.SetIdentifier, p.Failover, p.HealthCheckId = aws.String("primary"), types.ResourceRecordSetFailoverPrimary, hc.Id
		s := rrset("iot.yourcompany.com", types.RRTypeA, 60, "192.0.2.20")
		s.SetIdentifier, s.Failover = aws.String("secondary"), types.ResourceRecordSetFailoverSecondary
		return batch(chg(action, p), chg(action, s))
	}
	if _, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: pair(types.ChangeActionCreate)}); err != nil {
		t.Fatal(err)
	}
	bad := rrset("x.yourcompany.com", types.RRTypeA, 60, "192.0.2.1")
	bad.SetIdentifier, bad.Failover, bad.HealthCheckId = aws.String("p"), types.ResourceRecordSetFailoverPrimary, aws.String("missing")
	_, err = e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: batch(chg(types.ChangeActionCreate, bad))})
	apiError(t, err, "NoSuchHealthCheck", 404, "A health check with id missing does not exist.")

	sets, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id,
		StartRecordName: aws.String("iot.yourcompany.com"), StartRecordType: types.RRTypeA, MaxItems: aws.Int32(1)})
	if err != nil || len(sets.ResourceRecordSets) != 1 {
		t.Fatalf("list sets %v", err)
	}
	first := sets.ResourceRecordSets[0]
	if aws.ToString(first.SetIdentifier) != "primary" || first.Failover != types.ResourceRecordSetFailoverPrimary ||
		aws.ToString(first.HealthCheckId) != *hc.Id || !sets.IsTruncated || aws.ToString(sets.NextRecordIdentifier) != "secondary" {
		t.Fatalf("listed %+v truncated=%v next=%v", first, sets.IsTruncated, aws.ToString(sets.NextRecordIdentifier))
	}

	// DNS follows the primary's health: down, then up again.
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.10", 5*time.Second)
	waitStatus := func(prefix string) *route53.GetHealthCheckStatusOutput {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := e.client.GetHealthCheckStatus(ctx, &route53.GetHealthCheckStatusInput{HealthCheckId: hc.Id})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.HealthCheckObservations) == 1 && strings.HasPrefix(aws.ToString(st.HealthCheckObservations[0].StatusReport.Status), prefix) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("status never %q", prefix)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	st := waitStatus("Success: TCP connection established")
	if o := st.HealthCheckObservations[0]; o.Region != "portico" || o.StatusReport.CheckedTime == nil {
		t.Fatalf("observation %+v", o)
	}
	primary.Close()
	took := e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.20", 4*time.Second) // interval 1 s x threshold 1 (+ margin)
	t.Logf("failed over in %v", took)
	waitStatus("Failure:")
	reason, err := e.client.GetHealthCheckLastFailureReason(ctx, &route53.GetHealthCheckLastFailureReasonInput{HealthCheckId: hc.Id})
	if err != nil || len(reason.HealthCheckObservations) != 1 || !strings.Contains(aws.ToString(reason.HealthCheckObservations[0].StatusReport.Status), "connection refused") {
		t.Fatalf("last failure %+v %v", reason, err)
	}
	back, err := net.Listen("tcp", primaryAddr)
	if err != nil {
		t.Skipf("primary port taken meanwhile: %v", err)
	}
	defer back.Close()
	go acceptAll(back)
	took = e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.10", 4*time.Second)
	t.Logf("failed back in %v", took)

	// Inverted through UpdateHealthCheck: the healthy primary now counts as unhealthy.
	up, err := e.client.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: hc.Id, Inverted: aws.Bool(true), HealthCheckVersion: aws.Int64(1)})
	if err != nil || aws.ToInt64(up.HealthCheck.HealthCheckVersion) != 2 || !aws.ToBool(up.HealthCheck.HealthCheckConfig.Inverted) {
		t.Fatalf("update %v", err)
	}
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.20", 4*time.Second)
	_, err = e.client.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: hc.Id, HealthCheckVersion: aws.Int64(1)})
	apiError(t, err, "HealthCheckVersionMismatch", 409, "")

	// Deleting the check (as Route 53, allowed while records name it): the primary counts as healthy.
	if _, err := e.client.DeleteHealthCheck(ctx, &route53.DeleteHealthCheckInput{HealthCheckId: hc.Id}); err != nil {
		t.Fatal(err)
	}
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.10", 4*time.Second)
	_, err = e.client.GetHealthCheckStatus(ctx, &route53.GetHealthCheckStatusInput{HealthCheckId: hc.Id})
	apiError(t, err, "NoSuchHealthCheck", 404, fmt.Sprintf("A health check with id %s does not exist.", *hc.Id))
}
