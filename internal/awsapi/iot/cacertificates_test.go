package iot_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/testpki"
)

// TestCACertificatesThroughSDK registers a CA with a verification
// certificate, registers device certificates it signed, pages through both
// listings, and walks the CA's life cycle to its deletion, through the Go SDK.
func TestCACertificatesThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	c := f.client
	code, err := c.GetRegistrationCode(ctx, &awsiot.GetRegistrationCodeInput{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.GetRegistrationCode(ctx, &awsiot.GetRegistrationCodeInput{})
	if len(aws.ToString(code.RegistrationCode)) != 64 || aws.ToString(again.RegistrationCode) != aws.ToString(code.RegistrationCode) {
		t.Fatalf("registration code %q then %q", aws.ToString(code.RegistrationCode), aws.ToString(again.RegistrationCode))
	}
	root := testpki.NewCA(t, "Example Devices Root")
	verification := string(root.Client(t, aws.ToString(code.RegistrationCode)).CertPEM)

	_, err = c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{CaCertificate: aws.String(string(root.PEM)),
		VerificationCertificate: aws.String(string(root.Client(t, "wrong code").CertPEM))})
	wantAPIError(t, err, "RegistrationCodeValidationException", 400)
	_, err = c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{CaCertificate: aws.String(string(root.PEM)),
		VerificationCertificate: aws.String(string(testpki.NewCA(t, "other").Client(t, aws.ToString(code.RegistrationCode)).CertPEM))})
	wantAPIError(t, err, "CertificateValidationException", 400)
	_, err = c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{CaCertificate: aws.String(string(root.PEM))})
	wantAPIError(t, err, "InvalidRequestException", 400)
	_, err = c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{CaCertificate: aws.String("not a certificate"),
		VerificationCertificate: aws.String(verification)})
	wantAPIError(t, err, "InvalidRequestException", 400)

	reg, err := c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{
		CaCertificate: aws.String(string(root.PEM)), VerificationCertificate: aws.String(verification),
		SetAsActive: true, AllowAutoRegistration: true,
		RegistrationConfig: &types.RegistrationConfig{TemplateName: aws.String("fleet-1")},
		Tags:               []types.Tag{{Key: aws.String("team"), Value: aws.String("devices")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	caID := aws.ToString(reg.CertificateId)
	if aws.ToString(reg.CertificateArn) != arnPrefix+"cacert/"+caID || len(caID) != 64 {
		t.Fatalf("register: %+v", reg)
	}
	_, err = c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{CaCertificate: aws.String(string(root.PEM)),
		VerificationCertificate: aws.String(verification)})
	wantAPIError(t, err, "ResourceAlreadyExistsException", 409)

	// Its tags, through the generic tagging operations.
	caARN := aws.ToString(reg.CertificateArn)
	if _, err := c.TagResource(ctx, &awsiot.TagResourceInput{ResourceArn: aws.String(caARN),
		Tags: []types.Tag{{Key: aws.String("site"), Value: aws.String("plant-2")}, {Key: aws.String("team"), Value: aws.String("fleet")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &awsiot.UntagResourceInput{ResourceArn: aws.String(caARN), TagKeys: []string{"site"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &awsiot.ListTagsForResourceInput{ResourceArn: aws.String(caARN)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" || aws.ToString(tags.Tags[0].Value) != "fleet" {
		t.Fatalf("tags: %+v %v", tags, err)
	}
	_, err = c.ListTagsForResource(ctx, &awsiot.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(caARN, apitest.Account, "210987654321", 1))})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	d, err := c.DescribeCACertificate(ctx, &awsiot.DescribeCACertificateInput{CertificateId: aws.String(caID)})
	if err != nil {
		t.Fatal(err)
	}
	desc := d.CertificateDescription
	if desc.Status != types.CACertificateStatusActive || desc.AutoRegistrationStatus != types.AutoRegistrationStatusEnable ||
		desc.CertificateMode != types.CertificateModeDefault || aws.ToString(desc.OwnedBy) != apitest.Account ||
		aws.ToInt32(desc.CustomerVersion) != 1 || desc.Validity == nil || !desc.Validity.NotAfter.Equal(root.Cert.NotAfter) ||
		aws.ToString(desc.CertificatePem) != string(root.PEM) || desc.CreationDate == nil ||
		d.RegistrationConfig == nil || aws.ToString(d.RegistrationConfig.TemplateName) != "fleet-1" {
		t.Fatalf("describe: %+v %+v", desc, d.RegistrationConfig)
	}
	_, err = c.DescribeCACertificate(ctx, &awsiot.DescribeCACertificateInput{CertificateId: aws.String(strings.Repeat("0", 64))})
	wantAPIError(t, err, "ResourceNotFoundException", 404)

	// An SNI_ONLY CA needs no verification certificate.
	sniRoot := testpki.NewCA(t, "SNI only root")
	sni, err := c.RegisterCACertificate(ctx, &awsiot.RegisterCACertificateInput{CaCertificate: aws.String(string(sniRoot.PEM)),
		CertificateMode: types.CertificateModeSniOnly})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	p := awsiot.NewListCACertificatesPaginator(c, &awsiot.ListCACertificatesInput{PageSize: aws.Int32(1), AscendingOrder: true})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ca := range page.Certificates {
			listed = append(listed, aws.ToString(ca.CertificateId))
		}
	}
	if len(listed) != 2 || !containsAll(listed, caID, aws.ToString(sni.CertificateId)) {
		t.Fatalf("listed %v", listed)
	}

	// Device certificates signed by the CA.
	var devIDs []string
	for _, name := range []string{"device-1", "device-2", "device-3"} {
		out, err := c.RegisterCertificate(ctx, &awsiot.RegisterCertificateInput{
			CertificatePem: aws.String(string(root.Client(t, name).CertPEM)), Status: types.CertificateStatusActive})
		if err != nil {
			t.Fatal(err)
		}
		devIDs = append(devIDs, aws.ToString(out.CertificateId))
	}
	dev, err := c.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: aws.String(devIDs[0])})
	if err != nil || aws.ToString(dev.CertificateDescription.CaCertificateId) != caID || dev.CertificateDescription.CertificateMode != types.CertificateModeDefault {
		t.Fatalf("device certificate: %+v %v", dev, err)
	}
	_, err = c.RegisterCertificate(ctx, &awsiot.RegisterCertificateInput{
		CertificatePem: aws.String(string(testpki.NewCA(t, "nobody").Client(t, "x").CertPEM))})
	wantAPIError(t, err, "CertificateValidationException", 400)
	var byCA []string
	bp := awsiot.NewListCertificatesByCAPaginator(c, &awsiot.ListCertificatesByCAInput{CaCertificateId: aws.String(caID), PageSize: aws.Int32(2)})
	for bp.HasMorePages() {
		page, err := bp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Certificates {
			byCA = append(byCA, aws.ToString(c.CertificateId))
		}
	}
	if len(byCA) != 3 || !containsAll(byCA, devIDs...) {
		t.Fatalf("certificates by CA: %v", byCA)
	}

	// Life cycle: deletion needs an INACTIVE CA that signed no registered
	// certificate.
	_, err = c.DeleteCACertificate(ctx, &awsiot.DeleteCACertificateInput{CertificateId: aws.String(caID)})
	wantAPIError(t, err, "CertificateStateException", 406)
	if _, err := c.UpdateCACertificate(ctx, &awsiot.UpdateCACertificateInput{CertificateId: aws.String(caID),
		NewStatus: types.CACertificateStatusInactive, NewAutoRegistrationStatus: types.AutoRegistrationStatusDisable,
		RemoveAutoRegistration: true}); err != nil {
		t.Fatal(err)
	}
	d, _ = c.DescribeCACertificate(ctx, &awsiot.DescribeCACertificateInput{CertificateId: aws.String(caID)})
	if d.CertificateDescription.Status != types.CACertificateStatusInactive || d.CertificateDescription.AutoRegistrationStatus != types.AutoRegistrationStatusDisable ||
		aws.ToInt32(d.CertificateDescription.CustomerVersion) != 2 || d.RegistrationConfig != nil {
		t.Fatalf("after update: %+v %+v", d.CertificateDescription, d.RegistrationConfig)
	}
	_, err = c.UpdateCACertificate(ctx, &awsiot.UpdateCACertificateInput{CertificateId: aws.String(caID), NewStatus: "REGISTER_INACTIVE"})
	wantAPIError(t, err, "InvalidRequestException", 400)
	_, err = c.DeleteCACertificate(ctx, &awsiot.DeleteCACertificateInput{CertificateId: aws.String(caID)})
	wantAPIError(t, err, "CertificateStateException", 406)
	for _, id := range devIDs {
		if _, err := c.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: aws.String(id), NewStatus: types.CertificateStatusInactive}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteCACertificate(ctx, &awsiot.DeleteCACertificateInput{CertificateId: aws.String(caID)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeCACertificate(ctx, &awsiot.DescribeCACertificateInput{CertificateId: aws.String(caID)})
	wantAPIError(t, err, "ResourceNotFoundException", 404)
}

func containsAll(got []string, want ...string) bool {
	set := map[string]bool{}
	for _, g := range got {
		set[g] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// TestCACertificateWithOpenSSLAndCLI follows the AWS guide word for word:
// openssl makes the CA and the verification certificate with the
// registration code as CN, and the aws CLI registers them, registers a
// device certificate signed by the CA, and lists it by CA.
func TestCACertificateWithOpenSSLAndCLI(t *testing.T) {
	opensslPath, err := exec.LookPath("openssl")
	apitest.RequireTool(t, "openssl", err)
	f := newDeviceFixture(t)
	cli := f.srv.CLI(t)
	dir := t.TempDir()
	openssl := func(args ...string) {
		t.Helper()
		cmd := exec.Command(opensslPath, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	file := func(name string) string { return "file://" + filepath.Join(dir, name) }

	openssl("genrsa", "-out", "root_CA_key_filename.key", "2048")
	openssl("req", "-x509", "-new", "-nodes", "-key", "root_CA_key_filename.key", "-sha256", "-days", "365",
		"-out", "root_CA_cert_filename.pem", "-subj", "/C=US/O=Example Corp/CN=Example Devices Root")
	var code struct{ RegistrationCode string }
	cli.JSON(t, &code, "iot", "get-registration-code")
	openssl("genrsa", "-out", "verification_cert_key_filename.key", "2048")
	openssl("req", "-new", "-key", "verification_cert_key_filename.key", "-out", "verification_cert_csr_filename.csr",
		"-subj", "/CN="+code.RegistrationCode)
	openssl("x509", "-req", "-in", "verification_cert_csr_filename.csr", "-CA", "root_CA_cert_filename.pem",
		"-CAkey", "root_CA_key_filename.key", "-CAcreateserial", "-out", "verification_cert_filename.pem", "-days", "500", "-sha256")

	var reg struct{ CertificateArn, CertificateId string }
	cli.JSON(t, &reg, "iot", "register-ca-certificate", "--ca-certificate", file("root_CA_cert_filename.pem"),
		"--verification-cert", file("verification_cert_filename.pem"), "--set-as-active", "--allow-auto-registration")
	if reg.CertificateArn != arnPrefix+"cacert/"+reg.CertificateId {
		t.Fatalf("register-ca-certificate: %+v", reg)
	}
	var desc struct {
		CertificateDescription struct {
			Status, AutoRegistrationStatus, CertificateMode, CertificatePem string
		}
	}
	cli.JSON(t, &desc, "iot", "describe-ca-certificate", "--certificate-id", reg.CertificateId)
	rootPEM, _ := os.ReadFile(filepath.Join(dir, "root_CA_cert_filename.pem"))
	if d := desc.CertificateDescription; d.Status != "ACTIVE" || d.AutoRegistrationStatus != "ENABLE" || d.CertificateMode != "DEFAULT" ||
		strings.TrimSpace(d.CertificatePem) != strings.TrimSpace(string(rootPEM)) {
		t.Fatalf("describe-ca-certificate: %+v", d)
	}
	// The same verification certificate cannot register the CA twice.
	_, stderr, err := cli.Output("iot", "register-ca-certificate", "--ca-certificate", file("root_CA_cert_filename.pem"),
		"--verification-cert", file("verification_cert_filename.pem"))
	if err == nil || !strings.Contains(stderr, "ResourceAlreadyExistsException") {
		t.Fatalf("second registration: %v %s", err, stderr)
	}

	// A device certificate the CA signed, registered as in the guide.
	openssl("genrsa", "-out", "device_cert_key_filename.key", "2048")
	openssl("req", "-new", "-key", "device_cert_key_filename.key", "-out", "device_cert_csr_filename.csr", "-subj", "/CN=device-1")
	openssl("x509", "-req", "-in", "device_cert_csr_filename.csr", "-CA", "root_CA_cert_filename.pem",
		"-CAkey", "root_CA_key_filename.key", "-CAcreateserial", "-out", "device_cert_filename.pem", "-days", "500", "-sha256")
	var dev struct{ CertificateArn, CertificateId string }
	cli.JSON(t, &dev, "iot", "register-certificate", "--certificate-pem", file("device_cert_filename.pem"),
		"--ca-certificate-pem", file("root_CA_cert_filename.pem"), "--set-as-active")
	var byCA struct {
		Certificates []struct{ CertificateId, Status, CertificateMode string }
	}
	cli.JSON(t, &byCA, "iot", "list-certificates-by-ca", "--ca-certificate-id", reg.CertificateId)
	if len(byCA.Certificates) != 1 || byCA.Certificates[0].CertificateId != dev.CertificateId || byCA.Certificates[0].Status != "ACTIVE" {
		t.Fatalf("list-certificates-by-ca: %+v", byCA)
	}
	var list struct {
		Certificates []struct{ CertificateId, Status string }
	}
	cli.JSON(t, &list, "iot", "list-ca-certificates")
	if len(list.Certificates) != 1 || list.Certificates[0].CertificateId != reg.CertificateId {
		t.Fatalf("list-ca-certificates: %+v", list)
	}
	cli.Run(t, "iot", "update-ca-certificate", "--certificate-id", reg.CertificateId, "--new-status", "INACTIVE",
		"--new-auto-registration-status", "DISABLE")
	_, stderr, err = cli.Output("iot", "delete-ca-certificate", "--certificate-id", reg.CertificateId)
	if err == nil || !strings.Contains(stderr, "CertificateStateException") {
		t.Fatalf("delete-ca-certificate with a registered certificate: %v %s", err, stderr)
	}
	out := cli.Run(t, "iot", "describe-ca-certificate", "--certificate-id", reg.CertificateId)
	var after map[string]map[string]any
	if err := json.Unmarshal(out, &after); err != nil || after["certificateDescription"]["status"] != "INACTIVE" ||
		after["certificateDescription"]["autoRegistrationStatus"] != "DISABLE" {
		t.Fatalf("after update-ca-certificate: %s", out)
	}
}
