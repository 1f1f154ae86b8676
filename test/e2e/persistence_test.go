package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokerSurvivesKill9: what a publisher got a PUBACK for reaches the
// persistent subscriber after Portico is killed with SIGKILL and started
// again on the same data dir, as do retained messages.
func TestBrokerSurvivesKill9(t *testing.T) {
	requireTools(t, "aws", "mosquitto_pub", "mosquitto_sub", "curl", "ip", "sh", "seq")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	args := []string{"--data-dir", dataDir, "--dns-addr", "127.0.0.1:53"}
	p := ns.startPortico(t, bin, args...)

	var keys struct {
		CertificateArn, CertificatePem string
		KeyPair                        struct{ PrivateKey string }
	}
	ns.aws(t, &keys, "iot", "create-keys-and-certificate", "--set-as-active")
	cert := writeFile(t, dir, "device.pem", []byte(keys.CertificatePem))
	key := writeFile(t, dir, "device.key", []byte(keys.KeyPair.PrivateKey))
	policy := writeFile(t, dir, "policy.json", []byte(`{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["iot:Connect","iot:Publish","iot:RetainPublish","iot:Subscribe","iot:Receive"],"Resource":"*"}]}`))
	ns.aws(t, nil, "iot", "create-policy", "--policy-name", "Fleet", "--policy-document", "file://"+policy)
	ns.aws(t, nil, "iot", "attach-policy", "--policy-name", "Fleet", "--target", keys.CertificateArn)
	var ep struct{ EndpointAddress string }
	ns.aws(t, &ep, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	serverCA := writeFile(t, dir, "server-ca.pem", []byte(ns.ok(t, bin, "ca", "export", "--data-dir", dataDir)))
	tls := fmt.Sprintf("--host %s --port 8883 --cafile %s --cert %s --key %s", ep.EndpointAddress, serverCA, cert, key)

	// A persistent subscriber (clean session off, QoS 1) subscribes and
	// goes away.
	ns.ok(t, "sh", "-c", "mosquitto_sub "+tls+" -c -i keeper -q 1 -t 'fleet/#' -W 2; true")
	// 50 QoS 1 messages, each PUBACKed (mosquitto_pub exits 0 once every
	// message is acknowledged), and a retained one.
	const n = 50
	ns.ok(t, "sh", "-c", fmt.Sprintf("seq 1 %d | mosquitto_pub %s -i pub -q 1 -t fleet/readings -l", n, tls))
	ns.ok(t, "sh", "-c", "mosquitto_pub "+tls+" -i pub-retained -q 1 -r -t fleet/state -m last-known")

	p.kill()
	ns.startPortico(t, bin, args...)

	r := ns.run("sh", "-c", fmt.Sprintf("mosquitto_sub %s -c -i keeper -q 1 -t 'fleet/#' -C %d -W 30 -v", tls, n+1))
	got := map[string]bool{}
	for _, line := range lines(r.stdout) {
		got[line] = true
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if !got[fmt.Sprintf("fleet/readings %d", i)] {
			missing = append(missing, fmt.Sprint(i))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("after kill -9 the persistent subscriber lacks %d acknowledged messages (%s):\n%s", len(missing), strings.Join(missing, ","), r)
	}
	// A new subscriber gets the retained message.
	rr := ns.run("sh", "-c", "mosquitto_sub "+tls+" -i late -q 1 -t fleet/state -C 1 -W 10")
	if strings.TrimSpace(rr.stdout) != "last-known" {
		t.Fatalf("retained message after kill -9:\n%s", rr)
	}
}
