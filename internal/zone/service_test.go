package zone

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/store/storetest"
)

var testNameServers = []string{"ns1.portico.example", "ns2.portico.example"}

func newTestService(t *testing.T) (*Service, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	svc, err := NewService(ctx, st, testNameServers)
	if err != nil {
		t.Fatal(err)
	}
	return svc, st
}

func createZone(t *testing.T, svc *Service, name string) HostedZone {
	t.Helper()
	out, err := svc.CreateHostedZone(context.Background(), CreateHostedZoneInput{Name: name, CallerReference: "ref-" + name + newID("", 6)})
	if err != nil {
		t.Fatalf("CreateHostedZone(%s): %v", name, err)
	}
	return out.HostedZone
}

func ttl(n int64) *int64 { return &n }

func change(action, name, typ string, ttlValue int64, values ...string) Change {
	return Change{Action: action, RecordSet: RecordSetInput{Name: name, Type: typ, TTL: ttl(ttlValue), Values: values}}
}

func listAll(t *testing.T, svc *Service, zoneID string) []RecordSet {
	t.Helper()
	page, err := svc.ListResourceRecordSets(context.Background(), zoneID, ListRecordSetsInput{})
	if err != nil {
		t.Fatal(err)
	}
	return page.RecordSets
}

func describe(sets []RecordSet) string {
	var parts []string
	for _, rs := range sets {
		parts = append(parts, fmt.Sprintf("%s %s %d %s", rs.Name, rs.Type, rs.TTL, strings.Join(rs.Values, ",")))
	}
	return strings.Join(parts, "\n")
}

func TestNewServiceNeedsNameServers(t *testing.T) {
	st := storetest.New(t)
	if _, err := NewService(context.Background(), st, nil); err == nil {
		t.Error("NewService without name servers succeeded")
	}
	if _, err := NewService(context.Background(), st, []string{"bad..name"}); err == nil {
		t.Error("NewService with a bad name server succeeded")
	}
}

func TestCreateHostedZone(t *testing.T) {
	svc, _ := newTestService(t)
	ctx := context.Background()
	svc.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC) }
	out, err := svc.CreateHostedZone(ctx, CreateHostedZoneInput{Name: "YourCompany.com", CallerReference: "ref-1", Comment: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	z := out.HostedZone
	if !regexp.MustCompile(`^Z[A-Z0-9]{13,21}$`).MatchString(z.ID) {
		t.Errorf("zone ID %q is not Z + 13-21 upper-case alphanumerics", z.ID)
	}
	if z.Name != "yourcompany.com." || z.CallerReference != "ref-1" || z.Comment != "hi" || z.RecordSetCount != 2 {
		t.Errorf("zone = %+v", z)
	}
	if strings.Join(z.NameServers, " ") != "ns1.portico.example ns2.portico.example" {
		t.Errorf("delegation set = %v", z.NameServers)
	}
	if !regexp.MustCompile(`^C[A-Z0-9]+$`).MatchString(out.Change.ID) || out.Change.Status != StatusInSync ||
		!out.Change.SubmittedAt.Equal(svc.Now()) {
		t.Errorf("change = %+v", out.Change)
	}
	want := "yourcompany.com. NS 172800 ns1.portico.example.,ns2.portico.example.\n" +
		"yourcompany.com. SOA 900 ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400"
	if got := describe(listAll(t, svc, z.ID)); got != want {
		t.Errorf("records:\n%s\nwant:\n%s", got, want)
	}
	got, err := svc.GetHostedZone(ctx, "/hostedzone/"+z.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != z.Name || got.RecordSetCount != 2 || len(got.NameServers) != 2 {
		t.Errorf("GetHostedZone = %+v", got)
	}

	_, err = svc.CreateHostedZone(ctx, CreateHostedZoneInput{Name: "other.com", CallerReference: "ref-1"})
	assertFault(t, err, "HostedZoneAlreadyExists", "A hosted zone has already been created with the specified caller reference.")
	// Several zones may share a name.
	if _, err := svc.CreateHostedZone(ctx, CreateHostedZoneInput{Name: "yourcompany.com", CallerReference: "ref-2"}); err != nil {
		t.Errorf("second zone with the same name: %v", err)
	}
	// A deleted zone's caller reference stays used.
	if _, err := svc.DeleteHostedZone(ctx, z.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.CreateHostedZone(ctx, CreateHostedZoneInput{Name: "yourcompany.com", CallerReference: "ref-1"})
	assertFault(t, err, "HostedZoneAlreadyExists", "")
}

func TestCreateHostedZoneInvalid(t *testing.T) {
	svc, _ := newTestService(t)
	tests := []struct {
		in   CreateHostedZoneInput
		code string
	}{
		{CreateHostedZoneInput{Name: "com", CallerReference: "r"}, "InvalidDomainName"},
		{CreateHostedZoneInput{Name: "com.", CallerReference: "r"}, "InvalidDomainName"},
		{CreateHostedZoneInput{Name: "a..com", CallerReference: "r"}, "InvalidDomainName"},
		{CreateHostedZoneInput{Name: "*.example.com", CallerReference: "r"}, "InvalidDomainName"},
		{CreateHostedZoneInput{Name: "", CallerReference: "r"}, "InvalidDomainName"},
		{CreateHostedZoneInput{Name: "example.com", CallerReference: ""}, "InvalidInput"},
		{CreateHostedZoneInput{Name: "example.com", CallerReference: strings.Repeat("r", 129)}, "InvalidInput"},
		{CreateHostedZoneInput{Name: "example.com", CallerReference: "r", Comment: strings.Repeat("c", 257)}, "InvalidInput"},
		{CreateHostedZoneInput{Name: "example.com", CallerReference: "r", Private: true}, "InvalidInput"},
	}
	for _, tc := range tests {
		_, err := svc.CreateHostedZone(context.Background(), tc.in)
		assertFault(t, err, tc.code, "")
	}
	if n, _ := svc.HostedZoneCount(context.Background()); n != 0 {
		t.Errorf("%d zones exist after refused creations", n)
	}
}

func assertFault(t *testing.T, err error, code, message string) {
	t.Helper()
	f, ok := err.(*fault.Error)
	if !ok {
		t.Fatalf("error = %v (%T), want fault %s", err, err, code)
	}
	if f.Code != code {
		t.Errorf("code = %s (%q), want %s", f.Code, f.Message, code)
	}
	if message != "" && f.Message != message {
		t.Errorf("message = %q\nwant      %q", f.Message, message)
	}
}

// The InvalidChangeBatch catalogue (reference C.4), one batch per row, each
// against a zone holding www A 192.0.2.1 and alias CNAME target.example.net.
func TestChangeBatchProblems(t *testing.T) {
	tests := []struct {
		name    string
		changes []Change
		code    string
		message string
	}{
		{"create existing", []Change{change("CREATE", "www.example.com", "A", 300, "192.0.2.9")}, "InvalidChangeBatch",
			"[Tried to create resource record set [name='www.example.com.', type='A'] but it already exists]"},
		{"delete missing", []Change{change("DELETE", "x.example.com", "A", 300, "192.0.2.9")}, "InvalidChangeBatch",
			"[Tried to delete resource record set [name='x.example.com.', type='A'] but it was not found]"},
		{"delete other values", []Change{change("DELETE", "www.example.com", "A", 300, "192.0.2.2")}, "InvalidChangeBatch",
			"[Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values]"},
		{"delete other ttl", []Change{change("DELETE", "www.example.com", "A", 60, "192.0.2.1")}, "InvalidChangeBatch",
			"[Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values]"},
		{"cname at apex", []Change{change("CREATE", "example.com", "CNAME", 300, "x.example.net")}, "InvalidChangeBatch",
			"[RRSet of type CNAME with DNS name example.com. is not permitted at apex in zone example.com.]"},
		{"cname beside data", []Change{change("CREATE", "www.example.com", "CNAME", 300, "x.example.net")}, "InvalidChangeBatch",
			"[RRSet of type CNAME with DNS name www.example.com. is not permitted as it conflicts with other records with the same DNS name in zone example.com.]"},
		{"data beside cname", []Change{change("UPSERT", "alias.example.com", "TXT", 300, `"x"`)}, "InvalidChangeBatch",
			"[RRSet of type TXT with DNS name alias.example.com. is not permitted because a conflicting RRSet of type  CNAME with the same DNS name already exists in zone example.com.]"},
		{"outside zone", []Change{change("CREATE", "foo.other.com", "A", 300, "192.0.2.1")}, "InvalidChangeBatch",
			"[RRSet with DNS name foo.other.com. is not permitted in zone example.com.]"},
		{"suffix is not a subdomain", []Change{change("CREATE", "badexample.com", "A", 300, "192.0.2.1")}, "InvalidChangeBatch",
			"[RRSet with DNS name badexample.com. is not permitted in zone example.com.]"},
		{"empty name", []Change{change("CREATE", "", "A", 300, "192.0.2.1")}, "InvalidChangeBatch",
			"[FATAL problem: DomainNameEmpty (Domain name is empty) encountered with '']"},
		{"bad ipv4", []Change{change("CREATE", "a.example.com", "A", 300, "192.0.2")}, "InvalidChangeBatch",
			"[Invalid Resource Record: 'FATAL problem: ARRDATAIllegalIPv4Address (Value is not a valid IPv4 address) encountered with '192.0.2'']"},
		{"unquoted txt", []Change{change("CREATE", "t.example.com", "TXT", 300, "hello")}, "InvalidChangeBatch",
			"[Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with 'hello'']"},
		{"duplicate value", []Change{change("CREATE", "d.example.com", "A", 300, "192.0.2.1", "192.0.2.1")}, "InvalidChangeBatch",
			"[Duplicate Resource Record: '192.0.2.1']"},
		{"delete apex ns", []Change{change("DELETE", "example.com", "NS", 172800, "ns1.portico.example.", "ns2.portico.example.")}, "InvalidChangeBatch",
			"[A HostedZone must contain at least one NS record for the zone itself.]"},
		{"delete apex soa", []Change{change("DELETE", "example.com", "SOA", 900, "ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400")}, "InvalidChangeBatch",
			"[A HostedZone must contain exactly one SOA record.]"},
		{"delete twice", []Change{
			change("DELETE", "www.example.com", "A", 300, "192.0.2.1"),
			change("DELETE", "www.example.com", "A", 300, "192.0.2.1"),
		}, "InvalidChangeBatch", "[Tried to delete resource record set [name='www.example.com.', type='A'] but it was not found]"},
		{"all problems joined", []Change{
			change("CREATE", "www.example.com", "A", 300, "192.0.2.9"),
			change("CREATE", "ok.example.com", "A", 300, "192.0.2.10"),
			change("CREATE", "foo.other.com", "A", 300, "192.0.2.1"),
			change("CREATE", "b.example.com", "AAAA", 300, "nope"),
		}, "InvalidChangeBatch",
			"[Tried to create resource record set [name='www.example.com.', type='A'] but it already exists, " +
				"RRSet with DNS name foo.other.com. is not permitted in zone example.com., " +
				"Invalid Resource Record: 'FATAL problem: AAAARRDATAIllegalIPv6Address (Value is not a valid IPv6 address) encountered with 'nope'']"},
		{"two cname values", []Change{change("CREATE", "c.example.com", "CNAME", 300, "a.example.net", "b.example.net")}, "InvalidChangeBatch",
			"[RRSet of type CNAME with DNS name c.example.com. must contain exactly one resource record]"},
		{"soa below apex", []Change{change("CREATE", "s.example.com", "SOA", 300, "a.example. b.example. 1 2 3 4 5")}, "InvalidChangeBatch", ""},
		{"wildcard ns", []Change{change("CREATE", "*.example.com", "NS", 300, "ns.example.net")}, "InvalidChangeBatch", ""},
		{"missing ttl", []Change{{Action: "CREATE", RecordSet: RecordSetInput{Name: "app.example.com", Type: "A", Values: []string{"192.0.2.1"}}}}, "InvalidInput",
			"Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=CREATE, Name=app.example.com., Type=A, SetIdentifier=null]"},
		{"missing records", []Change{{Action: "CREATE", RecordSet: RecordSetInput{Name: "app.example.com", Type: "A", TTL: ttl(60)}}}, "InvalidInput", ""},
		{"ttl too big", []Change{change("CREATE", "t.example.com", "A", MaxTTL+1, "192.0.2.1")}, "InvalidInput", ""},
		{"negative ttl", []Change{change("CREATE", "t.example.com", "A", -1, "192.0.2.1")}, "InvalidInput", ""},
		{"bad action", []Change{change("REPLACE", "t.example.com", "A", 60, "192.0.2.1")}, "InvalidInput", ""},
		{"bad type", []Change{change("CREATE", "t.example.com", "FOO", 60, "x")}, "InvalidInput", ""},
		{"unsupported type", []Change{change("CREATE", "t.example.com", "NAPTR", 60, "x")}, "InvalidInput", ""},
		{"no changes", nil, "InvalidInput", ""},
		{"too many records", []Change{change("UPSERT", "t.example.com", "TXT", 60, manyTXT(501)...)}, "InvalidChangeBatch", "[Number of records limit of 1000 exceeded.]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := newTestService(t)
			ctx := context.Background()
			z := createZone(t, svc, "example.com")
			if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
				change("CREATE", "www.example.com", "A", 300, "192.0.2.1"),
				change("CREATE", "alias.example.com", "CNAME", 300, "target.example.net"),
			}}); err != nil {
				t.Fatal(err)
			}
			before := describe(listAll(t, svc, z.ID))
			_, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: tc.changes})
			assertFault(t, err, tc.code, tc.message)
			if after := describe(listAll(t, svc, z.ID)); after != before {
				t.Errorf("a refused batch changed the zone:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

func manyTXT(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`"%d"`, i)
	}
	return out
}

func TestChangeBatchSemantics(t *testing.T) {
	svc, st := newTestService(t)
	ctx := context.Background()
	z := createZone(t, svc, "yourcompany.com")
	served := atomic.Uint64{}
	svc.Served = served.Load

	// The walking-skeleton batch: the custom domain points at Portico's endpoint.
	info, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Comment: "iot", Changes: []Change{
		change("CREATE", "iot.yourcompany.com", "CNAME", 300, "a1b2-ats.iot.us-east-1.portico.internal"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != StatusPending || info.Comment != "iot" {
		t.Errorf("change = %+v, want PENDING with the comment", info)
	}
	got, err := svc.GetChange(ctx, "/change/"+info.ID)
	if err != nil || got.Status != StatusPending {
		t.Fatalf("GetChange = %+v, %v; want PENDING", got, err)
	}
	served.Store(st.Generation())
	if got, _ := svc.GetChange(ctx, info.ID); got.Status != StatusInSync {
		t.Errorf("after the DNS server caught up: %s, want INSYNC", got.Status)
	}
	_, err = svc.GetChange(ctx, "CNOSUCHCHANGE")
	assertFault(t, err, "NoSuchChange", "")

	// Evaluated in order: DELETE then CREATE of the same set replaces it, and
	// a CNAME may replace an A record in one batch.
	batches := [][]Change{
		{change("CREATE", "www.yourcompany.com", "A", 60, "192.0.2.1", "192.0.2.2")},
		{change("DELETE", "www.yourcompany.com", "A", 60, "192.0.2.2", "192.0.2.1"), change("CREATE", "www.yourcompany.com", "A", 120, "192.0.2.3")},
		{change("DELETE", "www.yourcompany.com", "A", 120, "192.0.2.3"), change("CREATE", "www.yourcompany.com", "CNAME", 60, "iot.yourcompany.com")},
		{change("UPSERT", "mail.yourcompany.com", "MX", 300, "10 mx1.yourcompany.com", "20 mx2.yourcompany.com")},
		{change("UPSERT", "mail.yourcompany.com", "MX", 600, "5 mx.yourcompany.com")},
		{change("UPSERT", "*.Dev.YourCompany.com", "TXT", 60, `"wild"`)},
		{change("UPSERT", "yourcompany.com", "NS", 3600, "ns1.portico.example")},
		{change("CREATE", "_mqtt._tcp.yourcompany.com", "SRV", 60, "0 0 8883 iot.yourcompany.com"),
			change("CREATE", "yourcompany.com", "CAA", 60, `0 issue "letsencrypt.org"`),
			change("CREATE", "1.2.0.192.yourcompany.com", "PTR", 60, "host.yourcompany.com"),
			change("CREATE", "v6.yourcompany.com", "AAAA", 60, "2001:db8::1")},
	}
	for i, b := range batches {
		if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: b}); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	want := strings.Join([]string{
		"yourcompany.com. CAA 60 0 issue \"letsencrypt.org\"",
		"yourcompany.com. NS 3600 ns1.portico.example",
		"yourcompany.com. SOA 900 ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400",
		"1.2.0.192.yourcompany.com. PTR 60 host.yourcompany.com",
		"_mqtt._tcp.yourcompany.com. SRV 60 0 0 8883 iot.yourcompany.com",
		`\052.dev.yourcompany.com. TXT 60 "wild"`,
		"iot.yourcompany.com. CNAME 300 a1b2-ats.iot.us-east-1.portico.internal",
		"mail.yourcompany.com. MX 600 5 mx.yourcompany.com",
		"v6.yourcompany.com. AAAA 60 2001:db8::1",
		"www.yourcompany.com. CNAME 60 iot.yourcompany.com",
	}, "\n")
	if got := describe(listAll(t, svc, z.ID)); got != want {
		t.Errorf("records:\n%s\nwant:\n%s", got, want)
	}
	hz, _ := svc.GetHostedZone(ctx, z.ID)
	if hz.RecordSetCount != 10 {
		t.Errorf("ResourceRecordSetCount = %d, want 10", hz.RecordSetCount)
	}

	_, err = svc.DeleteHostedZone(ctx, z.ID)
	assertFault(t, err, "HostedZoneNotEmpty", "The specified hosted zone contains non-required resource record sets and so cannot be deleted.")
	_, err = svc.ChangeResourceRecordSets(ctx, "ZNOSUCHZONE", ChangeBatch{Changes: batches[0]})
	assertFault(t, err, "NoSuchHostedZone", "No hosted zone found with ID: ZNOSUCHZONE")
}

func TestListResourceRecordSetsPagination(t *testing.T) {
	svc, _ := newTestService(t)
	ctx := context.Background()
	z := createZone(t, svc, "example.com")
	var changes []Change
	for _, n := range []string{"a", "b", "c", "a-b", "x.a"} {
		changes = append(changes, change("CREATE", n+".example.com", "A", 60, "192.0.2.1"))
	}
	changes = append(changes, change("CREATE", "b.example.com", "TXT", 60, `"t"`), change("CREATE", "b.example.com", "AAAA", 60, "::1"))
	if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: changes}); err != nil {
		t.Fatal(err)
	}
	all := listAll(t, svc, z.ID)
	var order []string
	for _, rs := range all {
		order = append(order, rs.Name+" "+rs.Type)
	}
	want := "example.com. NS|example.com. SOA|a-b.example.com. A|a.example.com. A|x.a.example.com. A|b.example.com. A|b.example.com. AAAA|b.example.com. TXT|c.example.com. A"
	if got := strings.Join(order, "|"); got != want {
		t.Fatalf("order:\n%s\nwant\n%s", got, want)
	}
	// Walk in pages of 2 and of 1; the concatenation must equal the full list.
	for _, size := range []int{1, 2, 4} {
		var walked []string
		in := ListRecordSetsInput{MaxItems: size}
		for range 20 {
			page, err := svc.ListResourceRecordSets(ctx, z.ID, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, rs := range page.RecordSets {
				walked = append(walked, rs.Name+" "+rs.Type)
			}
			if !page.IsTruncated {
				break
			}
			in = ListRecordSetsInput{StartName: page.NextName, StartType: page.NextType, MaxItems: size}
		}
		if got := strings.Join(walked, "|"); got != want {
			t.Errorf("pages of %d:\n%s\nwant\n%s", size, got, want)
		}
	}
	// A name that does not exist starts at the next one.
	page, err := svc.ListResourceRecordSets(ctx, z.ID, ListRecordSetsInput{StartName: "B.example.com", StartType: "AAAA", MaxItems: 1})
	if err != nil || len(page.RecordSets) != 1 || page.RecordSets[0].Type != "AAAA" || page.NextType != "TXT" {
		t.Errorf("start at b AAAA: %+v, %v", page, err)
	}
	page, err = svc.ListResourceRecordSets(ctx, z.ID, ListRecordSetsInput{StartName: "bb.example.com"})
	if err != nil || page.RecordSets[0].Name != "c.example.com." {
		t.Errorf("start at bb: %+v, %v", page, err)
	}
	_, err = svc.ListResourceRecordSets(ctx, z.ID, ListRecordSetsInput{StartType: "A"})
	assertFault(t, err, "InvalidInput", "")
	_, err = svc.ListResourceRecordSets(ctx, z.ID, ListRecordSetsInput{StartName: "a.example.com", StartType: "BOGUS"})
	assertFault(t, err, "InvalidInput", "")
	_, err = svc.ListResourceRecordSets(ctx, "ZNONE", ListRecordSetsInput{})
	assertFault(t, err, "NoSuchHostedZone", "")
}

func TestListHostedZones(t *testing.T) {
	svc, _ := newTestService(t)
	ctx := context.Background()
	var ids = map[string]string{}
	for _, n := range []string{"b.example.com", "example.net", "example.com", "a.example.com"} {
		ids[n] = createZone(t, svc, n).ID
	}
	want := "example.com.|a.example.com.|b.example.com.|example.net."
	var walked []string
	marker := ""
	for range 10 {
		page, err := svc.ListHostedZones(ctx, marker, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range page.HostedZones {
			walked = append(walked, z.Name)
		}
		if !page.IsTruncated {
			break
		}
		marker = "/hostedzone/" + page.NextMarker
	}
	if got := strings.Join(walked, "|"); got != want {
		t.Errorf("ListHostedZones order %s, want %s", got, want)
	}
	page, err := svc.ListHostedZonesByName(ctx, "b.example.com", "", 1)
	if err != nil || len(page.HostedZones) != 1 || page.HostedZones[0].ID != ids["b.example.com"] ||
		page.NextDNSName != "example.net." || page.NextHostedZoneID != ids["example.net"] {
		t.Errorf("ListHostedZonesByName = %+v, %v", page, err)
	}
	_, err = svc.ListHostedZones(ctx, "ZGONE", 0)
	assertFault(t, err, "InvalidInput", "")
	if n, _ := svc.HostedZoneCount(ctx); n != 4 {
		t.Errorf("count = %d", n)
	}
	hz, err := svc.UpdateHostedZoneComment(ctx, ids["example.com"], "new comment")
	if err != nil || hz.Comment != "new comment" {
		t.Errorf("UpdateHostedZoneComment = %+v, %v", hz, err)
	}
	_, err = svc.UpdateHostedZoneComment(ctx, "ZGONE", "x")
	assertFault(t, err, "NoSuchHostedZone", "")
}

func TestDeleteHostedZone(t *testing.T) {
	svc, _ := newTestService(t)
	ctx := context.Background()
	z := createZone(t, svc, "example.com")
	// The apex SOA and NS may be replaced; the zone is still deletable.
	if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
		change("UPSERT", "example.com", "SOA", 60, "ns1.portico.example. admin.example.com. 7 7200 900 1209600 60"),
	}}); err != nil {
		t.Fatal(err)
	}
	info, err := svc.DeleteHostedZone(ctx, z.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.GetChange(ctx, info.ID); err != nil {
		t.Errorf("GetChange of the deletion: %v", err)
	}
	_, err = svc.GetHostedZone(ctx, z.ID)
	assertFault(t, err, "NoSuchHostedZone", "No hosted zone found with ID: "+z.ID)
	_, err = svc.DeleteHostedZone(ctx, z.ID)
	assertFault(t, err, "NoSuchHostedZone", "")
	data, err := svc.Snapshot(ctx)
	if err != nil || len(data.Zones) != 0 {
		t.Errorf("snapshot after delete = %+v, %v", data, err)
	}
}

func TestSnapshot(t *testing.T) {
	svc, st := newTestService(t)
	ctx := context.Background()
	z := createZone(t, svc, "yourcompany.com")
	if _, err := svc.ChangeResourceRecordSets(ctx, z.ID, ChangeBatch{Changes: []Change{
		change("CREATE", "iot.yourcompany.com", "CNAME", 300, "a1b2-ats.iot.us-east-1.portico.internal"),
		change("CREATE", "*.yourcompany.com", "TXT", 60, `"wild \"card\""`),
	}}); err != nil {
		t.Fatal(err)
	}
	data, err := svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if data.Generation != st.Generation() || len(data.Zones) != 1 {
		t.Fatalf("snapshot = %+v (store at %d)", data, st.Generation())
	}
	zd := data.Zones[0]
	if zd.ID != z.ID || zd.Origin != "yourcompany.com." {
		t.Errorf("zone data = %+v", zd)
	}
	rrs, err := zd.RRs()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, rr := range rrs {
		lines = append(lines, rr.String())
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"yourcompany.com.\t172800\tIN\tNS\tns1.portico.example.",
		"iot.yourcompany.com.\t300\tIN\tCNAME\ta1b2-ats.iot.us-east-1.portico.internal.",
		"*.yourcompany.com.\t60\tIN\tTXT\t\"wild \\\"card\\\"\"",
		"yourcompany.com.\t900\tIN\tSOA\tns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("records lack %q:\n%s", want, got)
		}
	}
}
