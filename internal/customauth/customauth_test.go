package customauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/policy"
	"github.com/portico-iot/portico/internal/store/storetest"
)

type fixture struct {
	// shift moves the authorizer service's clock (the result cache's).
	shift atomic.Int64
	eps   *endpoint.Service
	fns   *function.Registry
	auths *authorizer.Service
	ca    *Authenticator
}

// newFixture runs handler as the user's function "auth" on loopback.
func newFixture(t *testing.T, handler http.HandlerFunc) *fixture {
	ctx := context.Background()
	st := storetest.New(t)
	eps, err := endpoint.NewService(ctx, st, nil, endpoint.Config{Region: "us-east-1", Account: "123456789012", BaseDomain: "portico.internal"})
	if err != nil {
		t.Fatal(err)
	}
	fns, err := function.New(ctx, st, function.Config{Region: "us-east-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{}
	auths, err := authorizer.NewService(ctx, st, fns, authorizer.Config{Region: "us-east-1", Account: "123456789012",
		Now: func() time.Time { return time.Now().Add(time.Duration(fx.shift.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	if _, err := fns.Put(ctx, function.Function{Name: "auth", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	fx.eps, fx.fns, fx.auths, fx.ca = eps, fns, auths, New(eps, auths, "us-east-1", "123456789012")
	return fx
}

var fnARN = "arn:aws:lambda:us-east-1:123456789012:function:auth"

func TestCustomAuthMQTT(t *testing.T) {
	ctx := context.Background()
	fx := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			ProtocolData struct {
				MQTT struct{ Password string } `json:"mqtt"`
			} `json:"protocolData"`
		}
		json.Unmarshal(body, &ev)
		if ev.ProtocolData.MQTT.Password != "Z29vZA==" { // "good"
			w.Write([]byte(`{"isAuthenticated":false}`))
			return
		}
		w.Write([]byte(`{"isAuthenticated":true,"principalId":"dev7","refreshAfterInSeconds":300,"disconnectAfterInSeconds":600,
		  "policyDocuments":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":"*"}]}]}`))
	})
	auths := fx.auths
	ca := fx.ca
	req := gateway.CustomRequest{Domain: "iot.example.com", ServerName: "iot.example.com", SourceIP: netip.MustParseAddr("127.0.0.1"),
		MQTT: &gateway.CustomMQTT{Username: "dev7", HasUsername: true, Password: []byte("good"), HasPassword: true, ClientID: "dev7"}}
	if _, err := ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "no authorizer") {
		t.Fatalf("no authorizer: %v", err)
	}
	yes := true
	if _, err := auths.Create(ctx, "A", authorizer.Input{FunctionARN: &fnARN, SigningDisabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, err := auths.SetDefault(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	// serve refreshes the view on every store change; here, by hand.
	if err := ca.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := ca.Authenticate(ctx, req)
	if err != nil || s.Principal != "dev7" || s.Lifetime != 600*time.Second || s.RefreshAfter != 300*time.Second ||
		!s.Authz.Connect("dev7", nil) || !s.Authz.Publish("t", false) || s.Authz.Subscribe("t") {
		t.Fatalf("= %+v %v", s, err)
	}
	req.MQTT.Password = []byte("bad")
	if _, err := ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "isAuthenticated false") {
		t.Fatalf("bad password: %v", err)
	}
	req.MQTT.Username = "dev7?x-amz-customauthorizer-name=Nope"
	if _, err := ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("unknown authorizer: %v", err)
	}
	req.MQTT.Username = "dev7?a=b?c"
	if _, err := ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "step username") {
		t.Fatalf("second ?: %v", err)
	}
}

// HTTP presentations: the token in a header or the query string; the event
// carries the headers and the raw query with its "?"; CUSTOM_AUTH_X509 adds
// the certificate, and its policies are evaluated with the function's.
func TestCustomAuthHTTPAndX509(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var events []map[string]any
	fx := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		principal := "dev7"
		if tls, ok := ev["protocolData"].(map[string]any)["tls"].(map[string]any); ok && tls["principalId"] != nil {
			principal = tls["principalId"].(string)
		}
		if ev["token"] != "good" {
			w.Write([]byte(`{"isAuthenticated":false}`))
			return
		}
		fmt.Fprintf(w, `{"isAuthenticated":true,"principalId":%q,"refreshAfterInSeconds":300,"disconnectAfterInSeconds":600,
		  "policyDocuments":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect","iot:Publish"],"Resource":"*"}]}]}`, principal)
	})
	lastEvent := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return events[len(events)-1]
	}
	yes := true
	key := "tok"
	if _, err := fx.auths.Create(ctx, "A", authorizer.Input{FunctionARN: &fnARN, SigningDisabled: &yes, TokenKeyName: &key}); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.auths.SetDefault(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if err := fx.ca.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	req := gateway.CustomRequest{Domain: "iot.example.com", ServerName: "iot.example.com",
		HTTP: &gateway.CustomHTTP{Header: http.Header{"Tok": {"good"}, "User-Agent": {"curl"}}, RawQuery: "a=b"}}
	s, err := fx.ca.Authenticate(ctx, req)
	if err != nil || !s.Authz.Publish("x/y", false) {
		t.Fatalf("header token: %+v %v", s, err)
	}
	ev := lastEvent()
	h := ev["protocolData"].(map[string]any)["http"].(map[string]any)
	if h["queryString"] != "?a=b" || h["headers"].(map[string]any)["User-Agent"] != "curl" || fmt.Sprint(ev["protocols"]) != "[tls http]" {
		t.Fatalf("event %v", ev)
	}
	req.HTTP = &gateway.CustomHTTP{Header: http.Header{}, RawQuery: "x-amz-customauthorizer-name=A&tok=good"}
	if _, err := fx.ca.Authenticate(ctx, req); err != nil {
		t.Fatalf("query token: %v", err)
	}
	req.HTTP = &gateway.CustomHTTP{Header: http.Header{"Tok": {"bad"}}}
	if _, err := fx.ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "isAuthenticated false") {
		t.Fatalf("bad token: %v", err)
	}
	req.HTTP = &gateway.CustomHTTP{Header: http.Header{"Big": {strings.Repeat("x", MaxHTTPData)}}}
	if _, err := fx.ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "at most 8192") {
		t.Fatalf("oversize: %v", err)
	}

	// CUSTOM_AUTH_X509: a registered certificate whose policy denies
	// publishing to "secret/#"; the function allows everything.
	certPEM, der := selfSigned(t)
	deny, err := policy.Parse(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/secret/*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	id := &device.Identity{ID: "c0ffee", Policies: []*policy.Document{deny}}
	req = gateway.CustomRequest{Domain: "iot.example.com", ServerName: "iot.example.com",
		MQTT:        &gateway.CustomMQTT{Username: "u?tok=good", HasUsername: true},
		Certificate: &gateway.CustomCertificate{DER: der, Principal: gateway.Principal{CertificateID: "c0ffee", Identity: id}}}
	s, err = fx.ca.Authenticate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	tlsData := lastEvent()["protocolData"].(map[string]any)["tls"].(map[string]any)
	if tlsData["principalId"] != "c0ffee" || tlsData["x509CertificatePem"] != certPEM {
		t.Fatalf("tls data %v", tlsData)
	}
	if !s.Authz.Connect("dev", nil) || !s.Authz.Publish("open/t", false) || s.Authz.Publish("secret/t", false) {
		t.Fatal("the certificate's explicit Deny must win over the function's Allow, and the function's Allow apply elsewhere")
	}
	// The registry changes (the Deny policy is detached): the live session
	// follows.
	s.Rebase(gateway.Principal{CertificateID: "c0ffee", Identity: &device.Identity{ID: "c0ffee"}})
	if !s.Authz.Publish("secret/t", false) {
		t.Fatal("the detached Deny still applies after Rebase")
	}
}

// selfSigned makes a certificate as PEM and DER.
func selfSigned(t *testing.T) (string, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dev"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), der
}

// The certificate callback sends the chain and honours the answer.
func TestCertificateCallback(t *testing.T) {
	ctx := context.Background()
	var got map[string]any
	admit := true
	fx := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&got)
		fmt.Fprintf(w, `{"isAuthenticated":%v}`, admit)
	})
	certPEM, der := selfSigned(t)
	cb := CertificateCallback{Functions: fx.fns}
	req := gateway.CertificateCallbackRequest{ServerName: "iot.example.com", CertificateID: "abc", Chain: [][]byte{der}}
	if err := cb.Decide(ctx, fnARN, req); err != nil {
		t.Fatal(err)
	}
	if got["principalId"] != "abc" || got["serverName"] != "iot.example.com" || fmt.Sprint(got["clientCertificateChain"]) != "["+certPEM+"]" ||
		got["connectionMetadata"].(map[string]any)["id"] == "" {
		t.Fatalf("event %v", got)
	}
	admit = false
	if err := cb.Decide(ctx, fnARN, req); err == nil || !strings.Contains(err.Error(), "isAuthenticated false") {
		t.Fatalf("refusal: %v", err)
	}
	if err := cb.Decide(ctx, "arn:aws:lambda:us-east-1:123456789012:function:nope", req); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unknown function: %v", err)
	}
}

// The OCSP function gets the base64 request as a JSON string and answers
// the base64 response the same way.
func TestOCSPLambda(t *testing.T) {
	ctx := context.Background()
	var event any
	answer := `"` + base64.StdEncoding.EncodeToString([]byte("response-der")) + `"`
	fx := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		json.NewDecoder(r.Body).Decode(&event)
		w.Write([]byte(answer))
	})
	run := OCSPLambda(fx.fns)
	der, err := run(ctx, fnARN, []byte("request-der"))
	if err != nil || string(der) != "response-der" || event != base64.StdEncoding.EncodeToString([]byte("request-der")) {
		t.Fatalf("= %q %v (event %v)", der, err, event)
	}
	answer = `{"not":"a string"}`
	if _, err := run(ctx, fnARN, []byte("x")); err == nil || !strings.Contains(err.Error(), "not a JSON string") {
		t.Fatalf("object answer: %v", err)
	}
}

// A session's Refresh calls the function again and swaps in the new
// policies; a refusal ends the session (the gateway closes it).
func TestSessionRefresh(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	topic, admit := "first", true
	fx := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !admit {
			w.Write([]byte(`{"isAuthenticated":false}`))
			return
		}
		fmt.Fprintf(w, `{"isAuthenticated":true,"principalId":"dev7","refreshAfterInSeconds":300,"disconnectAfterInSeconds":600,
		  "policyDocuments":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/%s"}]}]}`, topic)
	})
	yes := true
	if _, err := fx.auths.Create(ctx, "A", authorizer.Input{FunctionARN: &fnARN, SigningDisabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if err := fx.ca.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// The result cache would answer within refreshAfterInSeconds; the
	// session refreshes when it has passed.
	s, err := fx.ca.Authenticate(ctx, gateway.CustomRequest{Domain: "d", MQTT: &gateway.CustomMQTT{Username: "u?x-amz-customauthorizer-name=A"}})
	if err != nil || !s.Authz.Publish("first", false) || s.Authz.Publish("second", false) {
		t.Fatalf("connect: %v", err)
	}
	mu.Lock()
	topic = "second"
	mu.Unlock()
	fx.shift.Add(int64(s.RefreshAfter))
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Authz.Publish("first", false) || !s.Authz.Publish("second", false) {
		t.Fatal("the refreshed policies do not apply")
	}
	mu.Lock()
	admit = false
	mu.Unlock()
	fx.shift.Add(int64(s.RefreshAfter))
	if err := s.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "isAuthenticated false") {
		t.Fatalf("refused refresh: %v", err)
	}
}

// Each refusal carries the CONNACK of its cause.
func TestRefusalCodes(t *testing.T) {
	ctx := context.Background()
	down := false
	fx := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(w, "boom", 500)
			return
		}
		w.Write([]byte(`{"isAuthenticated":false}`))
	})
	signed := false
	yes := true
	if _, err := fx.auths.Create(ctx, "open", authorizer.Input{FunctionARN: &fnARN, SigningDisabled: &yes}); err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	tk := "tok"
	if _, err := fx.auths.Create(ctx, "signed", authorizer.Input{FunctionARN: &fnARN, SigningDisabled: &signed, TokenKeyName: &tk,
		SigningPublicKeys: map[string]string{"k": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}); err != nil {
		t.Fatal(err)
	}
	if err := fx.ca.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	code := func(user string) gateway.ConnackCode {
		_, err := fx.ca.Authenticate(ctx, gateway.CustomRequest{Domain: "d", MQTT: &gateway.CustomMQTT{Username: user, Password: []byte(user)}})
		if err == nil {
			t.Fatalf("%s admitted", user)
		}
		var r *gateway.ConnectRefusal
		if errors.As(err, &r) {
			return r.Code
		}
		return gateway.NotAuthorized
	}
	for user, want := range map[string]gateway.ConnackCode{
		"u?x-amz-customauthorizer-name=open":                                               gateway.NotAuthorized,
		"u?x-amz-customauthorizer-name=nope":                                               gateway.NotAuthorized,
		"u?x-amz-customauthorizer-name=signed&tok=t&x-amz-customauthorizer-signature=AAAA": gateway.BadCredentials,
		"u?a=b?c": gateway.BadCredentials,
	} {
		if got := code(user); got != want {
			t.Errorf("%s: code %d, want %d", user, got, want)
		}
	}
	down = true
	if got := code("u?x-amz-customauthorizer-name=open&fresh=1"); got != gateway.ServerUnavailable {
		t.Errorf("function down: code %d, want ServerUnavailable", got)
	}
}
