package broker

// The retained message store, as iot-data's GetRetainedMessage and
// ListRetainedMessages see it. mochi keeps the messages; the broker adds the
// time each was last set, in milliseconds as AWS reports it.

import (
	"slices"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// RetainedMessage is a topic's retained message.
type RetainedMessage struct {
	Topic   string
	Payload []byte
	QoS     byte
	// LastModified is when the message was retained.
	LastModified time.Time
	// UserProperties are the MQTT 5 user properties it was published with,
	// in order.
	UserProperties []UserProperty
}

// UserProperty is an MQTT 5 user property.
type UserProperty struct{ Key, Value string }

// retainTimes records when each retained message was set.
type retainTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (r *retainTimes) set(topic string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string]time.Time{}
	}
	r.at[topic] = t
}

func (r *retainTimes) remove(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.at, topic)
}

func (r *retainTimes) get(topic string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.at[topic]
	return t, ok
}

// retainHook keeps retainTimes in step with mochi's store.
type retainHook struct {
	mqtt.HookBase
	times *retainTimes
}

func (h *retainHook) ID() string { return "portico-retained-times" }

func (h *retainHook) Provides(b byte) bool {
	return b == mqtt.OnRetainMessage || b == mqtt.OnRetainedExpired
}

func (h *retainHook) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, r int64) {
	if r == 1 {
		h.times.set(pk.TopicName, time.Now())
	} else {
		h.times.remove(pk.TopicName)
	}
}

func (h *retainHook) OnRetainedExpired(topic string) { h.times.remove(topic) }

func (b *Broker) retained(pk packets.Packet) RetainedMessage {
	m := RetainedMessage{Topic: pk.TopicName, Payload: slices.Clone(pk.Payload), QoS: pk.FixedHeader.Qos}
	if t, ok := b.retainTimes.get(pk.TopicName); ok {
		m.LastModified = t
	} else {
		m.LastModified = time.Unix(pk.Created, 0)
	}
	for _, p := range pk.Properties.User {
		m.UserProperties = append(m.UserProperties, UserProperty{Key: p.Key, Value: p.Val})
	}
	return m
}

func retainedVisible(pk packets.Packet) bool {
	return len(pk.Payload) > 0 && !reserved(pk.TopicName) &&
		(pk.Expiry == 0 || time.Now().Unix() < pk.Expiry)
}

// RetainedMessage returns topic's retained message, if it has one.
func (b *Broker) RetainedMessage(topic string) (RetainedMessage, bool) {
	pk, ok := b.srv.Topics.Retained.Get(topic)
	if !ok || !retainedVisible(pk) {
		return RetainedMessage{}, false
	}
	return b.retained(pk), true
}

// RetainedMessages returns the retained messages of the topics after the
// topic after (all when empty), in topic order, at most limit of them (all
// when limit is 0), and whether more follow.
func (b *Broker) RetainedMessages(after string, limit int) (msgs []RetainedMessage, more bool) {
	all := b.srv.Topics.Retained.GetAll()
	topics := make([]string, 0, len(all))
	for t, pk := range all {
		if retainedVisible(pk) && (after == "" || strings.Compare(t, after) > 0) {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	if limit > 0 && len(topics) > limit {
		topics, more = topics[:limit], true
	}
	for _, t := range topics {
		msgs = append(msgs, b.retained(all[t]))
	}
	return msgs, more
}
