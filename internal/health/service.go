// Package health owns Route 53 health checks: the domain service (create,
// get, list, update, delete, count, with Route 53's CallerReference and
// version rules, stored through internal/store) and the Checker, the runtime
// that probes every check for real and publishes statuses through an atomic
// snapshot. CALCULATED checks are never probed: the Checker derives them
// from their children (calculated.go).
//
// Extension: RequestInterval accepts 1 to 9 seconds besides Route 53's 10
// and 30, for fast failover on a local network. Health checks may target
// private and loopback addresses (Route 53 refuses them).
package health

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
)

// Health check types Portico probes.
const (
	TypeTCP           = "TCP"
	TypeHTTP          = "HTTP"
	TypeHTTPS         = "HTTPS"
	TypeHTTPStrMatch  = "HTTP_STR_MATCH"
	TypeHTTPSStrMatch = "HTTPS_STR_MATCH"
	// TypeCalculated is healthy when at least HealthThreshold of its
	// ChildHealthChecks are; it is never probed.
	TypeCalculated = "CALCULATED"
)

// Defaults and limits (reference C.9).
const (
	DefaultRequestInterval  = 30
	DefaultFailureThreshold = 3
	MaxSearchBytes          = 5120
	DefaultPageSize         = 100
	MaxPageSize             = 1000
	MaxChildHealthChecks    = 256
	MaxHealthThreshold      = 256
)

var checkerRegions = []string{"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"}

// Config is a HealthCheckConfig. Port, RequestInterval and FailureThreshold
// are always set once stored (defaults applied).
type Config struct {
	IPAddress                string   `json:"ip,omitempty"`
	Port                     int32    `json:"port,omitempty"`
	Type                     string   `json:"type"`
	ResourcePath             string   `json:"path,omitempty"`
	FullyQualifiedDomainName string   `json:"fqdn,omitempty"`
	SearchString             string   `json:"search,omitempty"`
	RequestInterval          int32    `json:"interval"`
	FailureThreshold         int32    `json:"threshold"`
	MeasureLatency           bool     `json:"latency,omitempty"`
	Inverted                 bool     `json:"inverted,omitempty"`
	Disabled                 bool     `json:"disabled,omitempty"`
	EnableSNI                bool     `json:"sni,omitempty"`
	Regions                  []string `json:"regions,omitempty"`
	// HealthThreshold and ChildHealthChecks configure CALCULATED checks.
	HealthThreshold   int32    `json:"healthThreshold,omitempty"`
	ChildHealthChecks []string `json:"children,omitempty"`
}

// HealthCheck is a stored health check.
type HealthCheck struct {
	ID              string
	CallerReference string
	Config          Config
	Version         int64
}

// Service is the health-check domain service.
type Service struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	st  *store.Store
}

var migrations = []string{
	`CREATE TABLE health_checks (
		id TEXT PRIMARY KEY,
		caller_reference TEXT NOT NULL,
		config TEXT NOT NULL,
		version INTEGER NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE health_caller_references (
		reference TEXT PRIMARY KEY,
		id TEXT NOT NULL,
		config TEXT NOT NULL
	);`,
}

// NewService migrates the "health" tables and returns the service.
func NewService(ctx context.Context, st *store.Store) (*Service, error) {
	if err := st.Migrate(ctx, "health", migrations); err != nil {
		return nil, err
	}
	return &Service{st: st}, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func invalid(format string, args ...any) error {
	return fault.Coded(fault.Invalid, "InvalidInput", format, args...)
}

func noSuch(id string) error {
	return fault.Coded(fault.NotFound, "NoSuchHealthCheck", "A health check with id %s does not exist.", id)
}

// normalize checks a configuration and applies the defaults.
func normalize(c Config) (Config, error) {
	switch c.Type {
	case TypeTCP, TypeHTTP, TypeHTTPS, TypeHTTPStrMatch, TypeHTTPSStrMatch:
	case TypeCalculated:
		if len(c.ChildHealthChecks) == 0 {
			c.ChildHealthChecks = nil // as stored, so a replay compares equal
		}
		return c, checkCalculated(c)
	case "CLOUDWATCH_METRIC", "RECOVERY_CONTROL":
		return c, invalid("Portico does not support health checks of type %s yet (supported: TCP, HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, CALCULATED)", c.Type)
	default:
		return c, invalid("1 validation error detected: Value '%s' at 'healthCheckConfig.type' failed to satisfy constraint: Member must satisfy enum value set: [HTTP, HTTPS, HTTP_STR_MATCH, HTTPS_STR_MATCH, TCP, CALCULATED, CLOUDWATCH_METRIC, RECOVERY_CONTROL]", c.Type)
	}
	if err := checkMutable(c); err != nil {
		return c, err
	}
	if c.Port == 0 {
		switch c.Type {
		case TypeHTTP, TypeHTTPStrMatch:
			c.Port = 80
		case TypeHTTPS, TypeHTTPSStrMatch:
			c.Port = 443
		default:
			return c, invalid("A Port is required for health checks of type TCP")
		}
	}
	if c.RequestInterval == 0 {
		c.RequestInterval = DefaultRequestInterval
	}
	if !(c.RequestInterval >= 1 && c.RequestInterval <= 10 || c.RequestInterval == 30) {
		return c, invalid("RequestInterval must be 10 or 30 (Portico also accepts 1 to 9 seconds), not %d", c.RequestInterval)
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = DefaultFailureThreshold
	}
	return c, nil
}

// checkMutable validates the fields UpdateHealthCheck may change.
func checkMutable(c Config) error {
	if c.Type == TypeCalculated {
		return checkCalculated(c)
	}
	if c.HealthThreshold != 0 || c.ChildHealthChecks != nil {
		return invalid("HealthThreshold and ChildHealthChecks apply only to health checks of type CALCULATED, not %s", c.Type)
	}
	if c.IPAddress != "" && net.ParseIP(c.IPAddress) == nil {
		return invalid("Invalid IP address: %s", c.IPAddress)
	}
	if c.IPAddress == "" && c.FullyQualifiedDomainName == "" {
		return invalid("A health check needs an IPAddress or a FullyQualifiedDomainName")
	}
	if c.Port < 0 || c.Port > 65535 {
		return invalid("1 validation error detected: Value '%d' at 'healthCheckConfig.port' failed to satisfy constraint: Member must have value between 1 and 65535", c.Port)
	}
	if c.FailureThreshold != 0 && (c.FailureThreshold < 1 || c.FailureThreshold > 10) {
		return invalid("1 validation error detected: Value '%d' at 'healthCheckConfig.failureThreshold' failed to satisfy constraint: Member must have value between 1 and 10", c.FailureThreshold)
	}
	if len(c.ResourcePath) > 255 || len(c.FullyQualifiedDomainName) > 255 || len(c.SearchString) > 255 {
		return invalid("ResourcePath, FullyQualifiedDomainName and SearchString are limited to 255 characters")
	}
	if (c.Type == TypeHTTPStrMatch || c.Type == TypeHTTPSStrMatch) && c.SearchString == "" {
		return invalid("A SearchString is required for health checks of type %s", c.Type)
	}
	if c.Regions != nil {
		if len(c.Regions) < 3 || len(c.Regions) > 64 {
			return invalid("1 validation error detected: Value at 'healthCheckConfig.regions' failed to satisfy constraint: Member must have length between 3 and 64")
		}
		for _, r := range c.Regions {
			if !slices.Contains(checkerRegions, r) {
				return invalid("1 validation error detected: Value '%s' at 'healthCheckConfig.regions' failed to satisfy constraint: Member must satisfy enum value set: %v", r, checkerRegions)
			}
		}
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Create creates a health check. A CallerReference used before returns the
// existing check when the configuration is identical and it still exists;
// otherwise HealthCheckAlreadyExists.
func (s *Service) Create(ctx context.Context, callerReference string, cfg Config) (*HealthCheck, error) {
	if len(callerReference) < 1 || len(callerReference) > 64 {
		return nil, invalid("1 validation error detected: Value at 'callerReference' failed to satisfy constraint: Member must have length between 1 and 64")
	}
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(cfg)
	out := &HealthCheck{ID: newUUID(), CallerReference: callerReference, Config: cfg, Version: 1}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		var id, stored string
		err := tx.QueryRowContext(ctx, `SELECT id, config FROM health_caller_references WHERE reference=?`, callerReference).Scan(&id, &stored)
		if err == nil {
			var prev Config
			if json.Unmarshal([]byte(stored), &prev) == nil && reflect.DeepEqual(prev, cfg) {
				hc, err := get(ctx, tx, id)
				if err == nil {
					*out = *hc
					return nil
				}
			}
			return fault.Coded(fault.AlreadyExists, "HealthCheckAlreadyExists",
				"A health check with caller reference %s already exists.", callerReference)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := checkChildren(ctx, tx, out.ID, cfg.ChildHealthChecks); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO health_caller_references (reference, id, config) VALUES (?, ?, ?)`,
			callerReference, out.ID, string(raw)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO health_checks (id, caller_reference, config, version, created_at) VALUES (?, ?, ?, 1, ?)`,
			out.ID, callerReference, string(raw), s.now().UnixNano())
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func get(ctx context.Context, q querier, id string) (*HealthCheck, error) {
	hc := &HealthCheck{ID: id}
	var raw string
	err := q.QueryRowContext(ctx, `SELECT caller_reference, config, version FROM health_checks WHERE id=?`, id).
		Scan(&hc.CallerReference, &raw, &hc.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noSuch(id)
	}
	if err != nil {
		return nil, fmt.Errorf("health: get %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(raw), &hc.Config); err != nil {
		return nil, fmt.Errorf("health: config of %s: %w", id, err)
	}
	return hc, nil
}

// Get returns a health check.
func (s *Service) Get(ctx context.Context, id string) (*HealthCheck, error) {
	return get(ctx, s.st.DB(), id)
}

// Exists reports whether a health check exists (zone.Service.HealthCheckExists).
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	_, err := s.Get(ctx, id)
	var f *fault.Error
	if errors.As(err, &f) && f.Kind == fault.NotFound {
		return false, nil
	}
	return err == nil, err
}

// Page is one page of List.
type Page struct {
	HealthChecks []HealthCheck
	IsTruncated  bool
	NextMarker   string
}

// List lists health checks by id, starting at marker (an id).
func (s *Service) List(ctx context.Context, marker string, maxItems int) (*Page, error) {
	if maxItems <= 0 {
		maxItems = DefaultPageSize
	}
	maxItems = min(maxItems, MaxPageSize)
	all, err := s.All(ctx)
	if err != nil {
		return nil, err
	}
	page := &Page{HealthChecks: []HealthCheck{}}
	for _, hc := range all {
		if hc.ID < marker {
			continue
		}
		if len(page.HealthChecks) == maxItems {
			page.IsTruncated, page.NextMarker = true, hc.ID
			break
		}
		page.HealthChecks = append(page.HealthChecks, hc)
	}
	return page, nil
}

// All returns every health check, ordered by id (the Checker's source).
func (s *Service) All(ctx context.Context) ([]HealthCheck, error) {
	rows, err := s.st.DB().QueryContext(ctx, `SELECT id, caller_reference, config, version FROM health_checks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("health: list: %w", err)
	}
	defer rows.Close()
	var out []HealthCheck
	for rows.Next() {
		var (
			hc  HealthCheck
			raw string
		)
		if err := rows.Scan(&hc.ID, &hc.CallerReference, &raw, &hc.Version); err != nil {
			return nil, fmt.Errorf("health: list: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &hc.Config); err != nil {
			return nil, fmt.Errorf("health: config of %s: %w", hc.ID, err)
		}
		out = append(out, hc)
	}
	return out, rows.Err()
}

// Count returns the number of health checks.
func (s *Service) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.st.DB().QueryRowContext(ctx, `SELECT count(*) FROM health_checks`).Scan(&n)
	return n, err
}

// Delete deletes a health check. As in Route 53 today, record sets may
// still name it (HealthCheckInUse is deprecated): they count as healthy.
// Its CallerReference stays taken.
func (s *Service) Delete(ctx context.Context, id string) error {
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM health_checks WHERE id=?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return noSuch(id)
		}
		return nil
	})
	return err
}

// UpdateInput holds UpdateHealthCheck's members; nil means unchanged.
type UpdateInput struct {
	Version                  *int64
	IPAddress                *string
	Port                     *int32
	ResourcePath             *string
	FullyQualifiedDomainName *string
	SearchString             *string
	FailureThreshold         *int32
	Inverted                 *bool
	Disabled                 *bool
	EnableSNI                *bool
	Regions                  []string
	ResetElements            []string
	// HealthThreshold and ChildHealthChecks change CALCULATED checks.
	HealthThreshold   *int32
	ChildHealthChecks []string
}

// Update changes the mutable fields and bumps the version.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*HealthCheck, error) {
	var out *HealthCheck
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		hc, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		if in.Version != nil && *in.Version != hc.Version {
			return fault.Coded(fault.Conflict, "HealthCheckVersionMismatch",
				"The value of HealthCheckVersion in the request (%d) does not match the current version (%d).", *in.Version, hc.Version)
		}
		c := &hc.Config
		for _, r := range in.ResetElements {
			switch r {
			case "FullyQualifiedDomainName":
				c.FullyQualifiedDomainName = ""
			case "Regions":
				c.Regions = nil
			case "ResourcePath":
				c.ResourcePath = ""
			case "ChildHealthChecks":
				c.ChildHealthChecks = nil
			default:
				return invalid("1 validation error detected: Value '%s' at 'resetElements' failed to satisfy constraint: Member must satisfy enum value set: [FullyQualifiedDomainName, Regions, ResourcePath, ChildHealthChecks]", r)
			}
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&c.IPAddress, in.IPAddress)
		set(&c.ResourcePath, in.ResourcePath)
		set(&c.FullyQualifiedDomainName, in.FullyQualifiedDomainName)
		set(&c.SearchString, in.SearchString)
		if in.Port != nil {
			c.Port = *in.Port
		}
		if in.FailureThreshold != nil {
			c.FailureThreshold = *in.FailureThreshold
		}
		if in.Inverted != nil {
			c.Inverted = *in.Inverted
		}
		if in.Disabled != nil {
			c.Disabled = *in.Disabled
		}
		if in.EnableSNI != nil {
			c.EnableSNI = *in.EnableSNI
		}
		if in.Regions != nil {
			c.Regions = in.Regions
		}
		if in.HealthThreshold != nil {
			c.HealthThreshold = *in.HealthThreshold
		}
		if in.ChildHealthChecks != nil {
			c.ChildHealthChecks = in.ChildHealthChecks
		}
		if c.Port == 0 && c.Type != TypeCalculated {
			return invalid("1 validation error detected: Value '0' at 'port' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}
		if err := checkMutable(*c); err != nil {
			return err
		}
		if err := checkChildren(ctx, tx, id, c.ChildHealthChecks); err != nil {
			return err
		}
		hc.Version++
		raw, _ := json.Marshal(hc.Config)
		if _, err := tx.ExecContext(ctx, `UPDATE health_checks SET config=?, version=? WHERE id=?`, string(raw), hc.Version, id); err != nil {
			return err
		}
		out = hc
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
