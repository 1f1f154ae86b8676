package route53_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAWSCLI drives the real aws CLI (botocore) against the in-process API:
// create-hosted-zone, change-resource-record-sets from a JSON file,
// list-resource-record-sets and get-change.
func TestAWSCLI(t *testing.T) {
	e := setup(t)
	cli := e.api.CLI(t)
	// Any region: Route 53 is global and the CLI signs with this one.
	cli.Region = "us-west-2"
	dir := t.TempDir()
	run := func(args ...string) map[string]any {
		t.Helper()
		var v map[string]any
		cli.JSON(t, &v, append([]string{"route53"}, args...)...)
		return v
	}

	created := run("create-hosted-zone", "--name", "yourcompany.com", "--caller-reference", "cli-1",
		"--hosted-zone-config", "Comment=from the cli")
	hz := created["HostedZone"].(map[string]any)
	id := hz["Id"].(string)
	if !strings.HasPrefix(id, "/hostedzone/Z") || hz["Name"] != "yourcompany.com." {
		t.Fatalf("create-hosted-zone: %v", created)
	}
	if ns := created["DelegationSet"].(map[string]any)["NameServers"].([]any); len(ns) != 2 || ns[0] != "ns1.portico.example" {
		t.Errorf("DelegationSet: %v", created["DelegationSet"])
	}
	if !strings.HasSuffix(created["Location"].(string), "/2013-04-01/hostedzone/"+strings.TrimPrefix(id, "/hostedzone/")) {
		t.Errorf("Location: %v", created["Location"])
	}

	batchFile := filepath.Join(dir, "batch.json")
	batch := `{
  "Comment": "custom domain for devices",
  "Changes": [
    {"Action": "CREATE", "ResourceRecordSet": {
      "Name": "iot.yourcompany.com", "Type": "CNAME", "TTL": 300,
      "ResourceRecords": [{"Value": "a1b2-ats.iot.us-east-1.portico.internal"}]}},
    {"Action": "UPSERT", "ResourceRecordSet": {
      "Name": "_mqtt._tcp.yourcompany.com", "Type": "SRV", "TTL": 60,
      "ResourceRecords": [{"Value": "0 0 8883 iot.yourcompany.com"}]}}
  ]
}`
	if err := os.WriteFile(batchFile, []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	// The CLI strips /hostedzone/ itself; pass the prefixed form as users do.
	changed := run("change-resource-record-sets", "--hosted-zone-id", id, "--change-batch", "file://"+batchFile)
	info := changed["ChangeInfo"].(map[string]any)
	if !strings.HasPrefix(info["Id"].(string), "/change/C") || info["Comment"] != "custom domain for devices" {
		t.Errorf("change-resource-record-sets: %v", changed)
	}
	if status := run("get-change", "--id", info["Id"].(string))["ChangeInfo"].(map[string]any)["Status"]; status != "INSYNC" {
		t.Errorf("get-change status %v (no DNS server wired: INSYNC)", status)
	}

	listed := run("list-resource-record-sets", "--hosted-zone-id", id)
	var got []string
	for _, s := range listed["ResourceRecordSets"].([]any) {
		rs := s.(map[string]any)
		var values []string
		for _, rr := range rs["ResourceRecords"].([]any) {
			values = append(values, rr.(map[string]any)["Value"].(string))
		}
		got = append(got, rs["Name"].(string)+" "+rs["Type"].(string)+" "+strings.Join(values, ","))
	}
	want := []string{
		"yourcompany.com. NS ns1.portico.example.,ns2.portico.example.",
		"yourcompany.com. SOA ns1.portico.example. hostmaster.portico.example. 1 7200 900 1209600 86400",
		"_mqtt._tcp.yourcompany.com. SRV 0 0 8883 iot.yourcompany.com",
		"iot.yourcompany.com. CNAME a1b2-ats.iot.us-east-1.portico.internal",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("list-resource-record-sets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The CLI's paginator (MaxItems) walks the same sets.
	paged := run("list-resource-record-sets", "--hosted-zone-id", id, "--page-size", "1")
	if n := len(paged["ResourceRecordSets"].([]any)); n != 4 {
		t.Errorf("paginated listing has %d sets, want 4", n)
	}
}
