package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

var subject = pkix.Name{CommonName: "Portico Test CA", Organization: []string{"Portico"}}

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestLoadOrCreateGeneratesRoot(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := LoadOrCreate(dir, "device", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	root := ca.Root()
	if !root.IsCA || !root.BasicConstraintsValid {
		t.Error("root is not a CA")
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; root.KeyUsage != want {
		t.Errorf("key usage = %v, want %v", root.KeyUsage, want)
	}
	if root.PublicKeyAlgorithm != x509.ECDSA || root.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("root key is %v, want ECDSA P-256", root.PublicKeyAlgorithm)
	}
	if root.Subject.CommonName != "Portico Test CA" {
		t.Errorf("subject = %v", root.Subject)
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		t.Errorf("root is not self-signed: %v", err)
	}
	if life := root.NotAfter.Sub(root.NotBefore); life != RootValidity {
		t.Errorf("root lifetime = %v, want %v", life, RootValidity)
	}
	if !root.NotBefore.Before(now) || root.NotAfter.Before(now.AddDate(9, 11, 0)) {
		t.Errorf("root validity %v..%v does not cover ten years from %v", root.NotBefore, root.NotAfter, now)
	}

	certFile, keyFile := Paths(dir, "device")
	checkFiles(t, certFile, keyFile, ca.PEM())
	leftovers, _ := os.ReadDir(dir)
	if len(leftovers) != 4 {
		t.Errorf("data dir holds %d entries, want exactly the four CA files (root and intermediate)", len(leftovers))
	}
}

func TestLoadOrCreateReloads(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreate(dir, "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := LoadOrCreate(dir, "device", pkix.Name{CommonName: "ignored on reload"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Root().Equal(second.Root()) {
		t.Fatal("reload produced a different root")
	}
	if !first.Certificate().Equal(second.Certificate()) {
		t.Fatal("reload produced a different intermediate")
	}
	// The reloaded key signs leaves that verify against the original root.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := second.IssueClient(key.Public(), "dev", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if err := leaf.CheckSignatureFrom(first.Certificate()); err != nil {
		t.Fatalf("leaf from the reloaded CA does not verify against the first root: %v", err)
	}
}

func TestTwoCAsInOneDirectoryStayApart(t *testing.T) {
	dir := t.TempDir()
	device, err := LoadOrCreate(dir, "device", pkix.Name{CommonName: "device"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	server, err := LoadOrCreate(dir, "server", pkix.Name{CommonName: "server"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if device.Root().Equal(server.Root()) || device.Certificate().Equal(server.Certificate()) {
		t.Fatal("device and server CA are the same certificate")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := device.IssueClient(key.Public(), "dev", time.Hour)
	leaf, _ := x509.ParseCertificate(der)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: server.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err == nil {
		t.Fatal("a device certificate verified against the server CA")
	}
}

func TestLoadOrCreateRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
	}{
		{"key readable by others", func(t *testing.T, dir string) {
			if runtime.GOOS == "windows" {
				t.Skip("no POSIX modes")
			}
			_, keyFile := Paths(dir, "device")
			if err := os.Chmod(keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "must not be accessible by group or others"},
		{"certificate without key", func(t *testing.T, dir string) {
			_, keyFile := Paths(dir, "device")
			os.Remove(keyFile)
		}, "does not"},
		{"key without certificate", func(t *testing.T, dir string) {
			certFile, _ := Paths(dir, "device")
			os.Remove(certFile)
		}, "does not"},
		{"key of another CA", func(t *testing.T, dir string) {
			if _, err := LoadOrCreate(dir, "other", subject, nil); err != nil {
				t.Fatal(err)
			}
			_, keyFile := Paths(dir, "device")
			_, otherKey := Paths(dir, "other")
			data, _ := os.ReadFile(otherKey)
			if err := os.WriteFile(keyFile, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "does not belong"},
		{"garbage certificate", func(t *testing.T, dir string) {
			certFile, _ := Paths(dir, "device")
			os.WriteFile(certFile, []byte("not a certificate"), 0o644)
		}, "no PEM CERTIFICATE block"},
		{"garbage key", func(t *testing.T, dir string) {
			_, keyFile := Paths(dir, "device")
			os.WriteFile(keyFile, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
		}, "ca-key.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreate(dir, "device", subject, nil); err != nil {
				t.Fatal(err)
			}
			tt.prepare(t, dir)
			_, err := LoadOrCreate(dir, "device", subject, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadAcceptsOperatorProvidedRSACA(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "operator root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 24),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := Paths(dir, "device")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	ca, err := LoadOrCreate(dir, "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Root().Subject.CommonName != "operator root" {
		t.Fatalf("loaded %v", ca.Root().Subject)
	}
	if err := ca.Certificate().CheckSignatureFrom(ca.Root()); err != nil {
		t.Fatalf("the intermediate does not chain to the operator's root: %v", err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := ca.IssueServer(leafKey.Public(), []string{"a.example"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "a.example"}); err != nil {
		t.Fatal(err)
	}
}

func TestIssueClient(t *testing.T) {
	now := time.Now()
	ca, err := LoadOrCreate(t.TempDir(), "device", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueClient(rsaKey.Public(), "AWS IoT Certificate", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "AWS IoT Certificate" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("EKU = %v, want clientAuth only", leaf.ExtKeyUsage)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		t.Error("leaf lacks digitalSignature")
	}
	if got := leaf.SerialNumber.BitLen(); got < 64 || got > 128 {
		t.Errorf("serial has %d bits, want a random 128-bit number", got)
	}
	if !leaf.NotBefore.Before(now) || !leaf.NotAfter.After(now.Add(23*time.Hour)) {
		t.Errorf("validity %v..%v does not cover now+23h", leaf.NotBefore, leaf.NotAfter)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("client leaf does not verify for clientAuth: %v", err)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if _, err := leaf.Verify(opts); err == nil {
		t.Fatal("client leaf verified for serverAuth")
	}

	until := time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
	der, err = ca.IssueClientUntil(rsaKey.Public(), "x", until)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(der)
	if !leaf.NotAfter.Equal(until) {
		t.Errorf("NotAfter = %v, want %v", leaf.NotAfter, until)
	}
}

func TestIssueServer(t *testing.T) {
	now := time.Now()
	ca, err := LoadOrCreate(t.TempDir(), "server", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := ca.IssueServer(key.Public(), []string{"iot.example.com", "*.example.com"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU = %v, want serverAuth only", leaf.ExtKeyUsage)
	}
	for _, name := range []string{"iot.example.com", "x.example.com", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name, CurrentTime: now}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "other.test", CurrentTime: now}); err == nil {
		t.Error("server leaf verified for a name it does not carry")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server leaf verified for clientAuth")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now.Add(2 * time.Hour)}); err == nil {
		t.Error("server leaf still valid after its validity")
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := ca.IssueClient(key.Public(), "x", 0); err == nil {
		t.Error("zero validity accepted")
	}
	if _, err := ca.IssueClientUntil(key.Public(), "x", time.Now().Add(-time.Hour)); err == nil {
		t.Error("end of validity in the past accepted")
	}
	if _, err := ca.IssueServer(key.Public(), nil, nil, time.Hour); err == nil {
		t.Error("server certificate without names accepted")
	}
	if _, err := ca.IssueClient("not a key", "x", time.Hour); err == nil {
		t.Error("a string accepted as public key")
	}
}

func TestSerialsDiffer(t *testing.T) {
	ca, err := LoadOrCreate(t.TempDir(), "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	seen := map[string]bool{}
	for range 20 {
		der, err := ca.IssueClient(key.Public(), "x", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		s := leaf.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

// checkFiles checks a CA's files on disk: the certificate is pem, readable
// by all; the key is the owner's alone.
func checkFiles(t *testing.T, certFile, keyFile string, pem []byte) {
	t.Helper()
	onDisk, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, pem) {
		t.Errorf("%s differs from the CA's PEM", certFile)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for file, want := range map[string]os.FileMode{certFile: 0o644, keyFile: 0o600} {
		info, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s mode %04o, want %04o", file, got, want)
		}
	}
}
