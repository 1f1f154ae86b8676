// Package store owns Portico's durable state: one SQLite database (WAL mode)
// under the data directory, per-component schema migrations, and the change
// feed that runtime packages use to rebuild their in-memory snapshots.
//
// Writes go through Update, which runs one transaction, commits it whole or not
// at all, bumps the store generation and wakes every subscriber. Readers use DB
// directly.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// idleConnections is how many SQLite connections stay open between
// requests.
const idleConnections = 16

// Store is the embedded SQL store with its change feed.
type Store struct {
	db *sql.DB

	writeMu    sync.Mutex // SQLite has one writer; serialising here avoids SQLITE_BUSY.
	generation atomic.Uint64

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

// Open opens (creating if needed) the database file portico.db in dir.
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, "portico.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)"
	return open(ctx, dsn)
}

// OpenMemory opens a private in-memory database, for tests.
func OpenMemory(ctx context.Context) (*Store, error) {
	db, err := open(ctx, "file::memory:?_pragma=foreign_keys(ON)")
	if err != nil {
		return nil, err
	}
	// An in-memory database lives as long as its one connection.
	db.db.SetMaxOpenConns(1)
	return db, nil
}

func open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	// database/sql keeps 2 idle connections by default: with more
	// concurrent API requests than that it closes and reopens SQLite
	// connections all the time, and each open re-reads the schema (over a
	// quarter of a DescribeDomainConfiguration's CPU under 8 clients).
	db.SetMaxIdleConns(idleConnections)
	s := &Store{db: db, subs: map[chan struct{}]struct{}{}}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	const schema = `
CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (component));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0');`
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("store: init: %w", err)
	}
	var gen uint64
	if err := s.db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key='generation'`).Scan(&gen); err != nil {
		return fmt.Errorf("store: read generation: %w", err)
	}
	s.generation.Store(gen)
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB is the handle for reads. Writes must go through Update.
func (s *Store) DB() *sql.DB { return s.db }

// Generation is the number of committed Updates over the store's lifetime.
func (s *Store) Generation() uint64 { return s.generation.Load() }

// Migrate applies, in order, the steps of component that have not been applied
// yet. Steps are append-only: never edit or reorder a released step.
func (s *Store) Migrate(ctx context.Context, component string, steps []string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate %s: %w", component, err)
	}
	defer tx.Rollback()
	var done int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE component=?`, component).Scan(&done)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: migrate %s: %w", component, err)
	}
	if done > len(steps) {
		return fmt.Errorf("store: migrate %s: database is at version %d, this binary knows %d", component, done, len(steps))
	}
	for i := done; i < len(steps); i++ {
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			return fmt.Errorf("store: migrate %s step %d: %w", component, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version) VALUES (?, ?)
		ON CONFLICT(component) DO UPDATE SET version=excluded.version`, component, len(steps)); err != nil {
		return fmt.Errorf("store: migrate %s: %w", component, err)
	}
	return tx.Commit()
}

// Update runs fn in one transaction. If fn returns nil the transaction commits,
// the generation advances and subscribers are woken; otherwise nothing is
// written and fn's error is returned unchanged. It returns the generation the
// commit produced.
func (s *Store) Update(ctx context.Context, fn func(tx *sql.Tx) error) (uint64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return 0, err
	}
	// Another process may have committed since we last looked: count from
	// the database's generation, so every commit gets a new number.
	var gen uint64
	if err := tx.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key='generation'`).Scan(&gen); err != nil {
		return 0, fmt.Errorf("store: read generation: %w", err)
	}
	gen = max(gen, s.generation.Load()) + 1
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value=? WHERE key='generation'`, gen); err != nil {
		return 0, fmt.Errorf("store: bump generation: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: commit: %w", err)
	}
	s.generation.Store(gen)
	s.notify()
	return gen, nil
}

// UpdateQuiet runs fn in one transaction, serialised with Update and
// Migrate, whole or nothing, but neither advances the generation nor wakes
// subscribers: for runtime state no snapshot is built from (the broker's
// sessions and queues), whose commits must not rebuild every snapshot.
func (s *Store) UpdateQuiet(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// WatchOtherWriters polls the database every interval for commits made by
// other processes on the same file (for example `portico function put` while
// `portico serve` runs) and treats them like local ones: the generation
// advances and subscribers wake. It returns when ctx ends.
func (s *Store) WatchOtherWriters(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var gen uint64
		if err := s.db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key='generation'`).Scan(&gen); err != nil {
			continue
		}
		s.writeMu.Lock()
		advanced := gen > s.generation.Load()
		if advanced {
			s.generation.Store(gen)
		}
		s.writeMu.Unlock()
		if advanced {
			s.notify()
		}
	}
}

// Subscribe returns a channel that receives a value after every committed
// Update. Notifications coalesce: a slow reader sees one wake-up for many
// commits, and should then read the current state. Call cancel to stop.
func (s *Store) Subscribe() (changes <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
	}
}

func (s *Store) notify() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}
