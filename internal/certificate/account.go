package certificate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Expiry-event window of the account configuration: ACM's default is 45
// days, its minimum 1 (model), its maximum 45 (CloudFormation's
// AWS::CertificateManager::Account documents 1-45).
const (
	DefaultDaysBeforeExpiry = 45
	MaxDaysBeforeExpiry     = 45
)

// AccountConfiguration is ACM's account-level configuration.
type AccountConfiguration struct {
	// DaysBeforeExpiry is when approaching-expiration events start.
	DaysBeforeExpiry int
}

// PutAccountConfigurationInput is PutAccountConfiguration's input.
type PutAccountConfigurationInput struct {
	// DaysBeforeExpiry nil leaves the setting as it is.
	DaysBeforeExpiry *int
	// IdempotencyToken is required; the same token within
	// IdempotencyWindow is the same request, so a retry changes nothing.
	IdempotencyToken string
}

// AccountConfiguration returns the account configuration, with ACM's
// defaults for what was never set.
func (s *Service) AccountConfiguration(ctx context.Context) (AccountConfiguration, error) {
	cfg := AccountConfiguration{DaysBeforeExpiry: DefaultDaysBeforeExpiry}
	err := s.st.DB().QueryRowContext(ctx, `SELECT days_before_expiry FROM acm_account_configuration WHERE id=1`).Scan(&cfg.DaysBeforeExpiry)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return cfg, fmt.Errorf("certificate: read account configuration: %w", err)
	}
	return cfg, nil
}

// PutAccountConfiguration changes the account configuration.
func (s *Service) PutAccountConfiguration(ctx context.Context, in PutAccountConfigurationInput) error {
	if in.IdempotencyToken == "" {
		return invalid("1 validation error detected: Value null at 'idempotencyToken' failed to satisfy constraint: Member must not be null")
	}
	if !tokenPattern.MatchString(in.IdempotencyToken) {
		return invalid("1 validation error detected: Value '%s' at 'idempotencyToken' failed to satisfy constraint: Member must satisfy regular expression pattern: \\w+ and have length between 1 and 32", in.IdempotencyToken)
	}
	if d := in.DaysBeforeExpiry; d != nil && *d < 1 {
		return invalid("1 validation error detected: Value '%d' at 'expiryEvents.daysBeforeExpiry' failed to satisfy constraint: Member must have value greater than or equal to 1", *d)
	}
	if d := in.DaysBeforeExpiry; d != nil && *d > MaxDaysBeforeExpiry {
		return invalid("DaysBeforeExpiry must be between 1 and %d; got %d.", MaxDaysBeforeExpiry, *d)
	}
	now := s.now()
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var (
			days    = DefaultDaysBeforeExpiry
			token   string
			tokenAt int64
		)
		err := tx.QueryRowContext(ctx, `SELECT days_before_expiry, idempotency_token, token_at FROM acm_account_configuration WHERE id=1`).
			Scan(&days, &token, &tokenAt)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("certificate: read account configuration: %w", err)
		}
		if token == in.IdempotencyToken && tokenAt > now.Add(-IdempotencyWindow).UnixMilli() {
			return nil // a retry of the call that set it
		}
		if in.DaysBeforeExpiry != nil {
			days = *in.DaysBeforeExpiry
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO acm_account_configuration (id, days_before_expiry, idempotency_token, token_at) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET days_before_expiry=excluded.days_before_expiry,
				idempotency_token=excluded.idempotency_token, token_at=excluded.token_at`,
			days, in.IdempotencyToken, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("certificate: write account configuration: %w", err)
		}
		return nil
	})
	return err
}
