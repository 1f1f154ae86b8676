package device

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// GetRegistrationCode returns the account's CA registration code: 64
// lowercase hexadecimal characters, made once and the same on every call,
// as AWS IoT keeps one per account and region. A verification certificate
// carries it as its subject CN (RegisterCACertificate).
func (s *Service) GetRegistrationCode(ctx context.Context) (string, error) {
	code, err := s.registrationCode(ctx)
	if err != nil || code != "" {
		return code, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("device: registration code: %w", err)
	}
	// Two first calls may race: the first insert wins and both read it.
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO device_registration_code (account, code) VALUES (?, ?)
			ON CONFLICT (account) DO NOTHING`, s.account, hex.EncodeToString(b[:]))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("device: registration code: %w", err)
	}
	return s.registrationCode(ctx)
}

// registrationCode reads the account's registration code; "" when none was
// made yet. Reading never writes, so it wakes no snapshot rebuild.
func (s *Service) registrationCode(ctx context.Context) (string, error) {
	var code string
	err := s.st.DB().QueryRowContext(ctx, `SELECT code FROM device_registration_code WHERE account=?`, s.account).Scan(&code)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("device: registration code: %w", err)
	}
	return code, nil
}
