package main

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/awsapi"
	acmapi "github.com/portico-iot/portico/internal/awsapi/acm"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	route53api "github.com/portico-iot/portico/internal/awsapi/route53"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/dnsresolve"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
)

// publicDNS is a recursive resolver on loopback standing in for the
// public DNS: it answers CNAME questions (only with RD set) from a map.
type publicDNS struct {
	mu     sync.Mutex
	cnames map[string]string
	addr   string
}

func (p *publicDNS) set(name, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cnames[strings.ToLower(name)] = target
}

func startPublicDNS(t *testing.T) *publicDNS {
	t.Helper()
	p := &publicDNS{cnames: map[string]string{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		q := req.Question[0]
		p.mu.Lock()
		target, ok := p.cnames[strings.ToLower(q.Name)]
		p.mu.Unlock()
		switch {
		case !req.RecursionDesired:
			m.Rcode = dns.RcodeRefused
		case !ok:
			m.Rcode = dns.RcodeNameError
		default:
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return p
}

// newTestServerCA creates a server CA in a temporary data dir.
func newTestServerCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := openCA(t.TempDir(), serverCAName)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestValidationThroughZonesAndResolvers requests a certificate for three
// names through the SDK: one validated by a CNAME in a Portico hosted zone
// (created through the Route 53 API), one by a CNAME only public DNS has, and
// one whose public CNAME points into a Portico zone that points on to the
// validation target. A name inside a Portico zone is answered by that zone
// alone, whatever public DNS says.
func TestValidationThroughZonesAndResolvers(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	certs, err := certificate.NewService(ctx, st, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	zones, err := zone.NewService(ctx, st, []string{"ns1.portico.internal."})
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, func(s *awsapi.Server) {
		acmapi.Register(s, certs, apitest.Logger())
		route53api.Register(s, zones, apitest.Logger())
	})
	acm, r53 := sdkacm.NewFromConfig(srv.Config), route53.NewFromConfig(srv.Config)
	public := startPublicDNS(t)
	v := &certificate.Validator{Service: certs, Issuer: certificate.CAIssuer{CA: newTestServerCA(t)},
		Resolver: validationResolver{zones: zones, external: &dnsresolve.Resolver{Servers: []string{public.addr}, Timeout: time.Second}}}

	const inZone, public1, chained = "iot.fleet.example", "api.public.example", "www.chained.example"
	out, err := acm.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String(inZone),
		SubjectAlternativeNames: []string{public1, chained}, ValidationMethod: acmtypes.ValidationMethodDns})
	if err != nil {
		t.Fatal(err)
	}
	arn := out.CertificateArn
	record := func(name string) certificate.ResourceRecord { return certs.ValidationRecord(name) }

	z, err := r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("fleet.example"), CallerReference: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	cname := func(name, value string) {
		t.Helper()
		_, err := r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id,
			ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert,
				ResourceRecordSet: &r53types.ResourceRecordSet{Name: aws.String(name), Type: r53types.RRTypeCname, TTL: aws.Int64(300),
					ResourceRecords: []r53types.ResourceRecord{{Value: aws.String(value)}}}}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Public DNS has every record, even the one of the Portico zone's name,
	// and the chained name points at a name of the Portico zone.
	public.set(record(inZone).Name, record(inZone).Value)
	public.set(record(public1).Name, record(public1).Value)
	public.set(record(chained).Name, "_hop.fleet.example.")

	statuses := func() map[string]acmtypes.DomainStatus {
		t.Helper()
		if err := v.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		d, err := acm.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]acmtypes.DomainStatus{"": acmtypes.DomainStatus(d.Certificate.Status)}
		for _, o := range d.Certificate.DomainValidationOptions {
			got[aws.ToString(o.DomainName)] = o.ValidationStatus
		}
		return got
	}
	got := statuses()
	if got[public1] != acmtypes.DomainStatusSuccess || got[inZone] != acmtypes.DomainStatusPendingValidation || got[chained] != acmtypes.DomainStatusPendingValidation {
		t.Fatalf("before the Portico records: %v (public name validated, zone name answered by its zone only)", got)
	}
	cname("_hop.fleet.example", record(chained).Value)
	if got := statuses(); got[chained] != acmtypes.DomainStatusSuccess || got[inZone] != acmtypes.DomainStatusPendingValidation {
		t.Fatalf("after the hop record: %v", got)
	}
	cname(record(inZone).Name, record(inZone).Value)
	if got := statuses(); got[""] != acmtypes.DomainStatus(acmtypes.CertificateStatusIssued) {
		t.Fatalf("after every record: %v", got)
	}
}

// TestExternalResolver: --validation-resolvers wins; without it the
// nameservers of /etc/resolv.conf are used (none: Portico's zones only).
func TestExternalResolver(t *testing.T) {
	n := &node{cfg: config.Config{ValidationResolvers: []string{"127.0.0.9:5353", "[::1]:53"}}, logger: apitest.Logger()}
	if r := n.externalResolver(); r == nil || !slices.Equal(r.Servers, n.cfg.ValidationResolvers) {
		t.Fatalf("with the flag: %+v", r)
	}
	n.cfg.ValidationResolvers = nil
	want, err := dnsresolve.FromResolvConf("/etc/resolv.conf")
	r := n.externalResolver()
	switch {
	case err != nil && r != nil:
		t.Fatalf("no usable /etc/resolv.conf (%v), yet resolver %+v", err, r)
	case err == nil && (r == nil || !slices.Equal(r.Servers, want)):
		t.Fatalf("default: %+v, want servers %v", r, want)
	}
}
