package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
)

// TestPreparedReadsCommittedRows: a statement declared before its table
// exists works once the table does, sees each commit, answers ErrNoRows for
// no row, and serves concurrent readers (each on its own connection).
func TestPreparedReadsCommittedRows(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	byKey := s.Prepare(`SELECT v FROM kv WHERE k=?`)
	if err := s.Migrate(ctx, "test", []string{`CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)`}); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := byKey.QueryRowContext(ctx, "a").Scan(&v); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("missing row: %v, want sql.ErrNoRows", err)
	}
	for _, want := range []string{"1", "2"} {
		if _, err := s.Update(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('a', ?) ON CONFLICT(k) DO UPDATE SET v=excluded.v`, want)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := byKey.QueryRowContext(ctx, "a").Scan(&v); err != nil || v != want {
			t.Fatalf("read %q, %v; want %q", v, err, want)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			var v string
			if err := byKey.QueryRowContext(ctx, "a").Scan(&v); err != nil || v != "2" {
				errs <- errors.Join(err, errors.New("read "+v))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
