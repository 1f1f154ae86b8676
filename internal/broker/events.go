package broker

// AWS IoT lifecycle events: presence (connected, disconnected) and
// subscriptions (subscribed, unsubscribed), published by the broker in AWS's
// JSON shape. They go through the normal delivery path, so a subscriber gets
// them only if its policies allow iot:Subscribe on its filter and iot:Receive
// on the event's topic.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	presenceTopic      = "$aws/events/presence/"
	subscriptionsTopic = "$aws/events/subscriptions/"
)

// Disconnect reasons, as AWS names them in disconnected events.
const (
	reasonClientInitiated = "CLIENT_INITIATED_DISCONNECT"
	reasonConnectionLost  = "CONNECTION_LOST"
	reasonDuplicateID     = "DUPLICATE_CLIENTID"
	reasonServerInitiated = "SERVER_INITIATED_DISCONNECT"
	reasonAuthError       = "AUTH_ERROR"
	reasonClientError     = "CLIENT_ERROR"
	reasonKeepAlive       = "MQTT_KEEP_ALIVE_TIMEOUT"
)

// presenceEvent is the payload of $aws/events/presence/{connected,disconnected}/<clientId>.
type presenceEvent struct {
	ClientID                  string `json:"clientId"`
	Timestamp                 int64  `json:"timestamp"`
	EventType                 string `json:"eventType"`
	SessionIdentifier         string `json:"sessionIdentifier"`
	PrincipalIdentifier       string `json:"principalIdentifier"`
	ClientInitiatedDisconnect *bool  `json:"clientInitiatedDisconnect,omitempty"`
	DisconnectReason          string `json:"disconnectReason,omitempty"`
	IPAddress                 string `json:"ipAddress,omitempty"`
	VersionNumber             int64  `json:"versionNumber"`
}

// subscriptionEvent is the payload of $aws/events/subscriptions/{subscribed,unsubscribed}/<clientId>.
type subscriptionEvent struct {
	ClientID            string   `json:"clientId"`
	Timestamp           int64    `json:"timestamp"`
	EventType           string   `json:"eventType"`
	SessionIdentifier   string   `json:"sessionIdentifier"`
	PrincipalIdentifier string   `json:"principalIdentifier"`
	Topics              []string `json:"topics"`
}

// versions numbers the connections of each client ID: AWS's versionNumber
// increases with each connection of a client ID, and a disconnected event
// carries its connection's number.
type versions struct {
	mu sync.Mutex
	n  map[string]int64
}

func (v *versions) next(clientID string) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n == nil {
		v.n = map[string]int64{}
	}
	n := v.n[clientID]
	v.n[clientID] = n + 1
	return n
}

// eventsFor reports whether a client ID gets lifecycle events: AWS publishes
// none for client IDs containing + or #.
func eventsFor(clientID string) bool {
	return clientID != "" && !strings.ContainsAny(clientID, "+#")
}

func newSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// principal is the principalIdentifier of a session: the certificate ID, or
// the access key ID of a SigV4 connection.
func (s *session) principal() string {
	return strings.TrimPrefix(s.certificateID, "sigv4:")
}

func remoteIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

func nowMillis() int64 { return time.Now().UnixMilli() }

func (h *gatewayAuth) publishEvent(topic string, v any) {
	// Most fleets have no one listening to lifecycle events: with no
	// subscriber (none persistent, shared or in-process either) the publish
	// would deliver nothing, and its JSON and packet cost about 4% of a
	// connect's CPU in a reconnect storm.
	if h.broker.fanout.subscribers(topic).nobody() {
		return
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return
	}
	if err := h.broker.srv.Publish(topic, payload, false, 0); err != nil {
		h.broker.logger.Warn("lifecycle event not published", "topic", topic, "error", err)
	}
}

// OnSessionEstablished publishes the connected event once CONNACK is sent.
func (h *gatewayAuth) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	s := sessionOf(cl)
	if s == nil || cl.Net.Inline || !eventsFor(cl.ID) {
		return
	}
	s.sessionID = newSessionID()
	s.version = h.broker.versions.next(cl.ID)
	s.connected.Store(true)
	h.publishEvent(presenceTopic+"connected/"+cl.ID, presenceEvent{
		ClientID: cl.ID, Timestamp: nowMillis(), EventType: "connected", SessionIdentifier: s.sessionID,
		PrincipalIdentifier: s.principal(), IPAddress: remoteIP(cl.Net.Remote), VersionNumber: s.version,
	})
}

// OnDisconnect publishes the disconnected event of a connection that had
// its connected event.
func (h *gatewayAuth) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	s := sessionOf(cl)
	if s == nil || cl.Net.Inline || !s.connected.CompareAndSwap(true, false) {
		return
	}
	reason := disconnectReason(s, err, cl.StopCause())
	clientInitiated := reason == reasonClientInitiated
	h.publishEvent(presenceTopic+"disconnected/"+cl.ID, presenceEvent{
		ClientID: cl.ID, Timestamp: nowMillis(), EventType: "disconnected", SessionIdentifier: s.sessionID,
		PrincipalIdentifier: s.principal(), ClientInitiatedDisconnect: &clientInitiated, DisconnectReason: reason,
		VersionNumber: s.version,
	})
}

// disconnectReason names why a connection ended, from the error that ended
// its read loop and the cause mochi recorded when stopping it.
func disconnectReason(s *session, readErr, cause error) string {
	if r := s.endReason.Load(); r != nil {
		return *r
	}
	for _, err := range []error{cause, readErr} {
		if err == nil {
			continue
		}
		var code packets.Code
		switch {
		case errors.Is(err, packets.CodeDisconnect), errors.Is(err, packets.CodeDisconnectWillMessage):
			return reasonClientInitiated
		case errors.Is(err, packets.ErrSessionTakenOver):
			return reasonDuplicateID
		case errors.Is(err, packets.ErrServerShuttingDown), errors.Is(err, packets.ErrAdministrativeAction):
			return reasonServerInitiated
		case errors.Is(err, packets.ErrNotAuthorized), errors.Is(err, packets.ErrRejectPacket):
			return reasonAuthError
		case errors.Is(err, packets.ErrKeepAliveTimeout):
			return reasonKeepAlive
		case errors.As(err, &code) && code.Code >= packets.ErrUnspecifiedError.Code:
			return reasonClientError
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return reasonKeepAlive
		}
	}
	if cause == nil && readErr == nil {
		return reasonClientInitiated // the read loop ended on a closed client after DISCONNECT
	}
	return reasonConnectionLost
}

func (h *gatewayAuth) subscriptionEvent(cl *mqtt.Client, eventType string, topics []string) {
	s := sessionOf(cl)
	if s == nil || cl.Net.Inline || !s.connected.Load() || len(topics) == 0 {
		return
	}
	h.publishEvent(subscriptionsTopic+eventType+"/"+cl.ID, subscriptionEvent{
		ClientID: cl.ID, Timestamp: nowMillis(), EventType: eventType, SessionIdentifier: s.sessionID,
		PrincipalIdentifier: s.principal(), Topics: topics,
	})
}

// OnUnsubscribed publishes the unsubscribed event of an UNSUBSCRIBE. mochi
// also calls it, with no packet ID, when it drops a clean session's
// subscriptions at disconnect: AWS sends no event for those.
func (h *gatewayAuth) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if pk.PacketID == 0 {
		return
	}
	topics := make([]string, 0, len(pk.Filters))
	for _, f := range pk.Filters {
		topics = append(topics, f.Filter)
	}
	h.subscriptionEvent(cl, "unsubscribed", topics)
}
