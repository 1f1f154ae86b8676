package iot_test

import (
	"context"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iot"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
)

// FuzzRegistryRequests feeds arbitrary paths, bodies, principals and
// queries to the thing, policy and TestAuthorization routes (behind SigV4,
// which the handler itself does not need). No input may panic or answer
// 5xx.
func FuzzRegistryRequests(f *testing.F) {
	ctx := context.Background()
	ca, err := pki.LoadOrCreate(f.TempDir(), "device", pkix.Name{CommonName: "Portico device CA"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	svc, err := device.NewService(ctx, storetest.New(f), ca, apitest.Region, apitest.Account)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := svc.CreateKeysAndCertificate(ctx, true)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := svc.CreateThing(ctx, "t", device.ThingInput{}); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.CreatePolicy(ctx, "p", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}}`, nil); err != nil {
		f.Fatal(err)
	}
	if err := svc.AttachPolicy(ctx, "p", cert.ARN); err != nil {
		f.Fatal(err)
	}
	h := iot.New(iot.Deps{Devices: svc, Logger: apitest.Logger()})
	f.Add("POST", "/things/t2", `{"thingTypeName":"x","attributePayload":{"attributes":{"a":"b"},"merge":true}}`, "", "")
	f.Add("PATCH", "/things/t", `{"expectedVersion":"x","attributePayload":null}`, "", "")
	f.Add("PUT", "/things/t/principals", "", cert.ARN, "thingPrincipalType=EXCLUSIVE_THING")
	f.Add("GET", "/principals/things", "", "arn:aws:iot:us-east-1:123456789012:cert/zz", "maxResults=0")
	f.Add("GET", "/things", "", "", "attributeName=a&attributeValue=b&usePrefixAttributeValue=maybe&nextToken=%%%")
	f.Add("POST", "/policies/q", `{"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[]}","tags":[{"Key":1}]}`, "", "")
	f.Add("POST", "/policies/p/version", `{"policyDocument":"${"}`, "", "setAsDefault=true")
	f.Add("PATCH", "/policies/p/version/99999999999999999999", "", "", "")
	f.Add("POST", "/attached-policies/"+strings.ReplaceAll(cert.ARN, "/", "%2F"), "", "", "recursive=true&pageSize=251")
	f.Add("PUT", "/target-policies/p", `{"target":null}`, "", "")
	f.Add("POST", "/test-authorization", `{"principal":"`+cert.ID+`","authInfos":[{"actionType":"PUBLISH","resources":["*"]}]}`, "", "clientId=%2A")
	f.Add("POST", "/test-authorization", `{"authInfos":[null]}`, "", "")
	f.Add("GET", "/principal-policies", "", cert.ARN, "isAscendingOrder=true")
	f.Fuzz(func(t *testing.T, method, path, body, principal, query string) {
		switch method {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return
		}
		if !strings.HasPrefix(path, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://portico"+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return
		}
		if principal != "" {
			req.Header.Set("x-amzn-principal", principal)
			req.Header.Set("x-amzn-iot-principal", principal)
			req.Header.Set("x-amzn-iot-policy", principal)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s?%s -> %d %s", method, path, query, rec.Code, rec.Body.String())
		}
	})
}
