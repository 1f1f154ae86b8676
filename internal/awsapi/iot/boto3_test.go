package iot_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// boto3Script signs with botocore: a header-signed call on a percent-encoded
// path label, and a presigned URL fetched without any SDK.
const boto3Script = `
import json, sys, urllib.request
import boto3
c = boto3.client("iot", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3])
d = c.describe_domain_configuration(domainConfigurationName="iot:Data-ATS")
url = c.generate_presigned_url("describe_domain_configuration",
                               Params={"domainConfigurationName": "iot:Data-ATS"}, ExpiresIn=60)
with urllib.request.urlopen(url) as r:
    presigned = json.load(r)
try:
    c.delete_domain_configuration(domainConfigurationName="iot:Data-ATS")
    code = "none"
except c.exceptions.InvalidRequestException:
    code = "InvalidRequestException"
print(d["domainType"], presigned["domainConfigurationName"], code)
`

func TestBoto3SignaturesAndPresignedURLs(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil || exec.Command("python3", "-c", "import boto3").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 with boto3 is required (CI=true)")
		}
		t.Skip("python3 with boto3 not installed")
	}
	f := newFixture(t)
	out, err := exec.Command("python3", "-c", boto3Script, f.url, accessKey(), secretKey()).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "ENDPOINT iot:Data-ATS InvalidRequestException" {
		t.Fatalf("boto3 printed %q", got)
	}
}
