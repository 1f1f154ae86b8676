package authorizer_test

import (
	"net/netip"
	"testing"

	"github.com/portico-iot/portico/internal/authorizer"
)

func TestParseMQTTUsername(t *testing.T) {
	user, p, err := authorizer.ParseMQTTUsername("dev7?x-amz-customauthorizer-name=MyAuth&x-amz-customauthorizer-signature=ab%2Bc%2F%3D&tok=t1&SDK=Java&Version=1")
	if err != nil || user != "dev7" || p.Name != "MyAuth" || p.Signature != "ab+c/=" || p.Token(authorizer.Authorizer{TokenKeyName: "tok"}) != "t1" {
		t.Fatalf("= %q %+v %v", user, p, err)
	}
	if p.Token(authorizer.Authorizer{}) != "" {
		t.Fatal("token without a key name")
	}
	if user, p, err := authorizer.ParseMQTTUsername("plain"); err != nil || user != "plain" || p.Name != "" {
		t.Fatalf("plain = %q %+v %v", user, p, err)
	}
	if _, _, err := authorizer.ParseMQTTUsername("u?a=b?c=d"); err == nil {
		t.Fatal("a second ? was accepted")
	}
	if _, _, err := authorizer.ParseMQTTUsername("u?a=%zz"); err == nil {
		t.Fatal("a bad escape was accepted")
	}
}

func TestChoose(t *testing.T) {
	cases := []struct {
		requested string
		domain    authorizer.DomainConfig
		account   string
		want      string
	}{
		{"a", authorizer.DomainConfig{}, "acct", "a"},
		{"a", authorizer.DomainConfig{DefaultAuthorizerName: "d", AllowAuthorizerOverride: true}, "", "a"},
		{"a", authorizer.DomainConfig{DefaultAuthorizerName: "d"}, "", ""},
		{"d", authorizer.DomainConfig{DefaultAuthorizerName: "d"}, "", "d"},
		{"", authorizer.DomainConfig{DefaultAuthorizerName: "d"}, "acct", "d"},
		{"", authorizer.DomainConfig{}, "acct", "acct"},
		{"", authorizer.DomainConfig{}, "", ""},
	}
	for _, c := range cases {
		got, err := authorizer.Choose(c.requested, c.domain, c.account)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("Choose(%q, %+v, %q) = %q, %v; want %q", c.requested, c.domain, c.account, got, err, c.want)
		}
	}
}

func TestSessionAuthorizer(t *testing.T) {
	d, err := authorizer.ParseResponse([]byte(`{"isAuthenticated":true,"principalId":"p","refreshAfterInSeconds":300,"disconnectAfterInSeconds":300,
	  "policyDocuments":[{"Version":"2012-10-17","Statement":[
	    {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/dev7"},
	    {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"},
	    {"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/dev7/#"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := authorizer.NewSessionAuthorizer(d, "us-east-1", "123456789012", netip.MustParseAddr("127.0.0.1"), "iot.example.com", nil, nil)
	if a.Connect("other", nil) {
		t.Fatal("connect as another client ID allowed")
	}
	if !a.Connect("dev7", nil) {
		t.Fatal("connect refused")
	}
	if !a.Publish("dev7/up", false) || a.Publish("dev8/up", false) || a.Publish("dev7/up", true) {
		t.Fatal("publish decisions wrong")
	}
	if !a.Subscribe("dev7/#") || a.Subscribe("dev8/#") || !a.Receive("dev7/x") || a.Receive("x") {
		t.Fatal("subscribe/receive decisions wrong")
	}
	empty, _ := authorizer.ParseResponse([]byte(`{"isAuthenticated":true,"principalId":"p","refreshAfterInSeconds":300,"disconnectAfterInSeconds":300}`))
	a.Refresh(empty)
	if a.Publish("dev7/up", false) {
		t.Fatal("refresh did not replace the policies")
	}
}
