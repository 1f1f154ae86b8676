package iot_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
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
	apitest.RequireTool(t, "python3 with boto3", exec.Command("python3", "-c", "import boto3").Run())
	f := newFixture(t)
	out, err := exec.Command("python3", "-c", boto3Script, f.url, apitest.AccessKey, apitest.SecretKey).CombinedOutput()
	if err != nil {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "ENDPOINT iot:Data-ATS InvalidRequestException" {
		t.Fatalf("boto3 printed %q", got)
	}
}
