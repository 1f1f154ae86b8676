package broker_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestRetainedStore: a device's retained publish, with MQTT 5 user
// properties, is read back by RetainedMessage and RetainedMessages; an empty
// retained publish deletes it.
func TestRetainedStore(t *testing.T) {
	s := startServer(t)
	v, err := s.v5(t, everything(), &paho.Connect{ClientID: "retainer", CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Millisecond)
	if _, err := v.Publish(ctx5(t), &paho.Publish{Topic: "keep/me", QoS: 1, Retain: true, Payload: []byte("v1"),
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: "deviceName", Value: "alpha"}}}}); err != nil {
		t.Fatal(err)
	}
	m, ok := s.b.RetainedMessage("keep/me")
	if !ok || string(m.Payload) != "v1" || m.QoS != 1 || m.LastModified.Before(before) ||
		len(m.UserProperties) != 1 || m.UserProperties[0].Key != "deviceName" || m.UserProperties[0].Value != "alpha" {
		t.Fatalf("RetainedMessage: %+v %v", m, ok)
	}
	if all, more := s.b.RetainedMessages("", 0); len(all) != 1 || more || all[0].Topic != "keep/me" {
		t.Fatalf("RetainedMessages: %+v %v", all, more)
	}
	if _, err := v.Publish(ctx5(t), &paho.Publish{Topic: "keep/me", QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	if m, ok := s.b.RetainedMessage("keep/me"); ok {
		t.Fatalf("still retained: %+v", m)
	}
}
