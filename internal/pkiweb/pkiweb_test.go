package pkiweb

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/pki"
)

type fixture struct {
	server, device *pki.CA
	handler        *Handler
	srv            *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{}
	var err error
	if f.server, err = pki.LoadOrCreate(dir, "server", pkix.Name{CommonName: "Portico server CA"}, nil); err != nil {
		t.Fatal(err)
	}
	if f.device, err = pki.LoadOrCreate(dir, "device", pkix.Name{CommonName: "Portico device CA"}, nil); err != nil {
		t.Fatal(err)
	}
	f.handler = New(Config{Authorities: map[string]Authority{"server": f.server, "device": f.device}})
	// Mounted as cmd/portico mounts it: in front of a ServeMux.
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "next") })
	f.srv = httptest.NewServer(f.handler.Front(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) leaf(t *testing.T, ca *pki.CA, name string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := ca.IssueServer(key.Public(), []string{"iot.example.com"}, nil, time.Hour,
		pki.WithRevocationURLs(OCSPURL(f.srv.URL, name), CRLURL(f.srv.URL, name)))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return leaf
}

func request(t *testing.T, leaf, issuer *x509.Certificate) []byte {
	t.Helper()
	der, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func post(t *testing.T, u string, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(u, "application/ocsp-request", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func getOCSP(t *testing.T, base string, der []byte) *http.Response {
	t.Helper()
	resp, err := http.Get(base + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(der)))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestURLs(t *testing.T) {
	if got := OCSPURL("http://192.0.2.10:4566/", "server"); got != "http://192.0.2.10:4566/_portico/pki/server/ocsp" {
		t.Errorf("OCSPURL = %q", got)
	}
	if got := CRLURL("http://192.0.2.10:4566", "device"); got != "http://192.0.2.10:4566/_portico/pki/device/intermediate/crl" {
		t.Errorf("CRLURL = %q", got)
	}
	if got := RootCRLURL("http://192.0.2.10:4566", "device"); got != "http://192.0.2.10:4566/_portico/pki/device/crl" {
		t.Errorf("RootCRLURL = %q", got)
	}
}

func TestOCSPGetAndPost(t *testing.T) {
	f := newFixture(t)
	leaf := f.leaf(t, f.server, "server")
	der := request(t, leaf, f.server.Certificate())

	check := func(t *testing.T, resp *http.Response, want int) {
		t.Helper()
		body := readAll(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
			t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		parsed, err := ocsp.ParseResponseForCert(body, leaf, f.server.Certificate())
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Status != want {
			t.Fatalf("status %d, want %d", parsed.Status, want)
		}
	}
	t.Run("post", func(t *testing.T) {
		resp := post(t, leaf.OCSPServer[0], der)
		if cc := resp.Header.Get("Cache-Control"); cc != "" {
			t.Errorf("a POST answer has Cache-Control %q", cc)
		}
		check(t, resp, ocsp.Good)
	})
	t.Run("get", func(t *testing.T) {
		resp := getOCSP(t, leaf.OCSPServer[0], der)
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=") || resp.Header.Get("Expires") == "" {
			t.Errorf("GET answer cache headers: Cache-Control %q Expires %q", cc, resp.Header.Get("Expires"))
		}
		check(t, resp, ocsp.Good)
	})
	t.Run("get without padding and with raw slashes", func(t *testing.T) {
		b64 := strings.TrimRight(base64.StdEncoding.EncodeToString(der), "=")
		resp, err := http.Get(leaf.OCSPServer[0] + "/" + b64)
		if err != nil {
			t.Fatal(err)
		}
		check(t, resp, ocsp.Good)
	})
	t.Run("revoked", func(t *testing.T) {
		if err := f.server.Revoke(leaf.SerialNumber, ocsp.KeyCompromise, time.Time{}); err != nil {
			t.Fatal(err)
		}
		check(t, post(t, leaf.OCSPServer[0], der), ocsp.Revoked)
	})
}

// A GET request whose base64 holds "//" must not be redirected to a cleaned
// path, as an http.ServeMux would.
func TestOCSPGetWithDoubleSlash(t *testing.T) {
	f := newFixture(t)
	issuer := f.server.Certificate()
	nameHash := crypto.SHA1.New()
	nameHash.Write(issuer.RawSubject)
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki)
	keyHash := crypto.SHA1.New()
	keyHash.Write(spki.PublicKey.RightAlign())
	var b64 string
	for serial := int64(1); ; serial++ {
		req := ocsp.Request{HashAlgorithm: crypto.SHA1, IssuerNameHash: nameHash.Sum(nil), IssuerKeyHash: keyHash.Sum(nil), SerialNumber: big.NewInt(serial)}
		der, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if b64 = base64.StdEncoding.EncodeToString(der); strings.Contains(b64, "//") {
			break
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(OCSPURL(f.srv.URL, "server") + "/" + b64)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	parsed, err := ocsp.ParseResponse(body, issuer)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Status != ocsp.Unknown {
		t.Errorf("status %d for a serial the CA never issued, want unknown", parsed.Status)
	}
}

func TestOCSPErrors(t *testing.T) {
	f := newFixture(t)
	serverLeaf := f.leaf(t, f.server, "server")
	deviceLeaf := f.leaf(t, f.device, "device")
	ocspURL := OCSPURL(f.srv.URL, "server")

	for _, tt := range []struct {
		name       string
		do         func() *http.Response
		wantStatus int
		wantBody   []byte
	}{
		{"garbage POST", func() *http.Response { return post(t, ocspURL, []byte("garbage")) }, 200, ocsp.MalformedRequestErrorResponse},
		{"empty POST", func() *http.Response { return post(t, ocspURL, nil) }, 200, ocsp.MalformedRequestErrorResponse},
		{"bad escape GET", func() *http.Response {
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL, nil)
			req.URL.Opaque = Prefix + "server/ocsp/%zz"
			r, _ := http.DefaultClient.Do(req)
			return r
		}, 400, nil}, // net/http refuses the request line before the handler
		{"not base64 GET", func() *http.Response {
			r, _ := http.Get(ocspURL + "/@@@@")
			return r
		}, 200, ocsp.MalformedRequestErrorResponse},
		{"oversized POST", func() *http.Response { return post(t, ocspURL, make([]byte, MaxRequestSize+1)) }, 413, nil},
		{"oversized GET", func() *http.Response {
			r, _ := http.Get(ocspURL + "/" + strings.Repeat("A", maxEscapedRequest+1))
			return r
		}, 200, ocsp.MalformedRequestErrorResponse},
		{"another CA's certificate", func() *http.Response {
			return post(t, ocspURL, request(t, deviceLeaf, f.device.Certificate()))
		}, 200, ocsp.UnauthorizedErrorResponse},
		{"unknown CA", func() *http.Response {
			return post(t, OCSPURL(f.srv.URL, "other"), request(t, serverLeaf, f.server.Certificate()))
		}, 404, nil},
		{"GET on the POST path", func() *http.Response {
			r, _ := http.Get(ocspURL)
			return r
		}, 405, nil},
		{"POST on a GET path", func() *http.Response { return post(t, ocspURL+"/AAAA", nil) }, 405, nil},
		{"POST on the CRL", func() *http.Response { return post(t, CRLURL(f.srv.URL, "server"), nil) }, 405, nil},
		{"unknown path", func() *http.Response {
			r, _ := http.Get(f.srv.URL + Prefix + "server/other")
			return r
		}, 404, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := tt.do()
			if resp == nil {
				t.Fatal("no response")
			}
			body := readAll(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Fatalf("body %x, want %x", body, tt.wantBody)
			}
		})
	}

	// Other paths reach the next handler.
	resp, err := http.Get(f.srv.URL + "/_portico/health")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); string(body) != "next" {
		t.Errorf("other path answered %q", body)
	}
}

func TestCRL(t *testing.T) {
	f := newFixture(t)
	leaf := f.leaf(t, f.server, "server")
	if err := f.server.Revoke(leaf.SerialNumber, ocsp.Superseded, time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(leaf.CRLDistributionPoints[0])
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(f.server.Certificate()); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("entries %+v", crl.RevokedCertificateEntries)
	}
}

// requireOpenSSL returns the openssl binary, skipping the test when it is
// missing, unless CI is set: there a missing tool is a failure.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed (CI=true)")
		}
		t.Skip("openssl is not installed")
	}
	return path
}

// The openssl ocsp client queries the responder and verifies the answer
// against the CA.
func TestOpenSSLOCSPClient(t *testing.T) {
	openssl := requireOpenSSL(t)
	f := newFixture(t)
	leaf := f.leaf(t, f.server, "server")
	dir := t.TempDir()
	caFile, interFile, leafFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "intermediate.pem"), filepath.Join(dir, "leaf.pem")
	os.WriteFile(caFile, f.server.PEM(), 0o644)
	os.WriteFile(interFile, f.server.IntermediatePEM(), 0o644)
	os.WriteFile(leafFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644)

	run := func(args ...string) string {
		t.Helper()
		// A digest option must come before -cert. The intermediate signs
		// the answer; the root is the only trust anchor.
		args = append(append([]string{"ocsp"}, args...), "-issuer", interFile, "-cert", leafFile, "-url", leaf.OCSPServer[0],
			"-CAfile", caFile, "-verify_other", interFile)
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run()
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leafFile+": good") {
		t.Fatalf("openssl ocsp did not verify a good status:\n%s", out)
	}
	out = run("-sha256", "-no_nonce")
	if !strings.Contains(out, leafFile+": good") {
		t.Fatalf("openssl ocsp with SHA-256 certificate IDs:\n%s", out)
	}
	if err := f.server.Revoke(leaf.SerialNumber, ocsp.KeyCompromise, time.Time{}); err != nil {
		t.Fatal(err)
	}
	out = run()
	if !strings.Contains(out, leafFile+": revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("openssl ocsp after revocation:\n%s", out)
	}
}

// The root's CRL stays at /crl (where leaves of the root from before the
// intermediate point) and lists what the root issued, the intermediate
// included; the intermediate's CRL lists its leaves.
func TestRootCRL(t *testing.T) {
	f := newFixture(t)
	inter := f.server.Certificate()
	leaf := f.leaf(t, f.server, "server")
	if leaf.CRLDistributionPoints[0] != CRLURL(f.srv.URL, "server") {
		t.Fatalf("leaf CRL location %v", leaf.CRLDistributionPoints)
	}
	if err := f.server.Revoke(inter.SerialNumber, ocsp.CACompromise, time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(RootCRLURL(f.srv.URL, "server"))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(readAll(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(f.server.Root()); err != nil {
		t.Fatalf("the root CRL is not the root's: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(inter.SerialNumber) != 0 {
		t.Fatalf("root CRL entries %+v, want the intermediate", crl.RevokedCertificateEntries)
	}
	resp, err = http.Get(CRLURL(f.srv.URL, "server"))
	if err != nil {
		t.Fatal(err)
	}
	crl, err = x509.ParseRevocationList(readAll(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(inter); err != nil || len(crl.RevokedCertificateEntries) != 0 {
		t.Fatalf("intermediate CRL: signature %v, entries %+v", err, crl.RevokedCertificateEntries)
	}
}

// openssl checks a leaf against the intermediate's CRL, with the root as the
// only trust anchor.
func TestOpenSSLCRLCheck(t *testing.T) {
	openssl := requireOpenSSL(t)
	f := newFixture(t)
	leaf := f.leaf(t, f.server, "server")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		return p
	}
	rootFile, interFile := write("root.pem", f.server.PEM()), write("intermediate.pem", f.server.IntermediatePEM())
	leafFile := write("leaf.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
	verify := func() string {
		t.Helper()
		resp, err := http.Get(leaf.CRLDistributionPoints[0])
		if err != nil {
			t.Fatal(err)
		}
		crlFile := write("crl.pem", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: readAll(t, resp)}))
		out, _ := exec.Command(openssl, "verify", "-crl_check", "-CAfile", rootFile, "-untrusted", interFile, "-CRLfile", crlFile, leafFile).CombinedOutput()
		return string(out)
	}
	if out := verify(); !strings.Contains(out, leafFile+": OK") {
		t.Fatalf("openssl verify -crl_check of a good leaf:\n%s", out)
	}
	if err := f.server.Revoke(leaf.SerialNumber, ocsp.KeyCompromise, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if out := verify(); !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check of a revoked leaf:\n%s", out)
	}
}
