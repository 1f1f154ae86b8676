package iot_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iot"
)

// FuzzDomainConfigurationRequests feeds arbitrary bodies, names and queries
// to the domain-configuration operations (behind SigV4, which the handler
// itself does not need). No input may panic or answer 5xx.
func FuzzDomainConfigurationRequests(f *testing.F) {
	f.Add("POST", "CustomIoTDomain", `{"domainName":"iot.yourcompany.com","serverCertificateArns":["arn:aws:acm:us-east-1:123456789012:certificate/x"],"tlsConfig":{"securityPolicy":"x"}}`, "")
	f.Add("PUT", "iot%3AData-ATS", `{"domainConfigurationStatus":"DISABLED","tlsConfig":{}}`, "")
	f.Add("GET", "", "", "pageSize=0&marker=%%%")
	f.Add("DELETE", "a%2Fb", "", "")
	f.Add("POST", "x", `{"tags":[{"Key":1}],"authorizerConfig":null}`, "")
	fx := newFixture(f)
	h := iot.New(iot.Deps{Endpoints: fx.endpoints, Logger: apitest.Logger()})
	f.Fuzz(func(t *testing.T, method, name, body, query string) {
		switch method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			return
		}
		target := "/domainConfigurations"
		if name != "" {
			target += "/" + name
		}
		req, err := http.NewRequest(method, "http://portico"+target+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s -> %d %s", method, target, rec.Code, rec.Body.String())
		}
	})
}
