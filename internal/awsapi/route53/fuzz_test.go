package route53

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
)

// FuzzChangeBatch feeds arbitrary bodies to ChangeResourceRecordSets: the
// XML decoder, the zone service's validation and the store. Nothing may
// panic; every answer is 200 or a 4xx ErrorResponse (never a 500).
func FuzzChangeBatch(f *testing.F) {
	ctx := context.Background()
	st := storetest.New(f)
	svc, err := zone.NewService(ctx, st, []string{"ns1.portico.example"})
	if err != nil {
		f.Fatal(err)
	}
	z, err := svc.CreateHostedZone(ctx, zone.CreateHostedZoneInput{Name: "yourcompany.com", CallerReference: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	// Portico's own zone: aliases to the endpoint hostname are accepted.
	svc.Own = &zone.OwnZone{ID: zone.OwnZoneID("portico.internal"), Name: "portico.internal",
		Serves: func(_ context.Context, name, typ string) (bool, error) {
			return name == "a1b2-ats.iot.us-east-1.portico.internal." && typ == "A", nil
		}}
	h := New(svc, apitest.Logger())

	for _, seed := range []string{
		`<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Comment>c</Comment><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>iot.yourcompany.com</Name><Type>CNAME</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>a1b2-ats.iot.us-east-1.portico.internal</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><ResourceRecordSet><TTL>60</TTL><Type>TXT</Type><Name>*.yourcompany.com</Name><ResourceRecords><ResourceRecord><Value>"a\"b" "\101"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet><Action>UPSERT</Action></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>yourcompany.com</Name><Type>NS</Type><TTL>172800</TTL><ResourceRecords><ResourceRecord><Value>ns1.portico.example.</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>a.yourcompany.com</Name><Type>A</Type><AliasTarget><DNSName>x</DNSName></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>m.yourcompany.com</Name><Type>MX</Type><TTL>-5</TTL><ResourceRecords><ResourceRecord><Value>10 mx.yourcompany.com</Value></ResourceRecord><ResourceRecord/></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>c.yourcompany.com</Name><Type>CAA</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>0 issue "letsencrypt.org"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>w.yourcompany.com</Name><Type>A</Type><SetIdentifier>blue</SetIdentifier><Weight>10</Weight><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>` +
			`<Change><Action>CREATE</Action><ResourceRecordSet><Name>yourcompany.com</Name><Type>A</Type><AliasTarget><HostedZoneId>/hostedzone/ZONEID</HostedZoneId><DNSName>w.yourcompany.com</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>mv.yourcompany.com</Name><Type>A</Type><SetIdentifier>a</SetIdentifier><MultiValueAnswer>true</MultiValueAnswer><HealthCheckId>hc</HealthCheckId><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>x.yourcompany.com</Name><Type>A</Type><SetIdentifier>p</SetIdentifier><Failover>PRIMARY</Failover><Weight>-1</Weight><AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d1.cloudfront.net</DNSName><EvaluateTargetHealth>maybe</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		// Latency: two regions, an unknown region, Region beside Weight, a latency alias to the endpoint hostname.
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>lat.yourcompany.com</Name><Type>A</Type><SetIdentifier>east</SetIdentifier><Region>us-east-1</Region><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords><HealthCheckId>hc</HealthCheckId></ResourceRecordSet></Change>` +
			`<Change><Action>UPSERT</Action><ResourceRecordSet><Name>lat.yourcompany.com</Name><Type>A</Type><SetIdentifier>west</SetIdentifier><Region>us-west-2</Region><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.2</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>` +
			`<Change><Action>CREATE</Action><ResourceRecordSet><Name>lat.yourcompany.com</Name><Type>A</Type><SetIdentifier>eu</SetIdentifier><Region>eu-west-1</Region><AliasTarget><HostedZoneId>OWNZONE</HostedZoneId><DNSName>a1b2-ats.iot.us-east-1.portico.internal</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>l.yourcompany.com</Name><Type>A</Type><SetIdentifier>x</SetIdentifier><Region>mars-north-1</Region><Weight>1</Weight><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>yourcompany.com</Name><Type>A</Type><AliasTarget><HostedZoneId>/hostedzone/OWNZONE</HostedZoneId><DNSName>A1B2-ats.iot.us-east-1.portico.internal.</DNSName><EvaluateTargetHealth>true</EvaluateTargetHealth></AliasTarget></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`,
		`<ChangeResourceRecordSetsRequest><ChangeBatch>`,
		``,
		`<a><ChangeBatch/></a>`,
	} {
		seed = strings.ReplaceAll(seed, "OWNZONE", svc.Own.ID)
		f.Add([]byte(strings.ReplaceAll(seed, "ZONEID", z.HostedZone.ID)))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		// The decoder alone: a batch or an InvalidInput fault.
		if _, err := decodeChangeBatch(body); err != nil {
			if fe, ok := err.(*fault.Error); !ok || fe.Code != "InvalidInput" {
				t.Fatalf("decode error %v (%T) is not an InvalidInput fault", err, err)
			}
			return
		}
		// The whole operation, for bodies that decode (the store under a
		// coverage-instrumented build is slow; junk stops above).
		req := httptest.NewRequest(http.MethodPost, "/2013-04-01/hostedzone/"+z.HostedZone.ID+"/rrset/", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Amzn-RequestId", "fuzz")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
		if rec.Code != http.StatusOK {
			var e struct {
				XMLName xml.Name `xml:"ErrorResponse"`
				Error   struct{ Code, Message string }
			}
			if err := xml.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("error body does not parse (%v): %s", err, rec.Body.String())
			}
		}
	})
}
