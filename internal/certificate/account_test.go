package certificate

import (
	"context"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

func TestPutAccountConfigurationToken(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	now := time.Now()
	svc.Now = func() time.Time { return now }
	days := func(d int) *int { return &d }

	err := svc.PutAccountConfiguration(ctx, PutAccountConfigurationInput{DaysBeforeExpiry: days(10)})
	wantFault(t, err, fault.Invalid, "ValidationException", "Value null at 'idempotencyToken'")

	if err := svc.PutAccountConfiguration(ctx, PutAccountConfigurationInput{DaysBeforeExpiry: days(10), IdempotencyToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	// After the idempotency window the same token is a new request.
	now = now.Add(IdempotencyWindow + time.Second)
	if err := svc.PutAccountConfiguration(ctx, PutAccountConfigurationInput{DaysBeforeExpiry: days(20), IdempotencyToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := svc.AccountConfiguration(ctx)
	if err != nil || cfg.DaysBeforeExpiry != 20 {
		t.Fatalf("configuration = %+v, %v; want 20 days", cfg, err)
	}
}
