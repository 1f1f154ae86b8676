package route53_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// TestCalculatedHealthCheck: a CALCULATED check over two TCP checks drives a
// failover pair; changing its HealthThreshold moves the answer back.
func TestCalculatedHealthCheck(t *testing.T) {
	ctx := context.Background()
	e := setupHealth(t)
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go acceptAll(up)
	hcUp := e.tcpCheck(t, "calc-up", up.Addr().String())
	hcDown := e.tcpCheck(t, "calc-down", closedPort(t))

	created, err := e.client.CreateHealthCheck(ctx, &route53.CreateHealthCheckInput{CallerReference: aws.String("calc"),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeCalculated, HealthThreshold: aws.Int32(2),
			ChildHealthChecks: []string{hcUp, hcDown}}})
	if err != nil {
		t.Fatal(err)
	}
	calc := created.HealthCheck
	got, err := e.client.GetHealthCheck(ctx, &route53.GetHealthCheckInput{HealthCheckId: calc.Id})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.HealthCheck.HealthCheckConfig; c.Type != types.HealthCheckTypeCalculated || aws.ToInt32(c.HealthThreshold) != 2 ||
		len(c.ChildHealthChecks) != 2 || c.ChildHealthChecks[0] != hcUp || c.IPAddress != nil || c.Port != nil || c.RequestInterval != nil {
		t.Fatalf("GetHealthCheck %+v", c)
	}
	_, err = e.client.CreateHealthCheck(ctx, &route53.CreateHealthCheckInput{CallerReference: aws.String("calc-bad"),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeCalculated, ChildHealthChecks: []string{"nope"}}})
	apiError(t, err, "NoSuchHealthCheck", 404, "A health check with id nope does not exist.")

	z, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("yourcompany.com"), CallerReference: aws.String("calc-zone")})
	if err != nil {
		t.Fatal(err)
	}
	p := rrset("iot.yourcompany.com", types.RRTypeA, 60, "192.0.2.10")
	p.SetIdentifier, p.Failover, p.HealthCheckId = aws.String("primary"), types.ResourceRecordSetFailoverPrimary, calc.Id
	s := rrset("iot.yourcompany.com", types.RRTypeA, 60, "192.0.2.20")
	s.SetIdentifier, s.Failover = aws.String("secondary"), types.ResourceRecordSetFailoverSecondary
	if _, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id,
		ChangeBatch: batch(chg(types.ChangeActionCreate, p), chg(types.ChangeActionCreate, s))}); err != nil {
		t.Fatal(err)
	}
	// One of two children healthy, threshold 2: the secondary answers.
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.20", 5*time.Second)
	updated, err := e.client.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: calc.Id, HealthThreshold: aws.Int32(1)})
	if err != nil || aws.ToInt32(updated.HealthCheck.HealthCheckConfig.HealthThreshold) != 1 {
		t.Fatalf("UpdateHealthCheck %v", err)
	}
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.10", 5*time.Second)
	// Inverted flips the computed status.
	if _, err := e.client.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: calc.Id, Inverted: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.20", 5*time.Second)
	// Dropping the children resets them: threshold 1 of none is unhealthy, inverted healthy.
	if _, err := e.client.UpdateHealthCheck(ctx, &route53.UpdateHealthCheckInput{HealthCheckId: calc.Id,
		ResetElements: []types.ResettableElementName{types.ResettableElementNameChildHealthChecks}}); err != nil {
		t.Fatal(err)
	}
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.10", 5*time.Second)
}
