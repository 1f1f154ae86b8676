package customauth

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/store/storetest"
)

func TestCustomAuthMQTT(t *testing.T) {
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
	auths, err := authorizer.NewService(ctx, st, fns, authorizer.Config{Region: "us-east-1", Account: "123456789012"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	if _, err := fns.Put(ctx, function.Function{Name: "auth", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	ca := New(eps, auths, "us-east-1", "123456789012")
	req := gateway.CustomRequest{Domain: "iot.example.com", ServerName: "iot.example.com", SourceIP: netip.MustParseAddr("127.0.0.1"),
		MQTT: &gateway.CustomMQTT{Username: "dev7", HasUsername: true, Password: []byte("good"), HasPassword: true, ClientID: "dev7"}}
	if _, err := ca.Authenticate(ctx, req); err == nil || !strings.Contains(err.Error(), "no authorizer") {
		t.Fatalf("no authorizer: %v", err)
	}
	fnARN := "arn:aws:lambda:us-east-1:123456789012:function:auth"
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
