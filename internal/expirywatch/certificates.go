package expirywatch

import (
	"context"

	"github.com/portico-iot/portico/internal/certificate"
)

// Certificates is the Source of the ACM certificate service: every imported
// or issued certificate, the account's DaysBeforeExpiry, and the days an
// event was sent, kept in the same database.
type Certificates struct{ Service *certificate.Service }

var _ Source = Certificates{}

func (s Certificates) Certificates(ctx context.Context) ([]Certificate, error) {
	states, err := s.Service.ExpiryStates(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Certificate, len(states))
	for i, c := range states {
		out[i] = Certificate{ARN: c.ARN, CommonName: c.CommonName, NotAfter: c.NotAfter, LastEventDay: c.LastEventDay}
	}
	return out, nil
}

func (s Certificates) DaysBeforeExpiry(ctx context.Context) (int, error) {
	cfg, err := s.Service.AccountConfiguration(ctx)
	return cfg.DaysBeforeExpiry, err
}

func (s Certificates) RecordEvent(ctx context.Context, arn, day string) error {
	return s.Service.RecordExpiryEvent(ctx, arn, day)
}
