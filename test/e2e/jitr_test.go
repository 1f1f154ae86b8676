package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJustInTimeRegistration follows AWS's just-in-time registration guide
// against the binary: a CA made with openssl and registered with a
// verification certificate and auto-registration; a device certificate it
// signed connects once (refused, registered PENDING_ACTIVATION, the event
// published on $aws/events/certificates/registered/<caCertificateId>), the
// operator activates it, and the device connects.
func TestJustInTimeRegistration(t *testing.T) {
	requireTools(t, "aws", "openssl", "mosquitto_pub", "mosquitto_sub", "curl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	ns.startPortico(t, bin, "--data-dir", dataDir, "--dns-addr", "127.0.0.1:53")
	file := func(name string) string { return filepath.Join(dir, name) }
	openssl := func(args ...string) { ns.ok(t, "openssl", args...) }

	// The guide's CA and verification certificate.
	openssl("genrsa", "-out", file("ca.key"), "2048")
	openssl("req", "-x509", "-new", "-nodes", "-key", file("ca.key"), "-sha256", "-days", "30", "-subj", "/CN=Fleet CA", "-out", file("ca.pem"))
	var code struct{ RegistrationCode string }
	ns.aws(t, &code, "iot", "get-registration-code")
	openssl("genrsa", "-out", file("verify.key"), "2048")
	openssl("req", "-new", "-key", file("verify.key"), "-subj", "/CN="+code.RegistrationCode, "-out", file("verify.csr"))
	openssl("x509", "-req", "-in", file("verify.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial",
		"-days", "30", "-sha256", "-out", file("verify.pem"))
	var ca struct{ CertificateId string }
	ns.aws(t, &ca, "iot", "register-ca-certificate", "--ca-certificate", "file://"+file("ca.pem"),
		"--verification-cert", "file://"+file("verify.pem"), "--set-as-active", "--allow-auto-registration")

	// A watcher with a certificate of Portico's CA and a policy that lets
	// it read the registration events.
	var watcher struct {
		CertificateArn, CertificatePem string
		KeyPair                        struct{ PrivateKey string }
	}
	ns.aws(t, &watcher, "iot", "create-keys-and-certificate", "--set-as-active")
	writeFile(t, dir, "watcher.pem", []byte(watcher.CertificatePem))
	writeFile(t, dir, "watcher.key", []byte(watcher.KeyPair.PrivateKey))
	policy := writeFile(t, dir, "policy.json", []byte(`{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": "iot:Connect", "Resource": "arn:aws:iot:us-east-1:123456789012:client/*"},
  {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/events/certificates/registered/*"},
  {"Effect": "Allow", "Action": "iot:Receive", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/$aws/events/certificates/registered/*"},
  {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:123456789012:topic/fleet/*"}]}`))
	ns.aws(t, nil, "iot", "create-policy", "--policy-name", "Fleet", "--policy-document", "file://"+policy)
	ns.aws(t, nil, "iot", "attach-policy", "--policy-name", "Fleet", "--target", watcher.CertificateArn)
	var ep struct{ EndpointAddress string }
	ns.aws(t, &ep, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	serverCA := writeFile(t, dir, "server-ca.pem", []byte(ns.ok(t, bin, "ca", "export", "--data-dir", dataDir)))
	tlsArgs := func(cert, key string) []string {
		return []string{"--host", ep.EndpointAddress, "--port", "8883", "--cafile", serverCA, "--cert", cert, "--key", key}
	}
	events := ns.startBackground(t, "mosquitto_sub", append(tlsArgs(file("watcher.pem"), file("watcher.key")),
		"-t", "$aws/events/certificates/registered/"+ca.CertificateId, "-i", "watcher", "-d")...)
	events.waitFor(t, "SUBACK", 10*time.Second)

	// A device certificate the CA signed, never registered.
	openssl("genrsa", "-out", file("device.key"), "2048")
	openssl("req", "-new", "-key", file("device.key"), "-subj", "/CN=sensor-9", "-out", file("device.csr"))
	openssl("x509", "-req", "-in", file("device.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial",
		"-days", "30", "-sha256", "-out", file("device.pem"))
	publish := func() result {
		return ns.run("mosquitto_pub", append(tlsArgs(file("device.pem"), file("device.key")),
			"-i", "sensor-9", "-t", "fleet/sensor-9", "-m", "hello", "-q", "1")...)
	}
	if r := publish(); r.err == nil {
		t.Fatalf("the unregistered device connected at once:\n%s", r)
	}
	events.waitFor(t, `"certificateStatus":"PENDING_ACTIVATION"`, 10*time.Second)
	if !strings.Contains(events.out.String(), `"caCertificateId":"`+ca.CertificateId+`"`) {
		t.Fatalf("registration event:\n%s", events.out.String())
	}
	var byCA struct {
		Certificates []struct{ CertificateArn, CertificateId, Status string }
	}
	ns.aws(t, &byCA, "iot", "list-certificates-by-ca", "--ca-certificate-id", ca.CertificateId)
	if len(byCA.Certificates) != 1 || byCA.Certificates[0].Status != "PENDING_ACTIVATION" {
		t.Fatalf("list-certificates-by-ca = %+v", byCA)
	}
	// Still refused while pending; accepted once the operator activates it.
	if r := publish(); r.err == nil {
		t.Fatalf("a PENDING_ACTIVATION certificate connected:\n%s", r)
	}
	dev := byCA.Certificates[0]
	ns.aws(t, nil, "iot", "update-certificate", "--certificate-id", dev.CertificateId, "--new-status", "ACTIVE")
	ns.aws(t, nil, "iot", "attach-policy", "--policy-name", "Fleet", "--target", dev.CertificateArn)
	waitUntil(t, 10*time.Second, "the activated device to connect", func() bool { return publish().err == nil })
	if n := strings.Count(events.out.String(), `"certificateStatus":"PENDING_ACTIVATION"`); n != 1 {
		t.Fatalf("%d registration events, want exactly one:\n%s", n, events.out.String())
	}
}
