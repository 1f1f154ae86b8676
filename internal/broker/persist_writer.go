package broker

// The persistence hook's writer: one goroutine that commits the hook's writes
// in batches (group commit). Writers queue an operation and, when they need
// it on disk before they go on (a QoS 1 message before its PUBACK), wait for
// the commit of the batch it went into; every operation queued while one
// batch commits goes into the next one, so concurrent publishers share a
// transaction instead of each paying for one. The queue is bounded: when it
// is full, writers wait.

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// execer runs one SQL statement: a *sql.Tx or a *sql.Conn inside BEGIN/COMMIT.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// QuietUpdater is implemented by a store that can run a write transaction
// serialised with its other writers without advancing its change feed: the
// broker's sessions and queues are runtime state no snapshot is built from,
// and a commit per batch of messages must not wake every snapshot builder.
type QuietUpdater interface {
	UpdateQuiet(ctx context.Context, fn func(tx *sql.Tx) error) error
}

type persistOp struct {
	fn   func(ctx context.Context, x execer) error
	done chan error // nil: nobody waits
}

var errWriterClosed = errors.New("broker: persistence writer closed")

const (
	persistQueueLen = 8192 // operations waiting for the writer
	persistBatchMax = 2048 // operations per transaction
)

type writer struct {
	db     *sql.DB
	quiet  QuietUpdater // nil: BEGIN IMMEDIATE on a connection of db
	logger *slog.Logger

	// Without a QuietUpdater the writer keeps a connection of its own
	// (unless the pool has only one) with its statements prepared, and
	// leaves checkpoints, which fsync, to a goroutine of their own: a
	// commit in WAL mode with synchronous=NORMAL then only appends to the
	// WAL.
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	dirty atomic.Bool // committed since the last checkpoint

	ops     chan persistOp
	mu      sync.RWMutex // held for reading while sending on ops, for writing to close it
	closed  bool
	stopped chan struct{}

	commits  atomic.Int64
	written  atomic.Int64
	failures atomic.Int64
}

func newWriter(db *sql.DB, quiet QuietUpdater, logger *slog.Logger) *writer {
	w := &writer{db: db, quiet: quiet, logger: logger, ops: make(chan persistOp, persistQueueLen), stopped: make(chan struct{}),
		stmts: map[string]*sql.Stmt{}}
	if quiet == nil && db.Stats().MaxOpenConnections != 1 {
		ctx := context.Background()
		if conn, err := db.Conn(ctx); err == nil {
			if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err == nil {
				w.conn = conn
			} else {
				conn.Close()
			}
		}
	}
	checkpointStop := make(chan struct{})
	go func() {
		w.run()
		close(checkpointStop)
	}()
	if w.conn != nil {
		go w.checkpoints(checkpointStop)
	}
	return w
}

// checkpointInterval is how often the WAL is checkpointed while the writer
// writes: SQLite's own automatic checkpoint is off on its connection.
const checkpointInterval = 250 * time.Millisecond

func (w *writer) checkpoints(stop <-chan struct{}) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if w.dirty.Swap(false) {
			// PASSIVE: copies what it can without waiting for, or
			// blocking, readers and writers.
			w.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

// submit queues fn. With wait it returns once fn's batch committed (or
// failed); otherwise at once.
func (w *writer) submit(fn func(ctx context.Context, x execer) error, wait bool) error {
	var done chan error
	if wait {
		done = donePool.Get().(chan error)
	}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		if done != nil {
			donePool.Put(done)
		}
		return errWriterClosed
	}
	w.ops <- persistOp{fn: fn, done: done}
	w.mu.RUnlock()
	if done == nil {
		return nil
	}
	err := <-done
	donePool.Put(done)
	return err
}

// close commits what is queued and stops the writer.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.stopped
}

func (w *writer) run() {
	defer close(w.stopped)
	defer func() {
		for _, st := range w.stmts {
			st.Close()
		}
		if w.conn != nil {
			w.conn.Close()
		}
	}()
	batch := make([]persistOp, 0, persistBatchMax)
	for op := range w.ops {
		batch = append(batch[:0], op)
	drain:
		for len(batch) < persistBatchMax {
			select {
			case op, ok := <-w.ops:
				if !ok {
					break drain
				}
				batch = append(batch, op)
			default:
				break drain
			}
		}
		err := w.commit(batch)
		if err != nil && len(batch) > 1 {
			// One bad operation must not cost the others theirs: retry
			// each on its own.
			for i := range batch {
				e := w.commit(batch[i : i+1])
				w.finish(batch[i], e)
			}
			continue
		}
		for i := range batch {
			w.finish(batch[i], err)
		}
	}
}

func (w *writer) finish(op persistOp, err error) {
	if err != nil {
		w.failures.Add(1)
		w.logger.Error("broker state not saved", "error", err)
	}
	if op.done != nil {
		op.done <- err
	}
}

func (w *writer) commit(batch []persistOp) error {
	ctx := context.Background()
	run := func(x execer) error {
		for _, op := range batch {
			if err := op.fn(ctx, x); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch {
	case w.quiet != nil:
		err = w.quiet.UpdateQuiet(ctx, func(tx *sql.Tx) error { return run(txExecer{w, tx}) })
	case w.conn != nil:
		err = w.commitOn(ctx, w.conn, preparedExecer{w}, run)
	default:
		err = w.commitConn(ctx, run)
	}
	if err == nil {
		w.commits.Add(1)
		w.written.Add(int64(len(batch)))
		w.dirty.Store(true)
	}
	return err
}

// txExecer runs statements in a transaction of the QuietUpdater, prepared
// once on the pool.
type txExecer struct {
	w  *writer
	tx *sql.Tx
}

func (x txExecer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := x.w.stmts[query]
	if !ok {
		var err error
		if st, err = x.w.db.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		x.w.stmts[query] = st
	}
	return x.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}

// preparedExecer runs statements on the writer's connection, prepared once.
type preparedExecer struct{ w *writer }

func (p preparedExecer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := p.w.stmts[query]
	if !ok {
		var err error
		if st, err = p.w.conn.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		p.w.stmts[query] = st
	}
	return st.ExecContext(ctx, args...)
}

// commitConn runs one transaction on a connection of its own. BEGIN
// IMMEDIATE takes SQLite's write lock first, so the transaction waits for
// other writers (busy_timeout) instead of failing half way.
func (w *writer) commitConn(ctx context.Context, run func(execer) error) error {
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return w.commitOn(ctx, conn, conn, run)
}

func (w *writer) commitOn(ctx context.Context, conn *sql.Conn, x execer, run func(execer) error) error {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := run(x); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	return nil
}
