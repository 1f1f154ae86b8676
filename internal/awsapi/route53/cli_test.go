package route53_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
)

// TestAWSCLI drives the real aws CLI (botocore) against the in-process API:
// create-hosted-zone, change-resource-record-sets from a JSON file,
// list-resource-record-sets and get-change.
func TestAWSCLI(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the aws CLI is not installed and CI=true")
		}
		t.Skip("the aws CLI is not installed")
	}
	e := setup(t)
	dir := t.TempDir()
	run := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(awsPath, append([]string{"route53", "--endpoint-url", e.api.URL, "--output", "json"}, args...)...)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"AWS_ACCESS_KEY_ID=" + apitest.AccessKey,
			"AWS_SECRET_ACCESS_KEY=" + apitest.SecretKey,
			// Any region: Route 53 is global and the CLI signs with this one.
			"AWS_DEFAULT_REGION=us-west-2",
			"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_PAGER=",
			"AWS_MAX_ATTEMPTS=1",
		}
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws route53 %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("aws route53 %s: output is not JSON: %v\n%s", args[0], err, out)
		}
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
