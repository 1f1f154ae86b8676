package iot_test

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
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iot"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/store/storetest"
)

const authFnARN = "arn:aws:lambda:" + apitest.Region + ":" + apitest.Account + ":function:auth"

type authFixture struct {
	client *awsiot.Client
	key    *rsa.PrivateKey
	pub    string
	mu     sync.Mutex
	events []map[string]any
	answer string
}

func newAuthFixture(t *testing.T) *authFixture {
	ctx := context.Background()
	f := &authFixture{}
	st := storetest.New(t)
	fns, err := function.New(ctx, st, function.Config{Region: apitest.Region, Account: apitest.Account})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if function.Verify("sekret", r.Header, body, time.Now(), time.Minute) != nil {
			http.Error(w, "bad signature", 401)
			return
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		f.mu.Lock()
		f.events = append(f.events, ev)
		answer := f.answer
		f.mu.Unlock()
		w.Write([]byte(answer))
	}))
	fs.Listener.Close()
	fs.Listener = l
	fs.Start()
	t.Cleanup(fs.Close)
	if _, err := fns.Put(ctx, function.Function{Name: "auth", URL: fs.URL, Secret: "sekret"}); err != nil {
		t.Fatal(err)
	}
	svc, err := authorizer.NewService(ctx, st, fns, authorizer.Config{Region: apitest.Region, Account: apitest.Account})
	if err != nil {
		t.Fatal(err)
	}
	eps, err := endpoint.NewService(ctx, st, nil, endpoint.Config{Region: apitest.Region, Account: apitest.Account, BaseDomain: "portico.internal"})
	if err != nil {
		t.Fatal(err)
	}
	eps.References = endpoint.References{AuthorizerExists: svc.Exists,
		FunctionExists: func(ctx context.Context, arn string) error { _, err := fns.Resolve(ctx, arn); return err }}
	srv := apitest.Start(t, func(s *awsapi.Server) {
		iot.Register(s, iot.Deps{Authorizers: svc, Endpoints: eps, Logger: apitest.Logger()})
	})
	f.client = awsiot.NewFromConfig(srv.Config)
	f.key, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&f.key.PublicKey)
	f.pub = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return f
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestAuthorizerAPI(t *testing.T) {
	ctx := context.Background()
	f := newAuthFixture(t)
	c := f.client
	if _, err := c.CreateAuthorizer(ctx, &awsiot.CreateAuthorizerInput{AuthorizerName: aws.String("a"),
		AuthorizerFunctionArn: aws.String(authFnARN + "x"), SigningDisabled: aws.Bool(true)}); apiCode(err) != "InvalidRequestException" {
		t.Fatalf("unknown function: %v", err)
	}
	out, err := c.CreateAuthorizer(ctx, &awsiot.CreateAuthorizerInput{AuthorizerName: aws.String("a"),
		AuthorizerFunctionArn: aws.String(authFnARN), TokenKeyName: aws.String("tok"),
		TokenSigningPublicKeys: map[string]string{"k1": f.pub}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.AuthorizerArn)
	if arn != "arn:aws:iot:"+apitest.Region+":"+apitest.Account+":authorizer/a" {
		t.Fatal(arn)
	}
	if _, err := c.CreateAuthorizer(ctx, &awsiot.CreateAuthorizerInput{AuthorizerName: aws.String("a"),
		AuthorizerFunctionArn: aws.String(authFnARN), SigningDisabled: aws.Bool(true)}); apiCode(err) != "ResourceAlreadyExistsException" {
		t.Fatal(err)
	}
	d, err := c.DescribeAuthorizer(ctx, &awsiot.DescribeAuthorizerInput{AuthorizerName: aws.String("a")})
	if err != nil || d.AuthorizerDescription.Status != types.AuthorizerStatusActive || aws.ToString(d.AuthorizerDescription.TokenKeyName) != "tok" ||
		d.AuthorizerDescription.TokenSigningPublicKeys["k1"] != f.pub || aws.ToBool(d.AuthorizerDescription.SigningDisabled) ||
		d.AuthorizerDescription.CreationDate == nil || time.Since(*d.AuthorizerDescription.CreationDate) > time.Minute {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	tags, err := c.ListTagsForResource(ctx, &awsiot.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 {
		t.Fatalf("tags %v %v", tags, err)
	}
	if _, err := c.UpdateAuthorizer(ctx, &awsiot.UpdateAuthorizerInput{AuthorizerName: aws.String("a"), EnableCachingForHttp: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	c.CreateAuthorizer(ctx, &awsiot.CreateAuthorizerInput{AuthorizerName: aws.String("b"), AuthorizerFunctionArn: aws.String(authFnARN), SigningDisabled: aws.Bool(true)})
	l, err := c.ListAuthorizers(ctx, &awsiot.ListAuthorizersInput{PageSize: aws.Int32(1), AscendingOrder: true})
	if err != nil || len(l.Authorizers) != 1 || aws.ToString(l.Authorizers[0].AuthorizerName) != "a" || aws.ToString(l.NextMarker) != "b" {
		t.Fatalf("List = %+v, %v", l, err)
	}
	if _, err := c.DescribeDefaultAuthorizer(ctx, &awsiot.DescribeDefaultAuthorizerInput{}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatal(err)
	}
	if _, err := c.SetDefaultAuthorizer(ctx, &awsiot.SetDefaultAuthorizerInput{AuthorizerName: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if dd, err := c.DescribeDefaultAuthorizer(ctx, &awsiot.DescribeDefaultAuthorizerInput{}); err != nil || aws.ToString(dd.AuthorizerDescription.AuthorizerName) != "a" {
		t.Fatal(dd, err)
	}
	if _, err := c.ClearDefaultAuthorizer(ctx, &awsiot.ClearDefaultAuthorizerInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteAuthorizer(ctx, &awsiot.DeleteAuthorizerInput{AuthorizerName: aws.String("a")}); apiCode(err) != "DeleteConflictException" {
		t.Fatalf("delete ACTIVE: %v", err)
	}
	c.UpdateAuthorizer(ctx, &awsiot.UpdateAuthorizerInput{AuthorizerName: aws.String("a"), Status: types.AuthorizerStatusInactive})
	if _, err := c.DeleteAuthorizer(ctx, &awsiot.DeleteAuthorizerInput{AuthorizerName: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeAuthorizer(ctx, &awsiot.DescribeAuthorizerInput{AuthorizerName: aws.String("a")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatal(err)
	}
}

func TestTestInvokeAuthorizer(t *testing.T) {
	ctx := context.Background()
	f := newAuthFixture(t)
	c := f.client
	if _, err := c.CreateAuthorizer(ctx, &awsiot.CreateAuthorizerInput{AuthorizerName: aws.String("a"),
		AuthorizerFunctionArn: aws.String(authFnARN), TokenKeyName: aws.String("tok"), TokenSigningPublicKeys: map[string]string{"k1": f.pub}}); err != nil {
		t.Fatal(err)
	}
	f.answer = `{"isAuthenticated":true,"principalId":"dev7","refreshAfterInSeconds":600,"disconnectAfterInSeconds":3600,
	  "policyDocuments":[{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}]}`
	sum := sha256.Sum256([]byte("tkn"))
	raw, _ := rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, sum[:])
	sig := base64.StdEncoding.EncodeToString(raw)
	out, err := c.TestInvokeAuthorizer(ctx, &awsiot.TestInvokeAuthorizerInput{AuthorizerName: aws.String("a"), Token: aws.String("tkn"), TokenSignature: aws.String(sig),
		MqttContext: &types.MqttContext{Username: aws.String("dev"), Password: []byte("pw"), ClientId: aws.String("c1")},
		TlsContext:  &types.TlsContext{ServerName: aws.String("iot.example.com")}})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(out.IsAuthenticated) || aws.ToString(out.PrincipalId) != "dev7" || len(out.PolicyDocuments) != 1 ||
		aws.ToInt32(out.RefreshAfterInSeconds) != 600 || aws.ToInt32(out.DisconnectAfterInSeconds) != 3600 {
		t.Fatalf("TestInvoke = %+v", out)
	}
	ev, _ := json.Marshal(f.events[0])
	for _, want := range []string{`"password":"cHc="`, `"serverName":"iot.example.com"`, `"signatureVerified":true`, `"token":"tkn"`} {
		if !strings.Contains(string(ev), want) {
			t.Errorf("event %s lacks %s", ev, want)
		}
	}
	// A bad signature is refused and does not reach the function.
	if _, err := c.TestInvokeAuthorizer(ctx, &awsiot.TestInvokeAuthorizerInput{AuthorizerName: aws.String("a"), Token: aws.String("other"), TokenSignature: aws.String(sig)}); apiCode(err) != "InvalidRequestException" {
		t.Fatalf("bad signature: %v", err)
	}
	if len(f.events) != 1 {
		t.Fatal("a bad signature reached the function")
	}
	// An invalid answer is InvalidResponseException; the same test again
	// calls the function again (no cache).
	f.answer = `{"isAuthenticated":true,"principalId":"dev-7","refreshAfterInSeconds":600,"disconnectAfterInSeconds":3600}`
	_, err = c.TestInvokeAuthorizer(ctx, &awsiot.TestInvokeAuthorizerInput{AuthorizerName: aws.String("a"), Token: aws.String("tkn"), TokenSignature: aws.String(sig),
		MqttContext: &types.MqttContext{Username: aws.String("dev"), Password: []byte("pw"), ClientId: aws.String("c1")},
		TlsContext:  &types.TlsContext{ServerName: aws.String("iot.example.com")}})
	var ire *types.InvalidResponseException
	if !errors.As(err, &ire) {
		t.Fatalf("invalid answer: %v", err)
	}
	if _, err := c.TestInvokeAuthorizer(ctx, &awsiot.TestInvokeAuthorizerInput{AuthorizerName: aws.String("zz"), Token: aws.String("tkn")}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatal(err)
	}
}

// A domain configuration may name only an existing authorizer, and only
// registered functions as its certificate callback and OCSP function.
func TestDomainConfigurationReferences(t *testing.T) {
	ctx := context.Background()
	f := newAuthFixture(t)
	c := f.client
	create := func(name string, mut func(*awsiot.CreateDomainConfigurationInput)) error {
		in := &awsiot.CreateDomainConfigurationInput{DomainConfigurationName: aws.String(name),
			AuthenticationType: types.AuthenticationTypeCustomAuth, ApplicationProtocol: types.ApplicationProtocolSecureMqtt,
			AuthorizerConfig: &types.AuthorizerConfig{DefaultAuthorizerName: aws.String("tokens"), AllowAuthorizerOverride: aws.Bool(false)}}
		if mut != nil {
			mut(in)
		}
		_, err := c.CreateDomainConfiguration(ctx, in)
		return err
	}
	err := create("d1", nil)
	if apiCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "authorizer tokens does not exist") {
		t.Fatalf("unknown authorizer: %v", err)
	}
	if _, err := c.CreateAuthorizer(ctx, &awsiot.CreateAuthorizerInput{AuthorizerName: aws.String("tokens"),
		AuthorizerFunctionArn: aws.String(authFnARN), SigningDisabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := create("d1", nil); err != nil {
		t.Fatalf("existing authorizer: %v", err)
	}
	_, err = c.UpdateDomainConfiguration(ctx, &awsiot.UpdateDomainConfigurationInput{DomainConfigurationName: aws.String("d1"),
		AuthorizerConfig: &types.AuthorizerConfig{DefaultAuthorizerName: aws.String("gone"), AllowAuthorizerOverride: aws.Bool(true)}})
	if apiCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "authorizer gone does not exist") {
		t.Fatalf("update to an unknown authorizer: %v", err)
	}
	unknownFn := "arn:aws:lambda:" + apitest.Region + ":" + apitest.Account + ":function:nope"
	err = create("d2", func(in *awsiot.CreateDomainConfigurationInput) {
		in.AuthenticationType, in.AuthorizerConfig = types.AuthenticationTypeAwsX509, nil
		in.ClientCertificateConfig = &types.ClientCertificateConfig{ClientCertificateCallbackArn: aws.String(unknownFn)}
	})
	if apiCode(err) != "InvalidRequestException" || !strings.Contains(err.Error(), "clientCertificateCallbackArn") || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unknown callback function: %v", err)
	}
	err = create("d2", func(in *awsiot.CreateDomainConfigurationInput) {
		in.AuthenticationType, in.AuthorizerConfig = types.AuthenticationTypeAwsX509, nil
		in.ClientCertificateConfig = &types.ClientCertificateConfig{ClientCertificateCallbackArn: aws.String(authFnARN)}
	})
	if err != nil {
		t.Fatalf("registered callback function: %v", err)
	}
	// Nothing half-written: the refused update left d1 as it was.
	out, err := c.DescribeDomainConfiguration(ctx, &awsiot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String("d1")})
	if err != nil || aws.ToString(out.AuthorizerConfig.DefaultAuthorizerName) != "tokens" || aws.ToBool(out.AuthorizerConfig.AllowAuthorizerOverride) {
		t.Fatalf("describe d1 after the refused update: %+v %v", out, err)
	}
}
