package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/testpki"
)

const ocspDomain = "ocsp.yourcompany.com"

// TestOCSPStaplingAndRotation covers the rest of the TLS front door with real
// clients: a custom domain with enableOCSPCheck staples the response of the
// operator's OCSP responder (openssl ocsp, started by the test); an
// AWS-managed domain staples the answer of Portico's own CA; a certificate
// re-imported under the same ARN, and the guide's two-step
// update-domain-configuration --server-certificate-arns rotation, are served
// on the next handshake.
func TestOCSPStaplingAndRotation(t *testing.T) {
	requireTools(t, "aws", "openssl", "curl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	ns.startPortico(t, bin, "--data-dir", filepath.Join(dir, "data"), "--dns-addr", "127.0.0.1:53")

	// The operator's CA runs its own OCSP responder.
	ca := testpki.NewCA(t, "Operator OCSP Root")
	caPEM := writeFile(t, dir, "ca.pem", ca.PEM)
	caKey := writeFile(t, dir, "ca-key.pem", testpki.PKCS8(t, ca.Key))
	leaf := ca.Issue(t, testpki.LeafOptions{CommonName: ocspDomain, DNSNames: []string{ocspDomain},
		OCSPServer: []string{"http://127.0.0.1:8888"}})
	index := fmt.Sprintf("V\t%s\t\t%X\tunknown\t/CN=%s\n", leaf.Cert.NotAfter.UTC().Format("060102150405Z"), leaf.Cert.SerialNumber, ocspDomain)
	indexFile := writeFile(t, dir, "index.txt", []byte(index))
	responder := ns.startBackground(t, "openssl", "ocsp", "-index", indexFile, "-port", "8888",
		"-rsigner", caPEM, "-rkey", caKey, "-CA", caPEM, "-nmin", "60")
	responder.waitFor(t, "waiting for OCSP client connections", 10*time.Second)

	var imported struct{ CertificateArn string }
	ns.aws(t, &imported, "acm", "import-certificate", "--certificate", "fileb://"+writeFile(t, dir, "leaf.pem", leaf.CertPEM),
		"--private-key", "fileb://"+writeFile(t, dir, "leaf-key.pem", leaf.KeyPEM), "--certificate-chain", "fileb://"+caPEM)
	ns.aws(t, nil, "iot", "create-domain-configuration", "--domain-configuration-name", "Stapled",
		"--domain-name", ocspDomain, "--server-certificate-arns", imported.CertificateArn,
		"--server-certificate-config", "enableOCSPCheck=true")

	status := func(serverName, cafile string) string {
		// 8443 takes handshakes without a client certificate.
		return ns.run("sh", "-c", "openssl s_client -connect 127.0.0.1:8443 -servername "+serverName+
			" -status -CAfile "+cafile+" </dev/null 2>&1").stdout
	}
	waitUntil(t, 15*time.Second, "the operator's OCSP staple", func() bool {
		out := status(ocspDomain, caPEM)
		return strings.Contains(out, "OCSP Response Status: successful") && strings.Contains(out, "Cert Status: good")
	})

	// An AWS-managed domain: Portico's own CA certifies it and answers OCSP.
	var managed struct{ DomainConfigurationName string }
	ns.aws(t, &managed, "iot", "create-domain-configuration", "--domain-configuration-name", "Managed",
		"--server-certificate-config", "enableOCSPCheck=true")
	var described struct{ DomainName, DomainType string }
	ns.aws(t, &described, "iot", "describe-domain-configuration", "--domain-configuration-name", "Managed")
	if described.DomainType != "AWS_MANAGED" || !strings.HasSuffix(described.DomainName, ".iot.us-east-1.portico.internal") {
		t.Fatalf("AWS-managed configuration = %+v", described)
	}
	serverCA := writeFile(t, dir, "portico-server-ca.pem", []byte(ns.ok(t, bin, "ca", "export", "--data-dir", filepath.Join(dir, "data"))))
	if a := ns.ok(t, "dig", "@127.0.0.1", "+short", described.DomainName, "A"); strings.TrimSpace(a) != "127.0.0.1" {
		t.Fatalf("dig %s = %q", described.DomainName, a)
	}
	waitUntil(t, 15*time.Second, "Portico's own OCSP staple", func() bool {
		out := status(described.DomainName, serverCA)
		return strings.Contains(out, "Cert Status: good") && strings.Contains(out, "Verify return code: 0 (ok)")
	})
	// The default endpoint's certificate points at the same responder.
	var ep struct{ EndpointAddress string }
	ns.aws(t, &ep, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	served := writeFile(t, dir, "default-leaf.pem", []byte(ns.ok(t, "sh", "-c", "openssl s_client -connect 127.0.0.1:8443 -servername "+
		ep.EndpointAddress+" </dev/null 2>/dev/null | openssl x509")))
	ocspURL := strings.TrimSpace(ns.ok(t, "openssl", "x509", "-in", served, "-noout", "-ocsp_uri"))
	if ocspURL != "http://127.0.0.1:4566/_portico/pki/server/ocsp" {
		t.Fatalf("default endpoint OCSP URL = %q", ocspURL)
	}
	// The leaf's issuer is the server CA's intermediate, the first certificate
	// of `ca export --chain`; the root stays the only trust anchor.
	chain := writeFile(t, dir, "portico-server-chain.pem", []byte(ns.ok(t, bin, "ca", "export", "--chain", "--data-dir", filepath.Join(dir, "data"))))
	intermediate := writeFile(t, dir, "portico-server-intermediate.pem", []byte(ns.ok(t, "openssl", "x509", "-in", chain)))
	if out := ns.ok(t, "openssl", "ocsp", "-issuer", intermediate, "-cert", served, "-url", ocspURL, "-CAfile", serverCA, "-verify_other", intermediate); !strings.Contains(out, ": good") {
		t.Fatalf("openssl ocsp against Portico:\n%s", out)
	}

	fingerprint := func(serverName string) string {
		return strings.TrimSpace(ns.run("sh", "-c", "openssl s_client -connect 127.0.0.1:8443 -servername "+serverName+
			" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256").stdout)
	}
	fingerprintOf := func(pemData []byte) string {
		return strings.TrimSpace(ns.ok(t, "openssl", "x509", "-in", writeFile(t, dir, "fp.pem", pemData), "-noout", "-fingerprint", "-sha256"))
	}

	// Rotation, the AWS way: re-import under the same ARN.
	renewed := ca.Issue(t, testpki.LeafOptions{CommonName: ocspDomain, DNSNames: []string{ocspDomain}})
	ns.aws(t, nil, "acm", "import-certificate", "--certificate-arn", imported.CertificateArn,
		"--certificate", "fileb://"+writeFile(t, dir, "renewed.pem", renewed.CertPEM),
		"--private-key", "fileb://"+writeFile(t, dir, "renewed-key.pem", renewed.KeyPEM), "--certificate-chain", "fileb://"+caPEM)
	want := fingerprintOf(renewed.CertPEM)
	waitUntil(t, 2*time.Second, "the re-imported certificate on a fresh handshake", func() bool { return fingerprint(ocspDomain) == want })

	// Rotation, the guide's way: NEW OLD, then NEW, with the extended model.
	home := t.TempDir()
	model := writeFile(t, dir, "iot-model.json", []byte(ns.ok(t, bin, "aws-model")))
	ns.env = append(ns.env, "HOME="+home)
	ns.ok(t, "aws", "configure", "add-model", "--service-model", "file://"+model, "--service-name", "iot")
	next := ca.Issue(t, testpki.LeafOptions{CommonName: ocspDomain, DNSNames: []string{ocspDomain},
		NotBefore: time.Now().Add(-time.Minute)})
	var nextARN struct{ CertificateArn string }
	ns.aws(t, &nextARN, "acm", "import-certificate", "--certificate", "fileb://"+writeFile(t, dir, "next.pem", next.CertPEM),
		"--private-key", "fileb://"+writeFile(t, dir, "next-key.pem", next.KeyPEM), "--certificate-chain", "fileb://"+caPEM)
	ns.aws(t, nil, "iot", "update-domain-configuration", "--domain-configuration-name", "Stapled",
		"--server-certificate-arns", nextARN.CertificateArn, imported.CertificateArn)
	var both struct {
		ServerCertificates []struct{ ServerCertificateArn, ServerCertificateStatus string } `json:"serverCertificates"`
	}
	ns.aws(t, &both, "iot", "describe-domain-configuration", "--domain-configuration-name", "Stapled")
	if len(both.ServerCertificates) != 2 {
		out, _ := json.Marshal(both)
		t.Fatalf("after NEW OLD: %s", out)
	}
	// Both are served; the newest is preferred.
	want = fingerprintOf(next.CertPEM)
	waitUntil(t, 2*time.Second, "the newest certificate while both are configured", func() bool { return fingerprint(ocspDomain) == want })
	ns.aws(t, nil, "iot", "update-domain-configuration", "--domain-configuration-name", "Stapled",
		"--server-certificate-arns", nextARN.CertificateArn)
	ns.aws(t, nil, "acm", "delete-certificate", "--certificate-arn", imported.CertificateArn)
	if got := fingerprint(ocspDomain); got != want {
		t.Fatalf("after NEW: served %s, want %s", got, want)
	}
}
