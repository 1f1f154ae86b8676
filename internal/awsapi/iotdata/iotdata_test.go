package iotdata_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/smithy-go"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iotdata"
	"github.com/portico-iot/portico/internal/broker"
)

func start(t *testing.T) (*iotdataplane.Client, *broker.Broker) {
	t.Helper()
	b, err := broker.New(broker.Options{Logger: apitest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv := apitest.Start(t, func(s *awsapi.Server) { iotdata.Register(s, b, apitest.Logger()) })
	return iotdataplane.NewFromConfig(srv.Config), b
}

func TestPublishReachesSubscribers(t *testing.T) {
	client, b := start(t)
	got := make(chan broker.Message, 4)
	if err := b.Subscribe("test/#", 1, func(m broker.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	_, err := client.Publish(context.Background(), &iotdataplane.PublishInput{
		Topic: aws.String("test/custom domain/$x"), Payload: []byte(`{"temp":21}`), Qos: 1,
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	select {
	case m := <-got:
		if m.Topic != "test/custom domain/$x" || string(m.Payload) != `{"temp":21}` {
			t.Fatalf("delivered %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message not delivered")
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	client, _ := start(t)
	cases := []struct {
		name string
		in   *iotdataplane.PublishInput
		code string
	}{
		{"wildcard topic", &iotdataplane.PublishInput{Topic: aws.String("a/#")}, "InvalidRequestException"},
		{"qos 2", &iotdataplane.PublishInput{Topic: aws.String("a"), Qos: 2}, "InvalidRequestException"},
		{"topic too long", &iotdataplane.PublishInput{Topic: aws.String(strings.Repeat("t", 257))}, "InvalidRequestException"},
		{"payload too large", &iotdataplane.PublishInput{Topic: aws.String("a"), Payload: make([]byte, 128*1024+1)}, "RequestEntityTooLargeException"},
	}
	for _, c := range cases {
		_, err := client.Publish(context.Background(), c.in)
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != c.code {
			t.Errorf("%s: err = %v, want %s", c.name, err, c.code)
		}
	}
}

// TestDevicePublishIsAuthorized: NewDevice asks authorize for each publish,
// with the retain flag, and answers a refusal 403 ForbiddenException.
func TestDevicePublishIsAuthorized(t *testing.T) {
	b, err := broker.New(broker.Options{Logger: apitest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var asked []string
	h := iotdata.NewDevice(b, apitest.Logger(), func(_ *http.Request, topic string, retain bool) bool {
		asked = append(asked, fmt.Sprintf("%s %v", topic, retain))
		return topic == "allowed" && !retain
	})
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{
		{"/topics/allowed?qos=1", 200, ""},
		{"/topics/allowed?qos=1&retain=true", 403, "ForbiddenException"},
		{"/topics/a%2Fb", 403, "ForbiddenException"},
		{"/topics/a%2F%23", 400, "InvalidRequestException"}, // invalid before authorized
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, c.path, strings.NewReader("x")))
		if rec.Code != c.status || rec.Header().Get("X-Amzn-ErrorType") != c.code {
			t.Errorf("%s: %d %s %s, want %d %s", c.path, rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Body, c.status, c.code)
		}
	}
	if want := []string{"allowed false", "allowed true", "a/b false"}; fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Fatalf("asked %v, want %v", asked, want)
	}
}
