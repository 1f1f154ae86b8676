package broker

// AWS IoT Core's message broker limits, enforced as AWS answers them. Each
// is a configurable default in Options; each violation is logged.

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	defaultMaxPayloadBytes     = 128 * 1024
	defaultMaxTopicSlashes     = 7
	defaultMaxSubscribeFilters = 8
	defaultMaxInflight         = 100
)

// basicIngestPrefix starts Basic Ingest topics, $aws/rules/<rule-name>/,
// whose three slashes AWS does not count against the topic limit.
const basicIngestPrefix = "$aws/rules/"

// topicSlashes counts the slashes of a topic or topic filter as AWS counts
// them: a shared subscription's $share/<group>/ prefix and Basic Ingest's
// $aws/rules/<rule-name>/ prefix are not counted.
func topicSlashes(topic string) int {
	if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
		if _, filter, ok := strings.Cut(rest, "/"); ok {
			topic = filter
		}
	}
	if len(topic) >= len(basicIngestPrefix) && strings.EqualFold(topic[:len(basicIngestPrefix)], basicIngestPrefix) {
		if _, after, ok := strings.Cut(topic[len(basicIngestPrefix):], "/"); ok {
			topic = after
		}
	}
	return strings.Count(topic, "/")
}

// limitPublish checks a device's PUBLISH against the payload and topic
// limits. ok is false when the packet must go no further; err is then
// ErrRejectPacket when the connection is to end.
func (h *gatewayAuth) limitPublish(cl *mqtt.Client, s *session, pk packets.Packet, topic string) (out packets.Packet, ok bool, err error) {
	lim := h.broker.limits
	// Built only for a violation: this runs for every PUBLISH.
	attrs := func() []any {
		return []any{"topic", topic, "qos", pk.FixedHeader.Qos, "client_id", cl.ID, "certificate_id", s.certificateID,
			"protocol_version", cl.Properties.ProtocolVersion}
	}
	if len(pk.Payload) > lim.MaxPayloadBytes {
		// AWS: CLIENT_ERROR, the client is disconnected.
		h.broker.logger.Info("mqtt publish refused: payload too large, disconnecting the client",
			append(attrs(), "payload_bytes", len(pk.Payload), "limit", lim.MaxPayloadBytes)...)
		h.endFor(cl, s, packets.ErrPacketTooLarge)
		return pk, false, packets.ErrRejectPacket
	}
	if n := topicSlashes(topic); n > lim.MaxTopicSlashes {
		attrs := append(attrs(), "slashes", n, "limit", lim.MaxTopicSlashes)
		if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
			h.broker.logger.Info("mqtt publish refused: too many topic levels", attrs...)
			ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
				ReasonCode: packets.ErrTopicNameInvalid.Code, Properties: packets.Properties{ReasonString: "topic has more than the allowed number of slashes"}}
			if pk.FixedHeader.Qos == 2 {
				ack.FixedHeader.Type = packets.Pubrec
			}
			if err := cl.WritePacket(ack); err != nil {
				return pk, false, packets.ErrRejectPacket
			}
			pk.TopicName = refusedTopic
			pk.Properties.TopicAliasFlag, pk.Properties.TopicAlias = false, 0
			pk.Payload = nil
			return pk, false, nil
		}
		h.broker.logger.Info("mqtt publish refused: too many topic levels, disconnecting the client", attrs...)
		h.endFor(cl, s, packets.ErrTopicNameInvalid)
		return pk, false, packets.ErrRejectPacket
	}
	return pk, true, nil
}

// limitSubscribe checks a SUBSCRIBE: more filters than allowed end the
// connection (AWS: CLIENT_ERROR); a filter with too many slashes is refused
// on its own (SUBACK 0x80, or 0x8F in MQTT 5), by emptying it, which mochi
// answers as an invalid filter.
func (h *gatewayAuth) limitSubscribe(cl *mqtt.Client, s *session, pk packets.Packet) (packets.Packet, error) {
	lim := h.broker.limits
	if len(pk.Filters) > lim.MaxSubscribeFilters {
		h.broker.logger.Info("mqtt subscribe refused: too many topic filters, disconnecting the client",
			"filters", len(pk.Filters), "limit", lim.MaxSubscribeFilters, "client_id", cl.ID, "certificate_id", s.certificateID,
			"protocol_version", cl.Properties.ProtocolVersion)
		h.endFor(cl, s, packets.ErrQuotaExceeded)
		return pk, packets.ErrRejectPacket
	}
	var filters packets.Subscriptions
	for i, f := range pk.Filters {
		if n := topicSlashes(f.Filter); n > lim.MaxTopicSlashes {
			if filters == nil {
				filters = make(packets.Subscriptions, len(pk.Filters))
				copy(filters, pk.Filters)
			}
			h.broker.logger.Info("mqtt subscription refused: too many topic levels", "filter", f.Filter, "slashes", n,
				"limit", lim.MaxTopicSlashes, "client_id", cl.ID, "certificate_id", s.certificateID)
			filters[i].Filter = ""
		}
	}
	if filters != nil {
		pk.Filters = filters
	}
	return pk, nil
}

// endFor ends a connection for a client error: MQTT 5 clients get DISCONNECT
// with code; the disconnected event says CLIENT_ERROR.
func (h *gatewayAuth) endFor(cl *mqtt.Client, s *session, code packets.Code) {
	reason := reasonClientError
	s.endReason.Store(&reason)
	if cl.Properties.ProtocolVersion == 5 {
		h.broker.srv.DisconnectClient(cl, code)
	}
}
