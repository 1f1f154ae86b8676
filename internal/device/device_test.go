package device

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/store/storetest"
)

const (
	testRegion  = "eu-west-1"
	testAccount = "111122223333"
)

// clock is a test clock that advances only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestService(t testing.TB) (*Service, *clock, *pki.CA) {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 123e6, time.UTC)}
	ca, err := pki.LoadOrCreate(t.TempDir(), "device", pkix.Name{CommonName: "Portico device CA"}, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ctx, st, ca, testRegion, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	svc.Now = clk.Now
	return svc, clk, ca
}

// selfSigned returns a self-signed certificate PEM for key, valid around now.
func selfSigned(t testing.TB, key crypto.Signer, cn string) (string, []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), der
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func wantFault(t *testing.T, err error, kind fault.Kind, code string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("err = %v (%T), want a %v fault", err, err, kind)
	}
	if f.Kind != kind || f.Code != code {
		t.Fatalf("fault = %v/%q (%s), want %v/%q", f.Kind, f.Code, f.Message, kind, code)
	}
}

func TestCreateKeysAndCertificate(t *testing.T) {
	svc, clk, ca := newTestService(t)
	ctx := context.Background()
	out, err := svc.CreateKeysAndCertificate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(out.CertificatePEM))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("certificatePem is not a PEM certificate: %q", out.CertificatePEM)
	}
	sum := sha256.Sum256(block.Bytes)
	if out.ID != hex.EncodeToString(sum[:]) {
		t.Errorf("certificateId %s is not the SHA-256 of the DER", out.ID)
	}
	if want := "arn:aws:iot:eu-west-1:111122223333:cert/" + out.ID; out.ARN != want {
		t.Errorf("ARN = %s, want %s", out.ARN, want)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "AWS IoT Certificate" {
		t.Errorf("CN = %q", cert.Subject.CommonName)
	}
	if !cert.NotAfter.Equal(time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("NotAfter = %v", cert.NotAfter)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: clk.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not verify against the device CA for clientAuth: %v", err)
	}

	keyBlock, _ := pem.Decode([]byte(out.PrivateKeyPEM))
	if keyBlock == nil || keyBlock.Type != "RSA PRIVATE KEY" {
		t.Fatalf("private key is not PKCS#1 PEM: %q", out.PrivateKeyPEM[:40])
	}
	priv, err := x509.ParsePKCS1PrivateKey(keyBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if priv.N.BitLen() != 2048 {
		t.Errorf("key has %d bits, want 2048", priv.N.BitLen())
	}
	if !priv.PublicKey.Equal(cert.PublicKey) {
		t.Error("private key does not match the certificate")
	}
	pubBlock, _ := pem.Decode([]byte(out.PublicKeyPEM))
	if pubBlock == nil || pubBlock.Type != "PUBLIC KEY" {
		t.Fatalf("public key is not PKIX PEM")
	}
	pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
	if err != nil || !priv.PublicKey.Equal(pub) {
		t.Fatalf("public key does not match: %v", err)
	}

	desc, err := svc.DescribeCertificate(ctx, out.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := Certificate{ARN: out.ARN, ID: out.ID, Status: StatusActive, Mode: ModeDefault, PEM: out.CertificatePEM,
		OwnedBy: testAccount, CreationDate: clk.Now().Truncate(time.Millisecond), LastModifiedDate: clk.Now().Truncate(time.Millisecond),
		CustomerVersion: 1, GenerationID: desc.GenerationID, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter}
	if *desc != want {
		t.Errorf("describe =\n%+v\nwant\n%+v", *desc, want)
	}
	if len(desc.GenerationID) != 36 {
		t.Errorf("generationId %q is not a UUID", desc.GenerationID)
	}

	// The private key is handed out once and never stored.
	rows, err := svc.st.DB().Query(`SELECT * FROM device_certificates`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rows.Scan(ptrs...)
		for i, v := range vals {
			if b, ok := v.([]byte); ok && (bytes.Contains(b, keyBlock.Bytes[:64]) || bytes.Contains(b, []byte("PRIVATE KEY"))) {
				t.Errorf("column %s holds private key material", cols[i])
			}
			if s, ok := v.(string); ok && strings.Contains(s, "PRIVATE KEY") {
				t.Errorf("column %s holds private key material", cols[i])
			}
		}
	}

	inactive, err := svc.CreateKeysAndCertificate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if inactive.ID == out.ID || inactive.PrivateKeyPEM == out.PrivateKeyPEM {
		t.Error("two calls returned the same certificate or key")
	}
	desc, _ = svc.DescribeCertificate(ctx, inactive.ID)
	if desc.Status != StatusInactive {
		t.Errorf("setAsActive=false gave status %s", desc.Status)
	}
}

func TestRegisterCertificateWithoutCA(t *testing.T) {
	svc, clk, _ := newTestService(t)
	ctx := context.Background()
	pemText, der := selfSigned(t, ecKey(t), "device-1")

	got, err := svc.RegisterCertificateWithoutCA(ctx, pemText, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != CertificateID(der) {
		t.Errorf("ID = %s, want SHA-256 of the DER", got.ID)
	}
	if got.Status != StatusActive || got.Mode != ModeSNIOnly || got.CACertificateID != "" {
		t.Errorf("status/mode/ca = %s/%s/%q, want ACTIVE/SNI_ONLY/empty", got.Status, got.Mode, got.CACertificateID)
	}
	if got.PEM != pemText {
		t.Errorf("stored PEM differs from the registered one")
	}
	if !got.NotBefore.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || !got.NotAfter.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("validity = %v..%v", got.NotBefore, got.NotAfter)
	}
	if !got.CreationDate.Equal(clk.Now().Truncate(time.Millisecond)) {
		t.Errorf("creationDate = %v", got.CreationDate)
	}

	// The same certificate again, even with other text around it.
	_, err = svc.RegisterCertificateWithoutCA(ctx, "subject=CN=device-1\n"+pemText+"\n\n", StatusInactive)
	wantFault(t, err, fault.AlreadyExists, "")
	f := fault.As(err)
	if f.ResourceID != got.ID || f.ResourceARN != got.ARN {
		t.Errorf("already-exists names %s / %s, want %s / %s", f.ResourceID, f.ResourceARN, got.ID, got.ARN)
	}

	inactivePEM, _ := selfSigned(t, ecKey(t), "device-2")
	got2, err := svc.RegisterCertificateWithoutCA(ctx, inactivePEM, StatusInactive)
	if err != nil {
		t.Fatal(err)
	}
	if got2.Status != StatusInactive {
		t.Errorf("status = %s, want INACTIVE", got2.Status)
	}
	revokedPEM, _ := selfSigned(t, ecKey(t), "device-3")
	if got3, err := svc.RegisterCertificateWithoutCA(ctx, revokedPEM, StatusRevoked); err != nil || got3.Status != StatusRevoked {
		t.Errorf("register REVOKED: %v", err)
	}
}

func TestRegisterCertificateWithoutCARejects(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	good, _ := selfSigned(t, ecKey(t), "good")
	other, _ := selfSigned(t, ecKey(t), "other")
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak, _ := selfSigned(t, rsa1024, "weak")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, _ := selfSigned(t, edKey, "ed")
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224PEM, _ := selfSigned(t, p224, "p224")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(ecKey(t))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	block, _ := pem.Decode([]byte(good))
	corrupt := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes[:len(block.Bytes)-10]}))
	withHeaders := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: block.Bytes}))

	tests := []struct {
		name   string
		pem    string
		status Status
		code   string
		msg    string
	}{
		{"empty", "", "", "", "required"},
		{"not PEM", "hello", "", "", "not a PEM"},
		{"private key", keyPEM, "", "", `"PRIVATE KEY"`},
		{"chain", good + other, "", "", "exactly one certificate"},
		{"trailing garbage", good + "garbage", "", "", "after the certificate"},
		{"corrupt DER", corrupt, "", "", "valid X.509"},
		{"PEM headers", withHeaders, "", "", "headers"},
		{"too long", good + strings.Repeat(" ", MaxPEMLength), "", "", "65536"},
		{"RSA 1024", weak, "", "CertificateValidationException", "2048"},
		{"Ed25519", edPEM, "", "CertificateValidationException", "not supported"},
		{"P-224", p224PEM, "", "CertificateValidationException", "curve"},
		{"status PENDING_TRANSFER", good, StatusPendingTransfer, "", "PENDING_TRANSFER"},
		{"status unknown", good, "ENABLED", "", "ENABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.RegisterCertificateWithoutCA(ctx, tt.pem, tt.status)
			wantFault(t, err, fault.Invalid, tt.code)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not mention %q", err, tt.msg)
			}
		})
	}
	page, err := svc.ListCertificates(ctx, 0, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Certificates) != 0 {
		t.Fatalf("a rejected registration left %d rows", len(page.Certificates))
	}
}

func registerActive(t *testing.T, svc *Service, cn string) *Certificate {
	t.Helper()
	pemText, _ := selfSigned(t, ecKey(t), cn)
	c, err := svc.RegisterCertificateWithoutCA(context.Background(), pemText, StatusActive)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUpdateCertificate(t *testing.T) {
	svc, clk, _ := newTestService(t)
	ctx := context.Background()
	c := registerActive(t, svc, "d")

	clk.Advance(time.Minute)
	if err := svc.UpdateCertificate(ctx, c.ID, StatusInactive); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.DescribeCertificate(ctx, c.ID)
	if got.Status != StatusInactive {
		t.Fatalf("status = %s", got.Status)
	}
	if !got.LastModifiedDate.Equal(clk.Now().Truncate(time.Millisecond)) || got.CreationDate.Equal(got.LastModifiedDate) {
		t.Errorf("lastModifiedDate = %v, creationDate = %v", got.LastModifiedDate, got.CreationDate)
	}
	if got.GenerationID == c.GenerationID || got.CustomerVersion != 2 {
		t.Errorf("generationId/customerVersion did not move: %s/%d", got.GenerationID, got.CustomerVersion)
	}

	// Setting the current status again writes nothing.
	gen := svc.st.Generation()
	if err := svc.UpdateCertificate(ctx, strings.ToUpper(c.ID), StatusInactive); err != nil {
		t.Fatal(err)
	}
	if svc.st.Generation() != gen {
		t.Error("a no-op update bumped the store generation")
	}

	steps := []struct {
		to   Status
		kind fault.Kind
		code string
	}{
		{StatusActive, -1, ""},
		{StatusRevoked, -1, ""},
		{StatusActive, fault.Conflict, "CertificateStateException"},
		{StatusInactive, fault.Conflict, "CertificateStateException"},
		{StatusRevoked, -1, ""},
	}
	for _, s := range steps {
		err := svc.UpdateCertificate(ctx, c.ID, s.to)
		if s.kind == -1 {
			if err != nil {
				t.Fatalf("-> %s: %v", s.to, err)
			}
			continue
		}
		wantFault(t, err, s.kind, s.code)
	}
	if got, _ := svc.DescribeCertificate(ctx, c.ID); got.Status != StatusRevoked {
		t.Errorf("status = %s, want REVOKED", got.Status)
	}

	other := registerActive(t, svc, "e")
	for _, bad := range []Status{"", StatusPendingTransfer, StatusPendingActivation, StatusRegisterInactive, "active"} {
		wantFault(t, svc.UpdateCertificate(ctx, other.ID, bad), fault.Invalid, "")
	}
	wantFault(t, svc.UpdateCertificate(ctx, strings.Repeat("0", 64), StatusInactive), fault.NotFound, "")
	wantFault(t, svc.UpdateCertificate(ctx, "abc", StatusInactive), fault.Invalid, "")
	wantFault(t, svc.UpdateCertificate(ctx, strings.Repeat("g", 64), StatusInactive), fault.Invalid, "")
}

func TestDeleteCertificate(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	c := registerActive(t, svc, "d")

	wantFault(t, svc.DeleteCertificate(ctx, c.ID, true), fault.Conflict, "CertificateStateException")
	if _, err := svc.DescribeCertificate(ctx, c.ID); err != nil {
		t.Fatalf("refused delete removed the certificate: %v", err)
	}
	if err := svc.UpdateCertificate(ctx, c.ID, StatusInactive); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteCertificate(ctx, c.ID, false); err != nil {
		t.Fatal(err)
	}
	_, err := svc.DescribeCertificate(ctx, c.ID)
	wantFault(t, err, fault.NotFound, "")
	wantFault(t, svc.DeleteCertificate(ctx, c.ID, false), fault.NotFound, "")
	wantFault(t, svc.DeleteCertificate(ctx, "not-an-id", false), fault.Invalid, "")

	revoked := registerActive(t, svc, "r")
	if err := svc.UpdateCertificate(ctx, revoked.ID, StatusRevoked); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteCertificate(ctx, revoked.ID, false); err != nil {
		t.Fatalf("delete REVOKED: %v", err)
	}

	// A deleted certificate can be registered again.
	if _, err := svc.RegisterCertificateWithoutCA(ctx, c.PEM, ""); err != nil {
		t.Fatalf("re-register after delete: %v", err)
	}
}

func TestDescribeCertificateValidatesID(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	for _, id := range []string{"", "0x" + strings.Repeat("a", 62), strings.Repeat("a", 63), strings.Repeat("a", 65), strings.Repeat("z", 64)} {
		_, err := svc.DescribeCertificate(ctx, id)
		wantFault(t, err, fault.Invalid, "")
	}
	_, err := svc.DescribeCertificate(ctx, strings.Repeat("A", 64))
	wantFault(t, err, fault.NotFound, "")
}

func TestListCertificates(t *testing.T) {
	svc, clk, _ := newTestService(t)
	ctx := context.Background()
	var ids []string // in creation order
	for i := range 7 {
		c := registerActive(t, svc, "d")
		ids = append(ids, c.ID)
		if i != 3 { // two certificates share a creation time: the ID breaks the tie
			clk.Advance(time.Second)
		}
	}
	collect := func(ascending bool, size int) ([]string, int) {
		var got []string
		marker, pages := "", 0
		for {
			page, err := svc.ListCertificates(ctx, size, marker, ascending)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Certificates) > size {
				t.Fatalf("page of %d holds %d", size, len(page.Certificates))
			}
			for _, c := range page.Certificates {
				got = append(got, c.ID)
				if c.ARN != svc.ARN(c.ID) || c.Status != StatusActive || c.Mode != ModeSNIOnly || c.CreationDate.IsZero() {
					t.Errorf("summary %+v", c)
				}
			}
			if page.NextMarker == "" {
				return got, pages
			}
			marker = page.NextMarker
		}
	}
	byCreation := func(ascending bool) []string {
		// Expected order: creation time, then ID.
		type row struct {
			id string
			at time.Time
		}
		var rows []row
		for _, id := range ids {
			d, _ := svc.DescribeCertificate(ctx, id)
			rows = append(rows, row{id, d.CreationDate})
		}
		less := func(a, b row) bool {
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			return a.id < b.id
		}
		for i := range rows {
			for j := i + 1; j < len(rows); j++ {
				if less(rows[j], rows[i]) == ascending {
					rows[i], rows[j] = rows[j], rows[i]
				}
			}
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.id)
		}
		return out
	}
	for _, ascending := range []bool{true, false} {
		want := byCreation(ascending)
		for _, size := range []int{1, 2, 3, 7, 250} {
			got, pages := collect(ascending, size)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("ascending=%v size=%d: order\n%v\nwant\n%v", ascending, size, got, want)
			}
			if wantPages := (7 + size - 1) / size; pages != wantPages {
				t.Errorf("ascending=%v size=%d: %d pages, want %d", ascending, size, pages, wantPages)
			}
		}
	}
	// Default order is newest first.
	page, _ := svc.ListCertificates(ctx, 0, "", false)
	if page.Certificates[0].ID != ids[6] {
		t.Errorf("first of default listing is not the newest")
	}

	for _, size := range []int{-1, 251} {
		_, err := svc.ListCertificates(ctx, size, "", false)
		wantFault(t, err, fault.Invalid, "")
	}
	for _, marker := range []string{"!!", "bm90LWEtbWFya2Vy", "MTIzOnNob3J0"} {
		_, err := svc.ListCertificates(ctx, 0, marker, false)
		wantFault(t, err, fault.Invalid, "")
	}
}

func TestSnapshotAuthenticate(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	active, activeDER := selfSigned(t, ecKey(t), "active")
	inactive, inactiveDER := selfSigned(t, ecKey(t), "inactive")
	_, unknownDER := selfSigned(t, ecKey(t), "unknown")
	a, err := svc.RegisterCertificateWithoutCA(ctx, active, StatusActive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RegisterCertificateWithoutCA(ctx, inactive, StatusInactive); err != nil {
		t.Fatal(err)
	}
	created, err := svc.CreateKeysAndCertificate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	createdBlock, _ := pem.Decode([]byte(created.CertificatePEM))

	snap, err := svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Len() != 3 {
		t.Fatalf("snapshot holds %d certificates, want 3", snap.Len())
	}
	during := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		der  []byte
		sni  string
		now  time.Time
		want error
	}{
		{"active with SNI", activeDER, "iot.example.com", during, nil},
		{"SNI_ONLY without SNI", activeDER, "", during, ErrSNIRequired},
		{"DEFAULT without SNI", createdBlock.Bytes, "", during, nil},
		{"inactive", inactiveDER, "iot.example.com", during, ErrCertificateNotActive},
		{"unknown", unknownDER, "iot.example.com", during, ErrUnknownCertificate},
		{"expired", activeDER, "iot.example.com", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC), ErrCertificateExpired},
		{"not yet valid", activeDER, "iot.example.com", time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), ErrCertificateNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := snap.Authenticate(tt.der, tt.sni, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want != ErrUnknownCertificate && id.ID != CertificateID(tt.der) {
				t.Errorf("identity ID = %s", id.ID)
			}
		})
	}
	if id, _ := snap.Authenticate(activeDER, "x", during); id.ARN != a.ARN {
		t.Errorf("ARN = %s, want %s", id.ARN, a.ARN)
	}

	// A snapshot is immutable: a later change shows only in a new one.
	if err := svc.UpdateCertificate(ctx, a.ID, StatusRevoked); err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Authenticate(activeDER, "x", during); err != nil {
		t.Errorf("old snapshot changed: %v", err)
	}
	fresh, _ := svc.Snapshot(ctx)
	if _, err := fresh.Authenticate(activeDER, "x", during); !errors.Is(err, ErrCertificateNotActive) {
		t.Errorf("new snapshot: err = %v, want not active", err)
	}
}

func TestChangeFeed(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	changes, cancel := svc.st.Subscribe()
	defer cancel()
	c := registerActive(t, svc, "d")
	select {
	case <-changes:
	default:
		t.Fatal("register did not wake subscribers")
	}
	if err := svc.UpdateCertificate(ctx, c.ID, StatusInactive); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	default:
		t.Fatal("update did not wake subscribers")
	}
	// A refused operation writes nothing and wakes nobody.
	if err := svc.UpdateCertificate(ctx, strings.Repeat("0", 64), StatusInactive); err == nil {
		t.Fatal("update of unknown certificate succeeded")
	}
	select {
	case <-changes:
		t.Fatal("a failed update woke subscribers")
	default:
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(dir, "device", pkix.Name{CommonName: "ca"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	open := func() (*Service, func()) {
		st, err := store.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := NewService(ctx, st, ca, testRegion, testAccount)
		if err != nil {
			t.Fatal(err)
		}
		return svc, func() { st.Close() }
	}
	svc, closeFirst := open()
	pemText, _ := selfSigned(t, ecKey(t), "d")
	c, err := svc.RegisterCertificateWithoutCA(ctx, pemText, StatusInactive)
	if err != nil {
		t.Fatal(err)
	}
	closeFirst()

	svc, closeSecond := open()
	defer closeSecond()
	got, err := svc.DescribeCertificate(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusInactive || got.PEM != pemText {
		t.Errorf("after restart: %+v", got)
	}
}

func TestNewServiceRequiresDependencies(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	ca, _ := pki.LoadOrCreate(t.TempDir(), "device", pkix.Name{CommonName: "ca"}, nil)
	if _, err := NewService(ctx, nil, ca, testRegion, testAccount); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := NewService(ctx, st, nil, testRegion, testAccount); err == nil {
		t.Error("nil CA accepted")
	}
	if _, err := NewService(ctx, st, ca, "", testAccount); err == nil {
		t.Error("empty region accepted")
	}
}
