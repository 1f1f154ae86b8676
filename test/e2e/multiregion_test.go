package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/testpki"
)

// TestMultiRegionFailover runs the guide's promise with three Portico
// processes: region us-east-1 on 127.0.0.2 and us-west-2 on 127.0.0.3, each
// serving iot.yourcompany.com with the same certificate and the same device,
// and the DNS and health node on 127.0.0.1, whose TCP health check probes
// the primary's 8883. Devices connect by hostname. Killing the primary moves
// the name to the secondary within RequestInterval x FailureThreshold (+1 s)
// and the device reconnects there; restarting the primary fails back.
func TestMultiRegionFailover(t *testing.T) {
	requireTools(t, "aws", "dig", "mosquitto_pub", "mosquitto_sub", "curl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	const name = "iot.yourcompany.com"

	ca := testpki.NewCA(t, "Your Company Root CA")
	server := ca.Server(t, name)
	caPEM := writeFile(t, dir, "ca.pem", ca.PEM)
	serverCert := writeFile(t, dir, "server-cert.pem", server.CertPEM)
	serverKey := writeFile(t, dir, "server-key.pem", server.KeyPEM)
	device := ca.Client(t, "sensor-1")
	deviceCert := writeFile(t, dir, "device-cert.pem", device.CertPEM)
	deviceKey := writeFile(t, dir, "device-key.pem", device.KeyPEM)
	policy := writeFile(t, dir, "policy.json", []byte(`{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["iot:Connect","iot:Publish","iot:Subscribe","iot:Receive"],"Resource":"*"}]}`))

	type region struct {
		name, ip, dataDir string
		p                 *portico
	}
	regionArgs := func(r *region) []string {
		return []string{"--data-dir", r.dataDir, "--region", r.name, "--api-addr", r.ip + ":4566", "--mqtt-addr", r.ip + ":8883",
			"--https-addr", r.ip + ":8443", "--tls-addr", r.ip + ":9443", "--dns-addr", r.ip + ":8053", "--advertise-addr", r.ip}
	}
	regions := []*region{{name: "us-east-1", ip: "127.0.0.2"}, {name: "us-west-2", ip: "127.0.0.3"}}
	for _, r := range regions {
		r.dataDir = filepath.Join(dir, r.name)
		r.p = ns.startPorticoAt(t, bin, r.ip+":4566", regionArgs(r)...)
		api := []string{"--endpoint-url", "http://" + r.ip + ":4566", "--region", r.name}
		var imported struct{ CertificateArn string }
		ns.aws(t, &imported, append([]string{"acm", "import-certificate", "--certificate", "fileb://" + serverCert,
			"--private-key", "fileb://" + serverKey, "--certificate-chain", "fileb://" + caPEM}, api...)...)
		ns.aws(t, nil, append([]string{"iot", "create-domain-configuration", "--domain-configuration-name", "Fleet",
			"--domain-name", name, "--server-certificate-arns", imported.CertificateArn}, api...)...)
		var cert struct{ CertificateArn string }
		ns.aws(t, &cert, append([]string{"iot", "register-certificate-without-ca", "--certificate-pem", "file://" + deviceCert,
			"--status", "ACTIVE"}, api...)...)
		ns.aws(t, nil, append([]string{"iot", "create-policy", "--policy-name", "Fleet", "--policy-document", "file://" + policy}, api...)...)
		ns.aws(t, nil, append([]string{"iot", "attach-policy", "--policy-name", "Fleet", "--target", cert.CertificateArn}, api...)...)
	}

	// The DNS and health node: the guide's TCP health check on the
	// primary's MQTT port, and the failover pair.
	ns.startPortico(t, bin, "--data-dir", filepath.Join(dir, "dns"), "--dns-addr", "127.0.0.1:53",
		"--mqtt-addr", "127.0.0.1:18883", "--https-addr", "127.0.0.1:18443")
	const interval, threshold = 10, 1
	var hc struct{ HealthCheck struct{ Id string } }
	ns.aws(t, &hc, "route53", "create-health-check", "--caller-reference", "us-east-1-mqtt", "--health-check-config",
		fmt.Sprintf(`{"Type":"TCP","IPAddress":"127.0.0.2","Port":8883,"RequestInterval":%d,"FailureThreshold":%d}`, interval, threshold))
	var zone struct{ HostedZone struct{ Id string } }
	ns.aws(t, &zone, "route53", "create-hosted-zone", "--name", "yourcompany.com", "--caller-reference", "fleet")
	batch := `{"Changes":[
	 {"Action":"CREATE","ResourceRecordSet":{"Name":"` + name + `","Type":"A","TTL":1,"SetIdentifier":"us-east-1",
	  "Failover":"PRIMARY","HealthCheckId":"` + hc.HealthCheck.Id + `","ResourceRecords":[{"Value":"127.0.0.2"}]}},
	 {"Action":"CREATE","ResourceRecordSet":{"Name":"` + name + `","Type":"A","TTL":1,"SetIdentifier":"us-west-2",
	  "Failover":"SECONDARY","ResourceRecords":[{"Value":"127.0.0.3"}]}}]}`
	var change struct{ ChangeInfo struct{ Id string } }
	ns.aws(t, &change, "route53", "change-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id, "--change-batch", batch)
	waitInsync(t, ns, change.ChangeInfo.Id)
	answer := func() string { return strings.TrimSpace(ns.run("dig", "@127.0.0.1", "+short", name, "A").stdout) }
	waitUntil(t, 15*time.Second, "the primary answer", func() bool { return answer() == "127.0.0.2" })

	// A device subscribed by hostname that, like the AWS device SDKs,
	// reconnects when its connection drops (mosquitto_sub exits on a TLS
	// error, so a shell loop restarts it), resolving the name again.
	tlsArgs := []string{"--host", name, "--port", "8883", "--cafile", caPEM, "--cert", deviceCert, "--key", deviceKey}
	sub := ns.startBackground(t, "sh", "-c", "while true; do mosquitto_sub "+strings.Join(tlsArgs, " ")+
		" -t 'fleet/#' -i sub-1 -q 1 -d; sleep 0.5; done")
	sub.waitFor(t, "SUBACK", 10*time.Second)
	publish := func(msg string) result {
		return ns.run("mosquitto_pub", append(tlsArgs, "-t", "fleet/status", "-m", msg, "-i", "pub-1", "-q", "1")...)
	}
	if r := publish("in-us-east-1"); r.err != nil {
		t.Fatalf("publish to the primary:\n%s", r)
	}
	sub.waitFor(t, "in-us-east-1", 10*time.Second)

	// The region dies.
	killed := time.Now()
	regions[0].p.kill()
	waitUntil(t, time.Duration(interval*threshold+15)*time.Second, "DNS to answer the secondary", func() bool { return answer() == "127.0.0.3" })
	switched := time.Since(killed)
	bound := time.Duration(interval*threshold+1) * time.Second
	t.Logf("primary killed; DNS answered the secondary after %s (bound: RequestInterval x FailureThreshold + 1 s = %s)", switched.Round(100*time.Millisecond), bound)
	if switched > bound+2*time.Second { // the probe schedule's phase adds at most one interval's jitter; allow scheduling slack
		t.Errorf("failover took %s, bound %s", switched, bound)
	}
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(sub.out.String(), "CONNACK") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the device did not reconnect to the secondary:\n%s", sub.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitUntil(t, 20*time.Second, "a publish through the secondary", func() bool { return publish("in-us-west-2").err == nil })
	sub.waitFor(t, "in-us-west-2", 10*time.Second)
	t.Logf("device reconnected and received through the secondary %s after the kill", time.Since(killed).Round(100*time.Millisecond))

	// The region comes back: DNS fails back.
	restarted := time.Now()
	regions[0].p = ns.startPorticoAt(t, bin, regions[0].ip+":4566", regionArgs(regions[0])...)
	waitUntil(t, time.Duration(interval*threshold+15)*time.Second, "DNS to fail back to the primary", func() bool { return answer() == "127.0.0.2" })
	t.Logf("primary restarted; DNS answered it again after %s", time.Since(restarted).Round(100*time.Millisecond))
	if r := publish("back-in-us-east-1"); r.err != nil {
		t.Fatalf("publish after failback:\n%s", r)
	}
}
