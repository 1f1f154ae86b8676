package awsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-iot/portico/internal/fault"
)

// Codes maps fault kinds to a service's default AWS error code.
type Codes map[fault.Kind]string

// statusByCode is the HTTP status of every AWS error code Portico emits, from
// the service models. Codes not listed answer 400.
var statusByCode = map[string]int{
	// iot / iot-data (restJson1)
	"UnauthorizedException":              401,
	"ResourceNotFoundException":          404,
	"ResourceAlreadyExistsException":     409,
	"DeleteConflictException":            409,
	"CertificateConflictException":       409,
	"TransferConflictException":          409,
	"TransferAlreadyCompletedException":  410,
	"VersionConflictException":           409,
	"VersionsLimitExceededException":     409,
	"InvalidStateTransitionException":    409,
	"ConflictingResourceUpdateException": 409,
	"CertificateStateException":          406,
	"LimitExceededException":             410,
	"MethodNotAllowedException":          405,
	"InternalFailureException":           500,
	"ServiceUnavailableException":        503,
	"NotImplementedException":            501,
	"RequestEntityTooLargeException":     413,
	// route53 (restXml)
	"NoSuchHostedZone":           404,
	"NoSuchChange":               404,
	"NoSuchHealthCheck":          404,
	"HostedZoneAlreadyExists":    409,
	"HealthCheckAlreadyExists":   409,
	"HealthCheckVersionMismatch": 409,
	"InternalError":              500,
	// acm (JSON 1.1): every modeled ACM error is 400.
	"InternalFailure": 500,
}

// StatusFor returns the HTTP status for an AWS error code.
func StatusFor(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return 400
}

// WriteFault writes err as an AWS error of protocol p. A fault's own Code wins;
// otherwise codes gives the service's code for the fault's kind. Internal
// errors are logged and answered without detail.
func WriteFault(w http.ResponseWriter, p Protocol, codes Codes, logger *slog.Logger, err error) {
	f := fault.As(err)
	if f.Kind == fault.Internal && f.Code == "" {
		logger.Error("internal error", "err", err, "request_id", RequestID(w))
	}
	code := f.Code
	if code == "" {
		code = codes[f.Kind]
	}
	if code == "" {
		code = codes[fault.Internal]
	}
	body := ErrorBody{Status: StatusFor(code), Code: code, Message: f.Message}
	if f.Kind == fault.AlreadyExists && p != RestXML {
		body.Extra = map[string]string{}
		if f.ResourceID != "" {
			body.Extra["resourceId"] = f.ResourceID
		}
		if f.ResourceARN != "" {
			body.Extra["resourceArn"] = f.ResourceARN
		}
	}
	WriteError(w, p, RequestID(w), body)
}

// DecodeJSON reads a JSON request body into v. An empty body leaves v as is.
// Malformed JSON becomes an Invalid fault naming the problem.
func DecodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fault.Coded(fault.Invalid, "RequestEntityTooLargeException", "request body exceeds %d bytes", tooBig.Limit)
		}
		return fault.Invalidf("could not read request body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fault.Invalidf("member %q must be of type %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		return fault.Invalidf("request body is not valid JSON: %v", err)
	}
	return nil
}

// PathLabel returns the percent-decoded path label named by a ServeMux pattern
// wildcard. Go's mux already decodes wildcards; this exists to say so and to
// turn a bad escape into a clear fault.
func PathLabel(r *http.Request, name string) string { return r.PathValue(name) }

// NotImplemented answers an operation Portico does not implement yet in the
// protocol's own words, naming it.
func NotImplemented(w http.ResponseWriter, p Protocol, operation string) {
	code := "NotImplementedException"
	status := 501
	switch p {
	case JSON11:
		code, status = "UnknownOperationException", 400
	case RestXML:
		code, status = "InvalidAction", 400
	}
	WriteError(w, p, RequestID(w), ErrorBody{Status: status, Code: code,
		Message: fmt.Sprintf("Portico does not implement the operation %s yet", operation)})
}

// UnescapeLabel decodes one percent-encoded path segment.
func UnescapeLabel(s string) (string, error) { return url.PathUnescape(s) }
