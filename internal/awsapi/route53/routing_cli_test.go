package route53_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
)

// dig runs the real dig against the Portico DNS server and returns its
// output with whitespace runs collapsed to one space.
func (e *healthEnv) dig(t *testing.T, path, network, name string) string {
	t.Helper()
	addr := e.dnsAddr
	flag := "+notcp"
	if network == "tcp" {
		addr, flag = e.dnsTCP, "+tcp"
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "@"+host, "-p", port, flag, "+norecurse", "+time=5", "+tries=1", name, "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s %s: %v\n%s", network, name, err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// TestRoutingWithCLIAndDig drives weighted records and an apex alias with
// the real aws CLI and reads the answers with the real dig, over UDP and
// TCP: the commands docs/failover.md shows.
func TestRoutingWithCLIAndDig(t *testing.T) {
	digPath, err := exec.LookPath("dig")
	apitest.RequireTool(t, "dig (bind9-dnsutils)", err)
	e := setupHealth(t)
	cli := e.api.CLI(t)
	dir := t.TempDir()
	run := func(args ...string) map[string]any {
		t.Helper()
		var v map[string]any
		cli.JSON(t, &v, append([]string{"route53"}, args...)...)
		return v
	}
	created := run("create-hosted-zone", "--name", "yourcompany.com", "--caller-reference", "fleet-1")
	zoneID := created["HostedZone"].(map[string]any)["Id"].(string)
	shortID := strings.TrimPrefix(zoneID, "/hostedzone/")

	weights := func(east, west string) string {
		return `{"Comment": "fleet weights", "Changes": [
  {"Action": "UPSERT", "ResourceRecordSet": {"Name": "iot.yourcompany.com", "Type": "A", "SetIdentifier": "us-east-1",
    "Weight": ` + east + `, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}},
  {"Action": "UPSERT", "ResourceRecordSet": {"Name": "iot.yourcompany.com", "Type": "A", "SetIdentifier": "us-west-2",
    "Weight": ` + west + `, "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.20"}]}},
  {"Action": "UPSERT", "ResourceRecordSet": {"Name": "yourcompany.com", "Type": "A",
    "AliasTarget": {"HostedZoneId": "` + shortID + `", "DNSName": "iot.yourcompany.com", "EvaluateTargetHealth": true}}}
]}`
	}
	apply := func(east, west string) {
		t.Helper()
		file := filepath.Join(dir, "weights-"+east+"-"+west+".json")
		if err := os.WriteFile(file, []byte(weights(east, west)), 0o600); err != nil {
			t.Fatal(err)
		}
		changed := run("change-resource-record-sets", "--hosted-zone-id", zoneID, "--change-batch", "file://"+file)
		id := changed["ChangeInfo"].(map[string]any)["Id"].(string)
		// The waiter's first GetChange comes at once: INSYNC returns immediately.
		cli.Run(t, "route53", "wait", "resource-record-sets-changed", "--id", id)
	}
	apply("1", "0")

	out := cli.Run(t, "route53", "list-resource-record-sets", "--hosted-zone-id", zoneID,
		"--query", "ResourceRecordSets[?Name=='yourcompany.com.' && Type=='A'].AliasTarget", "--output", "text")
	if got := strings.Join(strings.Fields(string(out)), " "); got != "iot.yourcompany.com. True "+shortID {
		t.Errorf("apex alias listed by the CLI as %q", got)
	}

	for _, network := range []string{"udp", "tcp"} {
		text := e.dig(t, digPath, network, "yourcompany.com")
		for _, want := range []string{"status: NOERROR", " aa", "yourcompany.com. 60 IN A 192.0.2.10"} {
			if !strings.Contains(text, want) {
				t.Errorf("dig %s before the shift lacks %q: %s", network, want, text)
			}
		}
	}
	apply("0", "1")
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"yourcompany.com", "iot.yourcompany.com"} {
			if text := e.dig(t, digPath, network, name); !strings.Contains(text, name+". 60 IN A 192.0.2.20") {
				t.Errorf("dig %s %s after the shift: %s", network, name, text)
			}
		}
	}
}
