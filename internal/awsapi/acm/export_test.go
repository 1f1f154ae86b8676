package acm_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/certificate"
)

// acmeLikeIssuer issues with a CA but, like an ACME directory, does not
// allow export.
type acmeLikeIssuer struct{ ca certificate.CAIssuer }

func (a acmeLikeIssuer) Issue(ctx context.Context, key crypto.Signer, names []string) ([]byte, []byte, error) {
	return a.ca.Issue(ctx, key, names)
}

// issueWith requests a certificate, publishes its record and lets v issue it.
func issueWith(t *testing.T, e *env, v *certificate.Validator, res *zoneResolver) string {
	t.Helper()
	arn := requestValidated(t, e, res)
	if err := v.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := describe(t, e, arn); d.Status != types.CertificateStatusIssued {
		t.Fatalf("status %s, want ISSUED", d.Status)
	}
	return arn
}

// opensslDecrypt runs `openssl <cmd> -in key -passin pass:<passphrase>` and
// returns the clear key it prints, or the error and what openssl said.
func opensslDecrypt(t *testing.T, cmd, keyPEM, passphrase string) (crypto.PrivateKey, string, error) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	apitest.RequireTool(t, "openssl", err)
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, cmd, "-in", file, "-passin", "pass:"+passphrase).CombinedOutput()
	if err != nil {
		return nil, string(out), err
	}
	block, _ := pem.Decode(out)
	if block == nil {
		t.Fatalf("openssl %s printed no PEM: %s", cmd, out)
	}
	var key crypto.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		t.Fatalf("openssl %s printed a %s block", cmd, block.Type)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key, "", nil
}

// wantKeyOf fails unless key is the private half of the certificate's key.
func wantKeyOf(t *testing.T, key crypto.PrivateKey, certPEM string) {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatal("no certificate PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool })
	if !pub.Equal(leaf.PublicKey) {
		t.Fatal("the exported key is not the certificate's key")
	}
}

func TestExportCertificateSDK(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	v, res, _ := newValidator(t, e)
	arn := issueWith(t, e, v, res)

	const pass = "Portico export 1!"
	out, err := e.client.ExportCertificate(ctx, &sdkacm.ExportCertificateInput{CertificateArn: &arn, Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := aws.ToString(out.PrivateKey)
	if !strings.HasPrefix(keyPEM, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n") {
		t.Fatalf("PrivateKey is not an encrypted PKCS #8 PEM: %.60q", keyPEM)
	}
	got, err := e.client.GetCertificate(ctx, &sdkacm.GetCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Certificate) != aws.ToString(got.Certificate) || aws.ToString(out.CertificateChain) != aws.ToString(got.CertificateChain) ||
		aws.ToString(out.CertificateChain) == "" {
		t.Fatal("ExportCertificate's certificate and chain differ from GetCertificate's")
	}

	// What ACM's documentation tells users to run, and the generic command.
	for _, cmd := range []string{"pkey", "rsa"} {
		key, said, err := opensslDecrypt(t, cmd, keyPEM, pass)
		if err != nil {
			t.Fatalf("openssl %s could not decrypt the exported key: %v\n%s", cmd, err, said)
		}
		wantKeyOf(t, key, aws.ToString(out.Certificate))
	}
	if _, _, err := opensslDecrypt(t, "pkey", keyPEM, "wrong passphrase"); err == nil {
		t.Fatal("openssl decrypted the key with a wrong passphrase")
	}

	// Exported: listed so, and eligible for renewal although nothing uses it.
	list, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{})
	if err != nil || len(list.CertificateSummaryList) != 1 || !aws.ToBool(list.CertificateSummaryList[0].Exported) {
		t.Fatalf("list after export = %+v, %v", list, err)
	}
	if d := describe(t, e, arn); d.RenewalEligibility != types.RenewalEligibilityEligible {
		t.Fatalf("RenewalEligibility after export = %s", d.RenewalEligibility)
	}
}

func TestExportCertificateRefusals(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	v, res, ca := newValidator(t, e)
	export := func(arn, pass string) error {
		_, err := e.client.ExportCertificate(ctx, &sdkacm.ExportCertificateInput{CertificateArn: &arn, Passphrase: []byte(pass)})
		return err
	}

	imported := e.importPKI(t, newPKI(t))
	err := export(imported, "good pass")
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "imported certificate and cannot be exported") {
		t.Fatalf("imported: %v", err)
	}

	pending, err := e.client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("pending.yourcompany.com")})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, export(aws.ToString(pending.CertificateArn), "good pass"), "RequestInProgressException")

	v.Issuer = acmeLikeIssuer{certificate.CAIssuer{CA: ca}}
	acmeIssued := issueWith(t, e, v, res)
	err = export(acmeIssued, "good pass")
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "only certificates issued by Portico's private CA can be exported") {
		t.Fatalf("ACME-issued: %v", err)
	}

	v.Issuer = certificate.CAIssuer{CA: ca}
	private := issueWith(t, e, v, res)
	for _, pass := range []string{"abc", strings.Repeat("x", 129), "pa$$word", "100%sure", "#tag1234", "naïve pass"} {
		if err := export(private, pass); errorCode(err) != "ValidationException" {
			t.Errorf("passphrase %q: %v, want ValidationException", pass, err)
		}
	}
	wantCode(t, export("arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000", "good pass"), "ResourceNotFoundException")
	wantCode(t, export("not-an-arn-but-long-enough", "good pass"), "InvalidArnException")
}

// TestAWSCLIExport exports through the aws CLI with the passphrase in a
// file (fileb://, which every CLI version reads as raw bytes) and decrypts
// the key with openssl.
func TestAWSCLIExport(t *testing.T) {
	e := start(t)
	cli := e.srv.CLI(t)
	v, res, _ := newValidator(t, e)
	arn := issueWith(t, e, v, res)

	const pass = "cli-export-passphrase"
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(pass), 0o600); err != nil {
		t.Fatal(err)
	}
	var out struct{ Certificate, CertificateChain, PrivateKey string }
	cli.JSON(t, &out, "acm", "export-certificate", "--certificate-arn", arn, "--passphrase", "fileb://"+passFile)
	key, said, err := opensslDecrypt(t, "pkey", out.PrivateKey, pass)
	if err != nil {
		t.Fatalf("openssl pkey: %v\n%s", err, said)
	}
	wantKeyOf(t, key, out.Certificate)

	if err := os.WriteFile(passFile, []byte("ab"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := cli.Output("acm", "export-certificate", "--certificate-arn", arn, "--passphrase", "fileb://"+passFile)
	if err == nil || !strings.Contains(stderr, "passphrase") {
		t.Fatalf("a 2-byte passphrase: err %v, stderr %s", err, stderr)
	}
}
