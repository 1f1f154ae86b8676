// Package zone owns Route 53 hosted zones, their resource record sets and the
// changes made to them: typed operations with Route 53's validation rules and
// messages, stored through internal/store, and a consistent snapshot of every
// zone for the DNS server.
//
// Names are stored the way Route 53 prints them (lower case, trailing dot,
// octal escapes such as \052 for '*'); record values are stored as the caller
// wrote them and turned into DNS records by RecordSet.RRs.
package zone

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
)

// Change statuses.
const (
	StatusPending = "PENDING"
	StatusInSync  = "INSYNC"
)

// TTLs and SOA timers of the records every new zone gets, as Route 53 sets them.
const (
	apexNSTTL  = 172800
	apexSOATTL = 900
)

var migrations = []string{
	`CREATE TABLE zone_hosted_zones (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		sort_key TEXT NOT NULL,
		caller_reference TEXT NOT NULL,
		comment TEXT NOT NULL DEFAULT '',
		private INTEGER NOT NULL DEFAULT 0,
		name_servers TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE INDEX zone_hosted_zones_order ON zone_hosted_zones (sort_key, id);
	CREATE TABLE zone_caller_references (
		reference TEXT PRIMARY KEY,
		zone_id TEXT NOT NULL
	);
	CREATE TABLE zone_record_sets (
		zone_id TEXT NOT NULL REFERENCES zone_hosted_zones (id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		sort_key TEXT NOT NULL,
		type TEXT NOT NULL,
		set_identifier TEXT NOT NULL DEFAULT '',
		ttl INTEGER NOT NULL,
		record_values TEXT NOT NULL,
		PRIMARY KEY (zone_id, name, type, set_identifier)
	);
	CREATE INDEX zone_record_sets_order ON zone_record_sets (zone_id, sort_key, type, set_identifier);
	CREATE TABLE zone_changes (
		id TEXT PRIMARY KEY,
		submitted_at INTEGER NOT NULL,
		comment TEXT NOT NULL DEFAULT '',
		generation INTEGER NOT NULL
	);`,
	// Failover routing: the role and the health check of a record set.
	`ALTER TABLE zone_record_sets ADD COLUMN failover TEXT NOT NULL DEFAULT '';
	ALTER TABLE zone_record_sets ADD COLUMN health_check_id TEXT NOT NULL DEFAULT '';`,
	// Weighted and multivalue routing, alias records. An alias stores TTL 0
	// and no values.
	`ALTER TABLE zone_record_sets ADD COLUMN weight INTEGER;
	ALTER TABLE zone_record_sets ADD COLUMN multivalue INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE zone_record_sets ADD COLUMN alias_zone_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE zone_record_sets ADD COLUMN alias_dns_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE zone_record_sets ADD COLUMN alias_evaluate INTEGER NOT NULL DEFAULT 0;`,
	// Latency routing: the record set's region.
	`ALTER TABLE zone_record_sets ADD COLUMN region TEXT NOT NULL DEFAULT '';`,
}

// Service is the hosted-zone domain service.
type Service struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Served returns the store generation the DNS server currently answers
	// from. A change is INSYNC once Served reaches the generation it was
	// committed at. Nil means every change is reported INSYNC.
	Served func() uint64
	// HealthCheckExists answers whether a health check exists, for record
	// sets that name one (NoSuchHealthCheck otherwise). Wire it to
	// health.Service.Exists; nil accepts every id.
	HealthCheckExists func(ctx context.Context, id string) (bool, error)
	// Own, when set, is Portico's own zone for the base domain: aliases may
	// target the endpoint hostnames it serves.
	Own *OwnZone

	st          *store.Store
	nameServers []domainName
}

// NewService migrates the "zone" tables and returns the service. nameServers
// are the host names of Portico's authoritative DNS servers: every new zone
// delegates to them (apex NS records and the DelegationSet), the first one is
// the SOA primary.
func NewService(ctx context.Context, st *store.Store, nameServers []string) (*Service, error) {
	if len(nameServers) == 0 {
		return nil, errors.New("zone: at least one name server is required")
	}
	s := &Service{st: st}
	for _, ns := range nameServers {
		n, err := parseName(ns)
		if err != nil {
			return nil, fmt.Errorf("zone: name server %q: %w", ns, err)
		}
		if len(n) == 0 {
			return nil, fmt.Errorf("zone: name server %q is the root", ns)
		}
		s.nameServers = append(s.nameServers, n)
	}
	if err := st.Migrate(ctx, "zone", migrations); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ChangeInfo describes one submitted change (a record batch, a zone creation
// or deletion).
type ChangeInfo struct {
	ID          string // without the /change/ prefix
	Status      string // StatusPending or StatusInSync
	SubmittedAt time.Time
	Comment     string
}

// status computes PENDING or INSYNC for a change committed at generation gen.
func (s *Service) status(gen uint64) string {
	if s.Served == nil || s.Served() >= gen {
		return StatusInSync
	}
	return StatusPending
}

// GetChange returns the status of a change.
func (s *Service) GetChange(ctx context.Context, id string) (*ChangeInfo, error) {
	id = StripIDPrefix(id)
	var (
		submitted int64
		comment   string
		gen       uint64
	)
	err := s.st.DB().QueryRowContext(ctx, `SELECT submitted_at, comment, generation FROM zone_changes WHERE id=?`, id).
		Scan(&submitted, &comment, &gen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.Coded(fault.NotFound, "NoSuchChange", "A change with the specified change ID does not exist: %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("zone: get change: %w", err)
	}
	return &ChangeInfo{ID: id, Status: s.status(gen), SubmittedAt: time.UnixMilli(submitted).UTC(), Comment: comment}, nil
}

// update runs fn in one store transaction and records a change committed by
// it. fn sees the change ID. It returns the change.
func (s *Service) update(ctx context.Context, comment string, fn func(tx *sql.Tx, changeID string) error) (*ChangeInfo, error) {
	info := &ChangeInfo{ID: newID("C", 20), SubmittedAt: s.now().UTC().Truncate(time.Millisecond), Comment: comment}
	var expected uint64
	gen, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		if err := fn(tx, info.ID); err != nil {
			return err
		}
		// Update holds the store's write lock while fn runs and commits the
		// next generation, so the change can record it in the same transaction.
		expected = s.st.Generation() + 1
		_, err := tx.ExecContext(ctx, `INSERT INTO zone_changes (id, submitted_at, comment, generation) VALUES (?, ?, ?, ?)`,
			info.ID, info.SubmittedAt.UnixMilli(), comment, expected)
		return err
	})
	if err != nil {
		return nil, err
	}
	if gen != expected {
		// The store counted differently; record the real generation so the
		// change cannot report INSYNC before the DNS server serves it.
		if _, err := s.st.Update(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE zone_changes SET generation=? WHERE id=?`, gen, info.ID)
			return err
		}); err != nil {
			return nil, err
		}
	}
	info.Status = s.status(gen)
	return info, nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID returns prefix followed by n random upper-case letters and digits.
func newID(prefix string, n int) string {
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		rand.Read(buf[:])
		for _, c := range buf {
			// 252 is the largest multiple of 36 below 256: no letter is favoured.
			if c < 252 && len(out) < n {
				out = append(out, idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	return prefix + string(out)
}

// StripIDPrefix removes a /hostedzone/, /change/ or /delegationset/ style
// prefix (everything up to the last slash), as the SDKs do for top-level IDs.
func StripIDPrefix(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}
