package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

var steps = []string{`CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)`}

func TestUpdateIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, err := OpenMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = s.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO t VALUES ('a', '1')`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the function's error", err)
	}
	var n int
	s.DB().QueryRow(`SELECT count(*) FROM t`).Scan(&n)
	if n != 0 || s.Generation() != 0 {
		t.Fatalf("after a failed update: %d rows, generation %d", n, s.Generation())
	}
	gen, err := s.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t VALUES ('a', '1')`)
		return err
	})
	if err != nil || gen != 1 || s.Generation() != 1 {
		t.Fatalf("gen = %d, err = %v", gen, err)
	}
}

func TestSubscribersAreWokenAndCoalesced(t *testing.T) {
	ctx := context.Background()
	s, _ := OpenMemory(ctx)
	defer s.Close()
	s.Migrate(ctx, "test", steps)
	changes, cancel := s.Subscribe()
	defer cancel()
	for i := 0; i < 3; i++ {
		s.Update(ctx, func(tx *sql.Tx) error { return nil })
	}
	select {
	case <-changes:
	case <-time.After(time.Second):
		t.Fatal("no wake-up after commits")
	}
	select {
	case <-changes:
		t.Fatal("three commits gave more than one pending wake-up")
	default:
	}
}

func TestStatePersistsAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Migrate(ctx, "test", steps)
	s.Update(ctx, func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES ('k', 'v')`); return err })
	s.Close()

	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx, "test", steps); err != nil {
		t.Fatalf("re-running applied migrations: %v", err)
	}
	var v string
	if err := s.DB().QueryRow(`SELECT v FROM t WHERE k='k'`).Scan(&v); err != nil || v != "v" {
		t.Fatalf("v = %q, %v", v, err)
	}
	if s.Generation() != 1 {
		t.Fatalf("generation = %d after reopen", s.Generation())
	}
	if err := s.Migrate(ctx, "test", nil); err == nil {
		t.Fatal("a binary that knows fewer steps than the database was accepted")
	}
}

func TestCommitsOfAnotherProcessWakeSubscribers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	server, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.Migrate(ctx, "test", steps)
	changes, stop := server.Subscribe()
	defer stop()
	go server.WatchOtherWriters(ctx, 10*time.Millisecond)

	// A second handle on the same file stands for another process.
	other, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	gen, err := other.Update(ctx, func(tx *sql.Tx) error { _, err := tx.Exec(`INSERT INTO t VALUES ('x', 'y')`); return err })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("another process's commit did not wake the subscriber")
	}
	if server.Generation() != gen {
		t.Fatalf("generation = %d, want %d", server.Generation(), gen)
	}
	// The next local commit gets a new number, not one the other used.
	next, err := server.Update(ctx, func(tx *sql.Tx) error { return nil })
	if err != nil || next != gen+1 {
		t.Fatalf("next generation = %d, %v; want %d", next, err, gen+1)
	}
}

// UpdateQuiet commits whole or nothing, but neither advances the
// generation nor wakes subscribers.
func TestUpdateQuiet(t *testing.T) {
	ctx := context.Background()
	s, err := OpenMemory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	changes, cancel := s.Subscribe()
	defer cancel()
	before := s.Generation()
	boom := errors.New("boom")
	if err := s.UpdateQuiet(ctx, func(tx *sql.Tx) error {
		tx.Exec(`INSERT INTO t VALUES ('a', '1')`)
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if err := s.UpdateQuiet(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO t VALUES ('b', '2')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var keys string
	s.DB().QueryRow(`SELECT group_concat(k) FROM t`).Scan(&keys)
	if keys != "b" || s.Generation() != before {
		t.Fatalf("rows %q, generation %d (was %d)", keys, s.Generation(), before)
	}
	select {
	case <-changes:
		t.Fatal("a quiet update woke a subscriber")
	case <-time.After(50 * time.Millisecond):
	}
}
