package iot_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
)

func csrPEM(t *testing.T, key any, cn string) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// CreateCertificateFromCsr: Portico's device CA signs the device's request;
// the key never leaves the device.
func TestCreateCertificateFromCSRThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	out, err := f.client.CreateCertificateFromCsr(ctx, &awsiot.CreateCertificateFromCsrInput{
		CertificateSigningRequest: aws.String(csrPEM(t, key, "sensor-7")), SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(aws.ToString(out.CertificatePem)))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "sensor-7" || !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) || len(aws.ToString(out.CertificateId)) != 64 {
		t.Fatalf("issued %v for %s", cert.Subject, aws.ToString(out.CertificateId))
	}
	desc, err := f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: out.CertificateId})
	if err != nil || desc.CertificateDescription.Status != types.CertificateStatusActive {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	// Without setAsActive it is INACTIVE, as AWS.
	out2, err := f.client.CreateCertificateFromCsr(ctx, &awsiot.CreateCertificateFromCsrInput{CertificateSigningRequest: aws.String(csrPEM(t, key, ""))})
	if err != nil {
		t.Fatal(err)
	}
	desc, _ = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: out2.CertificateId})
	if desc.CertificateDescription.Status != types.CertificateStatusInactive {
		t.Fatalf("status %s, want INACTIVE", desc.CertificateDescription.Status)
	}

	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	tampered := []byte(csrPEM(t, key, "x"))
	blk, _ := pem.Decode(tampered)
	blk.Bytes[len(blk.Bytes)-5] ^= 0xff
	for what, in := range map[string]string{
		"not PEM":          "hello",
		"a certificate":    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
		"1024-bit RSA":     csrPEM(t, weak, "x"),
		"bad signature":    string(pem.EncodeToMemory(blk)),
		"over 4096 chars":  strings.Repeat("A", 4097),
		"trailing garbage": csrPEM(t, key, "x") + "junk",
	} {
		_, err := f.client.CreateCertificateFromCsr(ctx, &awsiot.CreateCertificateFromCsrInput{CertificateSigningRequest: aws.String(in)})
		if code, msg, _ := apiError(t, err); code != "InvalidRequestException" || msg == "" {
			t.Errorf("%s: %s %q", what, code, msg)
		}
	}
	list, _ := f.client.ListCertificates(ctx, &awsiot.ListCertificatesInput{})
	if len(list.Certificates) != 2 {
		t.Fatalf("%d certificates after the refusals, want 2", len(list.Certificates))
	}
}

// The AWS guide's flow: openssl makes the key and CSR, the aws CLI sends it.
func TestCreateCertificateFromCSRWithAWSCLI(t *testing.T) {
	_, err := exec.LookPath("openssl")
	apitest.RequireTool(t, "openssl", err)
	f := newDeviceFixture(t)
	dir := t.TempDir()
	key, csr := filepath.Join(dir, "device.key"), filepath.Join(dir, "device.csr")
	if out, err := exec.Command("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", "/CN=thing-9", "-out", csr).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	var out struct{ CertificateArn, CertificateId, CertificatePem string }
	f.srv.CLI(t).JSON(t, &out, "iot", "create-certificate-from-csr", "--certificate-signing-request", "file://"+csr, "--set-as-active")
	certFile := filepath.Join(dir, "device.pem")
	if err := os.WriteFile(certFile, []byte(out.CertificatePem), 0o600); err != nil {
		t.Fatal(err)
	}
	// The certificate goes with the device's own key.
	pub1, err1 := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-pubkey").Output()
	pub2, err2 := exec.Command("openssl", "pkey", "-in", key, "-pubout").Output()
	if err1 != nil || err2 != nil || string(pub1) != string(pub2) {
		t.Fatalf("certificate key %s, device key %s (%v %v)", pub1, pub2, err1, err2)
	}
	subj, _ := exec.Command("openssl", "x509", "-in", certFile, "-noout", "-subject").Output()
	if !strings.Contains(string(subj), "thing-9") {
		t.Fatalf("subject %s", subj)
	}
}
