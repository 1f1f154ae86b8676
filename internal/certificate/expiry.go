package certificate

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ExpiryState is what expiry warnings need of one certificate that has a
// certificate (imported, or issued; not a request still pending or failed).
type ExpiryState struct {
	ARN        string
	CommonName string // the certificate's DomainName
	NotAfter   time.Time
	// LastEventDay is the UTC date (YYYY-MM-DD) of the last
	// approaching-expiration event sent, "" if none.
	LastEventDay string
}

// ExpiryStates lists every certificate that has an expiry, in creation
// order; revoked certificates are left out (they will never be served
// again, so their expiry needs no warning). It reads stored columns only, no PEM parsing, so it is cheap to
// call on every change.
func (s *Service) ExpiryStates(ctx context.Context) ([]ExpiryState, error) {
	rows, err := s.st.DB().QueryContext(ctx, `SELECT arn, domain_name, not_after, expiry_event_day FROM acm_certificate
		WHERE certificate_pem != '' AND lifecycle != 'REVOKED' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("certificate: expiry states: %w", err)
	}
	defer rows.Close()
	var out []ExpiryState
	for rows.Next() {
		var (
			e        ExpiryState
			notAfter int64
		)
		if err := rows.Scan(&e.ARN, &e.CommonName, &notAfter, &e.LastEventDay); err != nil {
			return nil, fmt.Errorf("certificate: expiry states: %w", err)
		}
		e.NotAfter = time.Unix(notAfter, 0).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("certificate: expiry states: %w", err)
	}
	return out, nil
}

// RecordExpiryEvent remembers that the approaching-expiration event of day
// (a UTC date, YYYY-MM-DD) was sent for arn, so that a restart does not
// send it again. A certificate deleted meanwhile is not an error.
func (s *Service) RecordExpiryEvent(ctx context.Context, arn, day string) error {
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE acm_certificate SET expiry_event_day=? WHERE arn=?`, day, arn)
		return err
	})
	if err != nil {
		return fmt.Errorf("certificate: record expiry event of %s: %w", arn, err)
	}
	return nil
}
