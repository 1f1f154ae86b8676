package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/testpki"
)

const (
	accessKey = "AKIAPORTICOE2E000001"
	secretKey = "portico-e2e-secret-key-00000000000000000"
	domain    = "iot.yourcompany.com"
	topic     = "test/custom-domain"
)

// TestCustomDomainGuide walks the AWS custom-domain guide against Portico with
// the real clients, step by step (issue: walking skeleton, steps 1 to 8).
func TestCustomDomainGuide(t *testing.T) {
	requireTools(t, "aws", "dig", "mosquitto_pub", "mosquitto_sub", "curl", "openssl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	serveArgs := []string{"--data-dir", dataDir, "--dns-addr", "127.0.0.1:53", "--advertise-addr", "127.0.0.1"}
	p := ns.startPortico(t, bin, serveArgs...)

	// The operator's own CA and server certificate, as in the guide.
	ca := testpki.NewCA(t, "Your Company Root CA")
	server := ca.Server(t, domain)
	caPEM := writeFile(t, dir, "ca.pem", ca.PEM)
	serverCert := writeFile(t, dir, "server-cert.pem", server.CertPEM)
	serverKey := writeFile(t, dir, "server-key.pem", server.KeyPEM)

	// Step 1: ACM import, validated.
	var imported struct{ CertificateArn string }
	ns.aws(t, &imported, "acm", "import-certificate", "--certificate", "fileb://"+serverCert,
		"--private-key", "fileb://"+serverKey, "--certificate-chain", "fileb://"+caPEM)
	if !strings.HasPrefix(imported.CertificateArn, "arn:aws:acm:us-east-1:") {
		t.Fatalf("import ARN = %q", imported.CertificateArn)
	}
	var described struct {
		Certificate struct {
			DomainName, Status, Type string
		}
	}
	ns.aws(t, &described, "acm", "describe-certificate", "--certificate-arn", imported.CertificateArn)
	if described.Certificate.DomainName != domain || described.Certificate.Status != "ISSUED" || described.Certificate.Type != "IMPORTED" {
		t.Fatalf("describe-certificate = %+v", described.Certificate)
	}
	var listed struct {
		CertificateSummaryList []struct{ CertificateArn string }
	}
	// As in ACM, only RSA certificates are listed unless other key types are asked for.
	ns.aws(t, &listed, "acm", "list-certificates", "--includes", "keyTypes=EC_prime256v1,RSA_2048")
	if len(listed.CertificateSummaryList) != 1 || listed.CertificateSummaryList[0].CertificateArn != imported.CertificateArn {
		t.Fatalf("list-certificates = %+v", listed)
	}
	var got struct{ Certificate, CertificateChain string }
	ns.aws(t, &got, "acm", "get-certificate", "--certificate-arn", imported.CertificateArn)
	if strings.TrimSpace(got.Certificate) != strings.TrimSpace(string(server.CertPEM)) {
		t.Fatalf("get-certificate returned another certificate:\n%s", got.Certificate)
	}
	// Bad imports.
	other := ca.Server(t, "other.example.com")
	badPEM := writeFile(t, dir, "bad.pem", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
	otherKey := writeFile(t, dir, "other-key.pem", other.KeyPEM)
	ns.awsFails(t, "ValidationException", "acm", "import-certificate", "--certificate", "fileb://"+badPEM, "--private-key", "fileb://"+serverKey)
	ns.awsFails(t, "ValidationException", "acm", "import-certificate", "--certificate", "fileb://"+serverCert, "--private-key", "fileb://"+otherKey)
	expired := ca.Expired(t, domain)
	ns.awsFails(t, "ValidationException", "acm", "import-certificate", "--certificate", "fileb://"+writeFile(t, dir, "exp.pem", expired.CertPEM),
		"--private-key", "fileb://"+writeFile(t, dir, "exp-key.pem", expired.KeyPEM))
	var wrongDomain struct{ CertificateArn string }
	ns.aws(t, &wrongDomain, "acm", "import-certificate", "--certificate", "fileb://"+writeFile(t, dir, "other.pem", other.CertPEM),
		"--private-key", "fileb://"+otherKey, "--certificate-chain", "fileb://"+caPEM)

	// Step 2: the domain configuration, policy name spelled as in the guide.
	var created struct{ DomainConfigurationName, DomainConfigurationArn string }
	ns.aws(t, &created, "iot", "create-domain-configuration", "--domain-configuration-name", "CustomIoTDomain",
		"--domain-name", domain, "--server-certificate-arns", imported.CertificateArn, "--service-type", "DATA",
		"--tls-config", `{"securityPolicy": "IotSecurityPolicy_TLS13_1_3_2022_10"}`)
	if created.DomainConfigurationName != "CustomIoTDomain" {
		t.Fatalf("create-domain-configuration = %+v", created)
	}
	ns.awsFails(t, "ResourceAlreadyExistsException", "iot", "create-domain-configuration", "--domain-configuration-name", "CustomIoTDomain",
		"--domain-name", "x.yourcompany.com", "--server-certificate-arns", imported.CertificateArn)
	ns.awsFails(t, "CertificateValidationException", "iot", "create-domain-configuration", "--domain-configuration-name", "WrongDomain",
		"--domain-name", domain+".example", "--server-certificate-arns", wrongDomain.CertificateArn)
	ns.awsFails(t, "CertificateValidationException", "iot", "create-domain-configuration", "--domain-configuration-name", "UnknownCert",
		"--domain-name", "u.yourcompany.com", "--server-certificate-arns", "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000")
	ns.awsFails(t, "ResourceInUseException", "acm", "delete-certificate", "--certificate-arn", imported.CertificateArn)

	// Step 3: describe, list, delete refused while ENABLED.
	var dc struct {
		DomainConfigurationStatus, DomainName, DomainType string
		TLSConfig                                         struct{ SecurityPolicy string } `json:"tlsConfig"`
	}
	ns.aws(t, &dc, "iot", "describe-domain-configuration", "--domain-configuration-name", "CustomIoTDomain")
	if dc.DomainConfigurationStatus != "ENABLED" || dc.DomainName != domain || dc.TLSConfig.SecurityPolicy != "IoTSecurityPolicy_TLS13_1_3_2022_10" {
		t.Fatalf("describe-domain-configuration = %+v", dc)
	}
	var dcs struct {
		DomainConfigurations []struct{ DomainConfigurationName string }
	}
	ns.aws(t, &dcs, "iot", "list-domain-configurations")
	if len(dcs.DomainConfigurations) != 4 {
		t.Fatalf("list-domain-configurations = %+v", dcs)
	}
	ns.awsFails(t, "InvalidRequestException", "iot", "delete-domain-configuration", "--domain-configuration-name", "CustomIoTDomain")

	// Unsigned and wrongly signed requests are refused with 403.
	r := ns.run("curl", "-sS", "-i", "http://127.0.0.1:4566/domainConfigurations")
	if !strings.HasPrefix(r.stdout, "HTTP/1.1 403") || !strings.Contains(r.stdout, `"__type":"MissingAuthenticationTokenException"`) {
		t.Fatalf("unsigned request: %s", r)
	}
	bad := ns.run("env", "AWS_SECRET_ACCESS_KEY=wrong", "aws", "iot", "list-domain-configurations")
	if bad.err == nil || !strings.Contains(bad.stderr, "InvalidSignatureException") {
		t.Fatalf("wrong secret: %s", bad)
	}

	// Step 4: the account endpoint, resolvable through Portico's DNS.
	var ep struct{ EndpointAddress string }
	ns.aws(t, &ep, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	if !strings.HasSuffix(ep.EndpointAddress, "-ats.iot.us-east-1.portico.internal") {
		t.Fatalf("describe-endpoint = %q", ep.EndpointAddress)
	}
	if a := ns.ok(t, "dig", "@127.0.0.1", "-p", "53", "+short", ep.EndpointAddress, "A"); strings.TrimSpace(a) != "127.0.0.1" {
		t.Fatalf("dig %s = %q", ep.EndpointAddress, a)
	}

	// Step 5: the hosted zone and the guide's CNAME batch.
	var zone struct {
		HostedZone struct{ Id string }
		ChangeInfo struct{ Id string }
	}
	ns.aws(t, &zone, "route53", "create-hosted-zone", "--name", "yourcompany.com", "--caller-reference", "x")
	batch := `{"Changes":[{"Action":"CREATE","ResourceRecordSet":{"Name":"` + domain + `","Type":"CNAME","TTL":300,` +
		`"ResourceRecords":[{"Value":"` + ep.EndpointAddress + `"}]}}]}`
	var change struct{ ChangeInfo struct{ Id, Status string } }
	ns.aws(t, &change, "route53", "change-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id, "--change-batch", batch)
	waitInsync(t, ns, change.ChangeInfo.Id)
	ns.awsFails(t, "InvalidChangeBatch", "route53", "change-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id, "--change-batch", batch)
	var rrsets struct {
		ResourceRecordSets []struct {
			Name, Type      string
			ResourceRecords []struct{ Value string }
		}
	}
	ns.aws(t, &rrsets, "route53", "list-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id)
	foundCNAME := false
	for _, rr := range rrsets.ResourceRecordSets {
		if rr.Name == domain+"." && rr.Type == "CNAME" && len(rr.ResourceRecords) == 1 && rr.ResourceRecords[0].Value == ep.EndpointAddress {
			foundCNAME = true
		}
	}
	if !foundCNAME {
		t.Fatalf("list-resource-record-sets lacks the CNAME: %+v", rrsets)
	}
	for _, transport := range []string{"+notcp", "+tcp"} {
		out := ns.ok(t, "dig", "@127.0.0.1", "-p", "53", transport, "+noall", "+answer", domain, "A")
		if !hasRecord(out, domain+".", "CNAME", ep.EndpointAddress+".") || !hasRecord(out, ep.EndpointAddress+".", "A", "127.0.0.1") {
			t.Fatalf("dig %s %s:\n%s", transport, domain, out)
		}
	}

	// Step 6: devices connect by hostname with their certificates.
	var keys struct {
		CertificateArn, CertificateId, CertificatePem string
		KeyPair                                       struct{ PrivateKey string }
	}
	ns.aws(t, &keys, "iot", "create-keys-and-certificate", "--set-as-active")
	deviceCert := writeFile(t, dir, "device-cert.pem", []byte(keys.CertificatePem))
	deviceKey := writeFile(t, dir, "device-key.pem", []byte(keys.KeyPair.PrivateKey))

	own := ca.Client(t, "sensor-2")
	ownCert := writeFile(t, dir, "own-cert.pem", own.CertPEM)
	ownKey := writeFile(t, dir, "own-key.pem", own.KeyPEM)
	var registered struct{ CertificateId, CertificateArn string }
	ns.aws(t, &registered, "iot", "register-certificate-without-ca", "--certificate-pem", "file://"+ownCert, "--status", "ACTIVE")

	// Devices need a policy, as on AWS: one that lets sub-* and pub-* clients
	// publish and receive the guide's topic and subscribe to test/...,
	// attached to both device certificates.
	policyDoc := writeFile(t, dir, "device-policy.json", []byte(`{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": ["arn:aws:iot:us-east-1:123456789012:client/sub-*", "arn:aws:iot:us-east-1:123456789012:client/pub-*"]},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"], "Resource": "arn:aws:iot:us-east-1:123456789012:topic/`+topic+`"},
    {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/test/*"},
    {"Effect": "Allow", "Action": "iot:GetRetainedMessage", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/`+topic+`"}
  ]
}`))
	var policy struct{ PolicyName, PolicyArn, PolicyVersionId string }
	ns.aws(t, &policy, "iot", "create-policy", "--policy-name", "CustomDomainDevice", "--policy-document", "file://"+policyDoc)
	if policy.PolicyArn != "arn:aws:iot:us-east-1:123456789012:policy/CustomDomainDevice" || policy.PolicyVersionId != "1" {
		t.Fatalf("create-policy = %+v", policy)
	}
	for _, arn := range []string{keys.CertificateArn, registered.CertificateArn} {
		ns.aws(t, nil, "iot", "attach-policy", "--policy-name", "CustomDomainDevice", "--target", arn)
	}
	var attached struct{ Policies []struct{ PolicyName string } }
	ns.aws(t, &attached, "iot", "list-attached-policies", "--target", keys.CertificateArn)
	if len(attached.Policies) != 1 || attached.Policies[0].PolicyName != "CustomDomainDevice" {
		t.Fatalf("list-attached-policies = %+v", attached)
	}

	tlsArgs := func(cert, key string) []string {
		return []string{"--host", domain, "--port", "8883", "--cafile", caPEM, "--cert", cert, "--key", key}
	}
	sub := ns.startBackground(t, "mosquitto_sub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-d", "-i", "sub-1")...)
	sub.waitFor(t, "Subscribed", 15*time.Second)
	ns.ok(t, "mosquitto_pub", append(tlsArgs(ownCert, ownKey), "-t", topic, "-m", `{"step":6}`, "-d", "-i", "pub-1")...)
	sub.waitFor(t, `{"step":6}`, 10*time.Second)

	// The certificate presented is the one imported in step 1.
	served := ns.ok(t, "sh", "-c", "openssl s_client -connect 127.0.0.1:8883 -servername "+domain+" -cert "+deviceCert+" -key "+deviceKey+
		" -CAfile "+caPEM+" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256")
	want := ns.ok(t, "openssl", "x509", "-in", serverCert, "-noout", "-fingerprint", "-sha256")
	if strings.TrimSpace(served) != strings.TrimSpace(want) {
		t.Fatalf("served certificate %q, imported %q", served, want)
	}

	// What the policy does not allow is refused (issue 6). A client ID the
	// policy does not name gets CONNACK "not authorized".
	if r := ns.run("mosquitto_pub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-m", "intruder", "-i", "intruder")...); r.err == nil ||
		!strings.Contains(r.stderr+r.stdout, "not authorised") {
		t.Fatalf("a client ID the policy does not allow connected:\n%s", r)
	}
	// A filter it does not name is refused in the SUBACK (0x80); test/# is
	// granted.
	wide := ns.startBackground(t, "mosquitto_sub", append(tlsArgs(deviceCert, deviceKey), "-t", "test/#", "-t", "other/topic", "-d", "-i", "sub-wide")...)
	wide.waitFor(t, "Subscribed", 15*time.Second)
	if !strings.Contains(wide.out.String(), "Subscribed (mid: 1): 0, 128") {
		t.Fatalf("SUBACK for an allowed and a refused filter:\n%s", wide.out.String())
	}
	// A topic it may not publish to: the MQTT 3.1.1 client is disconnected
	// and the message goes nowhere.
	if r := ns.run("mosquitto_pub", append(tlsArgs(deviceCert, deviceKey), "-t", "test/forbidden", "-m", "from-a-device", "-q", "1", "-i", "pub-forbidden")...); r.err == nil {
		t.Fatalf("published to a topic the policy does not allow:\n%s", r)
	}
	// A topic it may not receive, though its subscription test/# matches:
	// the message (published with the API's credentials) is not delivered.
	ns.aws(t, nil, "iot-data", "publish", "--endpoint-url", "https://"+domain+":8443", "--ca-bundle", caPEM,
		"--topic", "test/forbidden", "--payload", "from-the-api")
	ns.ok(t, "mosquitto_pub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-m", "after-forbidden", "-q", "1", "-i", "pub-after")...)
	wide.waitFor(t, "after-forbidden", 10*time.Second)
	sub.waitFor(t, "after-forbidden", 10*time.Second)
	for _, b := range []*background{wide, sub} {
		if out := b.out.String(); strings.Contains(out, "'test/forbidden'") || strings.Contains(out, "from-a-device") || strings.Contains(out, "from-the-api") {
			t.Fatalf("a subscriber received what its policy does not allow:\n%s", out)
		}
	}
	// HTTPS publish with a certificate needs iot:Publish too.
	if r := ns.run("curl", "-sS", "--cacert", caPEM, "--cert", deviceCert, "--key", deviceKey, "-X", "POST", "--data", "x", "-w", "\n%{http_code}",
		"https://"+domain+":8443/topics/test%2Fforbidden?qos=1"); r.err != nil || !strings.HasSuffix(strings.TrimSpace(r.stdout), "403") ||
		!strings.Contains(r.stdout, "ForbiddenException") {
		t.Fatalf("HTTPS publish to a topic the policy does not allow:\n%s", r)
	}
	if !strings.Contains(p.out.String(), `msg="mqtt publish refused: disconnecting the client" topic=test/forbidden`) {
		t.Fatalf("the refused publish is not in Portico's log:\n%s", p.out.String())
	}

	// Unknown and inactive device certificates are refused.
	stranger := ca.Client(t, "stranger")
	strangerCert := writeFile(t, dir, "stranger-cert.pem", stranger.CertPEM)
	strangerKey := writeFile(t, dir, "stranger-key.pem", stranger.KeyPEM)
	if r := ns.run("mosquitto_pub", append(tlsArgs(strangerCert, strangerKey), "-t", topic, "-m", "x")...); r.err == nil {
		t.Fatalf("unregistered device published:\n%s", r)
	}
	ns.aws(t, nil, "iot", "update-certificate", "--certificate-id", registered.CertificateId, "--new-status", "INACTIVE")
	if r := ns.run("mosquitto_pub", append(tlsArgs(ownCert, ownKey), "-t", topic, "-m", "x")...); r.err == nil {
		t.Fatalf("inactive device published:\n%s", r)
	}

	// Step 7: HTTPS publish, with SigV4 and with a client certificate.
	ns.aws(t, nil, "iot-data", "publish", "--endpoint-url", "https://"+domain+":8443", "--ca-bundle", caPEM,
		"--topic", topic, "--payload", `{"step":"7-sigv4"}`)
	sub.waitFor(t, `{"step":"7-sigv4"}`, 10*time.Second)
	ns.ok(t, "curl", "-fsS", "--cacert", caPEM, "--cert", deviceCert, "--key", deviceKey,
		"-X", "POST", "--data", `{"step":"7-mtls"}`, "https://"+domain+":8443/topics/test%2Fcustom-domain?qos=1")
	sub.waitFor(t, `{"step":"7-mtls"}`, 10*time.Second)
	// Retained messages read with a certificate follow the policy too:
	// iot:GetRetainedMessage on the guide's topic only, no
	// iot:ListRetainedMessages.
	for _, tp := range []string{topic, "test/forbidden"} {
		ns.aws(t, nil, "iot-data", "publish", "--endpoint-url", "https://"+domain+":8443", "--ca-bundle", caPEM,
			"--topic", tp, "--payload", `{"retained":true}`, "--retain")
	}
	getRetained := func(path string) result {
		return ns.run("curl", "-sS", "--cacert", caPEM, "--cert", deviceCert, "--key", deviceKey, "-w", "\n%{http_code}", "https://"+domain+":8443"+path)
	}
	if r := getRetained("/retainedMessage/" + strings.ReplaceAll(topic, "/", "%2F")); !strings.HasSuffix(strings.TrimSpace(r.stdout), "200") ||
		!strings.Contains(r.stdout, `"topic":"`+topic+`"`) {
		t.Fatalf("GetRetainedMessage allowed by the policy:\n%s", r)
	}
	for _, path := range []string{"/retainedMessage/test%2Fforbidden", "/retainedMessage"} {
		if r := getRetained(path); !strings.HasSuffix(strings.TrimSpace(r.stdout), "403") || !strings.Contains(r.stdout, "the policies do not allow") {
			t.Fatalf("GET %s without the policy's permission:\n%s", path, r)
		}
	}

	// Step 8: disabling closes the session and refuses new handshakes; enabling restores service.
	ns.aws(t, nil, "iot", "update-domain-configuration", "--domain-configuration-name", "CustomIoTDomain",
		"--domain-configuration-status", "DISABLED")
	// mosquitto_sub notices the closed session and keeps trying to reconnect.
	waitUntil(t, 10*time.Second, "the subscriber's session to be closed", func() bool {
		return strings.Count(sub.out.String(), "sending CONNECT") > 1 || sub.exited(0)
	})
	t.Logf("mosquitto_sub after the domain was disabled:\n%s", sub.out.String())
	if r := ns.run("mosquitto_pub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-m", "disabled")...); r.err == nil {
		t.Fatalf("published through a disabled domain:\n%s", r)
	}
	ns.aws(t, nil, "iot", "update-domain-configuration", "--domain-configuration-name", "CustomIoTDomain",
		"--domain-configuration-status", "ENABLED")
	sub2 := ns.startBackground(t, "mosquitto_sub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-d", "-i", "sub-2")...)
	sub2.waitFor(t, "Subscribed", 15*time.Second)
	ns.ok(t, "mosquitto_pub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-m", "enabled-again", "-i", "pub-2")...)
	sub2.waitFor(t, "enabled-again", 10*time.Second)

	// A crash keeps everything: kill -9, start again, and it all still works.
	p.kill()
	ns.startPortico(t, bin, serveArgs...)
	ns.aws(t, &dc, "iot", "describe-domain-configuration", "--domain-configuration-name", "CustomIoTDomain")
	if dc.DomainConfigurationStatus != "ENABLED" {
		t.Fatalf("after restart: %+v", dc)
	}
	var ep2 struct{ EndpointAddress string }
	ns.aws(t, &ep2, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	if ep2.EndpointAddress != ep.EndpointAddress {
		t.Fatalf("endpoint changed across restart: %q -> %q", ep.EndpointAddress, ep2.EndpointAddress)
	}
	sub3 := ns.startBackground(t, "mosquitto_sub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-d", "-i", "sub-3")...)
	sub3.waitFor(t, "Subscribed", 15*time.Second)
	ns.ok(t, "mosquitto_pub", append(tlsArgs(deviceCert, deviceKey), "-t", topic, "-m", "after-restart", "-i", "pub-3")...)
	sub3.waitFor(t, "after-restart", 10*time.Second)

	// Tear down in the guide's order.
	ns.aws(t, nil, "iot", "update-domain-configuration", "--domain-configuration-name", "CustomIoTDomain",
		"--domain-configuration-status", "DISABLED")
	ns.aws(t, nil, "iot", "delete-domain-configuration", "--domain-configuration-name", "CustomIoTDomain")
	ns.aws(t, nil, "acm", "delete-certificate", "--certificate-arn", imported.CertificateArn)
}

// hasRecord reports whether dig's answer section has the record.
func hasRecord(digOutput, name, typ, value string) bool {
	for _, l := range lines(digOutput) {
		f := strings.Fields(l)
		if len(f) == 5 && strings.EqualFold(f[0], name) && f[3] == typ && f[4] == value {
			return true
		}
	}
	return false
}

func waitInsync(t *testing.T, ns *netns, changeID string) {
	t.Helper()
	waitUntil(t, 10*time.Second, "change "+changeID+" to be INSYNC", func() bool {
		var c struct{ ChangeInfo struct{ Status string } }
		ns.aws(t, &c, "route53", "get-change", "--id", changeID)
		return c.ChangeInfo.Status == "INSYNC"
	})
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

var _ = exec.Command
