package ocspstaple

import (
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/testpki"
)

// signed returns a response about leaf made by issuer's name and signed by
// signer, embedding embed when set.
func signed(t *testing.T, issuer, leaf *x509.Certificate, signer crypto.Signer, embed *x509.Certificate, mod func(*ocsp.Response)) []byte {
	t.Helper()
	now := time.Now()
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: leaf.SerialNumber,
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour), Certificate: embed}
	if mod != nil {
		mod(&tmpl)
	}
	responderName := issuer
	if embed != nil {
		responderName = embed
	}
	der, err := ocsp.CreateResponse(issuer, responderName, tmpl, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestVerify(t *testing.T) {
	root := testpki.NewCA(t, "issuer")
	leaf := root.Server(t, "iot.example.com").Cert
	other := testpki.NewCA(t, "someone else")
	delegate := root.Issue(t, testpki.LeafOptions{CommonName: "delegated responder", ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	notDelegate := root.Issue(t, testpki.LeafOptions{CommonName: "server cert", ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	expiredDelegate := root.Issue(t, testpki.LeafOptions{CommonName: "old responder", ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	authorized := other.Issue(t, testpki.LeafOptions{CommonName: "authorized responder", ExtUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})

	plain := Target{Leaf: leaf, Issuer: root.Cert}
	withResponder := Target{Leaf: leaf, Issuer: root.Cert, Responder: authorized.Cert}
	for _, tt := range []struct {
		name   string
		target Target
		der    []byte
		ok     bool
	}{
		{"signed by the issuer", plain, signed(t, root.Cert, leaf, root.Key, nil, nil), true},
		{"issuer certificate embedded", plain, signed(t, root.Cert, leaf, root.Key, root.Cert, nil), true},
		{"revoked", plain, signed(t, root.Cert, leaf, root.Key, nil, func(r *ocsp.Response) {
			r.Status, r.RevokedAt = ocsp.Revoked, time.Now().Add(-time.Hour)
		}), true},
		{"no nextUpdate", plain, signed(t, root.Cert, leaf, root.Key, nil, func(r *ocsp.Response) { r.NextUpdate = time.Time{} }), true},
		{"delegated responder", plain, signed(t, root.Cert, leaf, delegate.Key, delegate.Cert, nil), true},
		{"delegate without OCSP signing", plain, signed(t, root.Cert, leaf, notDelegate.Key, notDelegate.Cert, nil), false},
		{"expired delegate", plain, signed(t, root.Cert, leaf, expiredDelegate.Key, expiredDelegate.Cert, nil), false},
		{"delegate of another issuer", plain, signed(t, root.Cert, leaf, authorized.Key, authorized.Cert, nil), false},
		{"signed by another CA", plain, signed(t, root.Cert, leaf, other.Key, nil, nil), false},
		{"unknown status", plain, signed(t, root.Cert, leaf, root.Key, nil, func(r *ocsp.Response) { r.Status = ocsp.Unknown }), false},
		{"past nextUpdate", plain, signed(t, root.Cert, leaf, root.Key, nil, func(r *ocsp.Response) {
			r.ThisUpdate, r.NextUpdate = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		}), false},
		{"thisUpdate in the future", plain, signed(t, root.Cert, leaf, root.Key, nil, func(r *ocsp.Response) {
			r.ThisUpdate, r.NextUpdate = time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
		}), false},
		{"another serial", plain, signed(t, root.Cert, leaf, root.Key, nil, func(r *ocsp.Response) { r.SerialNumber = delegate.Cert.SerialNumber }), false},
		{"error response", plain, ocsp.TryLaterErrorResponse, false},
		{"garbage", plain, []byte("not an OCSP response"), false},
		{"authorized responder, not embedded", withResponder, signed(t, root.Cert, leaf, authorized.Key, nil, nil), true},
		{"authorized responder, embedded", withResponder, signed(t, root.Cert, leaf, authorized.Key, authorized.Cert, nil), true},
		{"authorized responder configured, issuer signed", withResponder, signed(t, root.Cert, leaf, root.Key, nil, nil), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verify(tt.der, tt.target, time.Now())
			if (err == nil) != tt.ok {
				t.Fatalf("verify: err = %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

func TestFetch(t *testing.T) {
	root := testpki.NewCA(t, "issuer")
	leaf := root.Server(t, "iot.example.com").Cert
	target := Target{Leaf: leaf, Issuer: root.Cert}
	good := signed(t, root.Cert, leaf, root.Key, nil, nil)

	for _, tt := range []struct {
		name    string
		path    string // of the responder URL
		handler http.HandlerFunc
		want    string // "" for success, else part of the error
	}{
		{"GET", "/ocsp", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				t.Errorf("method %s, want GET for a short URL", r.Method)
			}
			w.Write(good)
		}, ""},
		{"POST for a long URL", "/" + strings.Repeat("x", 200), func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/ocsp-request" {
				t.Errorf("%s %q, want a POST of application/ocsp-request", r.Method, r.Header.Get("Content-Type"))
			}
			if _, err := ocsp.ParseRequest(body); err != nil {
				t.Errorf("request body: %v", err)
			}
			w.Write(good)
		}, ""},
		{"HTTP error", "/ocsp", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, "HTTP 503"},
		{"over 4 KiB", "/ocsp", func(w http.ResponseWriter, r *http.Request) {
			w.Write(append(append([]byte(nil), good...), make([]byte, MaxResponseSize)...))
		}, "over 4096 bytes"},
		{"tryLater", "/ocsp", func(w http.ResponseWriter, r *http.Request) {
			w.Write(ocsp.TryLaterErrorResponse)
		}, "try later"},
		{"slow", "/ocsp", func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}, "deadline exceeded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			s := New(Config{Client: srv.Client(), FetchTimeout: 200 * time.Millisecond})
			der, next, err := s.fetch(context.Background(), target, srv.URL+tt.path)
			if tt.want == "" {
				if err != nil || string(der) != string(good) || next.IsZero() {
					t.Fatalf("fetch: %d bytes, next %v, err %v", len(der), next, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
