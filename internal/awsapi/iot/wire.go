package iot

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/fault"
)

// The request and response helpers the adapter's operations share.

// respond writes v, or err when it is not nil.
func (h *handler) respond(w http.ResponseWriter, v any, err error) {
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, v)
}

// done answers an operation with an empty output, or err when it is not nil.
func (h *handler) done(w http.ResponseWriter, err error) { h.respond(w, struct{}{}, err) }

// notNull is the validation error for a required member that is absent.
func notNull(member string) error {
	return fault.Invalidf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
}

// required returns *v, or notNull(member) when v is nil.
func required(member string, v *string) (string, error) {
	if v == nil {
		return "", notNull(member)
	}
	return *v, nil
}

// decodeRequired decodes the JSON body into in and returns *v, which
// points at in's required string member named member.
func decodeRequired(r *http.Request, in any, member string, v **string) (string, error) {
	if err := awsapi.DecodeJSON(r, in); err != nil {
		return "", err
	}
	return required(member, *v)
}

// queryBool reads an optional boolean query member; absent means false.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	switch strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, fault.Invalidf("%s must be true or false, not %q", name, v)
}

// queryInt reads an optional integer query member within 1..max; absent
// is 0.
func queryInt(r *http.Request, name string, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be an integer between 1 and %d", v, name, max)
	}
	return n, nil
}

// queryInt64 reads an optional long query member; absent is nil.
func queryInt64(r *http.Request, name string) (*int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return nil, nil
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return nil, fault.Invalidf("%s must be an integer, not %q", name, q.Get(name))
	}
	return &n, nil
}

// principalHeader reads the x-amzn-principal header member.
func principalHeader(r *http.Request, header string) (string, error) {
	p := r.Header.Get(header)
	if p == "" {
		return "", notNull("principal")
	}
	return p, nil
}

// pageQuery reads the pageSize (1..device.MaxPageSize; absent is 0) and
// marker query members of a paged listing.
func pageQuery(r *http.Request) (size int, marker string, err error) {
	size, err = queryInt(r, "pageSize", device.MaxPageSize)
	return size, r.URL.Query().Get("marker"), err
}
