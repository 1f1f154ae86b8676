// Package broker is Portico's MQTT engine: mochi-mqtt behind a small
// interface, so the gateway hands it connections it has already
// authenticated and the HTTPS publish path injects messages.
//
// The broker never accepts sockets itself. A connection reaches it only
// through Serve, together with the identity the gateway established during the
// TLS handshake; the single auth hook admits exactly those connections.
package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Identity is who the gateway authenticated a connection as.
type Identity struct {
	CertificateID string // SHA-256 of the client certificate, hex
	Domain        string // SNI name the device connected to
}

// Options tune the engine. Zero values pick the defaults below.
type Options struct {
	Logger *slog.Logger
	// ConnectTimeout bounds the wait for CONNECT after the TLS handshake;
	// mochi sets no deadline of its own before CONNECT.
	ConnectTimeout time.Duration
	// MaxPacketSize bounds one MQTT packet. AWS IoT limits payloads to 128 KiB.
	MaxPacketSize uint32
}

const (
	defaultConnectTimeout = 10 * time.Second
	defaultMaxPacketSize  = 128*1024 + 8*1024 // payload limit plus room for topic and properties
	// Per-client socket buffers: mochi's defaults are large; a fleet is many
	// mostly idle devices.
	clientBufferSize = 2 * 1024
)

// Broker is a running MQTT engine.
type Broker struct {
	srv            *mqtt.Server
	connectTimeout time.Duration

	mu    sync.Mutex
	conns map[net.Conn]Identity
}

// New starts an engine with no listeners.
func New(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = defaultConnectTimeout
	}
	if opts.MaxPacketSize == 0 {
		opts.MaxPacketSize = defaultMaxPacketSize
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = opts.MaxPacketSize
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		InlineClient:             true,
		ClientNetReadBufferSize:  clientBufferSize,
		ClientNetWriteBufferSize: clientBufferSize,
		Logger:                   opts.Logger.With("component", "mqtt"),
		SysTopicResendInterval:   3600,
	})
	b := &Broker{srv: srv, connectTimeout: opts.ConnectTimeout, conns: map[net.Conn]Identity{}}
	if err := srv.AddHook(&gatewayAuth{broker: b}, nil); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, err
	}
	return b, nil
}

// Serve runs one device connection, authenticated by the gateway as the
// certificate with the given ID on the given domain, until it ends.
func (b *Broker) Serve(conn net.Conn, certificateID, domain string) error {
	id := Identity{CertificateID: certificateID, Domain: domain}
	b.mu.Lock()
	b.conns[conn] = id
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.conns, conn)
		b.mu.Unlock()
	}()
	// mochi replaces this deadline with the keepalive one once CONNECT arrives.
	conn.SetDeadline(time.Now().Add(b.connectTimeout))
	err := b.srv.EstablishConnection("gateway", conn)
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Publish delivers a message as if a client had published it.
func (b *Broker) Publish(topic string, payload []byte, qos byte, retain bool) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

// Close stops the engine and disconnects every client.
func (b *Broker) Close() error { return b.srv.Close() }

func (b *Broker) identity(conn net.Conn) (Identity, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := b.conns[conn]
	return id, ok
}

// gatewayAuth admits the connections the gateway handed over, and only those.
// It is the only auth hook installed: mochi ORs the answers of auth hooks.
type gatewayAuth struct {
	mqtt.HookBase
	broker *Broker
}

func (h *gatewayAuth) ID() string { return "portico-gateway-auth" }

func (h *gatewayAuth) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *gatewayAuth) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	_, ok := h.broker.identity(cl.Net.Conn)
	return ok
}

// OnACLCheck allows an authenticated device to publish and subscribe; IoT
// policies arrive with the device-identity work (README says so).
func (h *gatewayAuth) OnACLCheck(cl *mqtt.Client, _ string, _ bool) bool {
	if cl.Net.Inline {
		return true
	}
	_, ok := h.broker.identity(cl.Net.Conn)
	return ok
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
	return b.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(Message{Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain})
	})
}

// Unsubscribe removes an in-process subscription.
func (b *Broker) Unsubscribe(filter string, id int) error { return b.srv.Unsubscribe(filter, id) }
