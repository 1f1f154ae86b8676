package zone

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/portico-iot/portico/internal/fault"
)

// Page sizes of the hosted-zone listings (Route 53: at most 100).
const (
	DefaultZonePageSize = 100
	MaxZonePageSize     = 100
)

// HostedZone is a hosted zone as the API describes it.
type HostedZone struct {
	ID              string // without the /hostedzone/ prefix
	Name            string // lower case, trailing dot, octal escapes
	CallerReference string
	Comment         string
	Private         bool
	RecordSetCount  int64
	// NameServers is the zone's delegation set, without trailing dots.
	NameServers []string
}

// CreateHostedZoneInput is what CreateHostedZone needs.
type CreateHostedZoneInput struct {
	Name            string
	CallerReference string
	Comment         string
	Private         bool
}

// CreateHostedZoneOutput is the new zone and the change that created it.
type CreateHostedZoneOutput struct {
	HostedZone HostedZone
	Change     ChangeInfo
}

func noSuchZone(id string) error {
	return fault.Coded(fault.NotFound, "NoSuchHostedZone", "No hosted zone found with ID: %s", id)
}

func invalidInput(format string, args ...any) error {
	return fault.Coded(fault.Invalid, "InvalidInput", format, args...)
}

// parseZoneName checks a hosted zone name.
func parseZoneName(s string) (domainName, error) {
	n, err := parseName(s)
	if err != nil {
		return nil, fault.Coded(fault.Invalid, "InvalidDomainName", "%s", err.Error())
	}
	if len(n) < 2 {
		return nil, fault.Coded(fault.Invalid, "InvalidDomainName", "%s is a top-level domain and cannot be a hosted zone", n)
	}
	for _, l := range n {
		if l == "*" {
			return nil, fault.Coded(fault.Invalid, "InvalidDomainName", "%s: a hosted zone name cannot contain a wildcard label", n)
		}
	}
	return n, nil
}

// CreateHostedZone creates a public hosted zone with its apex NS and SOA
// record sets. A CallerReference can be used once: reusing it (even after the
// zone was deleted) fails with HostedZoneAlreadyExists, as on Route 53.
func (s *Service) CreateHostedZone(ctx context.Context, in CreateHostedZoneInput) (*CreateHostedZoneOutput, error) {
	if in.CallerReference == "" || len(in.CallerReference) > 128 {
		return nil, invalidInput("CallerReference must be 1 to 128 characters long")
	}
	if len(in.Comment) > 256 {
		return nil, invalidInput("The comment must be at most 256 characters long")
	}
	if in.Private {
		return nil, invalidInput("Portico does not support private hosted zones; create a public hosted zone")
	}
	name, err := parseZoneName(in.Name)
	if err != nil {
		return nil, err
	}
	zone := HostedZone{ID: newID("Z0", 19), Name: name.String(), CallerReference: in.CallerReference,
		Comment: in.Comment, RecordSetCount: 2}
	for _, ns := range s.nameServers {
		zone.NameServers = append(zone.NameServers, strings.TrimSuffix(ns.String(), "."))
	}
	nsJSON, _ := json.Marshal(zone.NameServers)
	nsValues := make([]string, len(s.nameServers))
	for i, ns := range s.nameServers {
		nsValues[i] = ns.String()
	}
	soa := fmt.Sprintf("%s %s 1 7200 900 1209600 86400", s.nameServers[0], hostmaster(s.nameServers[0]))
	change, err := s.update(ctx, "", func(tx *sql.Tx, _ string) error {
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT zone_id FROM zone_caller_references WHERE reference=?`, in.CallerReference).Scan(&existing)
		if err == nil {
			return &fault.Error{Kind: fault.AlreadyExists, Code: "HostedZoneAlreadyExists", ResourceID: existing,
				Message: "A hosted zone has already been created with the specified caller reference."}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO zone_caller_references (reference, zone_id) VALUES (?, ?)`,
			in.CallerReference, zone.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO zone_hosted_zones
			(id, name, sort_key, caller_reference, comment, private, name_servers, created_at)
			VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
			zone.ID, zone.Name, name.sortKey(), in.CallerReference, in.Comment, string(nsJSON), s.now().UnixMilli()); err != nil {
			return err
		}
		if err := putRecordSet(ctx, tx, zone.ID, name, RecordSet{Name: zone.Name, Type: "NS", TTL: apexNSTTL, Values: nsValues}); err != nil {
			return err
		}
		return putRecordSet(ctx, tx, zone.ID, name, RecordSet{Name: zone.Name, Type: "SOA", TTL: apexSOATTL, Values: []string{soa}})
	})
	if err != nil {
		return nil, err
	}
	return &CreateHostedZoneOutput{HostedZone: zone, Change: *change}, nil
}

// hostmaster is the SOA mailbox of new zones: hostmaster at the domain of
// the primary name server (Route 53 uses its own operator's mailbox likewise).
func hostmaster(primary domainName) domainName {
	domain := primary
	if len(domain) > 2 {
		domain = domain[1:]
	}
	return append(domainName{"hostmaster"}, domain...)
}

const zoneColumns = `z.id, z.name, z.caller_reference, z.comment, z.private, z.name_servers,
	(SELECT COUNT(*) FROM zone_record_sets r WHERE r.zone_id = z.id)`

type rowScanner interface{ Scan(dest ...any) error }

func scanZone(row rowScanner) (*HostedZone, error) {
	var (
		z       HostedZone
		private int
		ns      string
	)
	if err := row.Scan(&z.ID, &z.Name, &z.CallerReference, &z.Comment, &private, &ns, &z.RecordSetCount); err != nil {
		return nil, err
	}
	z.Private = private != 0
	if err := json.Unmarshal([]byte(ns), &z.NameServers); err != nil {
		return nil, fmt.Errorf("zone: name servers of %s: %w", z.ID, err)
	}
	return &z, nil
}

// GetHostedZone returns a zone with its delegation set.
func (s *Service) GetHostedZone(ctx context.Context, id string) (*HostedZone, error) {
	id = StripIDPrefix(id)
	z, err := scanZone(s.st.DB().QueryRowContext(ctx, `SELECT `+zoneColumns+` FROM zone_hosted_zones z WHERE z.id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noSuchZone(id)
	}
	if err != nil {
		return nil, fmt.Errorf("zone: get hosted zone: %w", err)
	}
	return z, nil
}

// HostedZoneCount is the number of hosted zones.
func (s *Service) HostedZoneCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM zone_hosted_zones`).Scan(&n); err != nil {
		return 0, fmt.Errorf("zone: count hosted zones: %w", err)
	}
	return n, nil
}

// UpdateHostedZoneComment replaces a zone's comment ("" removes it).
func (s *Service) UpdateHostedZoneComment(ctx context.Context, id, comment string) (*HostedZone, error) {
	id = StripIDPrefix(id)
	if len(comment) > 256 {
		return nil, invalidInput("The comment must be at most 256 characters long")
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE zone_hosted_zones SET comment=? WHERE id=?`, comment, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return noSuchZone(id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetHostedZone(ctx, id)
}

// HostedZonePage is one page of a hosted-zone listing.
type HostedZonePage struct {
	HostedZones []HostedZone
	IsTruncated bool
	// NextMarker is the ID of the first zone of the next page (ListHostedZones).
	NextMarker string
	// NextDNSName and NextHostedZoneID position the next page of ListHostedZonesByName.
	NextDNSName      string
	NextHostedZoneID string
}

func zonePageSize(n int) int {
	if n <= 0 {
		return DefaultZonePageSize
	}
	return min(n, MaxZonePageSize)
}

// ListHostedZones lists zones in the order of their names with labels
// reversed (com.example.), then by ID. marker is the ID of the first zone to
// return (a previous page's NextMarker); maxItems 0 means the default.
func (s *Service) ListHostedZones(ctx context.Context, marker string, maxItems int) (*HostedZonePage, error) {
	marker = StripIDPrefix(marker)
	limit := zonePageSize(maxItems)
	tx, err := s.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("zone: list hosted zones: %w", err)
	}
	defer tx.Rollback()
	startKey, startID := "", ""
	if marker != "" {
		err := tx.QueryRowContext(ctx, `SELECT sort_key, id FROM zone_hosted_zones WHERE id=?`, marker).Scan(&startKey, &startID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, invalidInput("The marker %s does not identify a hosted zone", marker)
		}
		if err != nil {
			return nil, fmt.Errorf("zone: list hosted zones: %w", err)
		}
	}
	return listZones(ctx, tx, startKey, startID, limit)
}

// ListHostedZonesByName lists zones in the same order as ListHostedZones,
// starting at dnsName (and, for equal names, at zoneID).
func (s *Service) ListHostedZonesByName(ctx context.Context, dnsName, zoneID string, maxItems int) (*HostedZonePage, error) {
	zoneID = StripIDPrefix(zoneID)
	if zoneID != "" && dnsName == "" {
		return nil, invalidInput("You must specify a DNSName when you specify a HostedZoneId")
	}
	startKey := ""
	if dnsName != "" {
		n, err := parseName(dnsName)
		if err != nil {
			return nil, fault.Coded(fault.Invalid, "InvalidDomainName", "%s", err.Error())
		}
		startKey = n.sortKey()
	}
	tx, err := s.st.DB().BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("zone: list hosted zones: %w", err)
	}
	defer tx.Rollback()
	return listZones(ctx, tx, startKey, zoneID, zonePageSize(maxItems))
}

func listZones(ctx context.Context, tx *sql.Tx, startKey, startID string, limit int) (*HostedZonePage, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+zoneColumns+`, z.sort_key FROM zone_hosted_zones z
		WHERE z.sort_key > ? OR (z.sort_key = ? AND z.id >= ?)
		ORDER BY z.sort_key, z.id LIMIT ?`, startKey, startKey, startID, limit+1)
	if err != nil {
		return nil, fmt.Errorf("zone: list hosted zones: %w", err)
	}
	defer rows.Close()
	page := &HostedZonePage{HostedZones: []HostedZone{}}
	for rows.Next() {
		var (
			z       HostedZone
			private int
			ns, key string
		)
		if err := rows.Scan(&z.ID, &z.Name, &z.CallerReference, &z.Comment, &private, &ns, &z.RecordSetCount, &key); err != nil {
			return nil, fmt.Errorf("zone: list hosted zones: %w", err)
		}
		z.Private = private != 0
		if err := json.Unmarshal([]byte(ns), &z.NameServers); err != nil {
			return nil, fmt.Errorf("zone: name servers of %s: %w", z.ID, err)
		}
		if len(page.HostedZones) == limit {
			page.IsTruncated = true
			page.NextMarker = z.ID
			page.NextDNSName = z.Name
			page.NextHostedZoneID = z.ID
			break
		}
		page.HostedZones = append(page.HostedZones, z)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("zone: list hosted zones: %w", err)
	}
	return page, nil
}

// DeleteHostedZone deletes a zone that holds nothing but its apex NS and
// SOA record sets.
func (s *Service) DeleteHostedZone(ctx context.Context, id string) (*ChangeInfo, error) {
	id = StripIDPrefix(id)
	return s.update(ctx, "", func(tx *sql.Tx, _ string) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM zone_hosted_zones WHERE id=?`, id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return noSuchZone(id)
		}
		if err != nil {
			return err
		}
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM zone_record_sets
			WHERE zone_id=? AND NOT (name=? AND type IN ('NS', 'SOA'))`, id, name).Scan(&others); err != nil {
			return err
		}
		if others > 0 {
			return fault.Coded(fault.Conflict, "HostedZoneNotEmpty",
				"The specified hosted zone contains non-required resource record sets and so cannot be deleted.")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM zone_record_sets WHERE zone_id=?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM zone_hosted_zones WHERE id=?`, id)
		return err
	})
}
