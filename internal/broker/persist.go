package broker

// Durable broker state, in Portico's SQLite database (component "broker"):
// persistent sessions with their subscriptions and queued (in-flight) QoS 1
// and 2 messages, and retained messages. See docs/persistence.md.
//
// The guarantee: a QoS 1 or 2 message is on disk before its publisher is
// acknowledged (PUBACK, PUBREC; an HTTPS publish's answer), if a persistent
// session subscribes to its topic. mochi acknowledges an inbound QoS 1
// message before it hands it to subscribers (processPublish: OnQosPublish for
// the subscribers' copies runs after the PUBACK is written), so the message is
// written in OnPublish, which runs before, to broker_pending: the write-ahead
// record of a message whose copies for subscribers may not all be on disk
// yet. Each persistent subscriber's copy (broker_inflight) is queued as mochi
// makes it; the pending record is deleted after them, in the same queue, so a
// committed state never lacks both. On start, a pending record still present
// is delivered again to the persistent subscribers that have no copy of it.
// Retained messages published with QoS 1 or 2 are written before the
// acknowledgement too (OnRetainMessage runs before it).

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Store is the database the broker keeps its state in; internal/store's
// *Store is one. The broker creates its own tables (Migrate component
// "broker") and writes them in transactions of its own: if the store also
// implements QuietUpdater, through it.
type Store interface {
	DB() *sql.DB
	Migrate(ctx context.Context, component string, steps []string) error
}

const (
	// DefaultSessionExpiry is how long a persistent session outlives its
	// connection unless the client (MQTT 5) asks for less: AWS IoT's default.
	DefaultSessionExpiry = time.Hour
	// MaxSessionExpiry is the longest session expiry Options accept: AWS
	// IoT's upper bound.
	MaxSessionExpiry = 7 * 24 * time.Hour
)

var persistMigrations = []string{`
CREATE TABLE broker_sessions (
	client_id TEXT PRIMARY KEY,
	protocol_version INTEGER NOT NULL,
	clean INTEGER NOT NULL,
	session_expiry INTEGER NOT NULL,  -- the MQTT 5 Session Expiry Interval, seconds
	expiry_seconds INTEGER NOT NULL,  -- how long the session outlives its connection
	listener TEXT NOT NULL,
	username BLOB,
	disconnected_at INTEGER           -- unix seconds; NULL while connected
);
CREATE TABLE broker_subscriptions (
	client_id TEXT NOT NULL,
	filter TEXT NOT NULL,
	qos INTEGER NOT NULL,
	identifier INTEGER NOT NULL,
	no_local INTEGER NOT NULL,
	retain_as_published INTEGER NOT NULL,
	retain_handling INTEGER NOT NULL,
	PRIMARY KEY (client_id, filter)
);
CREATE TABLE broker_inflight (
	client_id TEXT NOT NULL,
	packet_id INTEGER NOT NULL,
	pending_id INTEGER,
	topic TEXT NOT NULL,
	payload BLOB,
	qos INTEGER NOT NULL,
	retain INTEGER NOT NULL,
	created INTEGER NOT NULL,
	expiry INTEGER NOT NULL,
	origin TEXT NOT NULL,
	protocol_version INTEGER NOT NULL,
	props BLOB,
	PRIMARY KEY (client_id, packet_id)
);
CREATE TABLE broker_pending (
	id INTEGER PRIMARY KEY,
	topic TEXT NOT NULL,
	payload BLOB,
	qos INTEGER NOT NULL,
	retain INTEGER NOT NULL,
	created INTEGER NOT NULL,
	expiry INTEGER NOT NULL,
	origin TEXT NOT NULL,
	protocol_version INTEGER NOT NULL,
	props BLOB
);
CREATE TABLE broker_retained (
	topic TEXT PRIMARY KEY,
	payload BLOB,
	qos INTEGER NOT NULL,
	retain INTEGER NOT NULL,
	created INTEGER NOT NULL,
	expiry INTEGER NOT NULL,
	origin TEXT NOT NULL,
	protocol_version INTEGER NOT NULL,
	props BLOB,
	modified_ms INTEGER NOT NULL
);`}

// storedMessage is a PUBLISH as the tables keep it.
type storedMessage struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	created int64
	expiry  int64
	origin  string
	version byte
	props   []byte // JSON of messageProps; nil when there are none
}

// messageProps are the MQTT 5 properties of a PUBLISH worth keeping.
type messageProps struct {
	PayloadFormat     byte                   `json:"pf,omitempty"`
	PayloadFormatFlag bool                   `json:"pff,omitempty"`
	ContentType       string                 `json:"ct,omitempty"`
	ResponseTopic     string                 `json:"rt,omitempty"`
	CorrelationData   []byte                 `json:"cd,omitempty"`
	MessageExpiry     uint32                 `json:"me,omitempty"`
	User              []packets.UserProperty `json:"up,omitempty"`
	SubscriptionIDs   []int                  `json:"si,omitempty"`
}

func messageOf(pk packets.Packet, topic string) storedMessage {
	m := storedMessage{topic: topic, payload: pk.Payload, qos: pk.FixedHeader.Qos, retain: pk.FixedHeader.Retain,
		created: pk.Created, expiry: pk.Expiry, origin: pk.Origin, version: pk.ProtocolVersion}
	p := pk.Properties
	if p.PayloadFormatFlag || p.ContentType != "" || p.ResponseTopic != "" || len(p.CorrelationData) > 0 ||
		p.MessageExpiryInterval > 0 || len(p.User) > 0 || len(p.SubscriptionIdentifier) > 0 {
		m.props, _ = json.Marshal(messageProps{
			PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag, ContentType: p.ContentType,
			ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData, MessageExpiry: p.MessageExpiryInterval,
			User: p.User, SubscriptionIDs: p.SubscriptionIdentifier,
		})
	}
	if m.expiry < 0 {
		m.expiry = 0 // mochi's mark for "waiting for send quota"
	}
	return m
}

func (m storedMessage) packet() packets.Packet {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.qos, Retain: m.retain},
		TopicName:   m.topic, Payload: m.payload, Created: m.created, Expiry: m.expiry, Origin: m.origin,
		ProtocolVersion: m.version,
	}
	pk.Connect.WillTopic = m.topic
	if len(m.props) > 0 {
		var p messageProps
		if json.Unmarshal(m.props, &p) == nil {
			pk.Properties = packets.Properties{
				PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag, ContentType: p.ContentType,
				ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData, MessageExpiryInterval: p.MessageExpiry,
				User: p.User, SubscriptionIdentifier: p.SubscriptionIDs,
			}
		}
	}
	return pk
}

func (m storedMessage) args() []any {
	return []any{m.topic, m.payload, m.qos, m.retain, m.created, m.expiry, m.origin, m.version, m.props}
}

const msgColumns = `topic, payload, qos, retain, created, expiry, origin, protocol_version, props`

func scanMessage(sc interface{ Scan(...any) error }, head ...any) (storedMessage, error) {
	var m storedMessage
	err := sc.Scan(append(head, &m.topic, &m.payload, &m.qos, &m.retain, &m.created, &m.expiry, &m.origin, &m.version, &m.props)...)
	return m, err
}

// The tags a publish carries through mochi, in fields of the packet that
// PUBLISH encoding ignores and Packet.Copy keeps: the topic (a subscriber's
// copy loses it to an outbound topic alias) and the pending record's ID.
const pendingTagPrefix = "portico-pending:"

func pendingOf(pk packets.Packet) (int64, bool) {
	s, ok := strings.CutPrefix(pk.Connect.ClientIdentifier, pendingTagPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil
}

func topicOf(pk packets.Packet) string {
	if pk.TopicName != "" {
		return pk.TopicName
	}
	return pk.Connect.WillTopic
}

// persistent reports whether a client's session outlives its connection.
func persistent(cl *mqtt.Client) bool {
	if cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

type restoredSession struct {
	cl       *mqtt.Client
	deadline int64 // unix seconds
}

// persistHook is the mochi storage hook.
type persistHook struct {
	mqtt.HookBase
	b   *Broker
	db  *sql.DB
	w   *writer
	now func() time.Time

	loading     atomic.Bool
	nextPending atomic.Int64

	mu       sync.RWMutex
	known    map[string]struct{} // client IDs with a durable session
	restored map[string]restoredSession

	stop    chan struct{}
	stopped chan struct{}
}

func newPersistHook(ctx context.Context, b *Broker, st Store) (*persistHook, error) {
	if err := st.Migrate(ctx, "broker", persistMigrations); err != nil {
		return nil, err
	}
	quiet, _ := st.(QuietUpdater)
	h := &persistHook{b: b, db: st.DB(), now: time.Now, known: map[string]struct{}{}, restored: map[string]restoredSession{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	var maxID sql.NullInt64
	if err := h.db.QueryRowContext(ctx, `SELECT MAX(id) FROM broker_pending`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("broker: read pending messages: %w", err)
	}
	h.nextPending.Store(maxID.Int64)
	h.w = newWriter(h.db, quiet, b.logger.With("component", "broker-persistence"))
	h.loading.Store(true)
	return h, nil
}

func (h *persistHook) ID() string { return "portico-persistence" }

func (h *persistHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnPublish, mqtt.OnPublished, mqtt.OnRetainMessage, mqtt.OnRetainedExpired,
		mqtt.OnQosPublish, mqtt.OnQosDropped, mqtt.OnPacketProcessed, mqtt.OnClientExpired,
		mqtt.StoredClients, mqtt.StoredSubscriptions:
		return true
	}
	return false
}

func (h *persistHook) isKnown(id string) bool {
	h.mu.RLock()
	_, ok := h.known[id]
	h.mu.RUnlock()
	return ok
}

func (h *persistHook) anyKnown() bool {
	h.mu.RLock()
	n := len(h.known)
	h.mu.RUnlock()
	return n > 0
}

// forget drops a client's durable session, in memory and on disk.
func (h *persistHook) forget(id string) {
	h.mu.Lock()
	delete(h.known, id)
	delete(h.restored, id)
	h.mu.Unlock()
	h.w.submit(func(ctx context.Context, x execer) error { return deleteSession(ctx, x, id) }, false)
}

func deleteSession(ctx context.Context, x execer, id string) error {
	for _, q := range []string{
		`DELETE FROM broker_inflight WHERE client_id=?`,
		`DELETE FROM broker_subscriptions WHERE client_id=?`,
		`DELETE FROM broker_sessions WHERE client_id=?`,
	} {
		if _, err := x.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

type sessionRow struct {
	id             string
	version        byte
	clean          bool
	sessionExpiry  uint32
	expirySeconds  int64
	listener       string
	username       []byte
	disconnectedAt sql.NullInt64
}

func (h *persistHook) sessionOf(cl *mqtt.Client) sessionRow {
	r := sessionRow{id: cl.ID, version: cl.Properties.ProtocolVersion, clean: cl.Properties.Clean,
		sessionExpiry: cl.Properties.Props.SessionExpiryInterval, listener: cl.Net.Listener,
		username: append([]byte(nil), cl.Properties.Username...)}
	max := int64(h.b.srv.Options.Capabilities.MaximumSessionExpiryInterval)
	r.expirySeconds = max
	if r.version == 5 {
		r.expirySeconds = min(int64(r.sessionExpiry), max)
	}
	return r
}

func upsertSession(ctx context.Context, x execer, r sessionRow) error {
	_, err := x.ExecContext(ctx, `INSERT INTO broker_sessions
		(client_id, protocol_version, clean, session_expiry, expiry_seconds, listener, username, disconnected_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(client_id) DO UPDATE SET protocol_version=excluded.protocol_version, clean=excluded.clean,
		session_expiry=excluded.session_expiry, expiry_seconds=excluded.expiry_seconds, listener=excluded.listener,
		username=excluded.username, disconnected_at=excluded.disconnected_at`,
		r.id, r.version, r.clean, r.sessionExpiry, r.expirySeconds, r.listener, r.username, r.disconnectedAt)
	return err
}

// OnSessionEstablished records a persistent session, or forgets the durable
// state of a client ID that now connects with a clean session.
func (h *persistHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	if !persistent(cl) {
		if h.isKnown(cl.ID) {
			h.forget(cl.ID)
		}
		return
	}
	h.mu.Lock()
	h.known[cl.ID] = struct{}{}
	delete(h.restored, cl.ID)
	h.mu.Unlock()
	row, fresh := h.sessionOf(cl), pk.Connect.Clean
	h.w.submit(func(ctx context.Context, x execer) error {
		if fresh { // MQTT 5 clean start: the session begins empty
			if err := deleteSession(ctx, x, row.id); err != nil {
				return err
			}
		}
		return upsertSession(ctx, x, row)
	}, false)
}

// OnDisconnect records when a persistent session lost its connection (its
// expiry counts from then), or forgets a session that ends with it.
func (h *persistHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if cl.Net.Inline || h.loading.Load() || cl.IsTakenOver() {
		return
	}
	if expire {
		if h.isKnown(cl.ID) {
			h.forget(cl.ID)
		}
		return
	}
	if !persistent(cl) {
		return
	}
	row := h.sessionOf(cl)
	row.disconnectedAt = sql.NullInt64{Int64: h.now().Unix(), Valid: true}
	h.w.submit(func(ctx context.Context, x execer) error { return upsertSession(ctx, x, row) }, false)
}

// OnClientExpired forgets a session mochi expired.
func (h *persistHook) OnClientExpired(cl *mqtt.Client) {
	if h.isKnown(cl.ID) {
		h.forget(cl.ID)
	}
}

// OnSubscribed records a persistent session's granted subscriptions before
// the SUBACK goes out.
func (h *persistHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if !persistent(cl) {
		return
	}
	var subs []packets.Subscription
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < packets.ErrUnspecifiedError.Code && f.Filter != "" {
			f.Qos = codes[i]
			subs = append(subs, f)
		}
	}
	if len(subs) == 0 {
		return
	}
	id := cl.ID
	h.w.submit(func(ctx context.Context, x execer) error {
		for _, s := range subs {
			if _, err := x.ExecContext(ctx, `INSERT INTO broker_subscriptions
				(client_id, filter, qos, identifier, no_local, retain_as_published, retain_handling) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT(client_id, filter) DO UPDATE SET qos=excluded.qos, identifier=excluded.identifier,
				no_local=excluded.no_local, retain_as_published=excluded.retain_as_published, retain_handling=excluded.retain_handling`,
				id, s.Filter, s.Qos, s.Identifier, s.NoLocal, s.RetainAsPublished, s.RetainHandling); err != nil {
				return err
			}
		}
		return nil
	}, true)
}

// OnUnsubscribed forgets a persistent session's subscriptions on
// UNSUBSCRIBE. (mochi also calls it, with no packet ID, when a session
// ends; forget has removed everything then.)
func (h *persistHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if pk.PacketID == 0 || !persistent(cl) {
		return
	}
	id := cl.ID
	filters := make([]string, 0, len(pk.Filters))
	for _, f := range pk.Filters {
		filters = append(filters, f.Filter)
	}
	h.w.submit(func(ctx context.Context, x execer) error {
		for _, f := range filters {
			if _, err := x.ExecContext(ctx, `DELETE FROM broker_subscriptions WHERE client_id=? AND filter=?`, id, f); err != nil {
				return err
			}
		}
		return nil
	}, false)
}

// hasPersistentSubscriber reports whether a durable session subscribes to
// topic.
func (h *persistHook) hasPersistentSubscriber(topic string) bool {
	if set := h.b.fanout.subscribers(topic); !set.mochiDelivers {
		// The set fanout.go delivers to next, computed once for both.
		h.mu.RLock()
		defer h.mu.RUnlock()
		for _, t := range set.targets {
			if _, ok := h.known[t.clientID]; ok {
				return true
			}
		}
		return false
	}
	subs := h.b.srv.Topics.Subscribers(topic)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for id := range subs.Subscriptions {
		if _, ok := h.known[id]; ok {
			return true
		}
	}
	for _, group := range subs.Shared {
		for id := range group {
			if _, ok := h.known[id]; ok {
				return true
			}
		}
	}
	return false
}

// OnPublish writes a QoS 1 or 2 message that a persistent session will
// queue, and waits for the commit: mochi acknowledges the publisher after
// this returns.
func (h *persistHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	pk.Connect.WillTopic = pk.TopicName
	if !h.anyKnown() || !h.hasPersistentSubscriber(pk.TopicName) {
		return pk, nil
	}
	id := h.nextPending.Add(1)
	pk.Connect.ClientIdentifier = pendingTagPrefix + strconv.FormatInt(id, 10)
	m := messageOf(pk, pk.TopicName)
	if m.created == 0 {
		m.created = h.now().Unix()
	}
	err := h.w.submit(func(ctx context.Context, x execer) error {
		_, err := x.ExecContext(ctx, `INSERT INTO broker_pending (id, `+msgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append([]any{id}, m.args()...)...)
		return err
	}, true)
	if err == nil {
		return pk, nil
	}
	h.b.logger.Error("mqtt publish not acknowledged: the message could not be saved", "error", err,
		"topic", pk.TopicName, "client_id", cl.ID)
	if cl.Net.Inline {
		return pk, nil
	}
	if cl.Properties.ProtocolVersion == 5 {
		return pk, packets.ErrUnspecifiedError // PUBACK 0x80
	}
	// MQTT 3.1.1 has no negative PUBACK: drop the connection unanswered,
	// so that the client sends the message again.
	cl.Stop(packets.ErrUnspecifiedError)
	return pk, packets.ErrRejectPacket
}

// OnPublished deletes a message's pending record once every subscriber's
// copy is queued for writing ahead of the deletion.
func (h *persistHook) OnPublished(_ *mqtt.Client, pk packets.Packet) {
	if id, ok := pendingOf(pk); ok {
		h.w.submit(func(ctx context.Context, x execer) error {
			_, err := x.ExecContext(ctx, `DELETE FROM broker_pending WHERE id=?`, id)
			return err
		}, false)
	}
}

// OnQosPublish queues the write of a message in flight to a persistent
// session (sent, or waiting for the client).
func (h *persistHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Dup || !persistent(cl) {
		return // acknowledgements, resends, sessions that end with their connection
	}
	topic := topicOf(pk)
	if topic == "" {
		return
	}
	m := messageOf(pk, topic)
	var pending sql.NullInt64
	if id, ok := pendingOf(pk); ok {
		pending = sql.NullInt64{Int64: id, Valid: true}
	}
	client, packetID := cl.ID, pk.PacketID
	h.w.submit(func(ctx context.Context, x execer) error {
		_, err := x.ExecContext(ctx, `INSERT OR REPLACE INTO broker_inflight (client_id, packet_id, pending_id, `+msgColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append([]any{client, packetID, pending}, m.args()...)...)
		return err
	}, false)
}

func (h *persistHook) deleteInflight(client string, packetID uint16) {
	h.w.submit(func(ctx context.Context, x execer) error {
		_, err := x.ExecContext(ctx, `DELETE FROM broker_inflight WHERE client_id=? AND packet_id=?`, client, packetID)
		return err
	}, false)
}

// OnPacketProcessed deletes a message a persistent session acknowledged
// (PUBACK, PUBCOMP). It is not OnQosComplete, which mochi calls only when
// the message is still in its in-flight map: the copy on disk goes with
// the acknowledgement, whatever that map says.
func (h *persistHook) OnPacketProcessed(cl *mqtt.Client, pk packets.Packet, _ error) {
	if t := pk.FixedHeader.Type; (t == packets.Puback || t == packets.Pubcomp) && persistent(cl) {
		h.deleteInflight(cl.ID, pk.PacketID)
	}
}

// OnQosDropped deletes a message mochi gave up (expired, or its session
// cleared). A session taken over by a new connection hands its messages on:
// mochi drops them from the old client only.
func (h *persistHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || cl.IsTakenOver() || !h.isKnown(cl.ID) {
		return
	}
	h.deleteInflight(cl.ID, pk.PacketID)
}

// OnRetainMessage writes or deletes a retained message; a QoS 1 or 2 one is
// on disk before its publisher is acknowledged.
func (h *persistHook) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, r int64) {
	topic := pk.TopicName
	var fn func(ctx context.Context, x execer) error
	if r == 1 {
		m := messageOf(pk, topic)
		modified := h.now().UnixMilli()
		fn = func(ctx context.Context, x execer) error {
			_, err := x.ExecContext(ctx, `INSERT OR REPLACE INTO broker_retained (`+msgColumns+`, modified_ms)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append(m.args(), modified)...)
			return err
		}
	} else {
		fn = func(ctx context.Context, x execer) error {
			_, err := x.ExecContext(ctx, `DELETE FROM broker_retained WHERE topic=?`, topic)
			return err
		}
	}
	h.w.submit(fn, pk.FixedHeader.Qos > 0)
}

// OnRetainedExpired deletes an expired retained message.
func (h *persistHook) OnRetainedExpired(topic string) {
	h.w.submit(func(ctx context.Context, x execer) error {
		_, err := x.ExecContext(ctx, `DELETE FROM broker_retained WHERE topic=?`, topic)
		return err
	}, false)
}

// StoredClients returns the persistent sessions that have not expired, and
// deletes those that have. mochi restores them as disconnected clients.
func (h *persistHook) StoredClients() ([]storage.Client, error) {
	ctx := context.Background()
	rows, err := h.db.QueryContext(ctx, `SELECT client_id, protocol_version, clean, session_expiry, expiry_seconds,
		listener, username, disconnected_at FROM broker_sessions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := h.now().Unix()
	var out []storage.Client
	var expired []string
	for rows.Next() {
		var r sessionRow
		if err := rows.Scan(&r.id, &r.version, &r.clean, &r.sessionExpiry, &r.expirySeconds, &r.listener, &r.username, &r.disconnectedAt); err != nil {
			return nil, err
		}
		// A session connected when the broker stopped counts as
		// disconnected from now: when it stopped is not known.
		from := now
		if r.disconnectedAt.Valid {
			from = r.disconnectedAt.Int64
		}
		deadline := from + r.expirySeconds
		if deadline <= now || (r.version == 5 && r.sessionExpiry == 0) || (r.version < 5 && r.clean) {
			expired = append(expired, r.id)
			continue
		}
		c := storage.Client{ID: r.id, ProtocolVersion: r.version, Clean: r.clean, Listener: r.listener, Username: r.username}
		if r.version == 5 {
			c.Properties.SessionExpiryInterval = r.sessionExpiry
			c.Properties.SessionExpiryIntervalFlag = true
		}
		out = append(out, c)
		h.known[r.id] = struct{}{}
		h.restored[r.id] = restoredSession{deadline: deadline}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if len(expired) > 0 {
		h.b.logger.Info("expired persistent sessions deleted", "sessions", len(expired))
		err := h.w.submit(func(ctx context.Context, x execer) error {
			for _, id := range expired {
				if err := deleteSession(ctx, x, id); err != nil {
					return err
				}
			}
			return nil
		}, true)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// StoredSubscriptions returns the restored sessions' subscriptions.
func (h *persistHook) StoredSubscriptions() ([]storage.Subscription, error) {
	rows, err := h.db.QueryContext(context.Background(), `SELECT client_id, filter, qos, identifier, no_local,
		retain_as_published, retain_handling FROM broker_subscriptions`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Subscription
	for rows.Next() {
		var s storage.Subscription
		if err := rows.Scan(&s.Client, &s.Filter, &s.Qos, &s.Identifier, &s.NoLocal, &s.RetainAsPublished, &s.RetainHandling); err != nil {
			return nil, err
		}
		if _, ok := h.known[s.Client]; ok {
			out = append(out, s)
		}
	}
	return out, rows.Err()
}

// restore runs after mochi has restored the sessions and their
// subscriptions (srv.Serve): it restores the retained messages and the
// sessions' queued messages, delivers again the messages whose pending
// record survived, and starts expiring the restored sessions.
func (h *persistHook) restore(ctx context.Context) error {
	srv := h.b.srv
	// Retained messages.
	rows, err := h.db.QueryContext(ctx, `SELECT modified_ms, `+msgColumns+` FROM broker_retained`)
	if err != nil {
		return err
	}
	retained := 0
	for rows.Next() {
		var modified int64
		m, err := scanMessage(rows, &modified)
		if err != nil {
			rows.Close()
			return err
		}
		pk := m.packet()
		pk.FixedHeader.Retain = true
		srv.Topics.RetainMessage(pk)
		h.b.retainTimes.set(m.topic, time.UnixMilli(modified))
		retained++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	atomic.StoreInt64(&srv.Info.Retained, int64(srv.Topics.Retained.Len()))

	// The restored sessions, as mochi made them.
	h.mu.Lock()
	for id, r := range h.restored {
		cl, ok := srv.Clients.Get(id)
		if !ok {
			delete(h.restored, id)
			delete(h.known, id)
			continue
		}
		r.cl = cl
		h.restored[id] = r
	}
	h.mu.Unlock()

	// Queued messages.
	rows, err = h.db.QueryContext(ctx, `SELECT client_id, packet_id, pending_id, `+msgColumns+` FROM broker_inflight ORDER BY created, packet_id`)
	if err != nil {
		return err
	}
	has := map[string]map[int64]bool{} // client ID -> pending IDs it holds a copy of
	inflight := 0
	for rows.Next() {
		var client string
		var packetID uint16
		var pending sql.NullInt64
		m, err := scanMessage(rows, &client, &packetID, &pending)
		if err != nil {
			rows.Close()
			return err
		}
		cl, ok := srv.Clients.Get(client)
		if !ok {
			continue // its session expired: deleted with it
		}
		pk := m.packet()
		pk.PacketID = packetID
		if cl.State.Inflight.Set(pk) {
			atomic.AddInt64(&srv.Info.Inflight, 1)
			inflight++
		}
		if pending.Valid {
			if has[client] == nil {
				has[client] = map[int64]bool{}
			}
			has[client][pending.Int64] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// Messages acknowledged to their publishers whose subscribers' copies
	// were not all written when the broker stopped.
	redelivered, err := h.redeliverPending(ctx, has)
	if err != nil {
		return err
	}
	h.b.logger.Info("broker state restored", "sessions", len(h.restored), "retained", retained,
		"queued", inflight, "redelivered", redelivered)
	go h.expireRestored()
	return nil
}

type inflightRow struct {
	client   string
	packetID uint16
	pending  int64
	m        storedMessage
}

func (h *persistHook) redeliverPending(ctx context.Context, has map[string]map[int64]bool) (int, error) {
	srv := h.b.srv
	rows, err := h.db.QueryContext(ctx, `SELECT id, `+msgColumns+` FROM broker_pending ORDER BY id`)
	if err != nil {
		return 0, err
	}
	type pending struct {
		id int64
		m  storedMessage
	}
	var all []pending
	for rows.Next() {
		var p pending
		if p.m, err = scanMessage(rows, &p.id); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(all) == 0 {
		return 0, err
	}
	var queued []inflightRow
	for _, p := range all {
		pk := p.m.packet()
		subs := srv.Topics.Subscribers(pk.TopicName)
		targets := map[string]packets.Subscription{}
		for id, sub := range subs.Subscriptions {
			targets[id] = sub
		}
		for _, group := range subs.Shared {
			for id, sub := range group {
				if _, ok := h.restored[id]; ok {
					targets[id] = sub // one member of the group
					break
				}
			}
		}
		for id, sub := range targets {
			if _, ok := h.restored[id]; !ok || has[id][p.id] {
				continue
			}
			if strings.HasPrefix(pk.TopicName, "$") && startsWithWildcard(sub.Filter) {
				continue
			}
			if sub.NoLocal && pk.Origin == id {
				continue
			}
			qos := min(pk.FixedHeader.Qos, sub.Qos)
			if qos == 0 {
				continue // a QoS 0 subscription queues nothing
			}
			cl, ok := srv.Clients.Get(id)
			if !ok {
				continue
			}
			n, err := cl.NextPacketID()
			if err != nil {
				continue
			}
			out := pk.Copy(false)
			out.PacketID, out.FixedHeader.Qos, out.FixedHeader.Retain = uint16(n), qos, false
			if len(sub.Identifiers) > 0 {
				for _, si := range sub.Identifiers {
					out.Properties.SubscriptionIdentifier = append(out.Properties.SubscriptionIdentifier, si)
				}
			}
			if cl.State.Inflight.Set(out) {
				atomic.AddInt64(&srv.Info.Inflight, 1)
			}
			queued = append(queued, inflightRow{client: id, packetID: out.PacketID, pending: p.id, m: messageOf(out, pk.TopicName)})
		}
	}
	err = h.w.submit(func(ctx context.Context, x execer) error {
		for _, r := range queued {
			if _, err := x.ExecContext(ctx, `INSERT OR REPLACE INTO broker_inflight (client_id, packet_id, pending_id, `+msgColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append([]any{r.client, r.packetID, r.pending}, r.m.args()...)...); err != nil {
				return err
			}
		}
		for _, p := range all {
			if _, err := x.ExecContext(ctx, `DELETE FROM broker_pending WHERE id=?`, p.id); err != nil {
				return err
			}
		}
		return nil
	}, true)
	return len(queued), err
}

// expireRestored ends the restored sessions whose clients do not come back
// in time. mochi would count their expiry from the restart; it counts from
// their disconnection.
func (h *persistHook) expireRestored() {
	defer close(h.stopped)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.now().Unix()
		var due []restoredSession
		h.mu.Lock()
		for id, r := range h.restored {
			if r.deadline <= now {
				due = append(due, r)
				delete(h.restored, id)
			}
		}
		h.mu.Unlock()
		for _, r := range due {
			cl := r.cl
			if cl == nil {
				continue
			}
			if cur, ok := h.b.srv.Clients.Get(cl.ID); !ok || cur != cl || cl.IsTakenOver() {
				continue // reconnected
			}
			h.b.srv.UnsubscribeClient(cl)
			cl.ClearInflights()
			h.b.srv.Clients.Delete(cl.ID)
			h.forget(cl.ID)
			h.b.logger.Debug("persistent session expired", "client_id", cl.ID)
		}
	}
}

// dropQueued deletes a restored session's queued message that its client
// may no longer receive.
func (h *persistHook) dropQueued(cl *mqtt.Client, pk packets.Packet) {
	if cl.State.Inflight.Delete(pk.PacketID) {
		atomic.AddInt64(&h.b.srv.Info.Inflight, -1)
		h.deleteInflight(cl.ID, pk.PacketID)
	}
}

// Stop commits what is queued; mochi calls it from Server.Close.
func (h *persistHook) Stop() error {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.w.close()
	return nil
}
