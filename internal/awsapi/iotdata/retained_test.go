package iotdata_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	"github.com/aws/smithy-go"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iotdata"
)

func TestRetainedMessages(t *testing.T) {
	client, b := start(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	for i, topic := range []string{"r/b", "r/a", "r/c/d"} {
		if _, err := client.Publish(ctx, &iotdataplane.PublishInput{Topic: aws.String(topic), Payload: []byte(fmt.Sprint("payload-", i)),
			Qos: 1, Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish("r/zero", []byte("z"), 0, true); err != nil {
		t.Fatal(err)
	}

	got, err := client.GetRetainedMessage(ctx, &iotdataplane.GetRetainedMessageInput{Topic: aws.String("r/c/d")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Topic) != "r/c/d" || string(got.Payload) != "payload-2" || got.Qos != 1 ||
		time.UnixMilli(got.LastModifiedTime).Before(before) || time.UnixMilli(got.LastModifiedTime).After(time.Now()) {
		t.Fatalf("GetRetainedMessage: %+v", got)
	}

	_, err = client.GetRetainedMessage(ctx, &iotdataplane.GetRetainedMessageInput{Topic: aws.String("r/none")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("missing topic: %v", err)
	}

	// Pages of two, in topic order.
	var topics []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := client.ListRetainedMessages(ctx, &iotdataplane.ListRetainedMessagesInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.RetainedTopics {
			topics = append(topics, fmt.Sprintf("%s:%d:%d", aws.ToString(s.Topic), s.PayloadSize, s.Qos))
			if s.LastModifiedTime < before.UnixMilli() {
				t.Errorf("%s lastModifiedTime %d", aws.ToString(s.Topic), s.LastModifiedTime)
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
		if pages > 3 {
			t.Fatal("too many pages")
		}
	}
	if want := "[r/a:9:1 r/b:9:1 r/c/d:9:1 r/zero:1:0]"; fmt.Sprint(topics) != want {
		t.Fatalf("listed %v, want %s", topics, want)
	}

	// An empty retained publish deletes.
	if _, err := client.Publish(ctx, &iotdataplane.PublishInput{Topic: aws.String("r/a"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetRetainedMessage(ctx, &iotdataplane.GetRetainedMessageInput{Topic: aws.String("r/a")}); !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("deleted topic: %v", err)
	}
	out, err := client.ListRetainedMessages(ctx, &iotdataplane.ListRetainedMessagesInput{})
	if err != nil || len(out.RetainedTopics) != 3 || out.NextToken != nil {
		t.Fatalf("after delete: %+v %v", out, err)
	}

	if _, err := client.ListRetainedMessages(ctx, &iotdataplane.ListRetainedMessagesInput{MaxResults: aws.Int32(201)}); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidRequestException" {
		t.Fatalf("maxResults 201: %v", err)
	}
}

// TestRetainedWireShape: payload is base64 in the JSON body, as restJson1
// encodes blobs.
func TestRetainedWireShape(t *testing.T) {
	_, b := start(t)
	if err := b.Publish("w/x", []byte{0, 1, 2}, 1, true); err != nil {
		t.Fatal(err)
	}
	h := iotdata.New(b, apitest.Logger())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/retainedMessage/w%2Fx", nil))
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if body["payload"] != "AAEC" || body["topic"] != "w/x" || body["qos"] != float64(1) {
		t.Fatalf("body %s", rec.Body)
	}
	// Devices are refused: their policies' retained actions are not evaluated.
	d := iotdata.NewDevice(b, apitest.Logger(), func(*http.Request, string, bool) bool { return true })
	rec = httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/retainedMessage", nil))
	if rec.Code != 403 {
		t.Fatalf("device list: %d %s", rec.Code, rec.Body)
	}
}
