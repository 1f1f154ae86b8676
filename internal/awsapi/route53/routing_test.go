package route53_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/dnsserver"
)

// seededRand makes the DNS server's weighted choices reproducible.
func seededRand(seed uint64) func(*dnsserver.Config) {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed+1))
	return func(c *dnsserver.Config) {
		c.Rand = func(n uint32) uint32 {
			mu.Lock()
			defer mu.Unlock()
			return r.Uint32N(n)
		}
	}
}

// query asks the Portico DNS server over network ("udp" or "tcp") and
// returns the sorted A addresses of the answer.
func (e *healthEnv) query(t *testing.T, network, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	addr := e.dnsAddr
	if network == "tcp" {
		addr = e.dnsTCP
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("DNS %s %s: %v", network, name, err)
	}
	if resp.Rcode != dns.RcodeSuccess || !resp.Authoritative {
		t.Fatalf("DNS %s %s: %v", network, name, resp)
	}
	var out []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			if a.Hdr.Name != dns.Fqdn(name) {
				t.Errorf("answer owner %s for %s", a.Hdr.Name, name)
			}
			out = append(out, a.A.String())
		}
	}
	sort.Strings(out)
	return out
}

// tally asks n times, alternating UDP and TCP, and counts the answers.
func (e *healthEnv) tally(t *testing.T, name string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := range n {
		counts[strings.Join(e.query(t, []string{"udp", "tcp"}[i%2], name), ",")]++
	}
	return counts
}

// near reports whether observed is within 5 standard deviations of a
// binomial expectation n·p (a wrong distribution fails, chance does not).
func near(observed, n int, p float64) bool {
	return math.Abs(float64(observed)-float64(n)*p) <= 5*math.Sqrt(float64(n)*p*(1-p))+1
}

// tcpCheck creates a TCP health check of addr probed every second.
func (e *healthEnv) tcpCheck(t *testing.T, ref, addr string) string {
	t.Helper()
	host, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	out, err := e.client.CreateHealthCheck(context.Background(), &route53.CreateHealthCheckInput{CallerReference: aws.String(ref),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, IPAddress: aws.String(host), Port: aws.Int32(int32(port)),
			RequestInterval: aws.Int32(1), FailureThreshold: aws.Int32(1)}})
	if err != nil {
		t.Fatal(err)
	}
	return *out.HealthCheck.Id
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func weightedSet(name, id string, weight int64, hc *string, value string) *types.ResourceRecordSet {
	rs := rrset(name, types.RRTypeA, 60, value)
	rs.SetIdentifier, rs.Weight, rs.HealthCheckId = aws.String(id), aws.Int64(weight), hc
	return rs
}

func aliasSet(name, zoneID, target string, evaluate bool) *types.ResourceRecordSet {
	return &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA,
		AliasTarget: &types.AliasTarget{HostedZoneId: aws.String(zoneID), DNSName: aws.String(target), EvaluateTargetHealth: evaluate}}
}

func TestRoutingPoliciesEndToEnd(t *testing.T) {
	ctx := context.Background()
	e := setupHealth(t, seededRand(7))

	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go acceptAll(up)
	hcUp := e.tcpCheck(t, "up", up.Addr().String())
	hcDown := e.tcpCheck(t, "down", closedPort(t))

	z, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("yourcompany.com"), CallerReference: aws.String("routing-1")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("fleet.example"), CallerReference: aws.String("routing-2")})
	if err != nil {
		t.Fatal(err)
	}
	zoneID := *z.HostedZone.Id // with the /hostedzone/ prefix, as users copy it
	mv := func(id, value string, hc *string) *types.ResourceRecordSet {
		rs := rrset("mv.yourcompany.com", types.RRTypeA, 60, value)
		rs.SetIdentifier, rs.MultiValueAnswer, rs.HealthCheckId = aws.String(id), aws.Bool(true), hc
		return rs
	}
	primary := aliasSet("fo.yourcompany.com", zoneID, "eu.yourcompany.com", true)
	primary.SetIdentifier, primary.Failover = aws.String("primary"), types.ResourceRecordSetFailoverPrimary
	secondary := rrset("fo.yourcompany.com", types.RRTypeA, 60, "192.0.2.99")
	secondary.SetIdentifier, secondary.Failover = aws.String("secondary"), types.ResourceRecordSetFailoverSecondary
	changed, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: batch(
		chg(types.ChangeActionCreate, weightedSet("iot.yourcompany.com", "us-east-1", 3, aws.String(hcUp), "192.0.2.10")),
		chg(types.ChangeActionCreate, weightedSet("iot.yourcompany.com", "us-west-2", 1, aws.String(hcUp), "192.0.2.20")),
		chg(types.ChangeActionCreate, weightedSet("iot.yourcompany.com", "canary", 0, nil, "192.0.2.30")),
		chg(types.ChangeActionCreate, weightedSet("eu.yourcompany.com", "eu-west-1", 1, aws.String(hcDown), "192.0.2.40")),
		chg(types.ChangeActionCreate, mv("a", "192.0.2.51", nil)),
		chg(types.ChangeActionCreate, mv("b", "192.0.2.52", aws.String(hcUp))),
		chg(types.ChangeActionCreate, mv("c", "192.0.2.53", aws.String(hcDown))),
		// The apex is an alias to the weighted group.
		chg(types.ChangeActionCreate, aliasSet("yourcompany.com", zoneID, "iot.yourcompany.com", true)),
		chg(types.ChangeActionCreate, primary),
		chg(types.ChangeActionCreate, secondary),
	)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: other.HostedZone.Id, ChangeBatch: batch(
		chg(types.ChangeActionCreate, aliasSet("devices.fleet.example", zoneID, "iot.yourcompany.com.", false)),
	)}); err != nil {
		t.Fatalf("alias into another Portico zone: %v", err)
	}

	// The SDK reads back each policy's members.
	listed, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rs := range listed.ResourceRecordSets {
		line := aws.ToString(rs.Name) + " " + string(rs.Type)
		if rs.SetIdentifier != nil {
			line += " id=" + *rs.SetIdentifier
		}
		if rs.Weight != nil {
			line += fmt.Sprintf(" weight=%d", *rs.Weight)
		}
		if rs.MultiValueAnswer != nil {
			line += fmt.Sprintf(" multivalue=%v", *rs.MultiValueAnswer)
		}
		if rs.Failover != "" {
			line += " " + string(rs.Failover)
		}
		if a := rs.AliasTarget; a != nil {
			line += fmt.Sprintf(" alias=%v/%s/%v", aws.ToString(a.HostedZoneId) == strings.TrimPrefix(zoneID, "/hostedzone/"), aws.ToString(a.DNSName), a.EvaluateTargetHealth)
			if rs.TTL != nil || rs.ResourceRecords != nil {
				t.Errorf("alias %s listed with TTL or records", line)
			}
		}
		got = append(got, line)
	}
	want := []string{
		"yourcompany.com. A alias=true/iot.yourcompany.com./true",
		"yourcompany.com. NS",
		"yourcompany.com. SOA",
		"eu.yourcompany.com. A id=eu-west-1 weight=1",
		"fo.yourcompany.com. A id=primary PRIMARY alias=true/eu.yourcompany.com./true",
		"fo.yourcompany.com. A id=secondary SECONDARY",
		"iot.yourcompany.com. A id=canary weight=0",
		"iot.yourcompany.com. A id=us-east-1 weight=3",
		"iot.yourcompany.com. A id=us-west-2 weight=1",
		"mv.yourcompany.com. A id=a multivalue=true",
		"mv.yourcompany.com. A id=b multivalue=true",
		"mv.yourcompany.com. A id=c multivalue=true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Wait for the checker to see the down target, then for GetChange.
	deadline := time.Now().Add(5 * time.Second)
	for e.checker.Healthy(hcDown) {
		if time.Now().After(deadline) {
			t.Fatal("the closed port never became unhealthy")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.waitAnswer(t, "mv.yourcompany.com.", "192.0.2.51,192.0.2.52", 3*time.Second)
	status, err := e.client.GetChange(ctx, &route53.GetChangeInput{Id: changed.ChangeInfo.Id})
	if err != nil || status.ChangeInfo.Status != types.ChangeStatusInsync {
		t.Fatalf("GetChange %v %v", status, err)
	}

	// Weighted 3:1:0 over UDP and TCP.
	const n = 400
	counts := e.tally(t, "iot.yourcompany.com", n)
	if counts["192.0.2.30"] != 0 || !near(counts["192.0.2.10"], n, 0.75) || !near(counts["192.0.2.20"], n, 0.25) || len(counts) != 2 {
		t.Errorf("weights 3:1:0 answered %v of %d", counts, n)
	}
	// The apex alias and the alias in the other zone answer the weighted group.
	for _, name := range []string{"yourcompany.com", "devices.fleet.example"} {
		for addr := range e.tally(t, name, 20) {
			if addr != "192.0.2.10" && addr != "192.0.2.20" {
				t.Errorf("%s answered %q", name, addr)
			}
		}
	}
	// Failover: the primary alias targets an unhealthy group, so the secondary answers.
	if got := e.query(t, "tcp", "fo.yourcompany.com"); strings.Join(got, ",") != "192.0.2.99" {
		t.Errorf("failover alias to an unhealthy target: %v", got)
	}
	// Multivalue without the unhealthy member, over TCP too.
	if got := e.query(t, "tcp", "mv.yourcompany.com"); strings.Join(got, ",") != "192.0.2.51,192.0.2.52" {
		t.Errorf("multivalue: %v", got)
	}
	// The last resort: every member of eu unhealthy, it still answers.
	if got := e.query(t, "udp", "eu.yourcompany.com"); strings.Join(got, ",") != "192.0.2.40" {
		t.Errorf("weighted, all unhealthy: %v", got)
	}

	// Shift the fleet west by weights alone.
	shift, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: batch(
		chg(types.ChangeActionUpsert, weightedSet("iot.yourcompany.com", "us-east-1", 0, aws.String(hcUp), "192.0.2.10")),
		chg(types.ChangeActionUpsert, weightedSet("iot.yourcompany.com", "us-west-2", 255, aws.String(hcUp), "192.0.2.20")),
	)})
	if err != nil {
		t.Fatal(err)
	}
	e.waitAnswer(t, "iot.yourcompany.com.", "192.0.2.20", 3*time.Second)
	if counts := e.tally(t, "yourcompany.com", 40); counts["192.0.2.20"] != 40 {
		t.Errorf("after the shift the apex answered %v", counts)
	}
	if st, err := e.client.GetChange(ctx, &route53.GetChangeInput{Id: shift.ChangeInfo.Id}); err != nil || st.ChangeInfo.Status != types.ChangeStatusInsync {
		t.Errorf("GetChange after the shift %v %v", st, err)
	}

	// Route 53's refusals, through the SDK.
	both := weightedSet("x.yourcompany.com", "x", 1, nil, "192.0.2.1")
	both.Failover = types.ResourceRecordSetFailoverPrimary
	withTTL := aliasSet("x.yourcompany.com", zoneID, "iot.yourcompany.com", false)
	withTTL.TTL = aws.Int64(60)
	noID := weightedSet("x.yourcompany.com", "", 1, nil, "192.0.2.1")
	noID.SetIdentifier = nil
	for _, tc := range []struct {
		name          string
		rs            *types.ResourceRecordSet
		code, message string
	}{
		{"weight and failover", both, "InvalidInput",
			"Invalid request: Expected exactly one of [Weight, Region, Failover, GeoLocation, MultiValueAnswer, GeoProximityLocation, or CidrRoutingConfig], but found more than one in Change with [Action=CREATE, Name=x.yourcompany.com., Type=A, SetIdentifier=x]"},
		{"TTL with alias", withTTL, "InvalidInput",
			"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in Change with [Action=CREATE, Name=x.yourcompany.com., Type=A, SetIdentifier=null]"},
		{"weight without SetIdentifier", noID, "InvalidInput",
			"Invalid request: Missing field 'SetIdentifier' in Change with [Action=CREATE, Name=x.yourcompany.com., Type=A, SetIdentifier=null]"},
		{"simple beside weighted", rrset("iot.yourcompany.com", types.RRTypeA, 60, "192.0.2.1"), "InvalidChangeBatch",
			"[RRSet with DNS name iot.yourcompany.com., type A cannot be created as other RRSets exist with the same name and type.]"},
		{"alias to an ELB", aliasSet("x.yourcompany.com", "Z35SXDOTRQ7X7K", "my-lb-1234.us-east-1.elb.amazonaws.com", true), "InvalidChangeBatch", ""},
	} {
		_, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id,
			ChangeBatch: batch(chg(types.ChangeActionCreate, tc.rs))})
		t.Run(tc.name, func(t *testing.T) { apiError(t, err, tc.code, 400, tc.message) })
		if tc.message == "" && (err == nil || !strings.Contains(err.Error(), "an Elastic Load Balancing load balancer")) {
			t.Errorf("%s: %v does not name the unsupported target", tc.name, err)
		}
	}
}
