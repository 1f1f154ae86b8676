package broker

// Delivering a PUBLISH to its subscribers without asking mochi's topic
// index every time.
//
// For each message, mochi's publishToSubscribers builds the set of
// matching subscriptions afresh (TopicsIndex.Subscribers): four maps, and a
// copy of every matching level's subscription map, about 1.5 KiB of garbage
// per message and half of what the broker allocates under load, which sets
// how often the GC runs (docs/tuning.md). fanoutHook keeps each topic's set
// until a subscription changes anywhere, and delivers to it with mochi's
// own publishToClient, in OnPublish: mochi then skips its own delivery
// (CodeSuccessIgnore) and acknowledges the publisher as usual. Topics with
// shared or in-process subscribers are left to mochi (it picks a member of
// each shared group per message).
//
// Every change to mochi's index is followed by one of: OnSubscribed,
// OnUnsubscribed (also when a session's subscriptions are dropped), a
// connection's session being set up (attach.go: a takeover hands the old
// client's subscriptions to the new one), or Broker.Subscribe/Unsubscribe.
// Each moves the generation, and a set computed under an older generation
// is computed again. A change that happens as a message is published may or
// may not see that message, as in mochi; one acknowledged to its client
// (SUBACK, UNSUBACK) sees every message published after.

import (
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// maxFanoutTopics bounds the cache: past it, the cache starts over. Device
// fleets publish on per-device topics; a set is cheap to compute again.
const maxFanoutTopics = 16384

type fanoutHook struct {
	mqtt.HookBase
	b       *Broker
	gen     atomic.Uint64
	topics  sync.Map // topic -> *fanoutSet
	entries atomic.Int64
}

// fanoutSet is who receives a topic's messages, as of generation gen.
type fanoutSet struct {
	gen uint64
	// mochiDelivers: shared or in-process subscriptions match the topic.
	mochiDelivers bool
	targets       []fanoutTarget
}

// nobody says whether no subscription at all matches the topic.
func (s *fanoutSet) nobody() bool { return !s.mochiDelivers && len(s.targets) == 0 }

type fanoutTarget struct {
	clientID string
	sub      packets.Subscription // merged over the client's matching filters, as mochi merges them
}

func (h *fanoutHook) ID() string { return "portico-fanout" }

func (h *fanoutHook) Provides(b byte) bool {
	return b == mqtt.OnPublish || b == mqtt.OnSubscribed || b == mqtt.OnUnsubscribed
}

// changed marks every cached set out of date.
func (h *fanoutHook) changed() { h.gen.Add(1) }

func (h *fanoutHook) OnSubscribed(*mqtt.Client, packets.Packet, []byte) { h.changed() }
func (h *fanoutHook) OnUnsubscribed(*mqtt.Client, packets.Packet)       { h.changed() }

// subscribers is topic's set, computed by mochi's index when the cached one
// is missing or out of date.
func (h *fanoutHook) subscribers(topic string) *fanoutSet {
	gen := h.gen.Load() // before the index is read: a change during the read dates the set
	if v, ok := h.topics.Load(topic); ok {
		if set := v.(*fanoutSet); set.gen == gen {
			return set
		}
	}
	subs := h.b.srv.Topics.Subscribers(topic)
	set := &fanoutSet{gen: gen, mochiDelivers: len(subs.Shared) > 0 || len(subs.InlineSubscriptions) > 0}
	if !set.mochiDelivers {
		set.targets = make([]fanoutTarget, 0, len(subs.Subscriptions))
		for id, sub := range subs.Subscriptions {
			set.targets = append(set.targets, fanoutTarget{clientID: id, sub: sub})
		}
	}
	if h.entries.Add(1) > maxFanoutTopics {
		h.topics.Clear()
		h.entries.Store(1)
	}
	h.topics.Store(topic, set)
	return set
}

// OnPublish runs last among the hooks (New adds it last), after the
// publish was authorized and, for persistent subscribers, saved. It does
// what mochi's processPublish would do next (retain, then deliver) and
// tells mochi to skip its own delivery.
func (h *fanoutHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	set := h.subscribers(pk.TopicName)
	if set.mochiDelivers {
		return pk, nil
	}
	srv := h.b.srv
	if pk.FixedHeader.Retain {
		serverRetainMessage(srv, cl, pk) // mochi's: it skips a packet it was told to ignore
	}
	for _, t := range set.targets {
		if sub, ok := srv.Clients.Get(t.clientID); ok {
			if _, err := serverPublishToClient(srv, sub, t.sub, pk); err != nil {
				h.b.logger.Debug("mqtt delivery not queued", "client_id", t.clientID, "topic", pk.TopicName, "error", err)
			}
		}
	}
	// mochi calls OnPublished with the packet as the client sent it, which
	// lacks what the hooks before this one added (the persistence hook's
	// pending record): its own hook is called with this one.
	if h.b.persist != nil {
		h.b.persist.OnPublished(cl, pk)
	}
	return pk, packets.CodeSuccessIgnore
}
