package authorizer_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/tagging"
)

const fnARN = "arn:aws:lambda:us-east-1:123456789012:function:auth"

// fakeFunctions knows one function, "auth", answering answer.
type fakeFunctions struct {
	answer string
	events []map[string]any
}

func (f *fakeFunctions) FunctionName(_ context.Context, arn string) (string, error) {
	if arn != fnARN {
		return "", fault.Invalidf("function %s is not registered", arn)
	}
	return "auth", nil
}

func (f *fakeFunctions) Invoke(_ context.Context, name string, event any) ([]byte, error) {
	f.events = append(f.events, event.(map[string]any))
	if f.answer == "" {
		return nil, errors.New("boom")
	}
	return []byte(f.answer), nil
}

func rsaKey(t *testing.T, bits int) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sign(t *testing.T, k *rsa.PrivateKey, token string) string {
	sum := sha256.Sum256([]byte(token))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func ptr[T any](v T) *T { return &v }

// clock is the services' time; tests advance it past cached results.
var clock = time.Unix(1_800_000_000, 0)

func advance(d time.Duration) { clock = clock.Add(d) }

func newService(t *testing.T) (*authorizer.Service, *fakeFunctions) {
	fn := &fakeFunctions{}
	s, err := authorizer.NewService(context.Background(), storetest.New(t), fn, authorizer.Config{Region: "us-east-1", Account: "123456789012",
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return s, fn
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	_, pub := rsaKey(t, 2048)
	_, small := rsaKey(t, 1024)
	for name, in := range map[string]authorizer.Input{
		"no function":      {TokenKeyName: ptr("tok"), SigningPublicKeys: map[string]string{"k": pub}},
		"unknown function": {FunctionARN: ptr(fnARN + "x"), SigningDisabled: ptr(true)},
		"no keys":          {FunctionARN: ptr(fnARN), TokenKeyName: ptr("tok")},
		"small key":        {FunctionARN: ptr(fnARN), TokenKeyName: ptr("tok"), SigningPublicKeys: map[string]string{"k": small}},
		"not pem":          {FunctionARN: ptr(fnARN), TokenKeyName: ptr("tok"), SigningPublicKeys: map[string]string{"k": "nope"}},
		"bad status":       {FunctionARN: ptr(fnARN), SigningDisabled: ptr(true), Status: ptr("ON")},
	} {
		if _, err := s.Create(ctx, "a", in); !fault.Is(err, fault.Invalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := s.Create(ctx, "a", authorizer.Input{FunctionARN: ptr(fnARN), TokenKeyName: ptr("tok"),
		SigningPublicKeys: map[string]string{"a": pub, "b": pub, "c": pub}}); !fault.Is(err, fault.LimitExceeded) {
		t.Errorf("three keys: %v", err)
	}
	a, err := s.Create(ctx, "a", authorizer.Input{FunctionARN: ptr(fnARN), TokenKeyName: ptr("tok"),
		SigningPublicKeys: map[string]string{"k": pub}, Tags: []tagging.Tag{{Key: "env", Value: "dev"}}})
	if err != nil || a.Status != authorizer.Active || a.ARN != "arn:aws:iot:us-east-1:123456789012:authorizer/a" {
		t.Fatalf("Create = %+v, %v", a, err)
	}
	if _, err := s.Create(ctx, "a", authorizer.Input{FunctionARN: ptr(fnARN), SigningDisabled: ptr(true)}); !fault.Is(err, fault.AlreadyExists) {
		t.Fatal(err)
	}
	s.Create(ctx, "b", authorizer.Input{FunctionARN: ptr(fnARN), SigningDisabled: ptr(true), Status: ptr(authorizer.Inactive)})
	if tags, _ := s.ListTagsForResource(ctx, a.ARN); len(tags) != 1 {
		t.Fatalf("tags %v", tags)
	}
	page, next, err := s.List(ctx, authorizer.ListInput{PageSize: 1, Ascending: true})
	if err != nil || len(page) != 1 || page[0].Name != "a" || next != "b" {
		t.Fatalf("List = %v %q %v", page, next, err)
	}
	if page, _, _ := s.List(ctx, authorizer.ListInput{Status: authorizer.Inactive}); len(page) != 1 || page[0].Name != "b" {
		t.Fatalf("List INACTIVE = %v", page)
	}
	// Update cannot turn signing off.
	u, err := s.Update(ctx, "a", authorizer.Input{SigningDisabled: ptr(true), EnableCachingForHTTP: ptr(true)})
	if err != nil || u.SigningDisabled || !u.EnableCachingForHTTP {
		t.Fatalf("Update = %+v, %v", u, err)
	}
	if _, err := s.Update(ctx, "zz", authorizer.Input{}); !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
	// Default.
	if _, err := s.Default(ctx); !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
	if _, err := s.SetDefault(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Default(ctx); err != nil || d.Name != "b" {
		t.Fatal(d, err)
	}
	// Delete: ACTIVE, default and in-use refused.
	if err := s.Delete(ctx, "a", nil); !fault.Is(err, fault.Conflict) {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b", nil); !fault.Is(err, fault.Conflict) {
		t.Fatal(err)
	}
	if err := s.ClearDefault(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearDefault(ctx); !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
	inUse := func(context.Context, string) ([]string, error) { return []string{"dc"}, nil }
	if err := s.Delete(ctx, "b", inUse); !fault.Is(err, fault.Conflict) {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "b"); !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
}

func TestInvoke(t *testing.T) {
	ctx := context.Background()
	s, fn := newService(t)
	key, pub := rsaKey(t, 2048)
	other, _ := rsaKey(t, 2048)
	a, err := s.Create(ctx, "a", authorizer.Input{FunctionARN: ptr(fnARN), TokenKeyName: ptr("tok"), SigningPublicKeys: map[string]string{"k": pub}})
	if err != nil {
		t.Fatal(err)
	}
	good := `{"isAuthenticated":true,"principalId":"dev7","refreshAfterInSeconds":300,"disconnectAfterInSeconds":3600,
	  "policyDocuments":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]},
	  "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":\"*\"}]}"]}`
	fn.answer = good
	req := authorizer.Request{Token: "tkn", Signature: sign(t, key, "tkn"), Protocols: []string{"tls", "mqtt"}, ServerName: "iot.example.com",
		MQTT: &authorizer.MQTTData{Username: "u?x=y", Password: []byte("secret"), HasPassword: true, ClientID: "c1"}, ConnectionID: "id1"}
	d, err := s.Invoke(ctx, a, req)
	if err != nil || !d.IsAuthenticated || d.PrincipalID != "dev7" || len(d.Policies) != 2 || d.DisconnectAfter.Seconds() != 3600 {
		t.Fatalf("Invoke = %+v, %v", d, err)
	}
	ev, _ := json.Marshal(fn.events[0])
	for _, want := range []string{`"token":"tkn"`, `"signatureVerified":true`, `"serverName":"iot.example.com"`, `"password":"c2VjcmV0"`, `"clientId":"c1"`, `"connectionMetadata":{"id":"id1"}`, `"protocols":["tls","mqtt"]`} {
		if !strings.Contains(string(ev), want) {
			t.Errorf("event %s lacks %s", ev, want)
		}
	}
	// Bad signatures never reach the function.
	calls := len(fn.events)
	for _, sig := range []string{"", "!!", sign(t, other, "tkn"), sign(t, key, "other")} {
		r := req
		r.Signature = sig
		var ref *authorizer.Refusal
		if _, err := s.Invoke(ctx, a, r); !errors.As(err, &ref) || ref.Step != "signature" {
			t.Errorf("signature %q: %v", sig, err)
		}
	}
	if len(fn.events) != calls {
		t.Fatal("a bad signature reached the function")
	}
	// Invalid answers.
	for _, bad := range []string{
		`[]`, `{}`,
		`{"isAuthenticated":true,"principalId":"a-b","refreshAfterInSeconds":300,"disconnectAfterInSeconds":300}`,
		`{"isAuthenticated":true,"principalId":"ab","refreshAfterInSeconds":299,"disconnectAfterInSeconds":300}`,
		`{"isAuthenticated":true,"principalId":"ab","refreshAfterInSeconds":300,"disconnectAfterInSeconds":86401}`,
		`{"isAuthenticated":true,"principalId":"ab","refreshAfterInSeconds":300,"disconnectAfterInSeconds":300,"policyDocuments":[{"Version":"2012-10-17"}]}`,
		`{"isAuthenticated":true,"principalId":"ab","refreshAfterInSeconds":300,"disconnectAfterInSeconds":300,"policyDocuments":[` + strings.Repeat(`"x",`, 10) + `"x"]}`,
		"",
	} {
		fn.answer = bad
		advance(time.Hour)
		var ref *authorizer.Refusal
		_, err := s.Invoke(ctx, a, req)
		if !errors.As(err, &ref) || (ref.Step != "response" && ref.Step != "function") || ref.Fault().Code != "InvalidResponseException" {
			t.Errorf("answer %q: %v", bad, err)
		}
	}
	fn.answer = `{"isAuthenticated":false}`
	advance(time.Hour)
	if d, err := s.Invoke(ctx, a, req); err != nil || d.IsAuthenticated {
		t.Fatalf("denied = %+v, %v", d, err)
	}
	// Signing disabled: no signature needed, signatureVerified false.
	b, _ := s.Create(ctx, "b", authorizer.Input{FunctionARN: ptr(fnARN), SigningDisabled: ptr(true)})
	fn.answer = good
	if _, err := s.Invoke(ctx, b, authorizer.Request{MQTT: &authorizer.MQTTData{Username: "u"}}); err != nil {
		t.Fatal(err)
	}
	if fn.events[len(fn.events)-1]["signatureVerified"] != false {
		t.Fatal("signatureVerified not false")
	}
	// INACTIVE refuses.
	b, _ = s.Update(ctx, "b", authorizer.Input{Status: ptr(authorizer.Inactive)})
	var ref *authorizer.Refusal
	if _, err := s.Invoke(ctx, b, authorizer.Request{}); !errors.As(err, &ref) || ref.Step != "status" {
		t.Fatal(err)
	}
}

func TestInvokeCachesResults(t *testing.T) {
	ctx := context.Background()
	s, fn := newService(t)
	a, _ := s.Create(ctx, "a", authorizer.Input{FunctionARN: ptr(fnARN), SigningDisabled: ptr(true)})
	fn.answer = `{"isAuthenticated":true,"principalId":"p","refreshAfterInSeconds":300,"disconnectAfterInSeconds":300}`
	req := func(pw string, conn string) authorizer.Request {
		return authorizer.Request{MQTT: &authorizer.MQTTData{Username: "u", Password: []byte(pw), HasPassword: true}, ConnectionID: conn}
	}
	s.Invoke(ctx, a, req("a", "1"))
	s.Invoke(ctx, a, req("a", "2")) // another connection, same presentation
	if len(fn.events) != 1 {
		t.Fatalf("%d calls, want 1", len(fn.events))
	}
	s.Invoke(ctx, a, req("b", "3"))
	if len(fn.events) != 2 {
		t.Fatalf("%d calls, want 2", len(fn.events))
	}
	advance(301 * time.Second)
	s.Invoke(ctx, a, req("a", "4"))
	if len(fn.events) != 3 {
		t.Fatalf("%d calls after refreshAfter, want 3", len(fn.events))
	}
	// Failures are cached briefly.
	fn.answer = ""
	s.Invoke(ctx, a, req("c", "5"))
	if _, err := s.Invoke(ctx, a, req("c", "6")); err == nil || len(fn.events) != 4 {
		t.Fatalf("failure not cached: %v, %d calls", err, len(fn.events))
	}
	advance(authorizer.FailureTTL)
	s.Invoke(ctx, a, req("c", "7"))
	if len(fn.events) != 5 {
		t.Fatalf("%d calls after FailureTTL, want 5", len(fn.events))
	}
	// A changed authorizer is not answered from the cache.
	advance(time.Second)
	a, _ = s.Update(ctx, "a", authorizer.Input{EnableCachingForHTTP: ptr(true)})
	s.Invoke(ctx, a, req("a", "8"))
	if len(fn.events) != 6 {
		t.Fatalf("%d calls after Update, want 6", len(fn.events))
	}
}
