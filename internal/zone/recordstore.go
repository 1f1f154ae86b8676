package zone

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// recordColumns are the zone_record_sets columns scanRecordSet reads, in its order.
const recordColumns = `name, type, ttl, record_values, set_identifier, failover, health_check_id,
	weight, multivalue, alias_zone_id, alias_dns_name, alias_evaluate, region`

// scanRecordSet reads one row of recordColumns; first are destinations of
// columns selected before them.
func scanRecordSet(row rowScanner, first ...any) (RecordSet, error) {
	var (
		rs                   RecordSet
		values, aliasZone    string
		aliasName            string
		weight               sql.NullInt64
		multivalue, evaluate bool
	)
	dest := append(first, &rs.Name, &rs.Type, &rs.TTL, &values, &rs.SetIdentifier, &rs.Failover, &rs.HealthCheckID,
		&weight, &multivalue, &aliasZone, &aliasName, &evaluate, &rs.Region)
	if err := row.Scan(dest...); err != nil {
		return rs, err
	}
	if err := json.Unmarshal([]byte(values), &rs.Values); err != nil {
		return rs, fmt.Errorf("zone: values of %s %s: %w", rs.Name, rs.Type, err)
	}
	if weight.Valid {
		w := weight.Int64
		rs.Weight = &w
	}
	rs.MultiValueAnswer = multivalue
	if aliasZone != "" {
		rs.Alias = &AliasTarget{HostedZoneID: aliasZone, DNSName: aliasName, EvaluateTargetHealth: evaluate}
	}
	return rs, nil
}

func putRecordSet(ctx context.Context, tx *sql.Tx, zoneID string, owner domainName, rs RecordSet) error {
	values := []byte("[]")
	if len(rs.Values) > 0 {
		var err error
		if values, err = json.Marshal(rs.Values); err != nil {
			return err
		}
	}
	var weight sql.NullInt64
	if rs.Weight != nil {
		weight = sql.NullInt64{Int64: *rs.Weight, Valid: true}
	}
	var alias AliasTarget
	if rs.Alias != nil {
		alias = *rs.Alias
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO zone_record_sets (zone_id, name, sort_key, type, set_identifier, ttl, record_values,
			failover, health_check_id, weight, multivalue, alias_zone_id, alias_dns_name, alias_evaluate, region)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (zone_id, name, type, set_identifier) DO UPDATE SET ttl=excluded.ttl, record_values=excluded.record_values,
			failover=excluded.failover, health_check_id=excluded.health_check_id, weight=excluded.weight,
			multivalue=excluded.multivalue, alias_zone_id=excluded.alias_zone_id, alias_dns_name=excluded.alias_dns_name,
			alias_evaluate=excluded.alias_evaluate, region=excluded.region`,
		zoneID, owner.String(), owner.sortKey(), rs.Type, rs.SetIdentifier, rs.TTL, string(values), rs.Failover, rs.HealthCheckID,
		weight, rs.MultiValueAnswer, alias.HostedZoneID, alias.DNSName, alias.EvaluateTargetHealth, rs.Region)
	return err
}
