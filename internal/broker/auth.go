package broker

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"unsafe"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// session is what the gateway established about one connection.
type session struct {
	certificateID string
	domain        string
	authz         Authorizer // nil: everything allowed

	// subscribing holds the addresses of the topic filters of the SUBSCRIBE
	// being processed (see OnSubscribe), so that OnACLCheck tells a
	// subscription's check from a delivery's.
	subscribing atomic.Pointer[[]*byte]

	// Lifecycle events (events.go): set when the connected event is
	// published, before any of the connection's other events.
	sessionID string
	version   int64
	connected atomic.Bool
	endReason atomic.Pointer[string] // the disconnect reason, when the broker ended the connection for one

	window *sendWindow    // outbound QoS 1 and 2 flow control (sendwindow.go), set at CONNECT
	writer deliveryWriter // the write loop of mochi's queue of deliveries (writer.go)
}

// sessionConn carries the session to the hooks: mochi keeps it as the
// client's net.Conn. Its writes go through the outbox (outbox.go).
type sessionConn struct {
	net.Conn
	s      *session
	out    outbox
	reader *reader
}

func (c *sessionConn) Write(p []byte) (int, error) {
	n, err := c.out.write(c.Conn, p)
	if err == errNotReading {
		reason := reasonClientError
		c.s.endReason.Store(&reason)
	}
	return n, err
}

func (c *sessionConn) Close() error {
	err := c.out.close(c.Conn)
	// A parked connection has no read to fail: resume it, to end.
	c.reader.wake()
	return err
}

func sessionOf(cl *mqtt.Client) *session {
	if sc, ok := cl.Net.Conn.(*sessionConn); ok {
		return sc.s
	}
	return nil
}

// errConnectRefused ends a connection whose CONNECT was answered "not
// authorized"; Serve reports it as a normal end.
var errConnectRefused = errors.New("broker: CONNECT not authorized")

// sysPrefix starts the topics mochi reserves for itself ($SYS/broker/...).
// Devices can neither publish to them (mochi drops such publishes) nor
// subscribe to or receive them, whatever their policies allow.
const sysPrefix = "$SYS"

func reserved(topic string) bool {
	return len(topic) >= len(sysPrefix) && strings.EqualFold(topic[:len(sysPrefix)], sysPrefix)
}

// refusedTopic is where a refused publish or will goes: a $SYS topic, which
// mochi drops for clients and no device may receive.
const refusedTopic = sysPrefix + "/portico/refused"

// gatewayAuth admits the connections the gateway handed over, and only those,
// and enforces their Authorizer. It is the only auth hook installed: mochi
// ORs the answers of auth hooks.
type gatewayAuth struct {
	mqtt.HookBase
	broker *Broker
}

func (h *gatewayAuth) ID() string { return "portico-gateway-auth" }

func (h *gatewayAuth) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPacketRead, mqtt.OnPacketEncode,
		mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnWill,
		mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnUnsubscribed, mqtt.OnSelectSubscribers,
	}, []byte{b})
}

// OnConnect decides iot:Connect. mochi calls it after validating the
// CONNECT and before OnConnectAuthenticate; a refusal is answered here with
// CONNACK "not authorized" (3.1.1 return code 5, MQTT 5 reason 0x87), since
// mochi's own refusal says "bad user name or password" in MQTT 5.
func (h *gatewayAuth) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if cl.Net.Inline {
		return nil
	}
	s := sessionOf(cl)
	if s == nil {
		return nil // unknown connections are refused by OnConnectAuthenticate
	}
	h.limitInflight(cl, s)
	if s.authz == nil {
		return nil
	}
	if s.authz.Connect(cl.ID, connectAttributes(cl, pk)) {
		return nil
	}
	h.broker.logger.Info("mqtt connection refused: CONNACK not authorized", "reason", "the policies do not allow iot:Connect",
		"client_id", cl.ID, "certificate_id", s.certificateID, "domain", s.domain, "remote", cl.Net.Remote)
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: packets.Err3NotAuthorized.Code}
	if cl.Properties.ProtocolVersion == 5 {
		ack.ReasonCode = packets.ErrNotAuthorized.Code
		ack.Properties.ReasonString = packets.ErrNotAuthorized.Reason
	}
	cl.WritePacket(ack)
	return errConnectRefused
}

// connectAttributes are the CONNECT's iot:ConnectAttributes values.
func connectAttributes(cl *mqtt.Client, pk packets.Packet) []string {
	var attrs []string
	persistent := !pk.Connect.Clean
	if cl.Properties.ProtocolVersion == 5 {
		persistent = pk.Properties.SessionExpiryInterval > 0
	}
	if persistent {
		attrs = append(attrs, "PersistentConnect")
	}
	if pk.Connect.WillFlag {
		attrs = append(attrs, "LastWill")
	}
	return attrs
}

func (h *gatewayAuth) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	return cl.Net.Inline || sessionOf(cl) != nil
}

// OnPacketRead decides a device's PUBLISH before mochi processes it, with
// what OnACLCheck is not told: the retain flag, the QoS, and the topic behind
// a topic alias. A refused publish is answered as AWS IoT does: MQTT 5 QoS 1
// and 2 get PUBACK or PUBREC with reason 0x87 and the connection stays;
// otherwise (MQTT 3.1.1, and MQTT 5 QoS 0, which has no acknowledgement) the
// client is disconnected, in MQTT 5 with DISCONNECT 0x87.
func (h *gatewayAuth) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	switch pk.FixedHeader.Type {
	case packets.Puback, packets.Pubcomp, packets.Pubrec:
		acknowledged(sessionOf(cl), pk)
		return pk, nil
	}
	if cl.Net.Inline || (pk.FixedHeader.Type != packets.Publish && pk.FixedHeader.Type != packets.Subscribe) {
		return pk, nil
	}
	s := sessionOf(cl)
	if s != nil && pk.FixedHeader.Type == packets.Subscribe {
		return h.limitSubscribe(cl, s, pk)
	}
	if s == nil || pk.PublishValidate(h.broker.srv.Options.Capabilities.TopicAliasMaximum) != packets.CodeSuccess {
		return pk, nil // a protocol error: mochi answers it
	}
	topic := pk.TopicName
	aliased := topic == "" && pk.Properties.TopicAliasFlag && pk.Properties.TopicAlias > 0
	if aliased {
		// Set with an empty topic returns the topic the alias stands for,
		// as processPublish would.
		topic = cl.State.TopicAliases.Inbound.Set(pk.Properties.TopicAlias, "")
		if topic == "" {
			return pk, nil // an unknown alias: mochi's validation answers it
		}
	}
	if pk, ok, err := h.limitPublish(cl, s, pk, topic); !ok {
		return pk, err
	}
	if !reserved(topic) && (s.authz == nil || s.authz.Publish(topic, pk.FixedHeader.Retain)) {
		if aliased {
			// The ACL check in processPublish runs before the alias is
			// resolved; give it the topic.
			pk.TopicName = topic
		}
		return pk, nil
	}
	action := "iot:Publish"
	if pk.FixedHeader.Retain {
		action = "iot:Publish and iot:RetainPublish"
	}
	attrs := []any{"topic", topic, "qos", pk.FixedHeader.Qos, "retain", pk.FixedHeader.Retain, "client_id", cl.ID,
		"certificate_id", s.certificateID, "protocol_version", cl.Properties.ProtocolVersion}
	if reserved(topic) {
		action = "nothing on " + sysPrefix + " topics, which are reserved"
	}
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		h.broker.logger.Info("mqtt publish refused: not authorized", append(attrs, "reason", "the policies do not allow "+action)...)
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.ErrNotAuthorized.Code, Properties: packets.Properties{ReasonString: packets.ErrNotAuthorized.Reason}}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec
		}
		if err := cl.WritePacket(ack); err != nil {
			return pk, packets.ErrRejectPacket
		}
		// mochi drops publishes to $SYS topics without an answer: the packet
		// goes no further.
		pk.TopicName = refusedTopic
		pk.Properties.TopicAliasFlag, pk.Properties.TopicAlias = false, 0
		pk.Payload = nil
		return pk, nil
	}
	h.broker.logger.Info("mqtt publish refused: disconnecting the client", append(attrs, "reason", "the policies do not allow "+action)...)
	if cl.Properties.ProtocolVersion == 5 {
		h.broker.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
	}
	// Rejecting the packet ends the client's read loop: mochi closes the
	// connection and sends the client's will, as AWS does after AUTH_ERROR.
	return pk, packets.ErrRejectPacket
}

// OnACLCheck is asked by mochi for a PUBLISH (write), for each topic filter of
// a SUBSCRIBE and for each message delivered to a subscriber (both read).
// OnSubscribe marks the filters of the SUBSCRIBE being processed by the
// address of their bytes, which no topic of a delivered message shares: that
// tells iot:Subscribe from iot:Receive.
func (h *gatewayAuth) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	s := sessionOf(cl)
	if s == nil {
		// A session restored from the store has no connection, and so no
		// Authorizer, until its client comes back: messages for it are
		// queued, and checked against iot:Receive then (OnSessionEstablish).
		return !write && cl.Net.Conn == nil && !reserved(topic)
	}
	if reserved(topic) {
		return false
	}
	if s.authz == nil {
		if !write && !s.isSubscribing(topic) {
			s.delivering(cl)
		}
		return true
	}
	if write {
		// OnPacketRead decided the publish already, retain included; this
		// is the same question, answered from the Authorizer's cache.
		return s.authz.Publish(topic, false)
	}
	if s.isSubscribing(topic) {
		if s.authz.Subscribe(topic) {
			return true
		}
		h.broker.logger.Info("mqtt subscription refused: not authorized", "filter", topic, "reason", "the policies do not allow iot:Subscribe",
			"client_id", cl.ID, "certificate_id", s.certificateID, "protocol_version", cl.Properties.ProtocolVersion)
		return false
	}
	if s.authz.Receive(topic) {
		s.delivering(cl) // mochi queues the delivery next
		return true
	}
	h.broker.logger.Debug("mqtt message not delivered: iot:Receive not allowed", "topic", topic, "client_id", cl.ID, "certificate_id", s.certificateID)
	return false
}

// OnSelectSubscribers keeps topics that begin with '$' (such as AWS's
// $aws/events/...) away from filters that begin with a wildcard: MQTT 4.7.2
// says "#" and "+/..." never match them; only a filter naming the '$' level
// does. mochi applies that rule to $SYS only.
func (h *gatewayAuth) OnSelectSubscribers(subs *mqtt.Subscribers, pk packets.Packet) *mqtt.Subscribers {
	if !strings.HasPrefix(pk.TopicName, "$") {
		return subs
	}
	for id, sub := range subs.Subscriptions {
		if startsWithWildcard(sub.Filter) {
			delete(subs.Subscriptions, id)
		}
	}
	for group, members := range subs.Shared {
		for id, sub := range members {
			if startsWithWildcard(sub.Filter) {
				delete(members, id)
			}
		}
		if len(members) == 0 {
			delete(subs.Shared, group)
		}
	}
	return subs
}

// startsWithWildcard reports whether a filter's first level is + or #,
// looking past a $share/<group>/ prefix.
func startsWithWildcard(filter string) bool {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, after, found := strings.Cut(rest, "/"); found {
			filter = after
		}
	}
	return strings.HasPrefix(filter, "#") || strings.HasPrefix(filter, "+")
}

// OnSubscribe gives each topic filter of a SUBSCRIBE its own copy, and
// records the copies' addresses until OnSubscribed.
func (h *gatewayAuth) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	s := sessionOf(cl)
	if s == nil || s.authz == nil {
		return pk
	}
	filters := make(packets.Subscriptions, len(pk.Filters))
	copy(filters, pk.Filters)
	addrs := make([]*byte, 0, len(filters))
	for i := range filters {
		if filters[i].Filter == "" {
			continue
		}
		filters[i].Filter = strings.Clone(filters[i].Filter)
		addrs = append(addrs, unsafe.StringData(filters[i].Filter))
	}
	pk.Filters = filters
	s.subscribing.Store(&addrs)
	return pk
}

// OnSubscribed ends what OnSubscribe began, and publishes the subscribed
// event with the filters that were granted.
func (h *gatewayAuth) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	s := sessionOf(cl)
	if s == nil {
		return
	}
	s.subscribing.Store(nil)
	topics := make([]string, 0, len(pk.Filters))
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] < packets.ErrUnspecifiedError.Code {
			topics = append(topics, f.Filter)
		}
	}
	h.subscriptionEvent(cl, "subscribed", topics)
}

// isSubscribing reports whether topic is one of the filters OnSubscribe
// copied: the same bytes, not merely the same text.
func (s *session) isSubscribing(topic string) bool {
	addrs := s.subscribing.Load()
	if addrs == nil || topic == "" {
		return false
	}
	p := unsafe.StringData(topic)
	for _, a := range *addrs {
		if a == p {
			return true
		}
	}
	return false
}

// OnWill decides the will message when mochi is about to publish it: it needs
// iot:Publish on its topic, and iot:RetainPublish when retained, when it is
// sent. mochi publishes wills without an ACL check; a refused will is sent to
// a $SYS topic no device receives.
func (h *gatewayAuth) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	s := sessionOf(cl)
	if s == nil || cl.Net.Inline {
		return will, nil
	}
	if !reserved(will.TopicName) && (s.authz == nil || s.authz.Publish(will.TopicName, will.Retain)) {
		return will, nil
	}
	h.broker.logger.Info("mqtt will not published: not authorized", "topic", will.TopicName, "retain", will.Retain,
		"client_id", cl.ID, "certificate_id", s.certificateID)
	will.TopicName, will.Retain, will.Payload = refusedTopic, false, nil
	return will, nil
}

// OnSessionEstablish runs before the connection takes over its session,
// whose messages in flight it puts in order for their resending. A
// session restored from the store queued messages while it had no
// Authorizer: those its client may not receive (iot:Receive) are dropped
// before they are sent.
func (h *gatewayAuth) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if !pk.Connect.Clean {
		if existing, ok := h.broker.srv.Clients.Get(cl.ID); ok {
			orderResends(existing)
		}
	}
	s := sessionOf(cl)
	if s == nil || s.authz == nil || pk.Connect.Clean || h.broker.persist == nil {
		return
	}
	existing, ok := h.broker.srv.Clients.Get(cl.ID)
	if !ok || existing.Net.Conn != nil || existing.Net.Inline {
		return
	}
	for _, tk := range existing.State.Inflight.GetAll(false) {
		if tk.FixedHeader.Type == packets.Publish && !s.authz.Receive(tk.TopicName) {
			h.broker.logger.Debug("mqtt queued message not delivered: iot:Receive not allowed", "topic", tk.TopicName,
				"client_id", cl.ID, "certificate_id", s.certificateID)
			h.broker.persist.dropQueued(existing, tk)
		}
	}
}
