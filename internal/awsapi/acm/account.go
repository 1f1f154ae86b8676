package acm

import (
	"context"
	"net/http"

	"github.com/portico-iot/portico/internal/certificate"
)

type expiryEvents struct {
	DaysBeforeExpiry *int `json:"DaysBeforeExpiry,omitempty"`
}

type putAccountConfigurationRequest struct {
	ExpiryEvents     *expiryEvents `json:"ExpiryEvents"`
	IdempotencyToken string        `json:"IdempotencyToken"`
}

func (h *handler) getAccountConfiguration(ctx context.Context, r *http.Request) (any, error) {
	var in struct{}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	cfg, err := h.svc.AccountConfiguration(ctx)
	if err != nil {
		return nil, err
	}
	days := cfg.DaysBeforeExpiry
	return struct {
		ExpiryEvents expiryEvents `json:"ExpiryEvents"`
	}{expiryEvents{DaysBeforeExpiry: &days}}, nil
}

func (h *handler) putAccountConfiguration(ctx context.Context, r *http.Request) (any, error) {
	var in putAccountConfigurationRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	q := certificate.PutAccountConfigurationInput{IdempotencyToken: in.IdempotencyToken}
	if in.ExpiryEvents != nil {
		q.DaysBeforeExpiry = in.ExpiryEvents.DaysBeforeExpiry
	}
	if err := h.svc.PutAccountConfiguration(ctx, q); err != nil {
		return nil, err
	}
	return empty{}, nil
}
