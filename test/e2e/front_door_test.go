package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/testpki"
)

const (
	frontZone     = "frontdoor.example"
	frontDomain   = "devices.frontdoor.example"
	mqttOnlyHost  = "mqtt-only.frontdoor.example"
	frontTopic    = "test/front-door"
	frontTopicURL = "test%2Ffront-door"
	curlTopic     = "front-door"
)

// TestFrontDoor drives the ALPN-routed port (AWS's 443) with the real
// clients: mosquitto with --tls-alpn x-amzn-mqtt-ca, openssl s_client
// speaking HTTP with ALPN x-amzn-http-ca, the aws CLI and curl signing with
// SigV4, mosquitto with ALPN mqtt (custom authentication, refused until
// custom authorizers exist), RSA and ECDSA certificates side by side, and a
// domain restricted to MQTT with X.509. MQTT over WebSocket has no CLI
// client here (mosquitto 2.0.11's clients lack websockets); the gateway's Go
// tests cover it with paho.
func TestFrontDoor(t *testing.T) {
	requireTools(t, "aws", "mosquitto_pub", "mosquitto_sub", "curl", "openssl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	p := ns.startPortico(t, bin, "--data-dir", dataDir, "--dns-addr", "127.0.0.1:53", "--tls-addr", "127.0.0.1:443")

	// An ECDSA and an RSA server certificate for both names, from the operator's CA.
	ca := testpki.NewCA(t, "Front Door Root CA")
	caPEM := writeFile(t, dir, "ca.pem", ca.PEM)
	ec := ca.Server(t, frontDomain, mqttOnlyHost)
	rsaCertPEM, rsaKeyPEM := rsaServerLeaf(t, ca, frontDomain, mqttOnlyHost)
	importCert := func(name string, cert, key []byte) string {
		var out struct{ CertificateArn string }
		ns.aws(t, &out, "acm", "import-certificate", "--certificate", "fileb://"+writeFile(t, dir, name+".pem", cert),
			"--private-key", "fileb://"+writeFile(t, dir, name+"-key.pem", key), "--certificate-chain", "fileb://"+caPEM)
		return out.CertificateArn
	}
	ecARN := importCert("ecdsa", ec.CertPEM, ec.KeyPEM)
	rsaARN := importCert("rsa", rsaCertPEM, rsaKeyPEM)

	ns.aws(t, nil, "iot", "create-domain-configuration", "--domain-configuration-name", "FrontDoor",
		"--domain-name", frontDomain, "--server-certificate-arns", rsaARN, ecARN, "--service-type", "DATA")
	ns.aws(t, nil, "iot", "create-domain-configuration", "--domain-configuration-name", "MqttOnly",
		"--domain-name", mqttOnlyHost, "--server-certificate-arns", ecARN,
		"--authentication-type", "AWS_X509", "--application-protocol", "SECURE_MQTT")

	var ep struct{ EndpointAddress string }
	ns.aws(t, &ep, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	var zone struct{ HostedZone struct{ Id string } }
	ns.aws(t, &zone, "route53", "create-hosted-zone", "--name", frontZone, "--caller-reference", "front-door")
	var change struct{ ChangeInfo struct{ Id string } }
	ns.aws(t, &change, "route53", "change-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id, "--change-batch",
		`{"Changes":[`+cname(frontDomain, ep.EndpointAddress)+`,`+cname(mqttOnlyHost, ep.EndpointAddress)+`]}`)
	waitInsync(t, ns, change.ChangeInfo.Id)

	var keys struct {
		CertificateArn, CertificatePem string
		KeyPair                        struct{ PrivateKey string }
	}
	ns.aws(t, &keys, "iot", "create-keys-and-certificate", "--set-as-active")
	deviceCert := writeFile(t, dir, "device-cert.pem", []byte(keys.CertificatePem))
	deviceKey := writeFile(t, dir, "device-key.pem", []byte(keys.KeyPair.PrivateKey))
	// The device's policy: its client IDs, and the test's two topics.
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	ns.aws(t, nil, "iot", "create-policy", "--policy-name", "FrontDoorDevice", "--policy-document", `{"Version":"2012-10-17","Statement":[`+
		`{"Effect":"Allow","Action":"iot:Connect","Resource":["`+arn+`client/front-*","`+arn+`client/mo-*","`+arn+`client/managed-*"]},`+
		`{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["`+arn+`topic/`+frontTopic+`","`+arn+`topic/`+curlTopic+`"]},`+
		`{"Effect":"Allow","Action":"iot:Subscribe","Resource":["`+arn+`topicfilter/`+frontTopic+`","`+arn+`topicfilter/`+curlTopic+`"]}]}`)
	ns.aws(t, nil, "iot", "attach-policy", "--policy-name", "FrontDoorDevice", "--target", keys.CertificateArn)
	mqttArgs := func(host, port, alpn string) []string {
		args := []string{"--host", host, "--port", port, "--cafile", caPEM, "--cert", deviceCert, "--key", deviceKey}
		if alpn != "" {
			args = append(args, "--tls-alpn", alpn)
		}
		return args
	}

	// MQTT with X.509 on 443: ALPN x-amzn-mqtt-ca.
	sub := ns.startBackground(t, "mosquitto_sub", append(mqttArgs(frontDomain, "443", "x-amzn-mqtt-ca"), "-t", frontTopic, "-t", curlTopic, "-d", "-i", "front-sub")...)
	sub.waitFor(t, "Subscribed", 15*time.Second)
	ns.ok(t, "mosquitto_pub", append(mqttArgs(frontDomain, "443", "x-amzn-mqtt-ca"), "-t", frontTopic, "-m", "mqtt-443", "-i", "front-pub-1")...)
	sub.waitFor(t, "mqtt-443", 10*time.Second)
	// 8883 takes MQTT with or without ALPN.
	ns.ok(t, "mosquitto_pub", append(mqttArgs(frontDomain, "8883", "x-amzn-mqtt-ca"), "-t", frontTopic, "-m", "mqtt-8883-alpn", "-i", "front-pub-2")...)
	sub.waitFor(t, "mqtt-8883-alpn", 10*time.Second)

	// HTTPS with X.509 on 443: ALPN x-amzn-http-ca, a raw HTTP request through openssl.
	body := `{"via":"x-amzn-http-ca"}`
	request := writeFile(t, dir, "request.http", []byte(fmt.Sprintf("POST /topics/%s?qos=1 HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		frontTopicURL, frontDomain, len(body), body)))
	out := ns.ok(t, "sh", "-c", "openssl s_client -quiet -connect "+frontDomain+":443 -servername "+frontDomain+" -alpn x-amzn-http-ca -cert "+deviceCert+
		" -key "+deviceKey+" -CAfile "+caPEM+" < "+request)
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("HTTPS publish with ALPN x-amzn-http-ca:\n%s", out)
	}
	sub.waitFor(t, body, 10*time.Second)

	// The policy holds on 443 too: a client ID it does not name, and an
	// HTTPS publish to a topic it does not name, are refused.
	if r := ns.run("mosquitto_pub", append(mqttArgs(frontDomain, "443", "x-amzn-mqtt-ca"), "-t", frontTopic, "-m", "x", "-i", "stranger-1")...); r.err == nil ||
		!strings.Contains(r.stderr+r.stdout, "not authorised") {
		t.Fatalf("a client ID the policy does not allow, on 443:\n%s", r)
	}
	forbidden := writeFile(t, dir, "forbidden.http", []byte(fmt.Sprintf("POST /topics/test%%2Fforbidden?qos=1 HTTP/1.1\r\nHost: %s\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", frontDomain)))
	out = ns.ok(t, "sh", "-c", "openssl s_client -quiet -connect "+frontDomain+":443 -servername "+frontDomain+" -alpn x-amzn-http-ca -cert "+deviceCert+
		" -key "+deviceKey+" -CAfile "+caPEM+" < "+forbidden)
	if !strings.HasPrefix(out, "HTTP/1.1 403") || !strings.Contains(out, "ForbiddenException") {
		t.Fatalf("HTTPS publish with ALPN x-amzn-http-ca to a topic the policy does not allow:\n%s", out)
	}

	// HTTPS with SigV4 on 443 (no ALPN, or http/1.1): the aws CLI and curl.
	ns.aws(t, nil, "iot-data", "publish", "--endpoint-url", "https://"+frontDomain+":443", "--ca-bundle", caPEM,
		"--topic", frontTopic, "--payload", `{"via":"aws-cli-443"}`)
	sub.waitFor(t, `{"via":"aws-cli-443"}`, 10*time.Second)
	// curl 7.88 signs the path as sent, without the second encoding AWS
	// services other than S3 expect, so its topic has no encoded slash.
	ns.ok(t, "curl", "-fsS", "--cacert", caPEM, "--aws-sigv4", "aws:amz:us-east-1:iotdata", "--user", accessKey+":"+secretKey,
		"-X", "POST", "--data", `{"via":"curl-sigv4-443"}`, "https://"+frontDomain+"/topics/"+curlTopic)
	sub.waitFor(t, `{"via":"curl-sigv4-443"}`, 10*time.Second)

	// ALPN mqtt is custom authentication: the TLS handshake completes without
	// a client certificate, and the CONNECT names an authorizer that does not
	// exist, so it is refused and the log says why.
	r := ns.run("mosquitto_pub", "--host", frontDomain, "--port", "443", "--cafile", caPEM, "--tls-alpn", "mqtt",
		"-u", "device-7?x-amz-customauthorizer-name=MyAuthorizer", "-P", "token", "-t", frontTopic, "-m", "custom", "-i", "custom-1")
	if r.err == nil || !strings.Contains(r.stderr+r.stdout, "not authorised") {
		t.Fatalf("custom-auth MQTT on 443:\n%s", r)
	}
	if !strings.Contains(p.out.String(), "authorizer MyAuthorizer does not exist") {
		t.Fatalf("the refusal's reason is not in Portico's log:\n%s", p.out.String())
	}

	// RSA and ECDSA side by side: an RSA-only TLS 1.2 client gets the RSA certificate.
	for _, tc := range []struct{ args, want string }{
		{"-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256", "rsaEncryption"},
		{"", "id-ecPublicKey"},
	} {
		out := ns.ok(t, "sh", "-c", "openssl s_client -connect "+frontDomain+":443 -servername "+frontDomain+" "+tc.args+
			" -CAfile "+caPEM+" </dev/null 2>/dev/null | openssl x509 -noout -text")
		if !strings.Contains(out, "Public Key Algorithm: "+tc.want) {
			t.Fatalf("openssl s_client %s: want %s:\n%s", tc.args, tc.want, out)
		}
	}

	// A domain restricted to MQTT with X.509: MQTT works on 443 and 8883,
	// HTTPS is refused during the handshake (no_application_protocol).
	ns.ok(t, "mosquitto_pub", append(mqttArgs(mqttOnlyHost, "443", "x-amzn-mqtt-ca"), "-t", frontTopic, "-m", "mqtt-only-443", "-i", "mo-1")...)
	sub.waitFor(t, "mqtt-only-443", 10*time.Second)
	ns.ok(t, "mosquitto_pub", append(mqttArgs(mqttOnlyHost, "8883", ""), "-t", frontTopic, "-m", "mqtt-only-8883", "-i", "mo-2")...)
	sub.waitFor(t, "mqtt-only-8883", 10*time.Second)
	r = ns.run("curl", "-sS", "--cacert", caPEM, "--aws-sigv4", "aws:amz:us-east-1:iotdata", "--user", accessKey+":"+secretKey,
		"-X", "POST", "--data", "refused", "https://"+mqttOnlyHost+"/topics/"+frontTopicURL)
	if r.err == nil || !strings.Contains(r.stderr, "no application protocol") {
		t.Fatalf("HTTPS to the MQTT-only domain:\n%s", r)
	}
	r = ns.run("sh", "-c", "openssl s_client -quiet -connect "+mqttOnlyHost+":443 -servername "+mqttOnlyHost+" -alpn x-amzn-http-ca -cert "+deviceCert+
		" -key "+deviceKey+" -CAfile "+caPEM+" < "+request)
	if r.err == nil || !strings.Contains(r.stderr, "no application protocol") {
		t.Fatalf("x-amzn-http-ca to the MQTT-only domain:\n%s", r)
	}

	// An AWS-managed configuration: a generated hostname, resolved by
	// Portico's DNS, served a certificate from Portico's server CA.
	ns.aws(t, nil, "iot", "create-domain-configuration", "--domain-configuration-name", "Managed", "--service-type", "DATA")
	var managed struct{ DomainName, DomainType string }
	ns.aws(t, &managed, "iot", "describe-domain-configuration", "--domain-configuration-name", "Managed")
	if managed.DomainType != "AWS_MANAGED" || managed.DomainName == "" {
		t.Fatalf("describe-domain-configuration Managed = %+v", managed)
	}
	serverCA := writeFile(t, dir, "portico-server-ca.pem", []byte(ns.ok(t, bin, "ca", "export", "--data-dir", dataDir)))
	ns.ok(t, "mosquitto_pub", "--host", managed.DomainName, "--port", "443", "--tls-alpn", "x-amzn-mqtt-ca", "--cafile", serverCA,
		"--cert", deviceCert, "--key", deviceKey, "-t", frontTopic, "-m", "aws-managed-443", "-i", "managed-1")
	sub.waitFor(t, "aws-managed-443", 10*time.Second)

	// A policy change applies to a connected device at once: detached, the
	// subscriber receives nothing more; attached again, it receives again.
	ns.aws(t, nil, "iot", "detach-policy", "--policy-name", "FrontDoorDevice", "--target", keys.CertificateArn)
	ns.aws(t, nil, "iot-data", "publish", "--endpoint-url", "https://"+frontDomain+":443", "--ca-bundle", caPEM,
		"--topic", frontTopic, "--payload", "while-detached")
	ns.aws(t, nil, "iot", "attach-policy", "--policy-name", "FrontDoorDevice", "--target", keys.CertificateArn)
	ns.aws(t, nil, "iot-data", "publish", "--endpoint-url", "https://"+frontDomain+":443", "--ca-bundle", caPEM,
		"--topic", frontTopic, "--payload", "attached-again")
	sub.waitFor(t, "attached-again", 10*time.Second)
	if strings.Contains(sub.out.String(), "while-detached") {
		t.Fatalf("the subscriber received a message while its policy was detached:\n%s", sub.out.String())
	}

	// Disabling the domain closes the session on 443 too.
	ns.aws(t, nil, "iot", "update-domain-configuration", "--domain-configuration-name", "FrontDoor", "--domain-configuration-status", "DISABLED")
	waitUntil(t, 10*time.Second, "the 443 subscriber's session to be closed", func() bool {
		return strings.Count(sub.out.String(), "sending CONNECT") > 1 || sub.exited(0)
	})
}

func cname(name, target string) string {
	return `{"Action":"CREATE","ResourceRecordSet":{"Name":"` + name + `","Type":"CNAME","TTL":300,"ResourceRecords":[{"Value":"` + target + `"}]}}`
}

// rsaServerLeaf issues an RSA 2048 server certificate from the test CA.
func rsaServerLeaf(t *testing.T, ca *testpki.CA, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}
