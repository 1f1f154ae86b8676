package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var testCred = Credential{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

func lookup(id string) (string, bool) {
	if id == testCred.AccessKeyID {
		return testCred.SecretAccessKey, true
	}
	return "", false
}

// signed builds a request as a client would send it, signs it with the AWS
// SDK's own signer, and returns it as the server would receive it.
func signed(t testing.TB, method, rawURL, body, service string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testCred.AccessKeyID, SecretAccessKey: testCred.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), service, "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return received(t, req, body)
}

// received turns a client request into the server-side form net/http gives a handler.
func received(t testing.TB, req *http.Request, body string) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	srv, err := http.ReadRequest(bufioReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestVerifyAcceptsSDKSignatures(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, method, url, body, service string
	}{
		{"restjson with encoded colon", "GET", "http://127.0.0.1:4566/domainConfigurations/iot%3AData-ATS", "", "iot"},
		{"restjson body", "POST", "http://127.0.0.1:4566/domainConfigurations/CustomIoTDomain", `{"domainName":"iot.yourcompany.com"}`, "iot"},
		{"query parameters", "GET", "http://127.0.0.1:4566/domainConfigurations?pageSize=2&marker=YWJj%2Bdz0%3D&serviceType=DATA", "", "iot"},
		{"encoded slash and space in topic", "POST", "https://iot.yourcompany.com:8443/topics/a%2Fb%20c%2F%24aws?qos=1", "hello", "iotdata"},
		{"route53 xml", "POST", "http://localhost:4566/2013-04-01/hostedzone/Z123/rrset/", "<ChangeResourceRecordSetsRequest/>", "route53"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := signed(t, c.method, c.url, c.body, c.service, now)
			p, err := Parse(r)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Scope.Service != c.service || p.Scope.Region != "us-east-1" {
				t.Fatalf("scope = %+v", p.Scope)
			}
			if err := Verify(r, p, lookup, now.Add(time.Minute), 1<<20); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got, _ := io.ReadAll(r.Body)
			if string(got) != c.body {
				t.Fatalf("body after verify = %q, want %q", got, c.body)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	base := func() *http.Request {
		return signed(t, "POST", "http://127.0.0.1:4566/domainConfigurations/x", `{"a":1}`, "iot", now)
	}
	cases := []struct {
		name   string
		mutate func(r *http.Request) *http.Request
		at     time.Time
		want   Reason
	}{
		{"tampered body", func(r *http.Request) *http.Request {
			r.Body = io.NopCloser(strings.NewReader(`{"a":2}`))
			return r
		}, now, Mismatch},
		{"tampered path", func(r *http.Request) *http.Request {
			r.URL.Path, r.RequestURI = "/domainConfigurations/y", "/domainConfigurations/y"
			return r
		}, now, Mismatch},
		{"unknown key", func(r *http.Request) *http.Request {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIDEXAMPLE", "AKIDOTHER", 1))
			return r
		}, now, UnknownKey},
		{"clock skew", func(r *http.Request) *http.Request { return r }, now.Add(16 * time.Minute), Expired},
		{"garbled header", func(r *http.Request) *http.Request {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential")
			return r
		}, now, Incomplete},
		{"no signature", func(r *http.Request) *http.Request {
			r.Header.Del("Authorization")
			return r
		}, now, Missing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.mutate(base())
			p, err := Parse(r)
			if err == nil {
				err = Verify(r, p, lookup, c.at, 1<<20)
			}
			var ve *Error
			if !errors.As(err, &ve) || ve.Reason != c.want {
				t.Fatalf("err = %v, want reason %d", err, c.want)
			}
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	req, _ := http.NewRequest("GET", "http://127.0.0.1:4566/domainConfigurations/iot%3AData-ATS?X-Amz-Expires=300", nil)
	url, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testCred.AccessKeyID, SecretAccessKey: testCred.SecretAccessKey},
		req, "UNSIGNED-PAYLOAD", "iot", "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		pre.Header[k] = v
	}
	r := received(t, pre, "")
	p, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(r, p, lookup, now.Add(time.Minute), 1<<20); err != nil {
		t.Fatalf("presigned Verify: %v", err)
	}
	if err := Verify(r, p, lookup, now.Add(10*time.Minute), 1<<20); err == nil {
		t.Fatal("expired presigned URL accepted")
	}
}

func TestBodyLimit(t *testing.T) {
	now := time.Now()
	r := signed(t, "POST", "http://127.0.0.1:4566/x", strings.Repeat("a", 100), "iot", now)
	p, _ := Parse(r)
	if err := Verify(r, p, lookup, now, 10); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc", "/a%2Fb", "x=1&y")
	f.Add("", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a/b/c/d/aws4_request&X-Amz-Date=20261128T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00")
	f.Fuzz(func(t *testing.T, auth, path, query string) {
		r := httptest.NewRequest("GET", "http://h/", nil)
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", "20261128T000000Z")
		p, err := Parse(r)
		if err != nil {
			return
		}
		_ = Verify(r, p, lookup, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), 1024)
	})
}

func bufioReader(b *bytes.Buffer) *bufio.Reader { return bufio.NewReader(b) }

// BenchmarkVerify: parsing and verifying the signature of a
// DescribeDomainConfiguration as the AWS SDK signs it (every API call
// pays it).
func BenchmarkVerify(b *testing.B) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	req := signed(b, "GET", "http://127.0.0.1:4566/domainConfigurations/CustomIoTDomain", "", "iot", now)
	var raw bytes.Buffer
	if err := req.Write(&raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw.Bytes())))
		if err != nil {
			b.Fatal(err)
		}
		p, err := Parse(r)
		if err != nil {
			b.Fatal(err)
		}
		if err := Verify(r, p, lookup, now.Add(time.Minute), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
