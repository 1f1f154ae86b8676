package awsapi_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
)

func ok(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("{}")) }

func start(t *testing.T) *apitest.Server {
	return apitest.Start(t, func(s *awsapi.Server) {
		s.Register(awsapi.Service{SigningName: "iot", Protocol: awsapi.RestJSON, Handler: http.HandlerFunc(ok)})
		s.Register(awsapi.Service{SigningName: "acm", Protocol: awsapi.JSON11, Handler: http.HandlerFunc(ok)})
		s.Register(awsapi.Service{SigningName: "route53", Protocol: awsapi.RestXML, Handler: http.HandlerFunc(ok), AnyRegion: true})
	})
}

func send(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func sign(t *testing.T, req *http.Request, body, service, region, secret string, at time.Time) {
	t.Helper()
	sum := sha256hex(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: apitest.AccessKey, SecretAccessKey: secret},
		req, sum, service, region, at)
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuthErrorsPerProtocol(t *testing.T) {
	srv := start(t)
	jsonCode := func(body string) string {
		var v struct {
			Type string `json:"__type"`
		}
		json.Unmarshal([]byte(body), &v)
		return v.Type
	}
	xmlCode := func(body string) string {
		var v struct {
			Error struct{ Code string } `xml:"Error"`
		}
		xml.Unmarshal([]byte(body), &v)
		return v.Error.Code
	}
	cases := []struct {
		name    string
		build   func() *http.Request
		code    string
		decoded func(string) string
	}{
		{"iot unsigned", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/domainConfigurations", nil)
			return r
		}, "MissingAuthenticationTokenException", jsonCode},
		{"acm unsigned", func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("{}"))
			r.Header.Set("X-Amz-Target", "CertificateManager.ListCertificates")
			return r
		}, "MissingAuthenticationTokenException", jsonCode},
		{"route53 unsigned", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/2013-04-01/hostedzone", nil)
			return r
		}, "MissingAuthenticationToken", xmlCode},
		{"iot wrong secret", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/domainConfigurations", nil)
			sign(t, r, "", "iot", apitest.Region, "wrong", time.Now())
			return r
		}, "InvalidSignatureException", jsonCode},
		{"route53 wrong secret", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/2013-04-01/hostedzone", nil)
			sign(t, r, "", "route53", "us-west-2", "wrong", time.Now())
			return r
		}, "SignatureDoesNotMatch", xmlCode},
		{"acm wrong region", func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("{}"))
			r.Header.Set("X-Amz-Target", "CertificateManager.ListCertificates")
			sign(t, r, "{}", "acm", "eu-west-1", apitest.SecretKey, time.Now())
			return r
		}, "IncompleteSignatureException", jsonCode},
		{"iot stale", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/domainConfigurations", nil)
			sign(t, r, "", "iot", apitest.Region, apitest.SecretKey, time.Now().Add(-20*time.Minute))
			return r
		}, "InvalidSignatureException", jsonCode},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := send(t, c.build())
			if status != http.StatusForbidden {
				t.Fatalf("status %d, body %s", status, body)
			}
			if got := c.decoded(body); got != c.code {
				t.Fatalf("body code %q, want %q: %s", got, c.code, body)
			}
			if hdr.Get("X-Amzn-ErrorType") != c.code || hdr.Get("X-Amzn-RequestId") == "" {
				t.Fatalf("headers %v", hdr)
			}
		})
	}
}

func TestSignedRequestsPass(t *testing.T) {
	srv := start(t)
	// Route 53 accepts any region: SDKs sign it with their own region for a custom endpoint.
	r, _ := http.NewRequest("GET", srv.URL+"/2013-04-01/hostedzone", nil)
	sign(t, r, "", "route53", "ap-southeast-2", apitest.SecretKey, time.Now())
	if status, _, body := send(t, r); status != 200 {
		t.Fatalf("route53: %d %s", status, body)
	}
	r, _ = http.NewRequest("GET", srv.URL+"/domainConfigurations/iot%3AData-ATS", nil)
	sign(t, r, "", "iot", apitest.Region, apitest.SecretKey, time.Now())
	if status, _, body := send(t, r); status != 200 {
		t.Fatalf("iot: %d %s", status, body)
	}
}

func TestUnknownService(t *testing.T) {
	srv := start(t)
	r, _ := http.NewRequest("GET", srv.URL+"/things", nil)
	sign(t, r, "", "s3", apitest.Region, apitest.SecretKey, time.Now())
	status, hdr, _ := send(t, r)
	if status != 400 || hdr.Get("X-Amzn-ErrorType") != "UnknownOperationException" {
		t.Fatalf("status %d, headers %v", status, hdr)
	}
}
