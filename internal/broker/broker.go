// Package broker is Portico's MQTT engine: mochi-mqtt behind a small
// interface, so the gateway hands it connections it has already
// authenticated and the HTTPS publish path injects messages.
//
// The broker never accepts sockets itself. A connection reaches it only
// through Serve, together with the identity the gateway established during the
// TLS handshake and the Authorizer that decides, as AWS IoT policies do, what
// the connection may do: connect with a client ID, publish, retain, subscribe
// and receive. The single auth hook admits exactly those connections and asks
// their Authorizer.
package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Authorizer decides what one MQTT connection may do: the AWS IoT policy
// actions iot:Connect, iot:Publish (with iot:RetainPublish for retained
// messages), iot:Subscribe and iot:Receive. Implementations must be safe for
// concurrent use: Receive is asked from the goroutines of publishers.
//
// It is an alias of an interface literal so that the gateway can declare the
// same type without importing this package.
type Authorizer = interface {
	// Connect decides iot:Connect for the MQTT client ID, with the CONNECT's
	// iot:ConnectAttributes ("PersistentConnect", "LastWill"), and binds
	// the client ID for the connection's later requests.
	Connect(clientID string, connectAttributes []string) bool
	// Publish decides iot:Publish on topic and, when retain is set,
	// iot:RetainPublish as well.
	Publish(topic string, retain bool) bool
	// Subscribe decides iot:Subscribe on a topic filter.
	Subscribe(filter string) bool
	// Receive decides iot:Receive on a topic, for each message delivered.
	Receive(topic string) bool
}

// Options tune the engine. Zero values pick the defaults below.
type Options struct {
	Logger *slog.Logger
	// ConnectTimeout bounds the wait for CONNECT after the TLS handshake;
	// mochi sets no deadline of its own before CONNECT.
	ConnectTimeout time.Duration
	// MaxPacketSize bounds one MQTT packet: by default MaxPayloadBytes
	// plus 8 KiB for the topic and properties.
	MaxPacketSize uint32
	// Limits are AWS IoT Core's message broker limits.
	Limits

	// Store, when set, makes the broker durable: persistent sessions,
	// their subscriptions and queued QoS 1 and 2 messages, and retained
	// messages are kept in it and restored by New (docs/persistence.md).
	// nil keeps everything in memory.
	Store Store
	// SessionExpiry is how long a persistent session (MQTT 3.1.1 clean
	// session 0; MQTT 5 Session Expiry Interval above 0) outlives its
	// connection: DefaultSessionExpiry (AWS: 1 hour) when zero, at most
	// MaxSessionExpiry (7 days). An MQTT 5 client may ask for less.
	SessionExpiry time.Duration
}

// Limits are AWS IoT Core's message broker limits; zero values pick AWS's.
type Limits struct {
	// MaxPayloadBytes bounds a PUBLISH's payload (AWS: 128 KiB). A larger
	// one disconnects the client (MQTT 5: DISCONNECT 0x95).
	MaxPayloadBytes int
	// MaxTopicSlashes bounds the slashes of a topic or topic filter (AWS:
	// 7), not counting the $aws/rules/<rule-name>/ and $share/<group>/
	// prefixes. A publish beyond it is answered as an unauthorized one is
	// (MQTT 5 QoS 1: PUBACK 0x90; otherwise the client is disconnected); a
	// filter beyond it is refused in the SUBACK.
	MaxTopicSlashes int
	// MaxSubscribeFilters bounds the topic filters of one SUBSCRIBE (AWS:
	// 8). More disconnect the client (MQTT 5: DISCONNECT 0x97).
	MaxSubscribeFilters int
	// MaxInflight bounds the unacknowledged QoS 1 and 2 messages to and
	// from one client (AWS: 100): it is the Receive Maximum advertised to
	// MQTT 5 clients, and a client with that many messages unacknowledged
	// gets the next ones as it acknowledges (they wait in its session;
	// an MQTT 5 client's own smaller Receive Maximum wins).
	MaxInflight uint16
}

const (
	defaultConnectTimeout = 10 * time.Second
	packetOverhead        = 8 * 1024 // room for the topic and properties beyond the payload limit
	// Per-client socket buffers: mochi's defaults are large; a fleet is many
	// mostly idle devices.
	clientBufferSize = 2 * 1024
	// outboundQueue is how many deliveries may wait for a client's write
	// loop (mochi's MaximumClientWritesPending). mochi allocates the whole
	// queue with each client, a pointer per packet, so every idle device
	// holds it; publishers wait for room rather than overflow it
	// (backpressure.go), and the write loop hands each delivery on to the
	// outbox at once, so a short queue loses nothing.
	outboundQueue = 64
)

// Broker is a running MQTT engine.
type Broker struct {
	srv            *mqtt.Server
	connectTimeout time.Duration
	logger         *slog.Logger
	versions       versions // lifecycle events' versionNumber per client ID
	retainTimes    retainTimes
	limits         Limits
	backlogLimit   int          // bytes a client may leave unread (outbox.go)
	persist        *persistHook // nil without a Store
	fanout         *fanoutHook  // delivers PUBLISH packets (fanout.go)

	mochi     mochiServer   // mochi's unexported parts (mochiinternals.go)
	readers   readers       // every connection, for the sweep (park.go)
	stopSweep chan struct{} // closed by Close
	closeOnce sync.Once
}

// New starts an engine with no listeners.
func New(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = defaultConnectTimeout
	}
	if opts.MaxPayloadBytes == 0 {
		opts.MaxPayloadBytes = defaultMaxPayloadBytes
	}
	if opts.MaxTopicSlashes == 0 {
		opts.MaxTopicSlashes = defaultMaxTopicSlashes
	}
	if opts.MaxSubscribeFilters == 0 {
		opts.MaxSubscribeFilters = defaultMaxSubscribeFilters
	}
	if opts.MaxInflight == 0 {
		opts.MaxInflight = defaultMaxInflight
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = uint32(opts.MaxPayloadBytes) + packetOverhead
	}
	if opts.SessionExpiry == 0 {
		opts.SessionExpiry = DefaultSessionExpiry
	}
	if opts.SessionExpiry < time.Second || opts.SessionExpiry > MaxSessionExpiry {
		return nil, fmt.Errorf("broker: session expiry %v is outside 1s..%v", opts.SessionExpiry, MaxSessionExpiry)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	caps.ReceiveMaximum = opts.MaxInflight
	caps.MaximumSessionExpiryInterval = uint32(opts.SessionExpiry / time.Second)
	// mochi's default drops queued messages and retained messages one day
	// after they were published, whatever their own expiry: a queued
	// message lives as long as its session, a retained one until it is
	// replaced or deleted (AWS), or until its MQTT 5 Message Expiry
	// Interval ends.
	caps.MaximumMessageExpiryInterval = 0
	// Each connection's outbound queue is a channel of this many packet
	// pointers, allocated when it connects: mochi's 8,192 cost 64 KiB per
	// idle device. Unacknowledged QoS 1 deliveries are bounded by
	// MaxInflight (the rest wait in the session), so the queue only has to
	// absorb QoS 0 bursts; when it is full mochi drops the delivery, as AWS
	// IoT drops QoS 0 to a client that cannot keep up.
	caps.MaximumClientWritesPending = outboundQueue
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		InlineClient:             true,
		ClientNetReadBufferSize:  clientBufferSize,
		ClientNetWriteBufferSize: clientBufferSize,
		Logger:                   slog.New(mochiLog{opts.Logger.Handler()}).With("component", "mqtt"),
		SysTopicResendInterval:   3600,
	})
	b := &Broker{srv: srv, connectTimeout: opts.ConnectTimeout, logger: opts.Logger, limits: opts.Limits,
		// A full window of the largest deliveries, the QoS 0 backlog, and as
		// much again for the broker's own packets.
		backlogLimit: int(opts.MaxInflight)*int(opts.MaxPacketSize) + 2*qos0Backlog}
	mochi, err := mochiInternals(srv)
	if err != nil {
		return nil, err
	}
	b.mochi = mochi
	b.fanout = &fanoutHook{b: b}
	b.stopSweep = make(chan struct{})
	go b.readers.sweep(b.stopSweep)
	if err := srv.AddHook(&gatewayAuth{broker: b}, nil); err != nil {
		return nil, err
	}
	if err := srv.AddHook(&retainHook{times: &b.retainTimes}, nil); err != nil {
		return nil, err
	}
	if opts.Store != nil {
		ctx := context.Background()
		h, err := newPersistHook(ctx, b, opts.Store)
		if err != nil {
			return nil, err
		}
		b.persist = h
		if err := srv.AddHook(h, nil); err != nil {
			h.Stop()
			return nil, err
		}
		// Last: it delivers, after the persistence hook saved (fanout.go).
		if err := srv.AddHook(b.fanout, nil); err != nil {
			h.Stop()
			return nil, err
		}
		// Serve reads the stored sessions and subscriptions; restore the
		// rest before any connection arrives.
		if err := srv.Serve(); err != nil {
			srv.Close()
			return nil, err
		}
		err = h.restore(ctx)
		h.loading.Store(false)
		if err != nil {
			srv.Close()
			return nil, fmt.Errorf("broker: restore: %w", err)
		}
		return b, nil
	}
	if err := srv.AddHook(b.fanout, nil); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, err
	}
	return b, nil
}

// Publish delivers a message as if a client had published it. Each
// subscriber still gets it only if its Authorizer allows iot:Receive.
func (b *Broker) Publish(topic string, payload []byte, qos byte, retain bool) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

// Messages is how many PUBLISH packets the broker has received and sent
// since it started: its traffic, for internal/gcpace.
func (b *Broker) Messages() uint64 {
	return uint64(atomic.LoadInt64(&b.srv.Info.MessagesReceived) + atomic.LoadInt64(&b.srv.Info.MessagesSent))
}

// Close stops the engine and disconnects every client.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() { close(b.stopSweep) })
	return b.srv.Close()
}

// Message is a delivered MQTT message, as an in-process subscriber sees it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Subscribe delivers every message matching filter to fn, in-process (the
// way Portico's own consumers, and tests, observe the broker). id tells
// subscriptions of the same filter apart for Unsubscribe.
func (b *Broker) Subscribe(filter string, id int, fn func(Message)) error {
	defer b.fanout.changed()
	return b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(Message{Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain})
	})
}

// Unsubscribe removes an in-process subscription.
func (b *Broker) Unsubscribe(filter string, id int) error {
	defer b.fanout.changed()
	return b.srv.Unsubscribe(filter, id)
}
