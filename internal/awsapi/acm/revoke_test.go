package acm_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/certificate"
	portpki "github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/pkiweb"
)

// ocspStatus asks the CA's OCSP responder (pkiweb, as Portico serves it)
// about the certificate of arn.
func ocspStatus(t *testing.T, e *env, responder string, ca *portpki.CA, arn string) *ocsp.Response {
	t.Helper()
	leaf := leafOf(t, e, arn)
	req, err := ocsp.CreateRequest(leaf, ca.Certificate(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(responder, "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r, err := ocsp.ParseResponseForCert(body, leaf, ca.Certificate())
	if err != nil {
		t.Fatalf("OCSP answer (HTTP %d): %v", resp.StatusCode, err)
	}
	if r.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("OCSP answer for serial %x, asked %x", r.SerialNumber, leaf.SerialNumber)
	}
	return r
}

// leafOf returns the certificate of arn, from GetCertificate.
func leafOf(t *testing.T, e *env, arn string) *x509.Certificate {
	t.Helper()
	got, err := e.client.GetCertificate(context.Background(), &sdkacm.GetCertificateInput{CertificateArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(aws.ToString(got.Certificate)))
	if block == nil {
		t.Fatal("GetCertificate returned no PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// TestRevokeCertificateSDK revokes a certificate of Portico's CA through the
// SDK: the CA's OCSP responder says revoked with the reason, Describe and
// List say REVOKED with RevokedAt and RevocationReason, and the certificate
// is neither renewed (by request or by managed renewal), exported nor
// watched for expiry. Certificates Portico cannot revoke are refused.
func TestRevokeCertificateSDK(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	now := time.Now()
	clock := func() time.Time { return now }
	e.svc.Now = clock
	v, res, ca := newValidator(t, e)
	e.svc.Revoker = ca
	e.svc.InUse = func(context.Context, string) ([]string, error) {
		return []string{"arn:aws:iot:us-east-1:123456789012:domainconfiguration/guide/abcde"}, nil
	}
	web := httptest.NewServer(pkiweb.New(pkiweb.Config{Authorities: map[string]pkiweb.Authority{"server": ca}, Logger: apitest.Logger()}))
	defer web.Close()
	responder := pkiweb.OCSPURL(web.URL, "server")

	arn := issueWith(t, e, v, res)
	if r := ocspStatus(t, e, responder, ca, arn); r.Status != ocsp.Good {
		t.Fatalf("OCSP status before revocation = %d, want good", r.Status)
	}
	before := describe(t, e, arn)

	out, err := e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: &arn, RevocationReason: types.RevocationReasonKeyCompromise})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CertificateArn) != arn {
		t.Errorf("RevokeCertificate returned ARN %q", aws.ToString(out.CertificateArn))
	}
	r := ocspStatus(t, e, responder, ca, arn)
	if r.Status != ocsp.Revoked || r.RevocationReason != ocsp.KeyCompromise || r.RevokedAt.Unix() != now.Unix() {
		t.Fatalf("OCSP after revocation: status %d, reason %d, at %v", r.Status, r.RevocationReason, r.RevokedAt)
	}
	d := describe(t, e, arn)
	if d.Status != types.CertificateStatusRevoked || d.RevocationReason != types.RevocationReasonKeyCompromise ||
		d.RevokedAt == nil || d.RevokedAt.Unix() != now.Unix() {
		t.Fatalf("after revocation: status %s, reason %s, revoked at %v", d.Status, d.RevocationReason, d.RevokedAt)
	}
	if d.RenewalEligibility != types.RenewalEligibilityIneligible {
		t.Errorf("RenewalEligibility = %s", d.RenewalEligibility)
	}
	list, err := e.client.ListCertificates(ctx, &sdkacm.ListCertificatesInput{CertificateStatuses: []types.CertificateStatus{types.CertificateStatusRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.CertificateSummaryList) != 1 || list.CertificateSummaryList[0].RevokedAt == nil {
		t.Fatalf("REVOKED list = %+v", list.CertificateSummaryList)
	}

	// Permanent: a second revocation changes nothing, renewal and export
	// are refused, managed renewal passes it by, expiry warnings forget it.
	if _, err := e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: &arn, RevocationReason: types.RevocationReasonSuperseded}); err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	if d := describe(t, e, arn); d.RevocationReason != types.RevocationReasonKeyCompromise {
		t.Errorf("second revocation changed the reason to %s", d.RevocationReason)
	}
	_, err = e.client.RenewCertificate(ctx, &sdkacm.RenewCertificateInput{CertificateArn: &arn})
	wantCode(t, err, "InvalidStateException")
	_, err = e.client.ExportCertificate(ctx, &sdkacm.ExportCertificateInput{CertificateArn: &arn, Passphrase: []byte("secret")})
	wantCode(t, err, "InvalidStateException")
	now = before.NotAfter.Add(-24 * time.Hour) // deep in the renewal window, and in use
	if err := v.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if d := describe(t, e, arn); !d.NotAfter.Equal(*before.NotAfter) || d.RenewalSummary != nil {
		t.Fatalf("a revoked certificate was renewed: NotAfter %v (was %v), summary %+v", d.NotAfter, before.NotAfter, d.RenewalSummary)
	}
	states, err := e.svc.ExpiryStates(ctx)
	if err != nil || len(states) != 0 {
		t.Fatalf("expiry states of a revoked certificate = %v, %v", states, err)
	}
	now = time.Now()

	// What cannot be revoked.
	imported := e.importPKI(t, newPKI(t))
	_, err = e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: &imported, RevocationReason: types.RevocationReasonUnspecified})
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "imported") {
		t.Errorf("imported: %v", err)
	}
	v.Issuer = acmeLikeIssuer{certificate.CAIssuer{CA: ca}}
	public := issueWith(t, e, v, res)
	_, err = e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: &public, RevocationReason: types.RevocationReasonUnspecified})
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "ACME") {
		t.Errorf("ACME-issued: %v", err)
	}
	pending, err := e.client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("later.yourcompany.com")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: pending.CertificateArn, RevocationReason: types.RevocationReasonUnspecified})
	wantCode(t, err, "RequestInProgressException")
	v.Issuer = certificate.CAIssuer{CA: ca}
	other := issueWith(t, e, v, res)
	for reason, code := range map[types.RevocationReason]string{"REMOVE_FROM_CRL": "ValidationException", "BECAUSE": "ValidationException"} {
		_, err = e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: &other, RevocationReason: reason})
		wantCode(t, err, code)
	}
	missing := arn[:len(arn)-4] + "0000"
	_, err = e.client.RevokeCertificate(ctx, &sdkacm.RevokeCertificateInput{CertificateArn: &missing, RevocationReason: types.RevocationReasonUnspecified})
	wantCode(t, err, "ResourceNotFoundException")
	if d := describe(t, e, other); d.Status != types.CertificateStatusIssued {
		t.Fatalf("refused revocations changed the status to %s", d.Status)
	}
}

// TestRevokeCertificateCLI revokes through the aws CLI (botocore's
// serialisation of the enum) and reads the result back with it.
func TestRevokeCertificateCLI(t *testing.T) {
	e := start(t)
	v, res, ca := newValidator(t, e)
	e.svc.Revoker = ca
	arn := issueWith(t, e, v, res)
	cli := e.srv.CLI(t)
	var out struct{ CertificateArn string }
	cli.JSON(t, &out, "acm", "revoke-certificate", "--certificate-arn", arn, "--revocation-reason", "CESSATION_OF_OPERATION")
	if out.CertificateArn != arn {
		t.Fatalf("revoke-certificate printed %+v", out)
	}
	var desc struct {
		Certificate struct {
			Status           string
			RevocationReason string
			RevokedAt        any // a number or a date, by CLI version
		}
	}
	cli.JSON(t, &desc, "acm", "describe-certificate", "--certificate-arn", arn)
	c := desc.Certificate
	if c.Status != "REVOKED" || c.RevocationReason != "CESSATION_OF_OPERATION" || c.RevokedAt == nil {
		t.Fatalf("describe-certificate after revocation: %+v", c)
	}
	rev, ok := ca.Revoked(leafOf(t, e, arn).SerialNumber)
	if !ok || rev.Reason != ocsp.CessationOfOperation {
		t.Fatalf("CA revocation = %+v, %v", rev, ok)
	}
	_, stderr, err := cli.Output("acm", "revoke-certificate", "--certificate-arn", e.importPKI(t, newPKI(t)), "--revocation-reason", "UNSPECIFIED")
	if err == nil || !strings.Contains(stderr, "ValidationException") || !strings.Contains(stderr, "imported") {
		t.Fatalf("imported certificate through the CLI: err %v, stderr %s", err, stderr)
	}
}
