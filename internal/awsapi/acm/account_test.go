package acm_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
)

func TestAccountConfigurationSDK(t *testing.T) {
	ctx := context.Background()
	e := start(t)
	days := func() int32 {
		t.Helper()
		out, err := e.client.GetAccountConfiguration(ctx, &sdkacm.GetAccountConfigurationInput{})
		if err != nil {
			t.Fatal(err)
		}
		if out.ExpiryEvents == nil {
			t.Fatal("GetAccountConfiguration returned no ExpiryEvents")
		}
		return aws.ToInt32(out.ExpiryEvents.DaysBeforeExpiry)
	}
	put := func(token string, d int32) error {
		_, err := e.client.PutAccountConfiguration(ctx, &sdkacm.PutAccountConfigurationInput{
			IdempotencyToken: aws.String(token), ExpiryEvents: &types.ExpiryEventsConfiguration{DaysBeforeExpiry: aws.Int32(d)}})
		return err
	}

	if got := days(); got != 45 {
		t.Fatalf("default DaysBeforeExpiry = %d, want 45", got)
	}
	if err := put("first", 30); err != nil {
		t.Fatal(err)
	}
	if got := days(); got != 30 {
		t.Fatalf("DaysBeforeExpiry = %d, want 30", got)
	}
	// The same token is the same request: a retry, not a change.
	if err := put("first", 10); err != nil {
		t.Fatal(err)
	}
	if got := days(); got != 30 {
		t.Fatalf("a repeated token changed DaysBeforeExpiry to %d", got)
	}
	if err := put("second", 1); err != nil || days() != 1 {
		t.Fatalf("put 1 = %v, now %d", err, days())
	}
	// No ExpiryEvents: nothing changes.
	if _, err := e.client.PutAccountConfiguration(ctx, &sdkacm.PutAccountConfigurationInput{IdempotencyToken: aws.String("third")}); err != nil || days() != 1 {
		t.Fatalf("put without ExpiryEvents = %v, now %d", err, days())
	}
	for _, tc := range []struct {
		token string
		days  int32
	}{{"t0", 0}, {"t46", 46}, {"t-neg", -1}, {"bad token!", 10}} {
		if err := put(tc.token, tc.days); errorCode(err) != "ValidationException" {
			t.Errorf("put(%q, %d) = %v, want ValidationException", tc.token, tc.days, err)
		}
	}
	if got := days(); got != 1 {
		t.Fatalf("a refused put changed DaysBeforeExpiry to %d", got)
	}
}

func TestAWSCLIAccountConfiguration(t *testing.T) {
	e := start(t)
	cli := e.srv.CLI(t)
	var out struct {
		ExpiryEvents struct{ DaysBeforeExpiry int }
	}
	cli.JSON(t, &out, "acm", "get-account-configuration")
	if out.ExpiryEvents.DaysBeforeExpiry != 45 {
		t.Fatalf("get-account-configuration printed %+v", out)
	}
	cli.Run(t, "acm", "put-account-configuration", "--expiry-events", "DaysBeforeExpiry=14", "--idempotency-token", "cli1")
	cli.JSON(t, &out, "acm", "get-account-configuration")
	if out.ExpiryEvents.DaysBeforeExpiry != 14 {
		t.Fatalf("after put: %+v", out)
	}
	_, stderr, err := cli.Output("acm", "put-account-configuration", "--expiry-events", "DaysBeforeExpiry=90", "--idempotency-token", "cli2")
	if err == nil || !strings.Contains(stderr, "ValidationException") {
		t.Fatalf("DaysBeforeExpiry=90: err %v, stderr %s", err, stderr)
	}
}
