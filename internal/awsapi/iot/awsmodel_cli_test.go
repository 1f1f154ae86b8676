package iot_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsmodel"
)

// TestAWSCLIWithPorticoModel installs Portico's IoT model into the real aws
// CLI (aws configure add-model, in a private HOME) and rotates a domain's
// certificates with update-domain-configuration --server-certificate-arns,
// which the stock model lacks.
func TestAWSCLIWithPorticoModel(t *testing.T) {
	awsPath, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the aws CLI is not installed and CI=true")
		}
		t.Skip("the aws CLI is not installed")
	}
	f := newFixture(t)
	const domain = "iot.yourcompany.com"
	oldCert := f.importCert(t, domain)
	newCert := f.importCert(t, domain)
	f.create(t, "CustomIoTDomain", domain, oldCert)

	model, err := awsmodel.IoTModel()
	if err != nil {
		t.Fatal(err)
	}
	modelFile := filepath.Join(t.TempDir(), "iot.json")
	if err := os.WriteFile(modelFile, model, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(home string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(awsPath, args...)
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + home,
			"AWS_ACCESS_KEY_ID=" + apitest.AccessKey,
			"AWS_SECRET_ACCESS_KEY=" + apitest.SecretKey,
			"AWS_DEFAULT_REGION=" + apitest.Region,
			"AWS_CONFIG_FILE=" + filepath.Join(home, "config"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_PAGER=",
			"AWS_MAX_ATTEMPTS=1",
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	update := func(home string, arns ...string) (string, error) {
		return cli(home, append([]string{"iot", "update-domain-configuration", "--endpoint-url", f.url, "--output", "json",
			"--domain-configuration-name", "CustomIoTDomain", "--server-certificate-arns"}, arns...)...)
	}

	// The stock model does not know the member.
	if out, err := update(t.TempDir(), newCert, oldCert); err == nil || !strings.Contains(out, "--server-certificate-arns") {
		t.Fatalf("stock CLI accepted --server-certificate-arns: %v\n%s", err, out)
	}

	home := t.TempDir()
	if out, err := cli(home, "configure", "add-model", "--service-model", "file://"+modelFile, "--service-name", "iot"); err != nil {
		t.Fatalf("add-model: %v\n%s", err, out)
	}
	installed := filepath.Join(home, ".aws", "models", "iot", "2015-05-28", "service-2.json")
	if b, err := os.ReadFile(installed); err != nil || !strings.Contains(string(b), "Portico extension") {
		t.Fatalf("add-model did not write %s: %v", installed, err)
	}

	describe := func() []types.ServerCertificateSummary {
		t.Helper()
		return f.describe(t, "CustomIoTDomain").ServerCertificates
	}
	out, err := update(home, newCert, oldCert)
	if err != nil {
		t.Fatalf("update with two certificates: %v\n%s", err, out)
	}
	var ref struct {
		Name string `json:"domainConfigurationName"`
		ARN  string `json:"domainConfigurationArn"`
	}
	if err := json.Unmarshal([]byte(out), &ref); err != nil || ref.Name != "CustomIoTDomain" || !strings.Contains(ref.ARN, ":domainconfiguration/CustomIoTDomain/") {
		t.Fatalf("update output: %v\n%s", err, out)
	}
	s := describe()
	if len(s) != 2 || aws.ToString(s[0].ServerCertificateArn) != newCert || aws.ToString(s[1].ServerCertificateArn) != oldCert ||
		s[0].ServerCertificateStatus != types.ServerCertificateStatusValid || s[1].ServerCertificateStatus != types.ServerCertificateStatusValid {
		t.Fatalf("after NEW OLD: %+v", s)
	}
	if out, err := update(home, newCert); err != nil {
		t.Fatalf("update with the new certificate: %v\n%s", err, out)
	}
	if s := describe(); len(s) != 1 || aws.ToString(s[0].ServerCertificateArn) != newCert {
		t.Fatalf("after NEW: %+v", s)
	}
	// The CLI reads Describe back the same way.
	out, err = cli(home, "iot", "describe-domain-configuration", "--endpoint-url", f.url, "--output", "json",
		"--domain-configuration-name", "CustomIoTDomain")
	if err != nil || !strings.Contains(out, newCert) || strings.Contains(out, oldCert) {
		t.Fatalf("describe-domain-configuration: %v\n%s", err, out)
	}
	// Five certificates are more than the model allows: Portico says so.
	if out, err := update(home, newCert, oldCert, f.importCert(t, domain), f.importCert(t, domain), f.importCert(t, domain)); err == nil || !strings.Contains(out, "InvalidRequestException") {
		t.Fatalf("five certificates: %v\n%s", err, out)
	}
}
