package store

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared is a read statement prepared at its first use and then reused:
// database/sql otherwise prepares (parses and plans) the SQL text again on
// every query, which is a third of the CPU of a hot read such as
// DescribeDomainConfiguration's.
type Prepared struct {
	s    *Store
	text string
	once sync.Once
	stmt *sql.Stmt // nil if preparing failed: queries then use the text
}

// Prepare returns text as a Prepared read statement. Nothing is prepared
// until its first query, so it can be declared before the migrations that
// create its tables.
func (s *Store) Prepare(text string) *Prepared { return &Prepared{s: s, text: text} }

func (p *Prepared) prepared() *sql.Stmt {
	p.once.Do(func() {
		// Not the caller's context: one cancelled request must not leave
		// the statement unprepared for good.
		if st, err := p.s.db.PrepareContext(context.Background(), p.text); err == nil {
			p.stmt = st
		}
	})
	return p.stmt
}

// QueryRowContext runs the statement for at most one row.
func (p *Prepared) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	if st := p.prepared(); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.s.db.QueryRowContext(ctx, p.text, args...)
}
