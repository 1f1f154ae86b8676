// Package expirywatch warns before certificates expire, as ACM does with
// its CloudWatch metric DaysToExpiry and its EventBridge event "ACM
// Certificate Approaching Expiration": it serves a Prometheus gauge of the
// days left per certificate, and once a day per certificate, from
// DaysBeforeExpiry days before expiry until expiry, writes the event to the
// log and POSTs it to webhooks. It holds no state of its own: the
// certificates, the account's DaysBeforeExpiry and the day each event was
// last sent come from a Source (the certificate service, adapted by
// cmd/portico).
package expirywatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Certificate is one certificate to watch.
type Certificate struct {
	ARN        string
	CommonName string
	NotAfter   time.Time
	// LastEventDay is the UTC date (YYYY-MM-DD) of the last event sent.
	LastEventDay string
}

// Source is where the watcher reads certificates and remembers events.
type Source interface {
	Certificates(ctx context.Context) ([]Certificate, error)
	// DaysBeforeExpiry is the account's ExpiryEvents.DaysBeforeExpiry.
	DaysBeforeExpiry(ctx context.Context) (int, error)
	// RecordEvent remembers that the event of day was sent for arn.
	RecordEvent(ctx context.Context, arn, day string) error
}

// DefaultInterval is how often Run looks at every certificate: often
// enough that each day's event goes out early in that day.
const DefaultInterval = time.Hour

// DefaultWebhookTimeout bounds one webhook POST.
const DefaultWebhookTimeout = 10 * time.Second

// Watcher serves the gauge and sends the events.
type Watcher struct {
	Source Source
	// Region and Account fill the event's fields of the same names.
	Region, Account string
	// Webhooks receive every event as a JSON POST.
	Webhooks []string
	// Client posts to the webhooks; nil means a client with
	// DefaultWebhookTimeout.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewID returns an event id; nil means a random UUID.
	NewID func() string
	// Interval is the time between passes of Run; 0 means DefaultInterval.
	Interval time.Duration
	// Logger gets every event (Warn) and every webhook failure.
	Logger *slog.Logger

	// certs is the last pass's view, which /metrics reads without a query.
	certs atomic.Pointer[[]Certificate]
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Watcher) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Run makes a pass at once, then every Interval and after every change
// (a value on changes; nil means none), until ctx ends.
func (w *Watcher) Run(ctx context.Context, changes <-chan struct{}) {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := w.Tick(ctx); err != nil && ctx.Err() == nil {
			w.logger().Warn("certificate expiry pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-changes:
		}
	}
}

// Tick refreshes the gauge's view and sends the events due today. Events
// go out (log, then webhooks) before they are recorded: a crash in between
// repeats an event rather than losing it.
func (w *Watcher) Tick(ctx context.Context) error {
	certs, err := w.Source.Certificates(ctx)
	if err != nil {
		return fmt.Errorf("expirywatch: list certificates: %w", err)
	}
	w.certs.Store(&certs)
	window, err := w.Source.DaysBeforeExpiry(ctx)
	if err != nil {
		return fmt.Errorf("expirywatch: account configuration: %w", err)
	}
	now := w.now().UTC()
	today := now.Format(time.DateOnly)
	var errs []error
	for _, c := range certs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !now.Before(c.NotAfter) || c.LastEventDay == today {
			continue // expired (ACM stops), or already told today
		}
		days := int(c.NotAfter.Sub(now) / (24 * time.Hour))
		if days > window {
			continue
		}
		w.send(ctx, approachingExpiration(w, c, days, now))
		if err := w.Source.RecordEvent(ctx, c.ARN, today); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
