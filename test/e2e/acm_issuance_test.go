package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRequestedCertificateIsIssuedAfterDNSValidation follows ACM's DNS
// validation with the real clients: request a certificate, publish the
// validation CNAME it asks for in a Portico hosted zone, watch it become
// ISSUED by Portico's server CA, and serve it on a custom domain.
func TestRequestedCertificateIsIssuedAfterDNSValidation(t *testing.T) {
	requireTools(t, "aws", "openssl", "curl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	ns.startPortico(t, bin, "--data-dir", dataDir, "--dns-addr", "127.0.0.1:53")

	const name = "fleet.yourcompany.com"
	var requested struct{ CertificateArn string }
	ns.aws(t, &requested, "acm", "request-certificate", "--domain-name", name, "--validation-method", "DNS",
		"--key-algorithm", "EC_prime256v1")
	var pending struct {
		Certificate struct {
			Status                  string
			DomainValidationOptions []struct {
				DomainName, ValidationStatus string
				ResourceRecord               struct{ Name, Type, Value string }
			}
		}
	}
	ns.aws(t, &pending, "acm", "describe-certificate", "--certificate-arn", requested.CertificateArn)
	if pending.Certificate.Status != "PENDING_VALIDATION" || len(pending.Certificate.DomainValidationOptions) != 1 {
		t.Fatalf("after request: %+v", pending.Certificate)
	}
	rr := pending.Certificate.DomainValidationOptions[0].ResourceRecord
	if rr.Type != "CNAME" || !strings.HasSuffix(rr.Name, name+".") {
		t.Fatalf("validation record = %+v", rr)
	}
	ns.awsFails(t, "RequestInProgressException", "acm", "get-certificate", "--certificate-arn", requested.CertificateArn)

	// The operator publishes the record in the zone Portico serves.
	var zone struct{ HostedZone struct{ Id string } }
	ns.aws(t, &zone, "route53", "create-hosted-zone", "--name", "yourcompany.com", "--caller-reference", "acm-e2e")
	ns.aws(t, nil, "route53", "change-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id, "--change-batch",
		`{"Changes":[`+cname(strings.TrimSuffix(rr.Name, "."), strings.TrimSuffix(rr.Value, "."))+`]}`)
	if out := ns.ok(t, "dig", "@127.0.0.1", "+short", rr.Name, "CNAME"); strings.TrimSpace(out) != rr.Value {
		t.Fatalf("dig %s = %q, want %q", rr.Name, out, rr.Value)
	}
	waitUntil(t, 20*time.Second, "the certificate to be ISSUED", func() bool {
		var d struct{ Certificate struct{ Status string } }
		ns.aws(t, &d, "acm", "describe-certificate", "--certificate-arn", requested.CertificateArn)
		return d.Certificate.Status == "ISSUED"
	})

	// Served on a custom domain, it verifies against Portico's server CA.
	ns.aws(t, nil, "iot", "create-domain-configuration", "--domain-configuration-name", "Fleet",
		"--domain-name", name, "--server-certificate-arns", requested.CertificateArn)
	serverCA := writeFile(t, dir, "server-ca.pem", []byte(ns.ok(t, bin, "ca", "export", "--data-dir", dataDir)))
	var out string
	waitUntil(t, 5*time.Second, "the issued certificate on the domain", func() bool {
		out = ns.run("sh", "-c", "openssl s_client -connect 127.0.0.1:8443 -servername "+name+" -CAfile "+serverCA+
			" -verify_hostname "+name+" </dev/null 2>&1").stdout
		return strings.Contains(out, "Verify return code: 0 (ok)")
	})
	if !strings.Contains(out, "CN = "+name) && !strings.Contains(out, "CN="+name) {
		t.Fatalf("served certificate is not for %s:\n%s", name, out)
	}
}
