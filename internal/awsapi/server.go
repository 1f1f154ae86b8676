// Package awsapi is Portico's AWS wire front: one HTTP handler that verifies
// SigV4 on every request, routes it by the signing name in its credential
// scope to the adapter of that service (iot, acm, route53, iotdata), and writes
// errors in each protocol's exact shape. The per-service adapters live in
// subpackages and translate the wire to domain calls.
package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/awsapi/sigv4"
)

// MaxBodyBytes bounds every API request body. ACM imports (a certificate chain
// of up to 2 MiB, base64 inside JSON) are the largest legitimate bodies.
const MaxBodyBytes = 3 << 20

// Service is one AWS service adapter.
type Service struct {
	// SigningName is the SigV4 service name in the credential scope.
	SigningName string
	Protocol    Protocol
	Handler     http.Handler
	// AnyRegion accepts any region in the credential scope. Route 53 is a
	// global service: SDKs sign it with their configured region when given a
	// custom endpoint.
	AnyRegion bool
}

// Server is the API entry point.
type Server struct {
	Region      string
	Credentials []sigv4.Credential
	Logger      *slog.Logger
	// Now is the clock for signature expiry; nil means time.Now.
	Now func() time.Time

	services map[string]Service
	extra    *http.ServeMux // unsigned operational endpoints (/_portico/...)
}

// NewServer returns a server for region that accepts the given credentials.
func NewServer(region string, creds []sigv4.Credential, logger *slog.Logger) *Server {
	return &Server{Region: region, Credentials: creds, Logger: logger,
		services: map[string]Service{}, extra: http.NewServeMux()}
}

// Register adds a service adapter.
func (s *Server) Register(svc Service) { s.services[svc.SigningName] = svc }

// HandleOperational serves an unsigned operational path: under /_portico/,
// or /metrics (Prometheus's conventional path; no AWS API uses it).
func (s *Server) HandleOperational(pattern string, h http.Handler) { s.extra.Handle(pattern, h) }

type principalKey struct{}

// Principal returns the access key ID that signed the request in ctx.
func Principal(ctx context.Context) string {
	v, _ := ctx.Value(principalKey{}).(string)
	return v
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", NewRequestID())
	if strings.HasPrefix(r.URL.Path, "/_portico/") || r.URL.Path == "/metrics" {
		s.extra.ServeHTTP(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	parsed, err := sigv4.Parse(r)
	if err != nil {
		s.authError(w, r, guessProtocol(r), err)
		return
	}
	svc, ok := s.services[parsed.Scope.Service]
	if !ok {
		s.writeError(w, guessProtocol(r), ErrorBody{Status: 400, Code: "UnknownOperationException",
			Message: "Portico does not implement the service '" + parsed.Scope.Service + "' named in the credential scope"})
		return
	}
	if !svc.AnyRegion && parsed.Scope.Region != s.Region {
		s.authError(w, r, svc.Protocol, &sigv4.Error{Reason: sigv4.WrongScope,
			Message: "Credential should be scoped to a valid region, not '" + parsed.Scope.Region + "'. This Portico serves '" + s.Region + "'."})
		return
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if err := sigv4.Verify(r, parsed, s.lookup, now, MaxBodyBytes); err != nil {
		if errors.Is(err, sigv4.ErrBodyTooLarge) {
			s.writeError(w, svc.Protocol, ErrorBody{Status: 413, Code: "RequestEntityTooLargeException", Message: "request body exceeds 3 MiB"})
			return
		}
		s.authError(w, r, svc.Protocol, err)
		return
	}
	ctx := context.WithValue(r.Context(), principalKey{}, parsed.Scope.AccessKeyID)
	svc.Handler.ServeHTTP(w, r.WithContext(ctx))
}

func (s *Server) lookup(id string) (string, bool) {
	for _, c := range s.Credentials {
		if c.AccessKeyID == id {
			return c.SecretAccessKey, true
		}
	}
	return "", false
}

// authError answers a signature failure with HTTP 403 and the code AWS uses
// for it in that protocol family.
func (s *Server) authError(w http.ResponseWriter, r *http.Request, p Protocol, err error) {
	var ve *sigv4.Error
	if !errors.As(err, &ve) {
		ve = &sigv4.Error{Reason: sigv4.Incomplete, Message: err.Error()}
	}
	code := ""
	switch ve.Reason {
	case sigv4.Missing:
		code = "MissingAuthenticationTokenException"
		if p == RestXML {
			code = "MissingAuthenticationToken"
		}
	case sigv4.Incomplete, sigv4.WrongScope:
		code = "IncompleteSignatureException"
		if p == RestXML {
			code = "IncompleteSignature"
		}
	case sigv4.UnknownKey:
		code = "UnrecognizedClientException"
		if p == RestXML {
			code = "InvalidClientTokenId"
		}
	case sigv4.Expired:
		code = "InvalidSignatureException"
		if p == RestXML {
			code = "SignatureDoesNotMatch"
		}
	default:
		code = "InvalidSignatureException"
		if p == RestXML {
			code = "SignatureDoesNotMatch"
		}
	}
	s.Logger.Info("api request refused", "reason", code, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	s.writeError(w, p, ErrorBody{Status: http.StatusForbidden, Code: code, Message: ve.Message})
}

func (s *Server) writeError(w http.ResponseWriter, p Protocol, e ErrorBody) {
	WriteError(w, p, RequestID(w), e)
}

// guessProtocol picks the error shape for a request we could not attribute
// to a service by its signature.
func guessProtocol(r *http.Request) Protocol {
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		return JSON11
	case strings.HasPrefix(r.URL.Path, "/2013-04-01/"):
		return RestXML
	default:
		return RestJSON
	}
}

// NewRequestID returns a fresh request ID in the UUID form AWS uses.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
