package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func issueLeaf(t *testing.T, ca *CA, opts ...IssueOption) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := ca.IssueServer(key.Public(), []string{"iot.example.com"}, nil, 24*time.Hour, opts...)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestIssuedRecognisesOwnSerials(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir, "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreate(dir, "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := issueLeaf(t, ca)
	if !ca.Issued(leaf.SerialNumber) {
		t.Error("the CA does not recognise a serial it issued")
	}
	if other.Issued(leaf.SerialNumber) {
		t.Error("another CA recognises the serial")
	}
	reloaded, err := LoadOrCreate(dir, "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reloaded.Issued(leaf.SerialNumber) {
		t.Error("the reloaded CA does not recognise a serial issued before the restart")
	}
	random, _ := newSerial()
	for _, s := range []*big.Int{random, big.NewInt(0), big.NewInt(-5), new(big.Int).Lsh(leaf.SerialNumber, 8), nil} {
		if ca.Issued(s) {
			t.Errorf("serial %v recognised", s)
		}
	}
}

func TestWithRevocationURLs(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := issueLeaf(t, ca, WithRevocationURLs("http://127.0.0.1:4566/_portico/pki/server/ocsp", "http://127.0.0.1:4566/_portico/pki/server/crl"))
	if len(leaf.OCSPServer) != 1 || leaf.OCSPServer[0] != "http://127.0.0.1:4566/_portico/pki/server/ocsp" {
		t.Errorf("OCSPServer = %q", leaf.OCSPServer)
	}
	if len(leaf.CRLDistributionPoints) != 1 || leaf.CRLDistributionPoints[0] != "http://127.0.0.1:4566/_portico/pki/server/crl" {
		t.Errorf("CRLDistributionPoints = %q", leaf.CRLDistributionPoints)
	}
	plain := issueLeaf(t, ca, WithRevocationURLs("", ""))
	if len(plain.OCSPServer)+len(plain.CRLDistributionPoints) != 0 {
		t.Error("empty URLs were embedded")
	}
}

func TestRevokeIsDurable(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := LoadOrCreate(dir, "server", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	a, b := issueLeaf(t, ca), issueLeaf(t, ca)
	if err := ca.Revoke(a.SerialNumber, ocsp.KeyCompromise, time.Time{}); err != nil {
		t.Fatal(err)
	}
	when := now.Add(-time.Hour)
	if err := ca.Revoke(b.SerialNumber, ocsp.Superseded, when); err != nil {
		t.Fatal(err)
	}
	// Revoking again keeps the first revocation.
	if err := ca.Revoke(a.SerialNumber, ocsp.Superseded, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		info, err := os.Stat(RevocationsPath(dir, "server"))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("revocation list mode = %04o", info.Mode().Perm())
		}
	}

	reloaded, err := LoadOrCreate(dir, "server", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := reloaded.Revoked(a.SerialNumber)
	if !ok || r.Reason != ocsp.KeyCompromise || !r.RevokedAt.Equal(now) {
		t.Errorf("after reload a = %+v, %v; want keyCompromise at %v", r, ok, now)
	}
	list := reloaded.Revocations()
	if len(list) != 2 || list[0].Serial.Cmp(b.SerialNumber) != 0 || !list[0].RevokedAt.Equal(when) {
		t.Errorf("Revocations() = %+v, want b (older) then a", list)
	}
	if _, ok := reloaded.Revoked(issueLeaf(t, reloaded).SerialNumber); ok {
		t.Error("a fresh certificate is revoked")
	}
}

func TestRevokeRejects(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		serial *big.Int
		reason int
	}{{nil, 0}, {big.NewInt(0), 0}, {big.NewInt(-1), 0}, {big.NewInt(1), 7}, {big.NewInt(1), ocsp.RemoveFromCRL}, {big.NewInt(1), 11}, {big.NewInt(1), -1}} {
		if err := ca.Revoke(tt.serial, tt.reason, time.Time{}); err == nil {
			t.Errorf("Revoke(%v, %d) accepted", tt.serial, tt.reason)
		}
	}
	if len(ca.Revocations()) != 0 {
		t.Error("a rejected revocation was recorded")
	}
}

func TestDamagedRevocationListRefusesToLoad(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      "{",
		"unknown field": `{"revoked":[],"extra":1}`,
		"bad serial":    `{"revoked":[{"serial":"xyz","reason":1,"revokedAt":"2026-01-01T00:00:00Z"}]}`,
		"bad reason":    `{"revoked":[{"serial":"0a","reason":7,"revokedAt":"2026-01-01T00:00:00Z"}]}`,
		"no time":       `{"revoked":[{"serial":"0a","reason":1}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreate(dir, "server", subject, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(RevocationsPath(dir, "server"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreate(dir, "server", subject, nil); err == nil || !strings.Contains(err.Error(), "revoked.json") {
				t.Fatalf("err = %v, want one naming the revocation list", err)
			}
		})
	}
}

func TestNewCAIgnoresStaleRevocationList(t *testing.T) {
	dir := t.TempDir()
	stale := `{"revoked":[{"serial":"0a","reason":1,"revokedAt":"2026-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(RevocationsPath(dir, "server"), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrCreate(dir, "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ca.Revocations()); n != 0 {
		t.Fatalf("a new CA inherited %d revocations", n)
	}
}

func TestOCSPResponse(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir, "server", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	good, revoked := issueLeaf(t, ca), issueLeaf(t, ca)
	revokedAt := now.Add(-time.Minute).Truncate(time.Second)
	if err := ca.Revoke(revoked.SerialNumber, ocsp.KeyCompromise, revokedAt); err != nil {
		t.Fatal(err)
	}
	// A certificate under the CA's name and key whose serial the CA did not
	// make (for example one issued before serials became recognisable).
	foreignSerial := *good
	foreignSerial.SerialNumber, _ = newSerial()

	for _, tt := range []struct {
		name   string
		leaf   *x509.Certificate
		hash   crypto.Hash
		status int
	}{
		{"good sha1", good, crypto.SHA1, ocsp.Good},
		{"good sha256", good, crypto.SHA256, ocsp.Good},
		{"revoked", revoked, crypto.SHA1, ocsp.Revoked},
		{"unknown serial", &foreignSerial, crypto.SHA1, ocsp.Unknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reqDER, err := ocsp.CreateRequest(tt.leaf, ca.Certificate(), &ocsp.RequestOptions{Hash: tt.hash})
			if err != nil {
				t.Fatal(err)
			}
			req, err := ocsp.ParseRequest(reqDER)
			if err != nil {
				t.Fatal(err)
			}
			der, err := ca.OCSPResponse(req)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := ocsp.ParseResponseForCert(der, tt.leaf, ca.Certificate())
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.status {
				t.Errorf("status = %d, want %d", resp.Status, tt.status)
			}
			if resp.IssuerHash != tt.hash {
				t.Errorf("issuer hash = %v, want the request's %v", resp.IssuerHash, tt.hash)
			}
			if resp.Certificate != nil {
				t.Error("a responder certificate is embedded; the CA signs directly")
			}
			wantThis := now.Truncate(time.Minute)
			if !resp.ThisUpdate.Equal(wantThis) || !resp.NextUpdate.Equal(wantThis.Add(OCSPValidity)) {
				t.Errorf("thisUpdate %v nextUpdate %v, want %v and an hour later", resp.ThisUpdate, resp.NextUpdate, wantThis)
			}
			if tt.status == ocsp.Revoked && (!resp.RevokedAt.Equal(revokedAt) || resp.RevocationReason != ocsp.KeyCompromise) {
				t.Errorf("revoked at %v reason %d, want %v keyCompromise", resp.RevokedAt, resp.RevocationReason, revokedAt)
			}
			if len(der) > 4096 {
				t.Errorf("response is %d bytes, over AWS's 4 KiB", len(der))
			}
		})
	}

	other, err := LoadOrCreate(dir, "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherLeaf := issueLeaf(t, other)
	reqDER, _ := ocsp.CreateRequest(otherLeaf, other.Certificate(), nil)
	req, _ := ocsp.ParseRequest(reqDER)
	if _, err := ca.OCSPResponse(req); !errors.Is(err, ErrNotIssuer) {
		t.Errorf("a request for another CA's certificate: err = %v, want ErrNotIssuer", err)
	}
	if _, err := ca.OCSPResponse(&ocsp.Request{HashAlgorithm: crypto.SHA1}); err == nil {
		t.Error("a request without a serial was answered")
	}
}

func TestOCSPResponseFromOperatorRSACA(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "operator root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	certFile, keyFile := Paths(dir, "server")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	ca, err := LoadOrCreate(dir, "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := issueLeaf(t, ca)
	reqDER, _ := ocsp.CreateRequest(leaf, ca.Certificate(), nil)
	req, _ := ocsp.ParseRequest(reqDER)
	respDER, err := ca.OCSPResponse(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := ocsp.ParseResponseForCert(respDER, leaf, ca.Certificate()); err != nil || resp.Status != ocsp.Good {
		t.Fatalf("response %+v, err %v; want good", resp, err)
	}
	// This operator's root lacks cRLSign.
	if _, err := ca.RootCRL(); err == nil || !strings.Contains(err.Error(), "cRLSign") {
		t.Errorf("CRL from a root without cRLSign: err = %v", err)
	}
}

func TestCRL(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := LoadOrCreate(t.TempDir(), "server", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	first, err := x509.ParseRevocationList(empty)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(first.RevokedCertificateEntries) != 0 {
		t.Errorf("empty list has %d entries", len(first.RevokedCertificateEntries))
	}
	if !first.ThisUpdate.Equal(now) || !first.NextUpdate.Equal(now.Add(CRLValidity)) {
		t.Errorf("thisUpdate %v nextUpdate %v", first.ThisUpdate, first.NextUpdate)
	}

	a, b := issueLeaf(t, ca), issueLeaf(t, ca)
	ca.Revoke(a.SerialNumber, ocsp.Unspecified, now.Add(-2*time.Hour))
	ca.Revoke(b.SerialNumber, ocsp.CessationOfOperation, now.Add(-time.Hour))
	der, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if crl.Number.Cmp(first.Number) <= 0 {
		t.Errorf("CRL number %v does not increase from %v", crl.Number, first.Number)
	}
	if len(crl.RevokedCertificateEntries) != 2 {
		t.Fatalf("%d entries, want 2", len(crl.RevokedCertificateEntries))
	}
	e0, e1 := crl.RevokedCertificateEntries[0], crl.RevokedCertificateEntries[1]
	if e0.SerialNumber.Cmp(a.SerialNumber) != 0 || !e0.RevocationTime.Equal(now.Add(-2*time.Hour)) || e0.ReasonCode != ocsp.Unspecified {
		t.Errorf("first entry %+v", e0)
	}
	if e1.SerialNumber.Cmp(b.SerialNumber) != 0 || e1.ReasonCode != ocsp.CessationOfOperation {
		t.Errorf("second entry %+v", e1)
	}
}
