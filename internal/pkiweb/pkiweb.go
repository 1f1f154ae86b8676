// Package pkiweb serves the revocation status of Portico's certificate
// authorities over plain HTTP, where <ca> is a CA's name ("server",
// "device"):
//
//   - /_portico/pki/<ca>/ocsp: OCSP (RFC 6960 appendix A, GET and POST) for
//     every certificate of the CA. The request's CertID names the issuer, and
//     that issuer signs the answer: the intermediate for its leaves, the root
//     for the intermediate and for leaves issued before it existed.
//   - /_portico/pki/<ca>/intermediate/crl: the intermediate's CRL (DER), for
//     its leaves (CRLURL).
//   - /_portico/pki/<ca>/crl: the root's CRL (DER), for the intermediate and
//     for leaves the root issued itself before Portico's CAs had an
//     intermediate, which name this location (RootCRLURL).
//
// Certificates issued with pki.WithRevocationURLs(OCSPURL(base, ca),
// CRLURL(base, ca)) point here.
//
// The package owns URL layout, request decoding and size limits; the
// answers come from an Authority (a *pki.CA). It holds no state and never
// touches the store.
package pkiweb

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/pki"
)

// Prefix is the path under which the handler serves.
const Prefix = "/_portico/pki/"

// MaxRequestSize caps an OCSP request (DER). A request for one certificate
// is about 100 bytes; 4 KiB leaves room for extensions and nothing more.
const MaxRequestSize = 4 << 10

// maxEscapedRequest caps the path segment of a GET request: the base64 of
// MaxRequestSize bytes, every character percent-escaped.
const maxEscapedRequest = 3 * 4 * ((MaxRequestSize + 2) / 3)

// Authority answers for one certificate authority; *pki.CA implements it.
type Authority interface {
	// OCSPResponse returns a signed response (DER), or pki.ErrNotIssuer for
	// a certificate of another issuer.
	OCSPResponse(req *ocsp.Request) ([]byte, error)
	// CRL returns the CRL of the issuing (intermediate) CA, signed (DER).
	CRL() ([]byte, error)
	// RootCRL returns the root's CRL, signed (DER).
	RootCRL() ([]byte, error)
}

var _ Authority = (*pki.CA)(nil)

// Config configures a Handler.
type Config struct {
	// Authorities by name, the <ca> path segment.
	Authorities map[string]Authority
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for cache headers; nil means time.Now.
	Now func() time.Time
}

// Handler serves the paths under Prefix. Mount it with Front, in front of
// any http.ServeMux: a ServeMux redirects a path holding "//" to its cleaned
// form, and the base64 of a GET request may well hold "//".
type Handler struct {
	authorities map[string]Authority
	logger      *slog.Logger
	now         func() time.Time
}

// New returns a Handler. The map is copied.
func New(cfg Config) *Handler {
	h := &Handler{authorities: map[string]Authority{}, logger: cfg.Logger, now: cfg.Now}
	for name, a := range cfg.Authorities {
		h.authorities[name] = a
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// OCSPURL is the OCSP responder URL of the CA called ca for a server whose
// base URL (scheme, host and port, as devices reach Portico's API listener)
// is base, for example http://192.0.2.10:4566. OCSP must be plain HTTP: a
// client checking a TLS server's certificate cannot first trust TLS.
func OCSPURL(base, ca string) string {
	return strings.TrimSuffix(base, "/") + Prefix + url.PathEscape(ca) + "/ocsp"
}

// CRLURL is the CRL distribution point of the leaves the CA called ca
// issues (its intermediate's CRL) under base (see OCSPURL).
func CRLURL(base, ca string) string {
	return strings.TrimSuffix(base, "/") + Prefix + url.PathEscape(ca) + "/intermediate/crl"
}

// RootCRLURL is the CRL distribution point of the root of the CA called ca
// under base: the CRL that covers the intermediate and the leaves the root
// issued before the CA had an intermediate (they carry this URL).
func RootCRLURL(base, ca string) string {
	return strings.TrimSuffix(base, "/") + Prefix + url.PathEscape(ca) + "/crl"
}

// Front returns a handler that serves the paths under Prefix itself and
// passes every other request to next.
func (h *Handler) Front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.EscapedPath(), Prefix) {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The escaped path keeps a GET request's "%2F" apart from "/".
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, sub, _ := strings.Cut(rest, "/")
	ca, ok := h.authorities[name]
	if !ok {
		http.Error(w, "no certificate authority "+strconv.Quote(name), http.StatusNotFound)
		return
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case sub == "crl" || sub == "intermediate/crl":
		if !get {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		sign := ca.CRL
		if sub == "crl" {
			sign = ca.RootCRL
		}
		h.serveCRL(w, name, sign)
	case sub == "ocsp":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		// The content type is not insisted on: the body must parse as an
		// OCSP request either way.
		der, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				http.Error(w, "an OCSP request is at most 4 KiB", http.StatusRequestEntityTooLarge)
				return
			}
			h.logger.Debug("ocsp: request body not read", "ca", name, "err", err)
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		h.serveOCSP(w, name, ca, der, false)
	case strings.HasPrefix(sub, "ocsp/"):
		if !get {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		der, err := decodeGET(strings.TrimPrefix(sub, "ocsp/"))
		if err != nil {
			h.logger.Debug("ocsp: GET request does not decode", "ca", name, "err", err)
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		h.serveOCSP(w, name, ca, der, true)
	default:
		http.NotFound(w, r)
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

// decodeGET decodes the last path segment of a GET request: the
// percent-escaped base64 of the DER request (RFC 6960 appendix A.1).
// Padding may be missing, and a space stands for a "+" that some client
// sent unescaped through a form-style encoder.
func decodeGET(escaped string) ([]byte, error) {
	if len(escaped) > maxEscapedRequest {
		return nil, errors.New("request longer than 4 KiB")
	}
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, err
	}
	s = strings.ReplaceAll(s, " ", "+")
	s = strings.TrimRight(s, "=")
	if base64.RawStdEncoding.DecodedLen(len(s)) > MaxRequestSize {
		return nil, errors.New("request longer than 4 KiB")
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func (h *Handler) serveOCSP(w http.ResponseWriter, name string, ca Authority, der []byte, cacheable bool) {
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		h.logger.Debug("ocsp: malformed request", "ca", name, "err", err)
		writeOCSP(w, ocsp.MalformedRequestErrorResponse)
		return
	}
	resp, err := ca.OCSPResponse(req)
	switch {
	case errors.Is(err, pki.ErrNotIssuer):
		writeOCSP(w, ocsp.UnauthorizedErrorResponse)
		return
	case err != nil:
		h.logger.Error("ocsp: no response", "ca", name, "serial", req.SerialNumber.Text(16), "err", err)
		writeOCSP(w, ocsp.InternalErrorErrorResponse)
		return
	}
	if cacheable {
		h.setCacheHeaders(w, resp)
	}
	writeOCSP(w, resp)
}

// setCacheHeaders lets HTTP caches keep a GET response until its
// nextUpdate (RFC 5019 section 6.2).
func (h *Handler) setCacheHeaders(w http.ResponseWriter, der []byte) {
	parsed, err := ocsp.ParseResponse(der, nil)
	if err != nil || parsed.NextUpdate.IsZero() {
		return
	}
	maxAge := int64(parsed.NextUpdate.Sub(h.now()) / time.Second)
	if maxAge <= 0 {
		return
	}
	w.Header().Set("Cache-Control", "max-age="+strconv.FormatInt(maxAge, 10)+", public, no-transform, must-revalidate")
	w.Header().Set("Last-Modified", parsed.ThisUpdate.UTC().Format(http.TimeFormat))
	w.Header().Set("Expires", parsed.NextUpdate.UTC().Format(http.TimeFormat))
}

// writeOCSP writes an OCSP response. Error responses (malformedRequest,
// unauthorized, internalError) are OCSP messages too and go out with HTTP
// 200, as clients read the status from the body.
func writeOCSP(w http.ResponseWriter, der []byte) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Header().Set("Content-Length", strconv.Itoa(len(der)))
	w.Write(der)
}

func (h *Handler) serveCRL(w http.ResponseWriter, name string, sign func() ([]byte, error)) {
	der, err := sign()
	if err != nil {
		h.logger.Error("crl: not signed", "ca", name, "err", err)
		http.Error(w, "the CRL is not available", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Content-Length", strconv.Itoa(len(der)))
	w.Write(der)
}
