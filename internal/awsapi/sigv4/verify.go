// Package sigv4 verifies AWS Signature Version 4 on incoming HTTP requests, in
// the Authorization-header form and the presigned-query form.
//
// The expected signature is recomputed from the request exactly as the client
// saw it: the escaped path as sent, the raw query, and only the headers the
// client listed in SignedHeaders. Non-S3 services double-encode the path in the
// canonical request, which is what every SDK does for iot, acm, route53 and
// iot-data.
package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	timeFormat      = "20060102T150405Z"
	dateFormat      = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxSkew is how far the request time may be from the server's clock.
	MaxSkew = 15 * time.Minute
	// maxPresignExpiry is the longest X-Amz-Expires AWS accepts (7 days).
	maxPresignExpiry = 7 * 24 * time.Hour
)

// Credential is one access key the server accepts.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Scope is what a verified request was signed for.
type Scope struct {
	AccessKeyID string
	Date        string // yyyymmdd
	Region      string
	Service     string
}

// Reason says why verification failed, so the caller can pick the AWS error code.
type Reason int

const (
	// Missing: the request carries no signature at all.
	Missing Reason = iota + 1
	// Incomplete: the Authorization header or presign parameters are malformed.
	Incomplete
	// UnknownKey: the access key ID is not one we issued.
	UnknownKey
	// Mismatch: the signature does not match.
	Mismatch
	// Expired: the request time is outside the allowed skew, or the presigned URL expired.
	Expired
	// WrongScope: region or date in the credential scope is not acceptable.
	WrongScope
)

// Error is a verification failure.
type Error struct {
	Reason  Reason
	Message string
}

func (e *Error) Error() string { return e.Message }

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...)}
}

// Lookup returns the secret for an access key ID, or false.
type Lookup func(accessKeyID string) (secret string, ok bool)

// Parsed is the signature material found on a request, before verification.
type Parsed struct {
	Scope         Scope
	SignedHeaders []string
	Signature     string
	Time          time.Time
	presigned     bool
	expires       time.Duration
}

// Parse extracts the signature material from r without verifying it. It is
// used to route a request by its credential scope before the body is read.
func Parse(r *http.Request) (*Parsed, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		return parseHeader(r, auth)
	}
	if r.URL.Query().Get("X-Amz-Algorithm") != "" || r.URL.Query().Get("X-Amz-Signature") != "" {
		return parsePresigned(r)
	}
	return nil, fail(Missing, "Request is missing Authentication Token")
}

func parseHeader(r *http.Request, auth string) (*Parsed, error) {
	rest, ok := strings.CutPrefix(auth, algorithm+" ")
	if !ok {
		return nil, fail(Incomplete, "Authorization header requires the %s algorithm", algorithm)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fail(Incomplete, "Authorization header component %q is not of the form key=value", strings.TrimSpace(part))
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, fail(Incomplete, "Authorization header requires '%s' parameter", k)
		}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		amzDate = r.Header.Get("Date")
	}
	t, err := parseTime(amzDate)
	if err != nil {
		return nil, fail(Incomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	scope, err := parseCredential(fields["Credential"])
	if err != nil {
		return nil, err
	}
	return &Parsed{Scope: scope, SignedHeaders: strings.Split(fields["SignedHeaders"], ";"), Signature: fields["Signature"], Time: t}, nil
}

func parsePresigned(r *http.Request) (*Parsed, error) {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, fail(Incomplete, "X-Amz-Algorithm must be %s", algorithm)
	}
	for _, k := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if q.Get(k) == "" {
			return nil, fail(Incomplete, "presigned request requires the %s parameter", k)
		}
	}
	t, err := parseTime(q.Get("X-Amz-Date"))
	if err != nil {
		return nil, fail(Incomplete, "X-Amz-Date %q is not in the form yyyyMMddTHHmmssZ", q.Get("X-Amz-Date"))
	}
	expires := maxPresignExpiry
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || time.Duration(n)*time.Second > maxPresignExpiry {
			return nil, fail(Incomplete, "X-Amz-Expires must be between 1 and 604800 seconds")
		}
		expires = time.Duration(n) * time.Second
	}
	scope, err := parseCredential(q.Get("X-Amz-Credential"))
	if err != nil {
		return nil, err
	}
	return &Parsed{Scope: scope, SignedHeaders: strings.Split(q.Get("X-Amz-SignedHeaders"), ";"),
		Signature: q.Get("X-Amz-Signature"), Time: t, presigned: true, expires: expires}, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(timeFormat, s); err == nil {
		return t, nil
	}
	return http.ParseTime(s)
}

func parseCredential(c string) (Scope, error) {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return Scope{}, fail(Incomplete, "Credential should be scoped to a valid region, not '%s'", c)
	}
	return Scope{AccessKeyID: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}, nil
}

// Verify checks p against r. The body is read (up to maxBody bytes) to hash it
// when the client did not send X-Amz-Content-Sha256, and r.Body is replaced so
// handlers can still read it. now is the server time.
func Verify(r *http.Request, p *Parsed, lookup Lookup, now time.Time, maxBody int64) error {
	secret, ok := lookup(p.Scope.AccessKeyID)
	if !ok {
		return fail(UnknownKey, "The security token included in the request is invalid.")
	}
	if p.Time.Format(dateFormat) != p.Scope.Date {
		return fail(WrongScope, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", p.Scope.Date, p.Time.Format(dateFormat))
	}
	if p.presigned {
		if now.Before(p.Time.Add(-MaxSkew)) {
			return fail(Expired, "Signature not yet current: %s is still later than %s", p.Time.Format(timeFormat), now.Add(MaxSkew).UTC().Format(timeFormat))
		}
		if now.After(p.Time.Add(p.expires)) {
			return fail(Expired, "Signature expired: %s is now earlier than %s", p.Time.Add(p.expires).UTC().Format(timeFormat), now.UTC().Format(timeFormat))
		}
	} else if d := now.Sub(p.Time); d > MaxSkew || d < -MaxSkew {
		return fail(Expired, "Signature expired: %s is now earlier than %s (%s - 15 min.)", p.Time.Format(timeFormat), now.Add(-MaxSkew).UTC().Format(timeFormat), now.UTC().Format(timeFormat))
	}
	if !containsFold(p.SignedHeaders, "host") {
		return fail(Incomplete, "'Host' must be a signed header")
	}
	hashes, err := payloadHashes(r, p, maxBody)
	if err != nil {
		return err
	}
	scope := strings.Join([]string{p.Scope.Date, p.Scope.Region, p.Scope.Service, "aws4_request"}, "/")
	key := signingKey(secret, p.Scope.Date, p.Scope.Region, p.Scope.Service)
	for _, h := range hashes {
		canonical := canonicalRequest(r, p, h)
		stringToSign := algorithm + "\n" + p.Time.UTC().Format(timeFormat) + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
		want := hex.EncodeToString(hmacSHA256(key, []byte(stringToSign)))
		if hmac.Equal([]byte(want), []byte(strings.ToLower(p.Signature))) {
			return nil
		}
	}
	return fail(Mismatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// payloadHashes returns the payload hashes the client may have signed with:
// the one it declared in X-Amz-Content-Sha256, else the body's SHA-256, and
// for presigned URLs also UNSIGNED-PAYLOAD (the Go SDK presigns with it,
// botocore with the hash of the empty body).
func payloadHashes(r *http.Request, p *Parsed, maxBody int64) ([]string, error) {
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && containsFold(p.SignedHeaders, "x-amz-content-sha256") {
		if h == unsignedPayload {
			return []string{h}, nil
		}
		// The claimed hash is signed; the body must still match it.
		body, err := readBody(r, maxBody)
		if err != nil {
			return nil, err
		}
		if got := hexSHA256(body); got != strings.ToLower(h) {
			return nil, fail(Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		return []string{h}, nil
	}
	body, err := readBody(r, maxBody)
	if err != nil {
		return nil, err
	}
	if p.presigned {
		return []string{unsignedPayload, hexSHA256(body)}, nil
	}
	return []string{hexSHA256(body)}, nil
}

// ErrBodyTooLarge is returned when a body exceeds the verification limit.
var ErrBodyTooLarge = errors.New("request body too large")

func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, ErrBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

func canonicalRequest(r *http.Request, p *Parsed, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, p.presigned))
	b.WriteByte('\n')
	headers := make([]string, len(p.SignedHeaders))
	for i, h := range p.SignedHeaders {
		headers[i] = strings.ToLower(h)
	}
	sort.Strings(headers)
	for _, h := range headers {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(headers, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalURI is the path as the client sent it, encoded once more.
func canonicalURI(r *http.Request) string {
	path := r.URL.EscapedPath()
	if r.RequestURI != "" && !strings.HasPrefix(r.RequestURI, "http") {
		path, _, _ = strings.Cut(r.RequestURI, "?")
	}
	if path == "" {
		return "/"
	}
	return Escape(path, true)
}

func canonicalQuery(raw string, presigned bool) string {
	type pair struct{ k, v string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescapeQuery(k), unescapeQuery(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{Escape(k, false), Escape(v, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func headerValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		values = []string{r.Host}
	case "content-length":
		if r.ContentLength >= 0 && r.Header.Get("Content-Length") == "" {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		} else {
			values = r.Header.Values("Content-Length")
		}
	default:
		values = r.Header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// Escape percent-encodes s as SigV4 requires: everything but A-Z a-z 0-9 - _ . ~,
// and '/' too unless keepSlash.
func Escape(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte("aws4_request"))
}
