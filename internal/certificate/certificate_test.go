package certificate

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

const (
	testRegion  = "eu-west-1"
	testAccount = "123456789012"
)

var arnRE = regexp.MustCompile(`^arn:aws:acm:eu-west-1:123456789012:certificate/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func newService(t testing.TB) *Service {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	svc, err := NewService(ctx, st, testRegion, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// fixture is a private PKI: root -> intermediate -> leaf for iot.yourcompany.com.
type fixture struct {
	root, inter *testpki.CA
	leaf        *testpki.Leaf
	chain       []byte // intermediate then root
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	root := testpki.NewCA(t, "Portico Test Root")
	inter := root.Intermediate(t, "Portico Test Intermediate")
	leaf := inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", DNSNames: []string{"iot.yourcompany.com", "*.iot.yourcompany.com"}})
	return &fixture{root: root, inter: inter, leaf: leaf, chain: append(append([]byte{}, inter.PEM...), root.PEM...)}
}

func (f *fixture) input() ImportInput {
	return ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: f.chain}
}

// mustImport imports in and returns the ARN.
func mustImport(t testing.TB, svc *Service, in ImportInput) string {
	t.Helper()
	arn, err := svc.Import(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// wantFault asserts err is a fault with the given kind and AWS code whose
// message contains msg.
func wantFault(t *testing.T, err error, kind fault.Kind, code, msg string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("err = %v (%T), want a %s fault", err, err, code)
	}
	if f.Kind != kind || f.Code != code {
		t.Fatalf("fault = %v/%q %q, want %v/%q", f.Kind, f.Code, f.Message, kind, code)
	}
	if !strings.Contains(f.Message, msg) {
		t.Fatalf("message %q does not contain %q", f.Message, msg)
	}
}

func TestImportDescribe(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	now := time.Now().Truncate(time.Millisecond)
	svc.Now = func() time.Time { return now }
	f := newFixture(t)

	arn := mustImport(t, svc, f.input())
	if !arnRE.MatchString(arn) {
		t.Fatalf("ARN %q does not have ACM's shape", arn)
	}
	d, err := svc.Describe(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	c := f.leaf.Cert
	checks := []struct {
		name      string
		got, want any
	}{
		{"arn", d.CertificateArn, arn},
		{"domain", d.DomainName, "iot.yourcompany.com"},
		{"sans", strings.Join(d.SubjectAlternativeNames, ","), "iot.yourcompany.com,*.iot.yourcompany.com"},
		{"subject", d.Subject, "CN=iot.yourcompany.com"},
		{"issuer", d.Issuer, "Portico Test"},
		{"status", d.Status, StatusIssued},
		{"type", d.Type, TypeImported},
		{"key", d.KeyAlgorithm, KeyECPrime256v1},
		{"sig", d.SignatureAlgorithm, "SHA256WITHECDSA"},
		{"notBefore", d.NotBefore.Unix(), c.NotBefore.Unix()},
		{"notAfter", d.NotAfter.Unix(), c.NotAfter.Unix()},
		{"importedAt", d.ImportedAt.UnixMilli(), now.UnixMilli()},
		{"createdAt", d.CreatedAt.UnixMilli(), now.UnixMilli()},
		{"inUseBy", len(d.InUseBy), 0},
		{"inUseByNonNil", d.InUseBy != nil, true},
		{"keyUsages", strings.Join(d.KeyUsages, ","), "DIGITAL_SIGNATURE"},
		{"eku", d.ExtendedKeyUsages[0], ExtendedKeyUsage{"TLS_WEB_SERVER_AUTHENTICATION", "1.3.6.1.5.5.7.3.1"}},
		{"renewal", d.RenewalEligibility, RenewalIneligible},
		{"ct", d.CertificateTransparencyLoggingPreference, "ENABLED"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2})*$`).MatchString(d.Serial) {
		t.Errorf("serial %q is not colon hex", d.Serial)
	}
	if want := serialString(c.SerialNumber); d.Serial != want {
		t.Errorf("serial = %s, want %s", d.Serial, want)
	}

	certPEM, chainPEM, err := svc.Get(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if certPEM != string(f.leaf.CertPEM) || chainPEM != string(f.chain) {
		t.Errorf("Get returned other PEM than imported:\n%s\n%s", certPEM, chainPEM)
	}

	// The clock passing NotAfter turns the certificate EXPIRED.
	now = c.NotAfter.Add(time.Second)
	if d, _ = svc.Describe(ctx, arn); d.Status != StatusExpired {
		t.Errorf("status after NotAfter = %s, want EXPIRED", d.Status)
	}
}

func TestSerialString(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "00"}, {1, "01"}, {0x0fac, "0f:ac"}, {0xff00, "ff:00"}} {
		if got := serialString(big.NewInt(tc.n)); got != tc.want {
			t.Errorf("serialString(%#x) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestImportKeyFormats(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	root := testpki.NewCA(t, "Root")
	rsa2048 := testpki.RSAKey(t, 2048)
	rsa1024 := testpki.RSAKey(t, 1024)
	rsa3072 := testpki.RSAKey(t, 3072)
	p256 := testpki.ECKey(t, elliptic.P256())
	p384 := testpki.ECKey(t, elliptic.P384())
	p521 := testpki.ECKey(t, elliptic.P521())
	// openssl ecparam -genkey writes the curve OID block before the key.
	ecParams := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})
	cases := []struct {
		name    string
		key     crypto.Signer
		keyPEM  []byte
		wantAlg string
		wantSig string
	}{
		{"pkcs1 rsa2048", rsa2048, testpki.PKCS1(rsa2048), KeyRSA2048, "SHA256WITHECDSA"},
		{"pkcs8 rsa1024", rsa1024, testpki.PKCS8(t, rsa1024), KeyRSA1024, "SHA256WITHECDSA"},
		{"pkcs1 rsa3072", rsa3072, testpki.PKCS1(rsa3072), KeyRSA3072, "SHA256WITHECDSA"},
		{"sec1 p256 with params", p256, append(ecParams, testpki.SEC1(t, p256)...), KeyECPrime256v1, "SHA256WITHECDSA"},
		{"sec1 p384", p384, testpki.SEC1(t, p384), KeyECSecp384r1, "SHA256WITHECDSA"},
		{"pkcs8 p521", p521, testpki.PKCS8(t, p521), KeyECSecp521r1, "SHA256WITHECDSA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaf := root.Issue(t, testpki.LeafOptions{CommonName: "a.example.com", Key: tc.key})
			arn := mustImport(t, svc, ImportInput{Certificate: leaf.CertPEM, PrivateKey: tc.keyPEM, CertificateChain: root.PEM})
			d, err := svc.Describe(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if d.KeyAlgorithm != tc.wantAlg || d.SignatureAlgorithm != tc.wantSig {
				t.Errorf("key %s sig %s, want %s %s", d.KeyAlgorithm, d.SignatureAlgorithm, tc.wantAlg, tc.wantSig)
			}
			m, err := svc.Material(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if !m.TLS.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.Cert.PublicKey) {
				t.Error("material key does not match the certificate")
			}
		})
	}
}

func TestSignatureAlgorithmNames(t *testing.T) {
	for a, want := range map[x509.SignatureAlgorithm]string{
		x509.SHA256WithRSA:    "SHA256WITHRSA",
		x509.SHA384WithRSA:    "SHA384WITHRSA",
		x509.SHA512WithRSA:    "SHA512WITHRSA",
		x509.SHA1WithRSA:      "SHA1WITHRSA",
		x509.ECDSAWithSHA256:  "SHA256WITHECDSA",
		x509.ECDSAWithSHA384:  "SHA384WITHECDSA",
		x509.ECDSAWithSHA512:  "SHA512WITHECDSA",
		x509.SHA256WithRSAPSS: "SHA256WITHRSAANDMGF1",
	} {
		if got := signatureAlgorithmName(a); got != want {
			t.Errorf("%v: %s, want %s", a, got, want)
		}
	}
}

func TestImportRejects(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f := newFixture(t)
	otherRoot := testpki.NewCA(t, "Other Root")
	otherKey := testpki.ECKey(t, elliptic.P256())
	expired := f.inter.Issue(t, testpki.LeafOptions{CommonName: "old.yourcompany.com",
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future := f.inter.Issue(t, testpki.LeafOptions{CommonName: "soon.yourcompany.com",
		NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(48 * time.Hour)})
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edLeaf := f.inter.Issue(t, testpki.LeafOptions{CommonName: "ed.yourcompany.com", Key: edKey})
	rsa1536 := testpki.RSAKey(t, 1536)
	weakLeaf := f.inter.Issue(t, testpki.LeafOptions{CommonName: "weak.yourcompany.com", Key: rsa1536})
	noName := f.inter.Issue(t, testpki.LeafOptions{})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x00}})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}, Bytes: []byte{1, 2, 3}})
	twoCerts := append(append([]byte{}, f.leaf.CertPEM...), f.leaf.CertPEM...)
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}

	cases := []struct {
		name string
		in   ImportInput
		msg  string
	}{
		{"no certificate", ImportInput{PrivateKey: f.leaf.KeyPEM}, "Value null at 'certificate'"},
		{"no key", ImportInput{Certificate: f.leaf.CertPEM}, "Value null at 'privateKey'"},
		{"empty chain", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: []byte{}}, "'certificateChain'"},
		{"key too big", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: make([]byte, MaxPrivateKeyBytes+1)}, "between 1 and 5120"},
		{"certificate too big", ImportInput{Certificate: make([]byte, MaxCertificateBytes+1), PrivateKey: f.leaf.KeyPEM}, "between 1 and 32768"},
		{"not pem", ImportInput{Certificate: []byte("hello"), PrivateKey: f.leaf.KeyPEM}, "not a PEM-encoded X.509 certificate"},
		{"trailing junk", ImportInput{Certificate: cat(f.leaf.CertPEM, []byte("junk")), PrivateKey: f.leaf.KeyPEM}, "not PEM-encoded"},
		{"bad der", ImportInput{Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), PrivateKey: f.leaf.KeyPEM}, "could not be parsed"},
		{"two certificates", ImportInput{Certificate: twoCerts, PrivateKey: f.leaf.KeyPEM}, "more than one certificate"},
		{"key in certificate field", ImportInput{Certificate: f.leaf.KeyPEM, PrivateKey: f.leaf.KeyPEM}, `found a "PRIVATE KEY" block`},
		{"certificate in key field", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.CertPEM}, `found a "CERTIFICATE" block`},
		{"garbage key", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: []byte("secret")}, "not a PEM-encoded private key"},
		{"two keys", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: cat(f.leaf.KeyPEM, f.leaf.KeyPEM)}, "more than one private key"},
		{"encrypted pkcs8", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: encrypted}, "encrypted"},
		{"encrypted legacy", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: legacyEncrypted}, "encrypted"},
		{"mismatched key", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: testpki.PKCS8(t, otherKey)}, "The private key does not match"},
		{"expired", ImportInput{Certificate: expired.CertPEM, PrivateKey: expired.KeyPEM, CertificateChain: f.chain}, "has expired"},
		{"not yet valid", ImportInput{Certificate: future.CertPEM, PrivateKey: future.KeyPEM, CertificateChain: f.chain}, "not valid yet"},
		{"ed25519", ImportInput{Certificate: edLeaf.CertPEM, PrivateKey: edLeaf.KeyPEM}, "not supported"},
		{"rsa1536", ImportInput{Certificate: weakLeaf.CertPEM, PrivateKey: weakLeaf.KeyPEM}, "RSA 1536 bits"},
		{"no name", ImportInput{Certificate: noName.CertPEM, PrivateKey: noName.KeyPEM}, "must contain a domain name"},
		{"chain from another CA", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: otherRoot.PEM}, "The certificate chain does not verify the certificate"},
		{"chain missing intermediate", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: f.root.PEM}, "The certificate chain does not verify the certificate"},
		{"chain out of order", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: cat(f.root.PEM, f.inter.PEM)}, "certificate 1 of the chain"},
		{"chain contains leaf", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: cat(f.leaf.CertPEM, f.chain)}, "must not contain the certificate itself"},
		{"chain not pem", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: []byte("x")}, "certificate chain is not a PEM"},
		{"tags on reimport", ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM,
			CertificateArn: "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000", Tags: []Tag{{Key: "a"}}}, "cannot add tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Import(ctx, tc.in)
			wantFault(t, err, fault.Invalid, "ValidationException", tc.msg)
		})
	}
	// Nothing was stored by any refused import.
	items, _, err := svc.List(ctx, ListInput{KeyTypes: KeyAlgorithms})
	if err != nil || len(items) != 0 {
		t.Fatalf("after refused imports List = %v, %v; want nothing", items, err)
	}
}

func TestImportChainVariants(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f := newFixture(t)
	selfSigned := testpki.NewCA(t, "self.yourcompany.com")
	selfLeaf := &testpki.Leaf{CertPEM: selfSigned.PEM, KeyPEM: testpki.PKCS8(t, selfSigned.Key)}
	direct := f.root.Issue(t, testpki.LeafOptions{CommonName: "direct.yourcompany.com"})
	cases := []struct {
		name  string
		leaf  *testpki.Leaf
		chain []byte
	}{
		{"full chain to root", f.leaf, f.chain},
		{"chain stops at intermediate", f.leaf, f.inter.PEM},
		{"no chain", f.leaf, nil},
		{"issued by root", direct, f.root.PEM},
		{"self-signed", selfLeaf, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := svc.Import(ctx, ImportInput{Certificate: tc.leaf.CertPEM, PrivateKey: tc.leaf.KeyPEM, CertificateChain: tc.chain}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReimport(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	clock := time.Now().Truncate(time.Millisecond)
	svc.Now = func() time.Time { return clock }
	f := newFixture(t)
	arn := mustImport(t, svc, ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, CertificateChain: f.chain,
		Tags: []Tag{{Key: "env", Value: ptr("prod")}}})
	first := clock
	clock = clock.Add(time.Minute)
	renewed := f.inter.Issue(t, testpki.LeafOptions{CommonName: "iot2.yourcompany.com", ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	got, err := svc.Import(ctx, ImportInput{CertificateArn: arn, Certificate: renewed.CertPEM, PrivateKey: renewed.KeyPEM, CertificateChain: f.inter.PEM})
	if err != nil {
		t.Fatal(err)
	}
	if got != arn {
		t.Fatalf("re-import returned %s, want the same ARN %s", got, arn)
	}
	d, err := svc.Describe(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if d.DomainName != "iot2.yourcompany.com" || d.Serial != serialString(renewed.Cert.SerialNumber) {
		t.Errorf("after re-import describe shows %s %s", d.DomainName, d.Serial)
	}
	if !d.ImportedAt.Equal(clock) || !d.CreatedAt.Equal(first) {
		t.Errorf("ImportedAt %v CreatedAt %v; want %v and %v", d.ImportedAt, d.CreatedAt, clock, first)
	}
	if tags, _ := svc.Tags(ctx, arn); len(tags) != 1 {
		t.Errorf("re-import lost tags: %v", tags)
	}
	if _, chain, _ := svc.Get(ctx, arn); chain != string(f.inter.PEM) {
		t.Errorf("chain after re-import = %q", chain)
	}

	rsaKey := testpki.RSAKey(t, 2048)
	rsaLeaf := f.inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", Key: rsaKey})
	_, err = svc.Import(ctx, ImportInput{CertificateArn: arn, Certificate: rsaLeaf.CertPEM, PrivateKey: rsaLeaf.KeyPEM})
	wantFault(t, err, fault.Invalid, "ValidationException", "key algorithm of the new certificate (RSA_2048)")

	clientOnly := f.inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	_, err = svc.Import(ctx, ImportInput{CertificateArn: arn, Certificate: clientOnly.CertPEM, PrivateKey: clientOnly.KeyPEM})
	wantFault(t, err, fault.Invalid, "ValidationException", "TLS_WEB_SERVER_AUTHENTICATION")

	// Dropping client authentication is allowed.
	serverOnly := f.inter.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com"})
	if _, err := svc.Import(ctx, ImportInput{CertificateArn: arn, Certificate: serverOnly.CertPEM, PrivateKey: serverOnly.KeyPEM}); err != nil {
		t.Fatal(err)
	}

	missing := "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
	_, err = svc.Import(ctx, ImportInput{CertificateArn: missing, Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM})
	wantFault(t, err, fault.NotFound, "ResourceNotFoundException", "Could not find certificate "+missing+".")

	_, err = svc.Import(ctx, ImportInput{CertificateArn: "arn:aws:iot:eu-west-1:1:cert/x", Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM})
	wantFault(t, err, fault.Invalid, "InvalidArnException", "not a valid certificate ARN")
}

func TestReimportRefusesOtherTypes(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f := newFixture(t)
	arn := mustImport(t, svc, f.input())
	// Certificates issued by Portico itself share the table; simulate one.
	if _, err := svc.st.DB().ExecContext(ctx, `UPDATE acm_certificate SET type=? WHERE arn=?`, TypeAmazonIssued, arn); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Import(ctx, ImportInput{CertificateArn: arn, Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM})
	wantFault(t, err, fault.Invalid, "ValidationException", "only IMPORTED certificates can be re-imported")
}

func TestDeleteInUse(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f := newFixture(t)
	arn := mustImport(t, svc, f.input())
	users := []string{"arn:aws:iot:eu-west-1:123456789012:domainconfiguration/devices/abcde"}
	svc.InUse = func(_ context.Context, a string) ([]string, error) {
		if a == arn {
			return users, nil
		}
		return nil, nil
	}
	err := svc.Delete(ctx, arn)
	wantFault(t, err, fault.Conflict, "ResourceInUseException", "Certificate "+arn+" in account 123456789012 is in use.")
	d, err := svc.Describe(ctx, arn)
	if err != nil || !slices.Equal(d.InUseBy, users) {
		t.Fatalf("describe in use = %v, %v", d, err)
	}
	items, _, _ := svc.List(ctx, ListInput{KeyTypes: KeyAlgorithms})
	if len(items) != 1 || !items[0].InUse {
		t.Fatalf("list in use = %+v", items)
	}

	users = nil
	if err := svc.Delete(ctx, arn); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Describe(ctx, arn)
	wantFault(t, err, fault.NotFound, "ResourceNotFoundException", "Could not find certificate")
	err = svc.Delete(ctx, arn)
	wantFault(t, err, fault.NotFound, "ResourceNotFoundException", "Could not find certificate")
	_, err = svc.Material(ctx, arn)
	wantFault(t, err, fault.NotFound, "ResourceNotFoundException", "Could not find certificate")
	err = svc.Delete(ctx, "not-an-arn-at-all-really")
	wantFault(t, err, fault.Invalid, "InvalidArnException", "not a valid")
	err = svc.Delete(ctx, "")
	wantFault(t, err, fault.Invalid, "ValidationException", "Value null at 'certificateArn'")

	svc.InUse = func(context.Context, string) ([]string, error) { return nil, errors.New("endpoint store down") }
	arn, _ = svc.Import(ctx, f.input())
	if err := svc.Delete(ctx, arn); err == nil || fault.As(err).Kind != fault.Internal {
		t.Fatalf("delete with failing InUse = %v, want an internal error", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	clock := time.Now()
	svc.Now = func() time.Time { return clock }
	root := testpki.NewCA(t, "Root")
	rsaKey := testpki.RSAKey(t, 2048)
	var rsaARNs, ecARNs []string
	for i := range 3 {
		leaf := root.Issue(t, testpki.LeafOptions{CommonName: "rsa.example.com", Key: rsaKey,
			NotAfter: time.Now().Add(time.Duration(i+1) * 24 * time.Hour)})
		rsaARNs = append(rsaARNs, mustImport(t, svc, ImportInput{Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM}))
		ec := root.Issue(t, testpki.LeafOptions{CommonName: "ec.example.com", NoUsages: i == 0})
		ecARNs = append(ecARNs, mustImport(t, svc, ImportInput{Certificate: ec.CertPEM, PrivateKey: ec.KeyPEM}))
	}
	arns := func(items []Summary) []string {
		var out []string
		for _, s := range items {
			out = append(out, s.CertificateArn)
		}
		return out
	}

	// ACM's default key filter lists only RSA_1024 and RSA_2048.
	items, next, err := svc.List(ctx, ListInput{})
	if err != nil || next != "" || !slices.Equal(arns(items), rsaARNs) {
		t.Fatalf("default list = %v %q %v; want %v", arns(items), next, err, rsaARNs)
	}
	s := items[0]
	if s.DomainName != "rsa.example.com" || s.KeyAlgorithm != KeyRSA2048 || s.Type != TypeImported || s.Status != StatusIssued ||
		!slices.Equal(s.SubjectAlternativeNameSummaries, []string{"rsa.example.com"}) || s.ImportedAt.IsZero() ||
		!slices.Equal(s.ExtendedKeyUsages, []string{"TLS_WEB_SERVER_AUTHENTICATION"}) {
		t.Errorf("summary = %+v", s)
	}

	items, _, _ = svc.List(ctx, ListInput{KeyTypes: []string{KeyECPrime256v1}})
	if !slices.Equal(arns(items), ecARNs) {
		t.Errorf("EC list = %v, want %v", arns(items), ecARNs)
	}
	if ku, eku := items[0].KeyUsages, items[0].ExtendedKeyUsages; !slices.Equal(ku, []string{"ANY"}) || !slices.Equal(eku, []string{"NONE"}) {
		t.Errorf("certificate without usage extensions lists %v %v, want [ANY] [NONE]", ku, eku)
	}

	// Pagination: one per page across all key types, in creation order.
	var all []string
	token := ""
	for page := 0; ; page++ {
		items, next, err := svc.List(ctx, ListInput{KeyTypes: KeyAlgorithms, MaxItems: 1, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 {
			t.Fatalf("page %d has %d items", page, len(items))
		}
		all = append(all, items[0].CertificateArn)
		if next == "" {
			break
		}
		token = next
	}
	want := []string{rsaARNs[0], ecARNs[0], rsaARNs[1], ecARNs[1], rsaARNs[2], ecARNs[2]}
	if !slices.Equal(all, want) {
		t.Errorf("paged = %v, want %v", all, want)
	}
	items, _, _ = svc.List(ctx, ListInput{KeyTypes: KeyAlgorithms, SortOrder: "DESCENDING", MaxItems: 2})
	if !slices.Equal(arns(items), []string{ecARNs[2], rsaARNs[2]}) {
		t.Errorf("descending = %v", arns(items))
	}

	// Status filter: after a day and a half the first RSA certificate has expired.
	clock = clock.Add(36 * time.Hour)
	items, _, _ = svc.List(ctx, ListInput{Statuses: []string{StatusExpired}})
	if !slices.Equal(arns(items), rsaARNs[:1]) {
		t.Errorf("expired = %v, want %v", arns(items), rsaARNs[:1])
	}
	items, _, _ = svc.List(ctx, ListInput{Statuses: []string{StatusIssued}, KeyUsages: []string{"DIGITAL_SIGNATURE"}})
	if !slices.Equal(arns(items), rsaARNs[1:]) {
		t.Errorf("issued+digital signature = %v, want %v", arns(items), rsaARNs[1:])
	}
	items, _, _ = svc.List(ctx, ListInput{KeyTypes: KeyAlgorithms, ExtendedKeyUsages: []string{"NONE"}})
	if !slices.Equal(arns(items), ecARNs[:1]) {
		t.Errorf("eku NONE = %v", arns(items))
	}
	if items, _, _ = svc.List(ctx, ListInput{ManagedBy: "CLOUDFRONT"}); len(items) != 0 {
		t.Errorf("managedBy CLOUDFRONT = %v", arns(items))
	}

	for _, bad := range []ListInput{
		{Statuses: []string{"ALIVE"}},
		{KeyTypes: []string{"RSA-2048"}},
		{MaxItems: 1001},
		{MaxItems: -1},
		{SortOrder: "UP"},
	} {
		_, _, err := svc.List(ctx, bad)
		wantFault(t, err, fault.Invalid, "ValidationException", "1 validation error detected")
	}
	_, _, err = svc.List(ctx, ListInput{NextToken: "garbage"})
	wantFault(t, err, fault.Invalid, "InvalidArgsException", "NextToken")
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f := newFixture(t)
	arn := mustImport(t, svc, ImportInput{Certificate: f.leaf.CertPEM, PrivateKey: f.leaf.KeyPEM, Tags: []Tag{{Key: "env", Value: ptr("dev")}}})
	if err := svc.AddTags(ctx, arn, []Tag{{Key: "env", Value: ptr("prod")}, {Key: "team"}, {Key: "cost", Value: ptr("")}}); err != nil {
		t.Fatal(err)
	}
	show := func() string {
		tags, err := svc.Tags(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, tg := range tags {
			if tg.Value == nil {
				parts = append(parts, tg.Key)
			} else {
				parts = append(parts, tg.Key+"="+*tg.Value)
			}
		}
		return strings.Join(parts, ",")
	}
	if got := show(); got != "cost=,env=prod,team" {
		t.Fatalf("tags = %s", got)
	}
	// A value that does not match leaves the tag; no value removes by key.
	if err := svc.RemoveTags(ctx, arn, []Tag{{Key: "env", Value: ptr("dev")}, {Key: "team"}}); err != nil {
		t.Fatal(err)
	}
	if got := show(); got != "cost=,env=prod" {
		t.Fatalf("tags after remove = %s", got)
	}
	if err := svc.RemoveTags(ctx, arn, []Tag{{Key: "env", Value: ptr("prod")}}); err != nil {
		t.Fatal(err)
	}
	if got := show(); got != "cost=" {
		t.Fatalf("tags after remove = %s", got)
	}

	many := make([]Tag, MaxTags)
	for i := range many {
		many[i] = Tag{Key: "k" + strings.Repeat("x", i)}
	}
	wantFault(t, svc.AddTags(ctx, arn, many), fault.Invalid, "TooManyTagsException", "limit is 50")
	if got := show(); got != "cost=" {
		t.Fatalf("refused AddTags changed tags: %s", got)
	}
	wantFault(t, svc.AddTags(ctx, arn, []Tag{{Key: "aws:owner"}}), fault.Invalid, "InvalidTagException", "reserved")
	wantFault(t, svc.AddTags(ctx, arn, []Tag{{Key: "a", Value: ptr("semi;colon")}}), fault.Invalid, "InvalidTagException", "not allowed")
	wantFault(t, svc.AddTags(ctx, arn, []Tag{{Key: ""}}), fault.Invalid, "ValidationException", "between 1 and 128")
	wantFault(t, svc.AddTags(ctx, arn, nil), fault.Invalid, "ValidationException", "greater than or equal to 1")
	missing := strings.Replace(arn, arn[len(arn)-12:], "000000000000", 1)
	wantFault(t, svc.AddTags(ctx, missing, []Tag{{Key: "a"}}), fault.NotFound, "ResourceNotFoundException", missing)
	_, err := svc.Tags(ctx, missing)
	wantFault(t, err, fault.NotFound, "ResourceNotFoundException", missing)

	// Tags go with the certificate.
	if err := svc.Delete(ctx, arn); err != nil {
		t.Fatal(err)
	}
	var n int
	svc.st.DB().QueryRow(`SELECT COUNT(*) FROM acm_certificate_tag`).Scan(&n)
	if n != 0 {
		t.Errorf("%d tags left after delete", n)
	}
}

func TestMaterialServesTLS(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	f := newFixture(t)
	arn := mustImport(t, svc, f.input())
	all, err := svc.All(ctx)
	if err != nil || len(all) != 1 || all[0].ARN != arn {
		t.Fatalf("All = %v, %v", all, err)
	}
	m := all[0]
	if m.Status != StatusIssued || len(m.TLS.Certificate) != 3 || len(m.Chain) != 2 || !m.Covers("device.iot.yourcompany.com") {
		t.Fatalf("material = %+v", m)
	}

	// A real handshake: the client trusts only the private root and checks the name.
	roots := x509.NewCertPool()
	roots.AddCert(f.root.Cert)
	serverConn, clientConn := net.Pipe()
	defer serverConn.Close()
	defer clientConn.Close()
	done := make(chan error, 1)
	go func() {
		done <- tls.Server(serverConn, &tls.Config{Certificates: []tls.Certificate{m.TLS}}).HandshakeContext(ctx)
	}()
	client := tls.Client(clientConn, &tls.Config{RootCAs: roots, ServerName: "iot.yourcompany.com"})
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
}

func TestCovers(t *testing.T) {
	root := testpki.NewCA(t, "Root")
	withSANs := root.Issue(t, testpki.LeafOptions{CommonName: "cn-only.example.com",
		DNSNames: []string{"iot.yourcompany.com", "*.devices.yourcompany.com"}, IPs: []net.IP{net.ParseIP("192.0.2.7")}}).Cert
	cnOnly := root.Issue(t, testpki.LeafOptions{CommonName: "Legacy.Example.com"}).Cert
	cnWildcard := root.Issue(t, testpki.LeafOptions{CommonName: "*.example.net"}).Cert
	cases := []struct {
		leaf *x509.Certificate
		name string
		want bool
	}{
		{withSANs, "iot.yourcompany.com", true},
		{withSANs, "IOT.YourCompany.com.", true},
		{withSANs, "cn-only.example.com", false}, // CN ignored when SANs exist
		{withSANs, "a.devices.yourcompany.com", true},
		{withSANs, "devices.yourcompany.com", false},
		{withSANs, "b.a.devices.yourcompany.com", false},
		{withSANs, ".devices.yourcompany.com", false},
		{withSANs, "adevices.yourcompany.com", false},
		{withSANs, "192.0.2.7", true},
		{withSANs, "192.0.2.8", false},
		{withSANs, "", false},
		{cnOnly, "legacy.example.com", true},
		{cnOnly, "other.example.com", false},
		{cnWildcard, "x.example.net", true},
		{cnWildcard, "example.net", false},
		{nil, "x", false},
	}
	for _, tc := range cases {
		if got := Covers(tc.leaf, tc.name); got != tc.want {
			var sub string
			if tc.leaf != nil {
				sub = tc.leaf.Subject.CommonName
			}
			t.Errorf("Covers(%s, %q) = %v, want %v", sub, tc.name, got, tc.want)
		}
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(ctx, st, testRegion, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	arn := mustImport(t, svc, f.input())
	st.Close()

	st, err = store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err = NewService(ctx, st, testRegion, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	m, err := svc.Material(ctx, arn)
	if err != nil || !m.Covers("iot.yourcompany.com") {
		t.Fatalf("after reopen: %v, %v", m, err)
	}
}

func TestImportWakesSubscribers(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	changes, cancel := svc.st.Subscribe()
	defer cancel()
	f := newFixture(t)
	if _, err := svc.Import(ctx, f.input()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	default:
		t.Fatal("import did not signal the change feed")
	}
}

func ptr(s string) *string { return &s }

// FuzzImport feeds arbitrary bytes to the PEM, key and chain parsers through
// Import: it must answer with a fault, never panic, and store only valid input.
func FuzzImport(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.leaf.CertPEM, fx.leaf.KeyPEM, fx.chain)
	f.Add(fx.leaf.CertPEM, fx.leaf.KeyPEM, []byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), fx.root.PEM)
	f.Add(fx.chain, fx.leaf.CertPEM, fx.leaf.KeyPEM)
	svc := newService(f)
	f.Fuzz(func(t *testing.T, cert, key, chain []byte) {
		in := ImportInput{Certificate: cert, PrivateKey: key, CertificateChain: chain}
		if len(chain) == 0 {
			in.CertificateChain = nil
		}
		arn, err := svc.Import(context.Background(), in)
		if err != nil {
			if fault.As(err).Kind != fault.Invalid {
				t.Fatalf("import failed with a non-validation error: %v", err)
			}
			return
		}
		if _, err := svc.Material(context.Background(), arn); err != nil {
			t.Fatalf("imported certificate has no usable material: %v", err)
		}
	})
}

// TestStandingAgreesWithMaterial: the standing (no key parsed) says what
// the serving material says about status, validity and names.
func TestStandingAgreesWithMaterial(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	arn := mustImport(t, svc, newFixture(t).input())
	st, err := svc.Standing(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	m, err := svc.Material(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != m.Status || !st.NotBefore.Equal(m.NotBefore) || !st.NotAfter.Equal(m.NotAfter) {
		t.Fatalf("standing %+v, material status %s %v..%v", st, m.Status, m.NotBefore, m.NotAfter)
	}
	for _, name := range []string{"device.iot.yourcompany.com", "iot.yourcompany.com", "other.example.com"} {
		if st.Covers(name) != m.Covers(name) {
			t.Fatalf("Covers(%q): standing %v, material %v", name, st.Covers(name), m.Covers(name))
		}
	}
	if !st.Covers("iot.yourcompany.com") || st.Covers("other.example.com") {
		t.Fatal("standing covers the wrong names")
	}
	if _, err := svc.Standing(ctx, arn+"0"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("unknown ARN: %v, want NotFound", err)
	}
}

// TestLeafCache: a stored certificate is parsed once and then shared; the
// cache starts over when full instead of growing.
func TestLeafCache(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	arn := mustImport(t, svc, newFixture(t).input())
	a, err := svc.Standing(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Standing(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if a.Leaf == nil || a.Leaf != b.Leaf {
		t.Fatal("the stored certificate was parsed again")
	}
	c := leafCache{max: 2}
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, a.Leaf)
	}
	if _, ok := c.get("a"); ok || len(c.m) != 1 {
		t.Fatalf("cache of at most 2 holds %d entries", len(c.m))
	}
}

// TestStandingFollowsCommits: Standing's cache of records ends with the
// next commit: a deleted certificate is not found at once.
func TestStandingFollowsCommits(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	arn := mustImport(t, svc, newFixture(t).input())
	if _, err := svc.Standing(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Standing(ctx, arn); !fault.Is(err, fault.NotFound) {
		t.Fatalf("Standing after delete: %v, want NotFound", err)
	}
}
