package route53_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/aws/smithy-go"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	r53 "github.com/portico-iot/portico/internal/awsapi/route53"
	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
)

var nameServers = []string{"ns1.portico.example", "ns2.portico.example"}

type env struct {
	api    *apitest.Server
	client *route53.Client
	svc    *zone.Service
	st     *store.Store
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	svc, err := zone.NewService(ctx, st, nameServers)
	if err != nil {
		t.Fatal(err)
	}
	api := apitest.Start(t, func(s *awsapi.Server) { r53.Register(s, svc, apitest.Logger()) })
	return &env{api: api, client: route53.NewFromConfig(api.Config), svc: svc, st: st}
}

func (e *env) createZone(t *testing.T, name string) *route53.CreateHostedZoneOutput {
	t.Helper()
	out, err := e.client.CreateHostedZone(context.Background(), &route53.CreateHostedZoneInput{
		Name: aws.String(name), CallerReference: aws.String("ref-" + name + time.Now().Format(time.RFC3339Nano))})
	if err != nil {
		t.Fatalf("CreateHostedZone(%s): %v", name, err)
	}
	return out
}

func rrset(name string, typ types.RRType, ttl int64, values ...string) *types.ResourceRecordSet {
	rs := &types.ResourceRecordSet{Name: aws.String(name), Type: typ, TTL: aws.Int64(ttl)}
	for _, v := range values {
		rs.ResourceRecords = append(rs.ResourceRecords, types.ResourceRecord{Value: aws.String(v)})
	}
	return rs
}

func batch(changes ...types.Change) *types.ChangeBatch { return &types.ChangeBatch{Changes: changes} }

func chg(action types.ChangeAction, rs *types.ResourceRecordSet) types.Change {
	return types.Change{Action: action, ResourceRecordSet: rs}
}

// apiError checks that err is the AWS error code with HTTP status and, when
// message is set, exactly that message.
func apiError(t *testing.T, err error, code string, status int, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Errorf("code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if message != "" && ae.ErrorMessage() != message {
		t.Errorf("message = %q\nwant      %q", ae.ErrorMessage(), message)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Errorf("HTTP status = %d, want %d", re.HTTPStatusCode(), status)
	}
	if errors.As(err, &re) && re.ServiceRequestID() == "" {
		t.Error("no request ID in the error")
	}
}

func TestHostedZoneLifecycle(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	out, err := e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{
		Name: aws.String("YourCompany.com"), CallerReference: aws.String("ref-1"),
		HostedZoneConfig: &types.HostedZoneConfig{Comment: aws.String("devices")},
	})
	if err != nil {
		t.Fatal(err)
	}
	hz := out.HostedZone
	if !regexp.MustCompile(`^/hostedzone/Z[A-Z0-9]{13,21}$`).MatchString(aws.ToString(hz.Id)) {
		t.Errorf("Id = %s", aws.ToString(hz.Id))
	}
	id := strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/")
	if aws.ToString(hz.Name) != "yourcompany.com." || aws.ToString(hz.CallerReference) != "ref-1" ||
		aws.ToString(hz.Config.Comment) != "devices" || hz.Config.PrivateZone || aws.ToInt64(hz.ResourceRecordSetCount) != 2 {
		t.Errorf("HostedZone = %+v / %+v", hz, hz.Config)
	}
	if want := e.api.URL + "/2013-04-01/hostedzone/" + id; aws.ToString(out.Location) != want {
		t.Errorf("Location = %s, want %s", aws.ToString(out.Location), want)
	}
	if strings.Join(out.DelegationSet.NameServers, ",") != "ns1.portico.example,ns2.portico.example" {
		t.Errorf("DelegationSet = %v", out.DelegationSet.NameServers)
	}
	if !regexp.MustCompile(`^/change/C[A-Z0-9]+$`).MatchString(aws.ToString(out.ChangeInfo.Id)) ||
		out.ChangeInfo.Status != types.ChangeStatusInsync || out.ChangeInfo.SubmittedAt == nil {
		t.Errorf("ChangeInfo = %+v", out.ChangeInfo)
	}

	for _, ref := range []string{id, "/hostedzone/" + id} {
		got, err := e.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(ref)})
		if err != nil {
			t.Fatalf("GetHostedZone(%s): %v", ref, err)
		}
		if aws.ToString(got.HostedZone.Id) != "/hostedzone/"+id || len(got.DelegationSet.NameServers) != 2 {
			t.Errorf("GetHostedZone = %+v", got)
		}
	}

	_, err = e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("other.com"), CallerReference: aws.String("ref-1")})
	apiError(t, err, "HostedZoneAlreadyExists", 409, "A hosted zone has already been created with the specified caller reference.")
	var exists *types.HostedZoneAlreadyExists
	if !errors.As(err, &exists) {
		t.Errorf("error is %T, want *types.HostedZoneAlreadyExists", err)
	}
	_, err = e.client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("com"), CallerReference: aws.String("ref-tld")})
	apiError(t, err, "InvalidDomainName", 400, "")

	for _, n := range []string{"b.example.com", "example.net", "a.example.com"} {
		e.createZone(t, n)
	}
	var names []string
	p := route53.NewListHostedZonesPaginator(e.client, &route53.ListHostedZonesInput{MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, z := range page.HostedZones {
			names = append(names, aws.ToString(z.Name))
		}
	}
	if got := strings.Join(names, " "); got != "a.example.com. b.example.com. yourcompany.com. example.net." || pages != 2 {
		t.Errorf("ListHostedZones in %d pages: %s", pages, got)
	}
	byName, err := e.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String("b.example.com"), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(byName.HostedZones) != 1 || aws.ToString(byName.HostedZones[0].Name) != "b.example.com." || !byName.IsTruncated ||
		aws.ToString(byName.NextDNSName) != "yourcompany.com." || aws.ToString(byName.NextHostedZoneId) != id {
		t.Errorf("ListHostedZonesByName = %+v", byName)
	}
	count, err := e.client.GetHostedZoneCount(ctx, &route53.GetHostedZoneCountInput{})
	if err != nil || aws.ToInt64(count.HostedZoneCount) != 4 {
		t.Errorf("GetHostedZoneCount = %v, %v", count, err)
	}
	upd, err := e.client.UpdateHostedZoneComment(ctx, &route53.UpdateHostedZoneCommentInput{Id: aws.String(id), Comment: aws.String("renamed")})
	if err != nil || aws.ToString(upd.HostedZone.Config.Comment) != "renamed" {
		t.Errorf("UpdateHostedZoneComment = %v, %v", upd, err)
	}

	del, err := e.client.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(aws.ToString(del.ChangeInfo.Id), "/change/C") {
		t.Errorf("DeleteHostedZone ChangeInfo = %+v", del.ChangeInfo)
	}
	_, err = e.client.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(id)})
	apiError(t, err, "NoSuchHostedZone", 404, "No hosted zone found with ID: "+id)
	var nsz *types.NoSuchHostedZone
	if !errors.As(err, &nsz) {
		t.Errorf("error is %T, want *types.NoSuchHostedZone", err)
	}
	_, err = e.client.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: aws.String(id)})
	apiError(t, err, "NoSuchHostedZone", 404, "")
	_, err = e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String("ZNOSUCHZONE1")})
	apiError(t, err, "NoSuchHostedZone", 404, "No hosted zone found with ID: ZNOSUCHZONE1")
	_, err = e.client.GetChange(ctx, &route53.GetChangeInput{Id: aws.String("CNOSUCHCHANGE")})
	apiError(t, err, "NoSuchChange", 404, "")
}

// dnsSource adapts the zone service to the DNS server the way the wiring
// does: the hosted zones plus Portico's own base-domain zone.
func dnsSource(svc *zone.Service, system dnsserver.Zone) dnsserver.Source {
	return dnsserver.SourceFunc(func(ctx context.Context) ([]dnsserver.Zone, uint64, error) {
		data, err := svc.Snapshot(ctx)
		if err != nil {
			return nil, 0, err
		}
		zones := []dnsserver.Zone{system}
		for _, z := range data.Zones {
			rrs, err := z.RRs()
			if err != nil {
				return nil, 0, err
			}
			zones = append(zones, dnsserver.Zone{Origin: z.Origin, Records: rrs})
		}
		return zones, data.Generation, nil
	})
}

// The walking skeleton: a customer zone whose iot name is a CNAME to an
// endpoint host name in Portico's base domain. GetChange says PENDING until
// the DNS server serves the change, then INSYNC, and a DNS client then gets
// the CNAME and the endpoint's address in one answer.
func TestCNAMEBatchPendingUntilServed(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	a, _ := dns.NewRR("a1b2-ats.iot.us-east-1.portico.internal. 60 IN A 192.0.2.10")
	system := dnsserver.StaticZone("portico.internal.", nameServers, 1, a)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dnsserver.New(dnsserver.Config{PacketConn: pc, Listener: ln, Source: dnsSource(e.svc, system)})
	e.svc.Served = srv.Served
	// The store's change feed reaches the DNS server through a gate the test
	// opens, so that the PENDING window is observable.
	feed, unsubscribe := e.st.Subscribe()
	defer unsubscribe()
	gate := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, gate) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dns Run: %v", err)
		}
	}()

	zoneOut := e.createZone(t, "yourcompany.com")
	zoneID := aws.ToString(zoneOut.HostedZone.Id)
	// Let the DNS server catch up with the zone creation.
	<-feed
	gate <- struct{}{}
	waitFor(t, func() bool { return srv.Served() == e.st.Generation() })

	out, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &types.ChangeBatch{Comment: aws.String("point devices at portico"), Changes: []types.Change{
			chg(types.ChangeActionCreate, rrset("iot.yourcompany.com", types.RRTypeCname, 300, "a1b2-ats.iot.us-east-1.portico.internal")),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.ChangeInfo.Status != types.ChangeStatusPending || aws.ToString(out.ChangeInfo.Comment) != "point devices at portico" {
		t.Errorf("ChangeInfo = %+v", out.ChangeInfo)
	}
	got, err := e.client.GetChange(ctx, &route53.GetChangeInput{Id: out.ChangeInfo.Id})
	if err != nil {
		t.Fatal(err)
	}
	if got.ChangeInfo.Status != types.ChangeStatusPending {
		t.Errorf("GetChange before the DNS server reloaded: %s", got.ChangeInfo.Status)
	}
	udpAddr := pc.LocalAddr().String()
	if resp := query(t, "udp", udpAddr, "iot.yourcompany.com.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("DNS before the reload: %s", dns.RcodeToString[resp.Rcode])
	}

	// Open the gate: the DNS server reloads, and the SDK's own waiter sees INSYNC.
	<-feed
	gate <- struct{}{}
	waiter := route53.NewResourceRecordSetsChangedWaiter(e.client, func(o *route53.ResourceRecordSetsChangedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 50*time.Millisecond
	})
	if err := waiter.Wait(ctx, &route53.GetChangeInput{Id: out.ChangeInfo.Id}, 10*time.Second); err != nil {
		t.Fatalf("ResourceRecordSetsChanged waiter: %v", err)
	}
	for _, network := range []string{"udp", "tcp"} {
		addr := udpAddr
		if network == "tcp" {
			addr = ln.Addr().String()
		}
		resp := query(t, network, addr, "iot.yourcompany.com.", dns.TypeA)
		var lines []string
		for _, rr := range resp.Answer {
			lines = append(lines, rr.String())
		}
		want := "iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.\n" +
			"a1b2-ats.iot.us-east-1.portico.internal.\t60\tIN\tA\t192.0.2.10"
		if strings.Join(lines, "\n") != want || !resp.Authoritative {
			t.Errorf("%s answer (AA=%v):\n%s\nwant:\n%s", network, resp.Authoritative, strings.Join(lines, "\n"), want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("dns %s %s: %v", network, name, err)
	}
	return resp
}

func TestListResourceRecordSets(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	zoneID := aws.ToString(e.createZone(t, "yourcompany.com").HostedZone.Id)
	_, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), ChangeBatch: batch(
		chg(types.ChangeActionCreate, rrset("iot.yourcompany.com", types.RRTypeCname, 300, "a1b2-ats.iot.us-east-1.portico.internal")),
		chg(types.ChangeActionCreate, rrset("*.yourcompany.com", types.RRTypeTxt, 60, `"wild"`)),
		chg(types.ChangeActionCreate, rrset("a-b.yourcompany.com", types.RRTypeA, 60, "192.0.2.1", "192.0.2.2")),
		chg(types.ChangeActionUpsert, rrset("Mail.YourCompany.com.", types.RRTypeMx, 300, "10 mx.yourcompany.com")),
		chg(types.ChangeActionCreate, rrset("mail.yourcompany.com", types.RRTypeTxt, 300, `"v=spf1 -all"`)),
	)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"yourcompany.com. NS 172800 ns1.portico.example.,ns2.portico.example.",
		"yourcompany.com. SOA 900 ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400",
		`\052.yourcompany.com. TXT 60 "wild"`,
		"a-b.yourcompany.com. A 60 192.0.2.1,192.0.2.2",
		"iot.yourcompany.com. CNAME 300 a1b2-ats.iot.us-east-1.portico.internal",
		"mail.yourcompany.com. MX 300 10 mx.yourcompany.com",
		`mail.yourcompany.com. TXT 300 "v=spf1 -all"`,
	}
	describe := func(sets []types.ResourceRecordSet) []string {
		var out []string
		for _, rs := range sets {
			var values []string
			for _, rr := range rs.ResourceRecords {
				values = append(values, aws.ToString(rr.Value))
			}
			out = append(out, strings.Join([]string{aws.ToString(rs.Name), string(rs.Type), itoa(aws.ToInt64(rs.TTL)), strings.Join(values, ",")}, " "))
		}
		return out
	}
	all, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(describe(all.ResourceRecordSets), "\n"); got != strings.Join(want, "\n") || all.IsTruncated ||
		aws.ToInt32(all.MaxItems) != 300 {
		t.Errorf("ListResourceRecordSets (truncated=%v, max=%d):\n%s\nwant:\n%s", all.IsTruncated, aws.ToInt32(all.MaxItems), got, strings.Join(want, "\n"))
	}
	// The SDK's paginator, two sets a page.
	var walked []string
	p := route53.NewListResourceRecordSetsPaginator(e.client, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.ResourceRecordSets) > 2 {
			t.Errorf("page of %d", len(page.ResourceRecordSets))
		}
		if page.IsTruncated && (page.NextRecordName == nil || page.NextRecordType == "") {
			t.Errorf("truncated page without a next record: %+v", page)
		}
		walked = append(walked, describe(page.ResourceRecordSets)...)
	}
	if strings.Join(walked, "\n") != strings.Join(want, "\n") {
		t.Errorf("paginated:\n%s", strings.Join(walked, "\n"))
	}
	page, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		StartRecordName: aws.String("mail.yourcompany.com"), StartRecordType: types.RRTypeTxt})
	if err != nil || len(page.ResourceRecordSets) != 1 || page.ResourceRecordSets[0].Type != types.RRTypeTxt {
		t.Errorf("start at mail TXT: %+v, %v", page, err)
	}
	_, err = e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), StartRecordType: types.RRTypeA})
	apiError(t, err, "InvalidInput", 400, "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Each InvalidChangeBatch case through the real SDK: code, status, message.
func TestInvalidChangeBatch(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	zoneID := aws.ToString(e.createZone(t, "yourcompany.com").HostedZone.Id)
	_, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), ChangeBatch: batch(
		chg(types.ChangeActionCreate, rrset("iot.yourcompany.com", types.RRTypeCname, 300, "a1b2-ats.iot.us-east-1.portico.internal")),
		chg(types.ChangeActionCreate, rrset("www.yourcompany.com", types.RRTypeA, 300, "192.0.2.1")),
	)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		changes []types.Change
		code    string
		message string
	}{
		{"already exists", []types.Change{chg(types.ChangeActionCreate, rrset("www.yourcompany.com", types.RRTypeA, 300, "192.0.2.9"))},
			"InvalidChangeBatch", "[Tried to create resource record set [name='www.yourcompany.com.', type='A'] but it already exists]"},
		{"not found", []types.Change{chg(types.ChangeActionDelete, rrset("x.yourcompany.com", types.RRTypeA, 300, "192.0.2.9"))},
			"InvalidChangeBatch", "[Tried to delete resource record set [name='x.yourcompany.com.', type='A'] but it was not found]"},
		{"values differ", []types.Change{chg(types.ChangeActionDelete, rrset("www.yourcompany.com", types.RRTypeA, 300, "192.0.2.2"))},
			"InvalidChangeBatch", "[Tried to delete resource record set [name='www.yourcompany.com.', type='A'] but the values provided do not match the current values]"},
		{"cname at apex", []types.Change{chg(types.ChangeActionCreate, rrset("yourcompany.com", types.RRTypeCname, 300, "x.example.net"))},
			"InvalidChangeBatch", "[RRSet of type CNAME with DNS name yourcompany.com. is not permitted at apex in zone yourcompany.com.]"},
		{"cname beside data", []types.Change{chg(types.ChangeActionCreate, rrset("www.yourcompany.com", types.RRTypeCname, 300, "x.example.net"))},
			"InvalidChangeBatch", "[RRSet of type CNAME with DNS name www.yourcompany.com. is not permitted as it conflicts with other records with the same DNS name in zone yourcompany.com.]"},
		{"data beside cname", []types.Change{chg(types.ChangeActionCreate, rrset("iot.yourcompany.com", types.RRTypeA, 300, "192.0.2.1"))},
			"InvalidChangeBatch", "[RRSet of type A with DNS name iot.yourcompany.com. is not permitted because a conflicting RRSet of type  CNAME with the same DNS name already exists in zone yourcompany.com.]"},
		{"outside zone", []types.Change{chg(types.ChangeActionCreate, rrset("iot.other.com", types.RRTypeA, 300, "192.0.2.1"))},
			"InvalidChangeBatch", "[RRSet with DNS name iot.other.com. is not permitted in zone yourcompany.com.]"},
		{"bad ipv4", []types.Change{chg(types.ChangeActionCreate, rrset("a.yourcompany.com", types.RRTypeA, 300, "300.1.1.1"))},
			"InvalidChangeBatch", "[Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '300.1.1.1'']"},
		{"unquoted txt", []types.Change{chg(types.ChangeActionCreate, rrset("t.yourcompany.com", types.RRTypeTxt, 300, "v=spf1"))},
			"InvalidChangeBatch", "[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'v=spf1'']"},
		{"apex ns", []types.Change{chg(types.ChangeActionDelete, rrset("yourcompany.com", types.RRTypeNs, 172800, "ns1.portico.example.", "ns2.portico.example."))},
			"InvalidChangeBatch", "[A HostedZone must contain at least one NS record for the zone itself.]"},
		{"two problems joined", []types.Change{
			chg(types.ChangeActionCreate, rrset("www.yourcompany.com", types.RRTypeA, 300, "192.0.2.9")),
			chg(types.ChangeActionCreate, rrset("yourcompany.com", types.RRTypeCname, 300, "x.example.net")),
		}, "InvalidChangeBatch", "[Tried to create resource record set [name='www.yourcompany.com.', type='A'] but it already exists, " +
			"RRSet of type CNAME with DNS name yourcompany.com. is not permitted at apex in zone yourcompany.com.]"},
		{"missing ttl", []types.Change{chg(types.ChangeActionCreate, &types.ResourceRecordSet{Name: aws.String("app.yourcompany.com"), Type: types.RRTypeA,
			ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.1")}}})},
			"InvalidInput", "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=CREATE, Name=app.yourcompany.com., Type=A, SetIdentifier=null]"},
		{"alias to a name without that type", []types.Change{chg(types.ChangeActionCreate, &types.ResourceRecordSet{Name: aws.String("app.yourcompany.com"), Type: types.RRTypeA,
			AliasTarget: &types.AliasTarget{DNSName: aws.String("iot.yourcompany.com"), HostedZoneId: aws.String(zoneID), EvaluateTargetHealth: false}})},
			"InvalidChangeBatch", "[Tried to create an alias that targets iot.yourcompany.com., type A in zone " + strings.TrimPrefix(zoneID, "/hostedzone/") + ", but that target was not found]"},
		{"unknown latency region", []types.Change{chg(types.ChangeActionCreate, &types.ResourceRecordSet{Name: aws.String("app.yourcompany.com"), Type: types.RRTypeA,
			SetIdentifier: aws.String("mars"), Region: types.ResourceRecordSetRegion("mars-north-1"), TTL: aws.Int64(60), ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.1")}}})},
			"InvalidInput", "1 validation error detected: Value 'mars-north-1' at 'changeBatch.changes.1.member.resourceRecordSet.region' failed to satisfy constraint: Member must satisfy enum value set: [" + strings.Join(zone.LatencyRegions, ", ") + "]"},
		{"geolocation refused", []types.Change{chg(types.ChangeActionCreate, &types.ResourceRecordSet{Name: aws.String("app.yourcompany.com"), Type: types.RRTypeA,
			SetIdentifier: aws.String("de"), GeoLocation: &types.GeoLocation{CountryCode: aws.String("DE")}, TTL: aws.Int64(60), ResourceRecords: []types.ResourceRecord{{Value: aws.String("192.0.2.1")}}})},
			"InvalidInput", "Portico does not support geolocation routing (GeoLocation) in resource record sets: it serves simple, failover, weighted, latency and multivalue answer routing and alias records; change 1, app.yourcompany.com A"},
	}
	before, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), ChangeBatch: batch(tc.changes...)})
			apiError(t, err, tc.code, 400, tc.message)
			if tc.code == "InvalidChangeBatch" {
				var icb *types.InvalidChangeBatch
				if !errors.As(err, &icb) {
					t.Errorf("error is %T, want *types.InvalidChangeBatch", err)
				}
			}
		})
	}
	after, err := e.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.ResourceRecordSets) != len(before.ResourceRecordSets) {
		t.Errorf("refused batches changed the zone: %d sets, was %d", len(after.ResourceRecordSets), len(before.ResourceRecordSets))
	}

	_, err = e.client.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: aws.String(zoneID)})
	apiError(t, err, "HostedZoneNotEmpty", 400, "The specified hosted zone contains non-required resource record sets and so cannot be deleted.")
	var notEmpty *types.HostedZoneNotEmpty
	if !errors.As(err, &notEmpty) {
		t.Errorf("error is %T, want *types.HostedZoneNotEmpty", err)
	}
	_, err = e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String("ZNOSUCHZONE1"),
		ChangeBatch: batch(chg(types.ChangeActionCreate, rrset("a.yourcompany.com", types.RRTypeA, 60, "192.0.2.1")))})
	apiError(t, err, "NoSuchHostedZone", 404, "No hosted zone found with ID: ZNOSUCHZONE1")
	// Emptied, the zone can go.
	if _, err := e.client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID), ChangeBatch: batch(
		chg(types.ChangeActionDelete, rrset("iot.yourcompany.com", types.RRTypeCname, 300, "a1b2-ats.iot.us-east-1.portico.internal")),
		chg(types.ChangeActionDelete, rrset("www.yourcompany.com", types.RRTypeA, 300, "192.0.2.1")),
	)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeleteHostedZone(ctx, &route53.DeleteHostedZoneInput{Id: aws.String(zoneID)}); err != nil {
		t.Errorf("DeleteHostedZone of an emptied zone: %v", err)
	}
}

func TestUnimplementedOperation(t *testing.T) {
	e := setup(t)
	_, err := e.client.CreateHealthCheck(context.Background(), &route53.CreateHealthCheckInput{CallerReference: aws.String("hc"),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeHttp, IPAddress: aws.String("192.0.2.1"), Port: aws.Int32(80)}})
	apiError(t, err, "InvalidAction", 400, "Portico does not implement the operation CreateHealthCheck yet")
	_, err = e.client.ListTagsForResource(context.Background(), &route53.ListTagsForResourceInput{ResourceId: aws.String("Z1"), ResourceType: types.TagResourceTypeHostedzone})
	apiError(t, err, "InvalidAction", 400, "Portico does not implement the operation ListTagsForResource yet")
}

// signedRequest sends a request signed with the SDK's signer, for paths the
// SDK would never build.
func signedRequest(t *testing.T, e *env, method, path, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.api.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds, _ := e.api.Config.Credentials.Retrieve(context.Background())
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "route53", "eu-west-3", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPathsAndWireShapes(t *testing.T) {
	e := setup(t)
	id := strings.TrimPrefix(aws.ToString(e.createZone(t, "yourcompany.com").HostedZone.Id), "/hostedzone/")
	for _, path := range []string{
		"/2013-04-01/hostedzone/" + id + "/rrset",
		"/2013-04-01/hostedzone/" + id + "/rrset/",
		"/2013-04-01/hostedzone/%2Fhostedzone%2F" + id + "/rrset",
		"/2013-04-01/hostedzone//hostedzone/" + id + "/rrset",
	} {
		resp, body := signedRequest(t, e, "GET", path, "")
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
			continue
		}
		if resp.Header.Get("Content-Type") != "text/xml" || resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Errorf("GET %s: headers %v", path, resp.Header)
		}
		if !strings.Contains(body, `<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">`) ||
			!strings.Contains(body, "<MaxItems>300</MaxItems>") {
			t.Errorf("GET %s body: %s", path, body)
		}
	}
	// botocore's serialization: no XML declaration, no namespace needed,
	// members in the caller's order.
	change := `<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><ResourceRecordSet>` +
		`<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.7</Value></ResourceRecord></ResourceRecords>` +
		`<Type>A</Type><Name>order.yourcompany.com</Name></ResourceRecordSet><Action>CREATE</Action></Change></Changes></ChangeBatch>` +
		`</ChangeResourceRecordSetsRequest>`
	resp, body := signedRequest(t, e, "POST", "/2013-04-01/hostedzone/"+id+"/rrset/", change)
	if resp.StatusCode != 200 || !strings.Contains(body, "<Status>PENDING</Status>") && !strings.Contains(body, "<Status>INSYNC</Status>") {
		t.Errorf("POST change: %d %s", resp.StatusCode, body)
	}
	changeID := regexp.MustCompile(`<Id>/change/(C[A-Z0-9]+)</Id>`).FindStringSubmatch(body)
	if changeID == nil {
		t.Fatalf("no change ID in %s", body)
	}
	for _, path := range []string{"/2013-04-01/change/" + changeID[1], "/2013-04-01/change/%2Fchange%2F" + changeID[1]} {
		if resp, body := signedRequest(t, e, "GET", path, ""); resp.StatusCode != 200 || !strings.Contains(body, "<GetChangeResponse xmlns=") {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	resp, body = signedRequest(t, e, "POST", "/2013-04-01/hostedzone/"+id+"/rrset/", "<ChangeResourceRecordSetsRequest><ChangeBatch>")
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidInput</Code>") || !strings.Contains(body, "<ErrorResponse xmlns=") ||
		!strings.Contains(body, "<Type>Sender</Type>") {
		t.Errorf("malformed XML: %d %s", resp.StatusCode, body)
	}
	resp, body = signedRequest(t, e, "GET", "/2013-04-01/hostedzone/"+id+"/nonsense", "")
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") {
		t.Errorf("unknown path: %d %s", resp.StatusCode, body)
	}
	resp, body = signedRequest(t, e, "DELETE", "/2013-04-01/hostedzone", "")
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") || !strings.Contains(body, "DELETE /2013-04-01/hostedzone") {
		t.Errorf("DELETE on the collection: %d %s", resp.StatusCode, body)
	}
	resp, body = signedRequest(t, e, "POST", "/2013-04-01/hostedzone/"+id+"/associatevpc", "<x/>")
	if resp.StatusCode != 400 || !strings.Contains(body, "AssociateVPCWithHostedZone") {
		t.Errorf("AssociateVPCWithHostedZone: %d %s", resp.StatusCode, body)
	}
	resp, body = signedRequest(t, e, "GET", "/2013-04-01/hostedzone?maxitems=abc", "")
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidInput</Code>") {
		t.Errorf("bad maxitems: %d %s", resp.StatusCode, body)
	}
	resp, body = signedRequest(t, e, "GET", "/2013-04-01/hostedzone", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "<Marker></Marker>") || !strings.Contains(body, "<IsTruncated>false</IsTruncated>") ||
		strings.Contains(body, "NextMarker") {
		t.Errorf("ListHostedZones: %d %s", resp.StatusCode, body)
	}
}
