package route53_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/zone"
)

const (
	ownDomain   = "portico.internal"
	endpointATS = "a1b2c3-ats.iot.us-east-1.portico.internal"
	endpointIP  = "192.0.2.200"
)

// withLatencyAndOwnZone gives the DNS server a client table and Portico's
// own zone for the base domain (the endpoint hostname at endpointIP), as
// cmd/portico does.
func withLatencyAndOwnZone(t *testing.T) func(*dnsserver.Config) {
	return func(c *dnsserver.Config) {
		table, err := dnsserver.NewLatencyTable([]dnsserver.LatencyEntry{
			{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Region: "us-east-1"},
			{Prefix: netip.MustParsePrefix("10.2.0.0/16"), Region: "us-west-2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Latency = table
		hosted := c.Source
		c.Source = dnsserver.SourceFunc(func(ctx context.Context) ([]dnsserver.Zone, uint64, error) {
			zones, gen, err := hosted.Zones(ctx)
			a, _ := dns.NewRR(endpointATS + ". 60 IN A " + endpointIP)
			own := dnsserver.StaticZone(ownDomain, []string{"ns1." + ownDomain}, uint32(gen), a)
			return append([]dnsserver.Zone{own}, zones...), gen, err
		})
	}
}

// withOwnZone makes the endpoint hostname (A only) an alias target.
func withOwnZone(zones *zone.Service) {
	zones.Own = &zone.OwnZone{ID: zone.OwnZoneID(ownDomain), Name: ownDomain,
		Serves: func(_ context.Context, name, typ string) (bool, error) {
			return name == endpointATS+"." && typ == "A", nil
		}}
}

func latencySet(name, id string, region types.ResourceRecordSetRegion, hc *string, value string) *types.ResourceRecordSet {
	rs := rrset(name, types.RRTypeA, 60, value)
	rs.SetIdentifier, rs.Region, rs.HealthCheckId = aws.String(id), region, hc
	return rs
}

// ecsAnswer asks over network with an EDNS Client Subnet and returns the
// answer's addresses and the scope of the echoed option.
func (e *healthEnv) ecsAnswer(t *testing.T, network, name, subnet string) (string, int) {
	t.Helper()
	p := netip.MustParsePrefix(subnet)
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1,
		SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
	addr := e.dnsAddr
	if network == "tcp" {
		addr = e.dnsTCP
	}
	resp, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil || resp.Rcode != dns.RcodeSuccess {
		t.Fatalf("DNS %s %s from %s: %v %v", network, name, subnet, err, resp)
	}
	var out []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	scope := -1
	for _, o := range resp.IsEdns0().Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			scope = int(s.SourceScope)
		}
	}
	return strings.Join(out, ","), scope
}

func TestLatencyRoutingEndToEnd(t *testing.T) {
	ctx := context.Background()
	e := setupHealthZones(t, withOwnZone, withLatencyAndOwnZone(t))

	east, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer east.Close()
	go acceptAll(east)
	hcEast := e.tcpCheck(t, "east", east.Addr().String())

	z, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("yourcompany.com"), CallerReference: aws.String("latency-1")})
	if err != nil {
		t.Fatal(err)
	}
	zoneID := *z.HostedZone.Id
	if _, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: batch(
		chg(types.ChangeActionCreate, latencySet("iot.yourcompany.com", "east", types.ResourceRecordSetRegionUsEast1, aws.String(hcEast), "192.0.2.1")),
		chg(types.ChangeActionCreate, latencySet("iot.yourcompany.com", "west", types.ResourceRecordSetRegionUsWest2, nil, "192.0.2.2")),
		// A latency alias: eu-west-1 clients (none in the table) get the endpoint.
		chg(types.ChangeActionCreate, func() *types.ResourceRecordSet {
			rs := aliasSet("iot.yourcompany.com", zone.OwnZoneID(ownDomain), endpointATS, true)
			rs.SetIdentifier, rs.Region = aws.String("eu"), types.ResourceRecordSetRegionEuWest1
			return rs
		}()),
		// The zone apex is an alias to the IoT endpoint hostname.
		chg(types.ChangeActionCreate, aliasSet("yourcompany.com", "/hostedzone/"+zone.OwnZoneID(ownDomain), strings.ToUpper(endpointATS), true)),
		chg(types.ChangeActionCreate, aliasSet("lat.yourcompany.com", zoneID, "iot.yourcompany.com", true)),
	)}); err != nil {
		t.Fatal(err)
	}

	// The SDK reads back Region and the alias to Portico's zone.
	listed, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rs := range listed.ResourceRecordSets {
		line := aws.ToString(rs.Name) + " " + string(rs.Type) + " " + aws.ToString(rs.SetIdentifier) + " " + string(rs.Region)
		if a := rs.AliasTarget; a != nil {
			line += " alias=" + aws.ToString(a.HostedZoneId) + "/" + aws.ToString(a.DNSName)
		}
		if rs.HealthCheckId != nil {
			line += " hc"
		}
		got = append(got, line)
	}
	own := zone.OwnZoneID(ownDomain)
	want := []string{
		"yourcompany.com. A   alias=" + own + "/" + endpointATS + ".",
		"yourcompany.com. NS  ", "yourcompany.com. SOA  ",
		"iot.yourcompany.com. A east us-east-1 hc",
		"iot.yourcompany.com. A eu eu-west-1 alias=" + own + "/" + endpointATS + ".",
		"iot.yourcompany.com. A west us-west-2",
		"lat.yourcompany.com. A   alias=" + strings.TrimPrefix(zoneID, "/hostedzone/") + "/iot.yourcompany.com.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Portico's own zone is no hosted zone of the account.
	if _, err := e.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(own)}); err == nil {
		t.Error("GetHostedZone shows Portico's own zone")
	}
	zonesListed, err := e.client.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
	if err != nil || len(zonesListed.HostedZones) != 1 {
		t.Errorf("ListHostedZones: %v %+v", err, zonesListed)
	}

	waitSync(t, e)
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range []struct{ name, subnet, want string }{
			{"iot.yourcompany.com", "10.1.2.0/24", "192.0.2.1"},
			{"iot.yourcompany.com", "10.2.0.0/24", "192.0.2.2"},
			{"lat.yourcompany.com", "10.2.0.0/24", "192.0.2.2"},
			// No region: the table's first region with a healthy set.
			{"iot.yourcompany.com", "192.168.0.0/24", "192.0.2.1"},
			{"yourcompany.com", "10.1.2.0/24", endpointIP},
		} {
			if answer, _ := e.ecsAnswer(t, network, tc.name, tc.subnet); answer != tc.want {
				t.Errorf("%s %s from %s: %s, want %s", network, tc.name, tc.subnet, answer, tc.want)
			}
		}
	}

	// us-east-1 dies: its clients fall through to us-west-2.
	east.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		answer, _ := e.ecsAnswer(t, "udp", "iot.yourcompany.com", "10.1.2.0/24")
		if answer == "192.0.2.2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("us-east-1 clients still get %s after its check failed", answer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if answer, _ := e.ecsAnswer(t, "tcp", "lat.yourcompany.com", "10.1.2.0/24"); answer != "192.0.2.2" {
		t.Errorf("alias to the latency name from us-east-1: %s", answer)
	}

	// Refusals.
	for _, tc := range []struct {
		name, code, message string
		rs                  *types.ResourceRecordSet
	}{
		{"second set for a region", "InvalidChangeBatch",
			"[Tried to create resource record set [name='iot.yourcompany.com.', type='A', set-identifier='east-2'] but a latency record set for region us-east-1 with the same name and type already exists (set-identifier='east')]",
			latencySet("iot.yourcompany.com", "east-2", types.ResourceRecordSetRegionUsEast1, nil, "192.0.2.3")},
		{"weighted beside latency", "InvalidChangeBatch",
			"[RRSet with DNS name iot.yourcompany.com., type A, SetIdentifier w cannot be created as a non-weighted set exists with the same name and type.]",
			weightedSet("iot.yourcompany.com", "w", 1, nil, "192.0.2.3")},
		{"latency without set identifier", "InvalidInput",
			"Invalid request: Missing field 'SetIdentifier' in Change with [Action=CREATE, Name=x.yourcompany.com., Type=A, SetIdentifier=null]",
			func() *types.ResourceRecordSet {
				rs := rrset("x.yourcompany.com", types.RRTypeA, 60, "192.0.2.3")
				rs.Region = types.ResourceRecordSetRegionUsEast1
				return rs
			}()},
		{"alias to an endpoint name Portico does not serve", "InvalidChangeBatch",
			"[Tried to create an alias that targets nope-ats.iot.us-east-1.portico.internal., type A in zone " + own + ", but that target was not found: Portico serves no A record for that endpoint hostname]",
			aliasSet("x.yourcompany.com", own, "nope-ats.iot.us-east-1.portico.internal", false)},
		{"endpoint hostname with the wrong zone", "InvalidChangeBatch", "",
			aliasSet("x.yourcompany.com", "Z2FDTNDATAQYW2", endpointATS, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: batch(chg(types.ChangeActionCreate, tc.rs))})
			apiError(t, err, tc.code, 400, tc.message)
			if tc.name == "endpoint hostname with the wrong zone" && err != nil && !strings.Contains(err.Error(), "Portico's endpoint hostnames are in hosted zone "+own) {
				t.Errorf("the error does not name Portico's zone: %v", err)
			}
		})
	}
}

// waitSync waits until the DNS server serves the store's latest generation.
func waitSync(t *testing.T, e *healthEnv) {
	t.Helper()
	data, err := e.zones.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.dns.Served() < data.Generation {
		if time.Now().After(deadline) {
			t.Fatalf("DNS server at generation %d, store at %d", e.dns.Served(), data.Generation)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLatencyDigThroughAPI: dig +subnet against records made through the SDK.
func TestLatencyDigThroughAPI(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dig is not installed (bind9-dnsutils) and CI=true")
		}
		t.Skip("dig is not installed")
	}
	ctx := context.Background()
	e := setupHealthZones(t, withOwnZone, withLatencyAndOwnZone(t))
	z, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("yourcompany.com"), CallerReference: aws.String("latency-dig")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id, ChangeBatch: batch(
		chg(types.ChangeActionCreate, latencySet("iot.yourcompany.com", "east", types.ResourceRecordSetRegionUsEast1, nil, "192.0.2.1")),
		chg(types.ChangeActionCreate, latencySet("iot.yourcompany.com", "west", types.ResourceRecordSetRegionUsWest2, nil, "192.0.2.2")),
		chg(types.ChangeActionCreate, aliasSet("yourcompany.com", zone.OwnZoneID(ownDomain), endpointATS, true)),
	)}); err != nil {
		t.Fatal(err)
	}
	waitSync(t, e)
	_, udpPort, _ := net.SplitHostPort(e.dnsAddr)
	_, tcpPort, _ := net.SplitHostPort(e.dnsTCP)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-p", udpPort, "+subnet=10.1.2.0/24", "iot.yourcompany.com", "A"}, []string{"CLIENT-SUBNET: 10.1.2.0/24/16", "iot.yourcompany.com. 60 IN A 192.0.2.1"}},
		{[]string{"-p", tcpPort, "+tcp", "+subnet=10.2.9.0/24", "iot.yourcompany.com", "A"}, []string{"CLIENT-SUBNET: 10.2.9.0/24/16", "iot.yourcompany.com. 60 IN A 192.0.2.2"}},
		{[]string{"-p", tcpPort, "+tcp", "yourcompany.com", "A"}, []string{"status: NOERROR", "yourcompany.com. 60 IN A " + endpointIP}},
		{[]string{"-p", udpPort, "yourcompany.com", "A"}, []string{"yourcompany.com. 60 IN A " + endpointIP}},
	} {
		out, err := exec.Command(dig, append([]string{"@127.0.0.1", "+norecurse", "+time=5", "+tries=1"}, tc.args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", tc.args, err, out)
		}
		text := strings.Join(strings.Fields(string(out)), " ")
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("dig %v lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
}
