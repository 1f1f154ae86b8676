package device

import (
	"context"
	"fmt"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// pageRow is one row of a keyset-paged certificate listing.
type pageRow struct {
	id, status, mode string
	created          time.Time
}

// pageOf reads one page of table (device_certificates or
// device_ca_certificates: both have id, status, mode and created_ms),
// filtered by where (an SQL condition with args), ordered by (created_ms,
// id) and continued after marker. The marker is the one ListCertificates
// uses.
func (s *Service) pageOf(ctx context.Context, table, where string, args []any, pageSize int, marker string, ascending bool) ([]pageRow, string, error) {
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		return nil, "", fault.Invalidf("1 validation error detected: Value '%d' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and %d", pageSize, MaxPageSize)
	}
	query := `SELECT id, status, mode, created_ms FROM ` + table + ` WHERE (` + where + `)`
	if marker != "" {
		createdMs, id, err := decodeMarker(marker)
		if err != nil {
			return nil, "", err
		}
		if ascending {
			query += ` AND (created_ms, id) > (?, ?)`
		} else {
			query += ` AND (created_ms, id) < (?, ?)`
		}
		args = append(args, createdMs, id)
	}
	if ascending {
		query += ` ORDER BY created_ms ASC, id ASC`
	} else {
		query += ` ORDER BY created_ms DESC, id DESC`
	}
	query += ` LIMIT ?`
	args = append(args, pageSize+1)
	rows, err := s.st.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("device: list %s: %w", table, err)
	}
	defer rows.Close()
	var (
		out  []pageRow
		next string
	)
	for rows.Next() {
		var (
			r         pageRow
			createdMs int64
		)
		if err := rows.Scan(&r.id, &r.status, &r.mode, &createdMs); err != nil {
			return nil, "", fmt.Errorf("device: list %s: %w", table, err)
		}
		if len(out) == pageSize {
			last := out[pageSize-1]
			next = encodeMarker(last.created.UnixMilli(), last.id)
			break
		}
		r.created = time.UnixMilli(createdMs).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("device: list %s: %w", table, err)
	}
	return out, next, nil
}
