package pkiweb

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/pki"
)

// FuzzDecodeGET: any path segment either decodes to at most MaxRequestSize
// bytes or is refused; nothing panics.
func FuzzDecodeGET(f *testing.F) {
	for _, s := range []string{"", "MEow", "MEow%2F%2F", "ME ow", "====", "%zz", "a/b//c", "MEIwQDA+MDwwOjAJBgUrDgMCGgUABBQ="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		der, err := decodeGET(s)
		if err == nil && len(der) > MaxRequestSize {
			t.Fatalf("decoded %d bytes, over the cap", len(der))
		}
	})
}

// FuzzHandler drives the whole handler with arbitrary GET paths and POST
// bodies: every answer is an OCSP message or a client error, never a
// server error, and a successful OCSP response is signed by the CA.
func FuzzHandler(f *testing.F) {
	ca, err := pki.LoadOrCreate(f.TempDir(), "server", pkix.Name{CommonName: "fuzz CA"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := ca.IssueServer(key.Public(), []string{"a.example"}, nil, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	good, err := ocsp.CreateRequest(leaf, ca.Certificate(), nil)
	if err != nil {
		f.Fatal(err)
	}
	// About the intermediate, answered by the root.
	aboutIntermediate, err := ocsp.CreateRequest(ca.Certificate(), ca.Root(), nil)
	if err != nil {
		f.Fatal(err)
	}
	h := New(Config{Authorities: map[string]Authority{"server": ca}})

	f.Add(false, "server/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(good)), []byte(nil))
	f.Add(true, "server/ocsp", good)
	f.Add(true, "server/ocsp", good[:len(good)/2])
	f.Add(false, "server/crl", []byte(nil))
	f.Add(false, "server/intermediate/crl", []byte(nil))
	f.Add(true, "server/ocsp", aboutIntermediate)
	f.Add(false, "device/ocsp/AAAA", []byte(nil))
	f.Add(true, "server/ocsp", bytes.Repeat([]byte{0x30}, MaxRequestSize+1))
	f.Fuzz(func(t *testing.T, isPost bool, path string, body []byte) {
		u, err := url.ParseRequestURI(Prefix + path)
		if err != nil {
			return // net/http would refuse the request line
		}
		method := http.MethodGet
		if isPost {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "http://portico.test/", bytes.NewReader(body))
		r.URL = u
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge:
			return
		default:
			t.Fatalf("status %d for %s %q", w.Code, method, path)
		}
		if w.Header().Get("Content-Type") != "application/ocsp-response" {
			return // the CRL
		}
		resp := w.Body.Bytes()
		for _, e := range [][]byte{ocsp.MalformedRequestErrorResponse, ocsp.UnauthorizedErrorResponse} {
			if bytes.Equal(resp, e) {
				return
			}
		}
		// Signed by the intermediate, or by the root for what it issued.
		if _, err := ocsp.ParseResponse(resp, ca.Certificate()); err != nil {
			if _, err := ocsp.ParseResponse(resp, ca.Root()); err != nil {
				t.Fatalf("%s %q: response verifies with neither the intermediate nor the root: %v", method, path, err)
			}
		}
	})
}
