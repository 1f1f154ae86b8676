package device

// Just-in-time registration (JITR). A device presents a certificate that is
// not registered but was signed by a registered CA that is ACTIVE with
// auto-registration ENABLE: AWS IoT registers the certificate
// PENDING_ACTIVATION, publishes an event on
// $aws/events/certificates/registered/<caCertificateId>, and refuses the
// connection; whoever handles the event (a rule, a function, an operator)
// activates the certificate and the device connects on its next attempt.
//
// The decision is taken from the snapshot during the TLS handshake, which
// never waits on the database: the snapshot only queues the certificate,
// and one goroutine writes the registration and then publishes the event.

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RegisteredEventTopicPrefix is the topic prefix of the registration event;
// the CA certificate's ID completes it.
const RegisteredEventTopicPrefix = "$aws/events/certificates/registered/"

// ErrAutoRegistering refuses a certificate that is not registered but whose
// registered CA auto-registers: it is being registered PENDING_ACTIVATION,
// and the device may connect once it is activated.
var ErrAutoRegistering = errors.New("device: client certificate is not registered; its CA auto-registers it PENDING_ACTIVATION, activate it (UpdateCertificate) and connect again")

// RegisteredEvent is the payload AWS IoT publishes when it registers a
// certificate just in time.
type RegisteredEvent struct {
	CertificateID     string `json:"certificateId"`
	CACertificateID   string `json:"caCertificateId"`
	Timestamp         int64  `json:"timestamp"` // Unix milliseconds
	CertificateStatus Status `json:"certificateStatus"`
	AWSAccountID      string `json:"awsAccountId"`
	// CertificateRegistrationTimestamp is when the certificate was
	// registered, in Unix milliseconds.
	CertificateRegistrationTimestamp int64 `json:"certificateRegistrationTimestamp"`
}

// EventPublisher publishes an event payload on an MQTT topic (the broker's
// Publish at QoS 0, not retained).
type EventPublisher func(topic string, payload []byte) error

// PublishEventsWith sets where registration events go; until it is called
// (or with nil) certificates are still registered just in time but no event
// is published. Safe to call at any time.
func (s *Service) PublishEventsWith(p EventPublisher) {
	s.jitr.publish.Store(&p)
}

// maxPendingRegistrations bounds the queue of certificates waiting to be
// registered: a flood of new devices is registered at the database's pace,
// and those beyond the bound are registered on a later attempt.
const maxPendingRegistrations = 1024

// autoRegistrar queues certificates for just-in-time registration and
// registers them from one goroutine, started when the queue fills from
// empty and ending when it is drained.
type autoRegistrar struct {
	svc     *Service
	publish atomic.Pointer[EventPublisher]

	mu      sync.Mutex
	pending map[string]pendingRegistration // by certificate ID
	order   []string
	running bool
	// idle is closed and replaced whenever the queue drains (tests).
	idle chan struct{}
}

type pendingRegistration struct {
	cert *x509.Certificate
	caID string
}

func newAutoRegistrar(s *Service) *autoRegistrar {
	return &autoRegistrar{svc: s, pending: map[string]pendingRegistration{}, idle: make(chan struct{})}
}

// enqueue asks for cert, signed by the CA caID, to be registered; it never
// blocks. A certificate queued already, or beyond the bound, is dropped.
func (a *autoRegistrar) enqueue(cert *x509.Certificate, caID string) {
	id := CertificateID(cert.Raw)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.pending[id]; ok || len(a.pending) >= maxPendingRegistrations {
		return
	}
	a.pending[id] = pendingRegistration{cert: cert, caID: caID}
	a.order = append(a.order, id)
	if !a.running {
		a.running = true
		go a.run()
	}
}

func (a *autoRegistrar) run() {
	for {
		a.mu.Lock()
		if len(a.order) == 0 {
			a.running = false
			close(a.idle)
			a.idle = make(chan struct{})
			a.mu.Unlock()
			return
		}
		id := a.order[0]
		a.order = a.order[1:]
		p := a.pending[id]
		a.mu.Unlock()

		a.register(p)

		// Removed only now, so that handshakes meanwhile do not queue it
		// again.
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
	}
}

// registrationTimeout bounds one registration's database write.
const registrationTimeout = 10 * time.Second

func (a *autoRegistrar) register(p pendingRegistration) {
	ctx, cancel := context.WithTimeout(context.Background(), registrationTimeout)
	defer cancel()
	logger := a.svc.logger()
	ev, err := a.svc.registerJustInTime(ctx, p.cert, p.caID)
	if err != nil {
		logger.Warn("just-in-time registration failed", "certificate_id", CertificateID(p.cert.Raw), "ca_certificate_id", p.caID, "err", err)
		return
	}
	if ev == nil {
		return // registered meanwhile, or the CA no longer auto-registers
	}
	logger.Info("certificate registered just in time", "certificate_id", ev.CertificateID, "ca_certificate_id", ev.CACertificateID, "status", ev.CertificateStatus)
	pub := a.publish.Load()
	if pub == nil || *pub == nil {
		return
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return
	}
	if err := (*pub)(RegisteredEventTopicPrefix+ev.CACertificateID, payload); err != nil {
		logger.Warn("certificate registration event not published", "certificate_id", ev.CertificateID, "err", err)
	}
}

// registerJustInTime registers cert PENDING_ACTIVATION under the CA caID,
// whose status and auto-registration are checked again in the transaction
// (the snapshot that queued it may be stale). It returns the event to
// publish, or nil when there is nothing to announce.
func (s *Service) registerJustInTime(ctx context.Context, cert *x509.Certificate, caID string) (*RegisteredEvent, error) {
	id := CertificateID(cert.Raw)
	var registered time.Time
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM device_certificates WHERE id=?`, id).Scan(&one)
		if err == nil {
			return errUnchanged
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device: %w", err)
		}
		cas, err := readCAs(ctx, tx, caID)
		if err != nil {
			return err
		}
		if len(cas) == 0 || cas[0].status != CAStatusActive || cas[0].auto != AutoRegistrationEnable {
			return errUnchanged
		}
		registered = s.now()
		return s.insert(ctx, tx, cert, StatusPendingActivation, cas[0].mode, caID)
	})
	if errors.Is(err, errUnchanged) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &RegisteredEvent{
		CertificateID: id, CACertificateID: caID, Timestamp: s.now().UnixMilli(),
		CertificateStatus: StatusPendingActivation, AWSAccountID: s.account,
		CertificateRegistrationTimestamp: registered.UnixMilli(),
	}, nil
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// snapshotCA is a registered CA certificate as the snapshot holds it.
type snapshotCA struct {
	id     string
	cert   *x509.Certificate
	status CAStatus
	auto   AutoRegistration
}

// maxClientCertificate bounds the DER the snapshot parses for an unknown
// client certificate; a TLS record could carry more, a device certificate
// never does.
const maxClientCertificate = 16 << 10

// autoRegistrationCA returns the registered CA that would auto-register the
// unknown certificate der at now: ACTIVE, auto-registration ENABLE, the
// certificate's issuer, and a chain that verifies.
func (s *Snapshot) autoRegistrationCA(der []byte, now time.Time) (*x509.Certificate, *snapshotCA) {
	if len(s.issuers) == 0 || len(der) > maxClientCertificate {
		return nil, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil
	}
	for _, ca := range s.issuers[string(cert.RawIssuer)] {
		if ca.status != CAStatusActive || ca.auto != AutoRegistrationEnable {
			continue
		}
		if checkSupportedKey(cert) != nil || verifyChain(cert, ca.cert, now) != nil {
			continue
		}
		return cert, ca
	}
	return nil, nil
}

// WaitAutoRegistrations waits until no just-in-time registration is queued
// or running, or ctx ends (tests and orderly shutdown).
func (s *Service) WaitAutoRegistrations(ctx context.Context) error {
	a := s.jitr
	for {
		a.mu.Lock()
		if !a.running {
			a.mu.Unlock()
			return nil
		}
		idle := a.idle
		a.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
