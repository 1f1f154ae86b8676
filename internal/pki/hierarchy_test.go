package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func parsePEM(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// verifyAgainstRoot verifies leaf with the root as the only trust anchor and
// the CA's Chain as the only intermediates, as a TLS peer does.
func verifyAgainstRoot(t *testing.T, ca *CA, leaf *x509.Certificate, at time.Time) {
	t.Helper()
	inter := x509.NewCertPool()
	for _, der := range ca.Chain() {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: ca.RootPool(), Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		t.Fatalf("leaf %v does not verify against the root: %v", leaf.Subject, err)
	}
	if n := len(chains[0]); n != 3 {
		t.Errorf("chain of %d certificates, want leaf, intermediate, root", n)
	}
}

func TestLoadOrCreateGeneratesIntermediate(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := LoadOrCreate(dir, "server", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	root, inter := ca.Root(), ca.Certificate()
	if root.Equal(inter) {
		t.Fatal("the intermediate is the root")
	}
	if err := inter.CheckSignatureFrom(root); err != nil {
		t.Fatalf("the root did not sign the intermediate: %v", err)
	}
	if !inter.IsCA || !inter.BasicConstraintsValid || inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
		t.Errorf("intermediate CA %v, path length %d (zero %v); want a CA with path length 0", inter.IsCA, inter.MaxPathLen, inter.MaxPathLenZero)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature; inter.KeyUsage != want {
		t.Errorf("intermediate key usage %v, want %v", inter.KeyUsage, want)
	}
	if inter.PublicKeyAlgorithm != x509.ECDSA || inter.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("intermediate key %v, want ECDSA P-256", inter.PublicKeyAlgorithm)
	}
	if life := inter.NotAfter.Sub(inter.NotBefore); life != IntermediateValidity {
		t.Errorf("intermediate lifetime %v, want %v", life, IntermediateValidity)
	}
	if inter.Subject.CommonName != "Portico Test CA Intermediate" || !bytes.Equal(inter.RawIssuer, root.RawSubject) {
		t.Errorf("intermediate subject %v, issuer %v", inter.Subject, inter.Issuer)
	}
	if !ca.Issued(inter.SerialNumber) {
		t.Error("the CA does not recognise the intermediate's serial")
	}

	certFile, keyFile := IntermediatePaths(dir, "server")
	checkFiles(t, certFile, keyFile, ca.IntermediatePEM())
	chain := parsePEM(t, ca.ChainPEM())
	if len(chain) != 2 || !chain[0].Equal(inter) || !chain[1].Equal(root) {
		t.Errorf("ChainPEM is not intermediate, root")
	}
	if got := parsePEM(t, ca.PEM()); len(got) != 1 || !got[0].Equal(root) {
		t.Error("PEM is not the root alone")
	}

	// Every leaf comes from the intermediate and chains to the root.
	leaf := issueLeaf(t, ca)
	if !bytes.Equal(leaf.RawIssuer, inter.RawSubject) || !bytes.Equal(leaf.AuthorityKeyId, inter.SubjectKeyId) {
		t.Errorf("leaf issuer %v, want the intermediate", leaf.Issuer)
	}
	verifyAgainstRoot(t, ca, leaf, now)
	if ca.Issuer(leaf) != inter || ca.Issuer(inter) != root {
		t.Error("Issuer does not name the intermediate for a leaf and the root for the intermediate")
	}
	// Pool, for a leaf alone, holds both.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("a leaf alone does not verify against Pool: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.RootPool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Error("a leaf verified against the root without its intermediate")
	}
}

// writeLegacyRoot lays out a data directory as versions before the
// intermediate did: the root's two files, and a revocation list.
func writeLegacyRoot(t *testing.T, dir, name string, now time.Time) *signer {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := newSerial()
	start := now.Add(-Backdate).UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: start, NotAfter: start.Add(RootValidity),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	certFile, keyFile := Paths(dir, name)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := newSigner(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacyLeaf issues a leaf from the root itself, as earlier versions did
// (serial recognisable under the root's key).
func legacyLeaf(t *testing.T, root *signer, now time.Time, ocspURL, crlURL string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, err := root.newLeafSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "old.example"}, DNSNames: []string{"old.example"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true,
		OCSPServer: []string{ocspURL}, CRLDistributionPoints: []string{crlURL}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, key.Public(), root.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return leaf
}

func ocspStatusFrom(t *testing.T, ca *CA, leaf, issuer *x509.Certificate) *ocsp.Response {
	t.Helper()
	reqDER, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := ocsp.ParseRequest(reqDER)
	respDER, err := ca.OCSPResponse(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponseForCert(respDER, leaf, issuer)
	if err != nil {
		t.Fatalf("the OCSP response does not verify with %v: %v", issuer.Subject, err)
	}
	return resp
}

func TestLegacyRootOnlyDirectoryUpgrades(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	root := writeLegacyRoot(t, dir, "server", now)
	old := legacyLeaf(t, root, now, "http://127.0.0.1:4566/_portico/pki/server/ocsp", "http://127.0.0.1:4566/_portico/pki/server/crl")
	oldRevoked := legacyLeaf(t, root, now, "", "")
	// The revocation list of an earlier version, in its format.
	list := `{"revoked": [{"serial": "` + oldRevoked.SerialNumber.Text(16) + `", "reason": 1, "revokedAt": "2026-02-28T00:00:00Z"}]}`
	if err := os.WriteFile(RevocationsPath(dir, "server"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	rootFile, _ := Paths(dir, "server")
	rootBefore, _ := os.ReadFile(rootFile)

	ca, err := LoadOrCreate(dir, "server", pkix.Name{CommonName: "ignored on reload"}, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Root().Equal(root.cert) {
		t.Fatal("the upgrade replaced the root")
	}
	if after, _ := os.ReadFile(rootFile); !bytes.Equal(after, rootBefore) {
		t.Error("the upgrade rewrote the root's file")
	}
	inter := ca.Certificate()
	if err := inter.CheckSignatureFrom(root.cert); err != nil {
		t.Fatalf("the new intermediate is not the old root's: %v", err)
	}
	interFile, interKey := IntermediatePaths(dir, "server")
	for _, f := range []string{interFile, interKey} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the upgrade did not write %s: %v", f, err)
		}
	}

	// Old leaves verify against the root they always did (no intermediate).
	if _, err := old.Verify(x509.VerifyOptions{Roots: ca.RootPool(), CurrentTime: now}); err != nil {
		t.Fatalf("an old leaf no longer verifies: %v", err)
	}
	if ca.Issuer(old) != ca.Root() {
		t.Error("Issuer of an old leaf is not the root")
	}
	// New leaves chain through the intermediate.
	verifyAgainstRoot(t, ca, issueLeaf(t, ca), now)

	// OCSP: the root answers for its old leaves, the intermediate for its own.
	if r := ocspStatusFrom(t, ca, old, ca.Root()); r.Status != ocsp.Good {
		t.Errorf("old leaf: OCSP status %d, want good", r.Status)
	}
	if r := ocspStatusFrom(t, ca, oldRevoked, ca.Root()); r.Status != ocsp.Revoked || r.RevocationReason != ocsp.KeyCompromise {
		t.Errorf("revoked old leaf: OCSP status %d reason %d", r.Status, r.RevocationReason)
	}
	newLeaf := issueLeaf(t, ca)
	if r := ocspStatusFrom(t, ca, newLeaf, inter); r.Status != ocsp.Good {
		t.Errorf("new leaf: OCSP status %d, want good", r.Status)
	}
	// The root answers for the intermediate too.
	if r := ocspStatusFrom(t, ca, inter, ca.Root()); r.Status != ocsp.Good {
		t.Errorf("intermediate: OCSP status %d, want good", r.Status)
	}
	// Asking the intermediate about an old leaf is "unknown", not "good".
	if r := ocspStatusFrom(t, ca, old, inter); r.Status != ocsp.Unknown {
		t.Errorf("old leaf asked of the intermediate: OCSP status %d, want unknown", r.Status)
	}

	// CRLs: the root's lists the old revocation; the intermediate's the new.
	if err := ca.Revoke(newLeaf.SerialNumber, ocsp.Superseded, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		sign   func() ([]byte, error)
		issuer *x509.Certificate
		want   *x509.Certificate
	}{{"RootCRL", ca.RootCRL, ca.Root(), oldRevoked}, {"CRL", ca.CRL, inter, newLeaf}} {
		der, err := tc.sign()
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := crl.CheckSignatureFrom(tc.issuer); err != nil {
			t.Errorf("%s not signed by %v: %v", tc.name, tc.issuer.Subject, err)
		}
		if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(tc.want.SerialNumber) != 0 {
			t.Errorf("%s entries %+v, want %v only", tc.name, crl.RevokedCertificateEntries, tc.want.SerialNumber)
		}
	}

	// Loading again keeps the same intermediate.
	again, err := LoadOrCreate(dir, "server", subject, fixedClock(now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Certificate().Equal(inter) {
		t.Error("a reload replaced the intermediate")
	}
}

func TestIntermediateRenewal(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca, err := LoadOrCreate(dir, "device", subject, fixedClock(now))
	if err != nil {
		t.Fatal(err)
	}
	first := ca.Certificate()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := ca.IssueClientUntil(key.Public(), "device", time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)

	// More than IntermediateRenewBefore left: kept.
	later := first.NotAfter.Add(-IntermediateRenewBefore - time.Hour)
	kept, err := LoadOrCreate(dir, "device", subject, fixedClock(later))
	if err != nil {
		t.Fatal(err)
	}
	if !kept.Certificate().Equal(first) {
		t.Fatal("renewed an intermediate with more than a year left")
	}

	// Less: the root certifies the same key and name again.
	renewAt := first.NotAfter.Add(-IntermediateRenewBefore + time.Hour)
	renewed, err := LoadOrCreate(dir, "device", subject, fixedClock(renewAt))
	if err != nil {
		t.Fatal(err)
	}
	second := renewed.Certificate()
	if second.Equal(first) {
		t.Fatal("the intermediate was not renewed")
	}
	if !bytes.Equal(second.RawSubject, first.RawSubject) || !bytes.Equal(second.SubjectKeyId, first.SubjectKeyId) ||
		!bytes.Equal(second.RawSubjectPublicKeyInfo, first.RawSubjectPublicKeyInfo) {
		t.Error("the renewed intermediate changed its name, key or key identifier")
	}
	if !second.NotAfter.After(first.NotAfter) || second.MaxPathLen != 0 || !second.MaxPathLenZero {
		t.Errorf("renewed intermediate until %v (path length %d)", second.NotAfter, second.MaxPathLen)
	}
	onDisk, _ := os.ReadFile(func() string { f, _ := IntermediatePaths(dir, "device"); return f }())
	if !bytes.Equal(onDisk, renewed.IntermediatePEM()) {
		t.Error("the renewed intermediate was not written")
	}
	// A leaf issued under the first certificate verifies under the second,
	// after the first has expired.
	verifyAgainstRoot(t, renewed, leaf, first.NotAfter.Add(time.Hour))
	// And the renewed intermediate recognises its old leaves' serials.
	if !renewed.Issued(leaf.SerialNumber) {
		t.Error("the renewed CA does not recognise a leaf issued before the renewal")
	}
}

func TestIntermediateFilesRecoveryAndRefusals(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	newDir := func(t *testing.T) (string, *CA) {
		dir := t.TempDir()
		ca, err := LoadOrCreate(dir, "device", subject, fixedClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return dir, ca
	}

	t.Run("key without certificate is certified", func(t *testing.T) {
		dir, ca := newDir(t)
		certFile, _ := IntermediatePaths(dir, "device")
		os.Remove(certFile)
		again, err := LoadOrCreate(dir, "device", subject, fixedClock(now))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Certificate().RawSubjectPublicKeyInfo, ca.Certificate().RawSubjectPublicKeyInfo) {
			t.Error("the existing intermediate key was not kept")
		}
	})
	t.Run("certificate without key", func(t *testing.T) {
		dir, _ := newDir(t)
		_, keyFile := IntermediatePaths(dir, "device")
		os.Remove(keyFile)
		if _, err := LoadOrCreate(dir, "device", subject, fixedClock(now)); err == nil || !strings.Contains(err.Error(), "does not") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("intermediate key readable by others", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no POSIX modes")
		}
		dir, _ := newDir(t)
		_, keyFile := IntermediatePaths(dir, "device")
		os.Chmod(keyFile, 0o640)
		if _, err := LoadOrCreate(dir, "device", subject, fixedClock(now)); err == nil || !strings.Contains(err.Error(), "must not be accessible") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("intermediate of another root", func(t *testing.T) {
		dir, _ := newDir(t)
		other := t.TempDir()
		if _, err := LoadOrCreate(other, "device", subject, fixedClock(now)); err != nil {
			t.Fatal(err)
		}
		oc, ok := IntermediatePaths(other, "device")
		dc, dk := IntermediatePaths(dir, "device")
		for src, dst := range map[string]string{oc: dc, ok: dk} {
			data, _ := os.ReadFile(src)
			os.WriteFile(dst, data, 0o600)
		}
		if _, err := LoadOrCreate(dir, "device", subject, fixedClock(now)); err == nil || !strings.Contains(err.Error(), "was not issued by the root") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a new root discards the old intermediate", func(t *testing.T) {
		dir, ca := newDir(t)
		certFile, keyFile := Paths(dir, "device")
		os.Remove(certFile)
		os.Remove(keyFile)
		again, err := LoadOrCreate(dir, "device", subject, fixedClock(now))
		if err != nil {
			t.Fatal(err)
		}
		if again.Root().Equal(ca.Root()) || again.Certificate().Equal(ca.Certificate()) {
			t.Error("kept the old root or intermediate")
		}
		if err := again.Certificate().CheckSignatureFrom(again.Root()); err != nil {
			t.Error(err)
		}
	})
}

// requireTool skips a test whose tool is missing, unless CI=true: there a
// missing tool fails it (as internal/awsapi/apitest.RequireTool does).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (CI=true): %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return path
}

// openssl verifies leaves of the intermediate with the root as the only
// trust anchor and the intermediate as untrusted, and an old leaf of the
// root with the root alone: the commands docs/certificates.md gives.
func TestOpenSSLVerifiesTheChain(t *testing.T) {
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	now := time.Now()
	root := writeLegacyRoot(t, dir, "device", now)
	old := legacyLeaf(t, root, now, "", "")
	ca, err := LoadOrCreate(dir, "device", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := ca.IssueClientUntil(key.Public(), "AWS IoT Certificate", time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootFile := write("root.pem", ca.PEM())
	chainFile := write("chain.pem", ca.ChainPEM())
	interFile := write("intermediate.pem", ca.IntermediatePEM())
	leafFile := write("leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	oldFile := write("old.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: old.Raw}))
	run := func(wantOK bool, args ...string) {
		t.Helper()
		out, err := exec.Command(openssl, append([]string{"verify"}, args...)...).CombinedOutput()
		if ok := err == nil && strings.Contains(string(out), ": OK"); ok != wantOK {
			t.Errorf("openssl verify %v: ok %v, want %v\n%s", args, ok, wantOK, out)
		}
	}
	run(true, "-CAfile", rootFile, "-untrusted", chainFile, leafFile)
	run(true, "-CAfile", rootFile, "-untrusted", interFile, leafFile)
	run(false, "-CAfile", rootFile, leafFile) // the intermediate is needed
	run(true, "-CAfile", rootFile, oldFile)   // old leaves need the root only
	run(true, "-CAfile", rootFile, interFile)
}

// Processes loading an old data directory at once (serve starting while
// `ca export` runs) end up with one intermediate key.
func TestConcurrentUpgradeAgreesOnOneIntermediateKey(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	writeLegacyRoot(t, dir, "server", now)
	const n = 8
	cas := make([]*CA, n)
	errs := make([]error, n)
	done := make(chan int)
	for i := range n {
		go func() {
			cas[i], errs[i] = LoadOrCreate(dir, "server", subject, nil)
			done <- i
		}()
	}
	for range n {
		<-done
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("loader %d: %v", i, errs[i])
		}
		if !bytes.Equal(cas[i].Certificate().RawSubjectPublicKeyInfo, cas[0].Certificate().RawSubjectPublicKeyInfo) {
			t.Fatalf("loader %d has another intermediate key", i)
		}
	}
	final, err := LoadOrCreate(dir, "server", subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A leaf of any of them verifies with the intermediate on disk.
	leaf := issueLeaf(t, cas[n-1])
	verifyAgainstRoot(t, final, leaf, time.Now())
}
