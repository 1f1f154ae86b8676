package device

import (
	"context"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store"
)

const targetAccount = "444455556666"

func faultMessage(t *testing.T, err error) string {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("err = %v (%T), want a fault", err, err)
	}
	return f.Message
}

func TestTransferCertificateLifecycle(t *testing.T) {
	svc, clk, _ := newTestService(t)
	ctx := context.Background()
	created, err := svc.CreateKeysAndCertificate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(created.CertificatePEM))
	before, _ := svc.DescribeCertificate(ctx, created.ID)

	clk.Advance(time.Minute)
	arn, err := svc.TransferCertificate(ctx, strings.ToUpper(created.ID), targetAccount, "for the fleet in Lyon")
	if err != nil {
		t.Fatal(err)
	}
	if arn != created.ARN {
		t.Errorf("transferred ARN %s, want %s", arn, created.ARN)
	}
	c, err := svc.DescribeCertificate(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != StatusPendingTransfer || c.Transfer == nil {
		t.Fatalf("after transfer: status %s, transfer %+v", c.Status, c.Transfer)
	}
	want := TransferData{TargetAccount: targetAccount, Message: "for the fleet in Lyon", Date: clk.Now().Truncate(time.Millisecond)}
	if *c.Transfer != want {
		t.Errorf("transfer data %+v, want %+v", *c.Transfer, want)
	}
	if c.CustomerVersion != before.CustomerVersion+1 || c.GenerationID == before.GenerationID || !c.LastModifiedDate.Equal(want.Date) {
		t.Errorf("transfer is not a modification: version %d->%d, generation %s->%s, modified %s",
			before.CustomerVersion, c.CustomerVersion, before.GenerationID, c.GenerationID, c.LastModifiedDate)
	}
	page, _ := svc.ListCertificates(ctx, 0, "", false)
	if len(page.Certificates) != 1 || page.Certificates[0].Status != StatusPendingTransfer {
		t.Errorf("list: %+v", page.Certificates)
	}

	// While pending: no status change, no delete, no second transfer, and
	// no connection.
	for _, st := range []Status{StatusActive, StatusInactive, StatusRevoked} {
		wantFault(t, svc.UpdateCertificate(ctx, created.ID, st), fault.Conflict, "CertificateStateException")
	}
	wantFault(t, svc.DeleteCertificate(ctx, created.ID, true), fault.Conflict, "CertificateStateException")
	_, err = svc.TransferCertificate(ctx, created.ID, "777788889999", "")
	wantFault(t, err, fault.Conflict, "CertificateStateException")
	snap, err := svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := snap.Authenticate(block.Bytes, "iot.example.com", clk.Now()); !errors.Is(err, ErrCertificateNotActive) || id.Status != StatusPendingTransfer {
		t.Errorf("authenticate while PENDING_TRANSFER: %v (status %s), want not active", err, id.Status)
	}

	// Accept and reject belong to the target account, which Portico does
	// not serve.
	err = svc.AcceptCertificateTransfer(ctx, created.ID, true)
	wantFault(t, err, fault.Invalid, "")
	if msg := faultMessage(t, err); !strings.Contains(msg, "serves account "+testAccount) || !strings.Contains(msg, "targets account "+targetAccount) {
		t.Errorf("accept: %q", msg)
	}
	err = svc.RejectCertificateTransfer(ctx, created.ID, "not ours")
	wantFault(t, err, fault.Invalid, "")
	if msg := faultMessage(t, err); !strings.Contains(msg, "serves account "+testAccount) || !strings.Contains(msg, "targets account "+targetAccount) {
		t.Errorf("reject: %q", msg)
	}
	wantFault(t, svc.RejectCertificateTransfer(ctx, created.ID, strings.Repeat("r", 129)), fault.Invalid, "")
	if c, _ := svc.DescribeCertificate(ctx, created.ID); c.Status != StatusPendingTransfer {
		t.Errorf("accept or reject changed the status to %s", c.Status)
	}

	// Cancel: INACTIVE again, transfer data gone.
	clk.Advance(time.Minute)
	if err := svc.CancelCertificateTransfer(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	c, _ = svc.DescribeCertificate(ctx, created.ID)
	if c.Status != StatusInactive || c.Transfer != nil || c.CustomerVersion != before.CustomerVersion+2 {
		t.Errorf("after cancel: status %s, transfer %+v, version %d", c.Status, c.Transfer, c.CustomerVersion)
	}
	wantFault(t, svc.CancelCertificateTransfer(ctx, created.ID), fault.Invalid, "")
	wantFault(t, svc.AcceptCertificateTransfer(ctx, created.ID, false), fault.Invalid, "")
	wantFault(t, svc.RejectCertificateTransfer(ctx, created.ID, ""), fault.Invalid, "")

	// The certificate is an ordinary INACTIVE one again: it can be
	// transferred (without a message), activated, deleted.
	if _, err := svc.TransferCertificate(ctx, created.ID, targetAccount, ""); err != nil {
		t.Fatal(err)
	}
	if c, _ := svc.DescribeCertificate(ctx, created.ID); c.Transfer == nil || c.Transfer.Message != "" {
		t.Errorf("second transfer: %+v", c.Transfer)
	}
	if err := svc.CancelCertificateTransfer(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.UpdateCertificate(ctx, created.ID, StatusActive); err != nil {
		t.Fatal(err)
	}
	snap, _ = svc.Snapshot(ctx)
	if _, err := snap.Authenticate(block.Bytes, "", clk.Now()); err != nil {
		t.Errorf("authenticate after the cancelled transfer and activation: %v", err)
	}
	if err := svc.UpdateCertificate(ctx, created.ID, StatusInactive); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteCertificate(ctx, created.ID, false); err != nil {
		t.Fatal(err)
	}
}

func TestTransferCertificateRefusals(t *testing.T) {
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	inactive := func() *KeysAndCertificate {
		c, err := svc.CreateKeysAndCertificate(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	active, _ := svc.CreateKeysAndCertificate(ctx, true)
	revoked := inactive()
	if err := svc.UpdateCertificate(ctx, revoked.ID, StatusRevoked); err != nil {
		t.Fatal(err)
	}
	withPolicy := inactive()
	if _, err := svc.CreatePolicy(ctx, "telemetry", pubPolicy("t"), nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.AttachPolicy(ctx, "telemetry", withPolicy.ARN); err != nil {
		t.Fatal(err)
	}
	withThing := inactive()
	if _, err := svc.CreateThing(ctx, "sensor-7", ThingInput{}); err != nil {
		t.Fatal(err)
	}
	if err := svc.AttachThingPrincipal(ctx, "sensor-7", withThing.ARN, ""); err != nil {
		t.Fatal(err)
	}
	withBoth := inactive()
	if err := svc.AttachPolicy(ctx, "telemetry", withBoth.ARN); err != nil {
		t.Fatal(err)
	}
	if err := svc.AttachThingPrincipal(ctx, "sensor-7", withBoth.ARN, ""); err != nil {
		t.Fatal(err)
	}
	good := inactive()
	pendingActivation := inactive()
	if _, err := svc.st.DB().ExecContext(ctx, `UPDATE device_certificates SET status=? WHERE id=?`, string(StatusPendingActivation), pendingActivation.ID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, id, target, message string
		kind                      fault.Kind
		code                      string
		says                      []string
	}{
		{"ACTIVE", active.ID, targetAccount, "", fault.Conflict, "CertificateStateException", []string{"ACTIVE", "deactivate"}},
		{"REVOKED", revoked.ID, targetAccount, "", fault.Conflict, "CertificateStateException", []string{"REVOKED"}},
		{"PENDING_ACTIVATION", pendingActivation.ID, targetAccount, "", fault.Conflict, "CertificateStateException", []string{"PENDING_ACTIVATION", "only an INACTIVE"}},
		{"policy attached", withPolicy.ID, targetAccount, "", fault.Conflict, "TransferConflictException", []string{"1 policy(ies)", "telemetry", "DetachPolicy"}},
		{"thing attached", withThing.ID, targetAccount, "", fault.Conflict, "TransferConflictException", []string{"1 thing(s)", "sensor-7", "DetachThingPrincipal"}},
		{"both attached", withBoth.ID, targetAccount, "", fault.Conflict, "TransferConflictException", []string{"telemetry", "sensor-7"}},
		{"own account", good.ID, testAccount, "", fault.Invalid, "", []string{testAccount, "another account"}},
		{"11 digits", good.ID, "44445555666", "", fault.Invalid, "", []string{"targetAwsAccount", "12"}},
		{"13 digits", good.ID, "4444555566667", "", fault.Invalid, "", []string{"targetAwsAccount"}},
		{"letters", good.ID, "44445555666x", "", fault.Invalid, "", []string{"targetAwsAccount", "[0-9]+"}},
		{"empty account", good.ID, "", "", fault.Invalid, "", []string{"targetAwsAccount"}},
		{"message of 129", good.ID, targetAccount, strings.Repeat("m", 129), fault.Invalid, "", []string{"transferMessage", "128"}},
		{"message of 65 astral characters (130 UTF-16 units)", good.ID, targetAccount, strings.Repeat("😀", 65), fault.Invalid, "", []string{"transferMessage"}},
		{"bad ID", "abc", targetAccount, "", fault.Invalid, "", []string{"certificateId"}},
		{"unknown", strings.Repeat("ab", 32), targetAccount, "", fault.NotFound, "", []string{strings.Repeat("ab", 32)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.TransferCertificate(ctx, tt.id, tt.target, tt.message)
			wantFault(t, err, tt.kind, tt.code)
			msg := faultMessage(t, err)
			for _, s := range tt.says {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
		})
	}
	// Nothing changed.
	for _, id := range []string{active.ID, withPolicy.ID, withThing.ID, good.ID} {
		if c, _ := svc.DescribeCertificate(ctx, id); c.Status == StatusPendingTransfer || c.Transfer != nil {
			t.Errorf("%s: %s %+v after a refusal", id, c.Status, c.Transfer)
		}
	}

	// 128 characters are fine, counted as characters not bytes.
	if _, err := svc.TransferCertificate(ctx, good.ID, targetAccount, strings.Repeat("é", 128)); err != nil {
		t.Fatalf("128 characters: %v", err)
	}
	// Detached, the conflicted certificates transfer.
	if err := svc.DetachPolicy(ctx, "telemetry", withPolicy.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TransferCertificate(ctx, withPolicy.ID, targetAccount, ""); err != nil {
		t.Errorf("after DetachPolicy: %v", err)
	}
	if err := svc.DetachThingPrincipal(ctx, "sensor-7", withThing.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TransferCertificate(ctx, withThing.ID, targetAccount, ""); err != nil {
		t.Errorf("after DetachThingPrincipal: %v", err)
	}

	// Cancel, accept and reject of what does not exist, or with a bad ID.
	unknown := strings.Repeat("cd", 32)
	wantFault(t, svc.CancelCertificateTransfer(ctx, unknown), fault.NotFound, "")
	wantFault(t, svc.AcceptCertificateTransfer(ctx, unknown, false), fault.NotFound, "")
	wantFault(t, svc.RejectCertificateTransfer(ctx, unknown, ""), fault.NotFound, "")
	wantFault(t, svc.CancelCertificateTransfer(ctx, "xyz"), fault.Invalid, "")
	wantFault(t, svc.AcceptCertificateTransfer(ctx, "xyz", false), fault.Invalid, "")
	wantFault(t, svc.RejectCertificateTransfer(ctx, "xyz", ""), fault.Invalid, "")
	// Cancelling what is not pending.
	wantFault(t, svc.CancelCertificateTransfer(ctx, active.ID), fault.Invalid, "")
}

// A database made before transfers existed (the first three migrations)
// upgrades: its certificates keep their data, have no transfer, and can be
// transferred.
func TestTransferMigrationUpgradesExistingDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreate(dir, "device", pkix.Name{CommonName: "ca"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	const oldSteps = 3
	if migrations[oldSteps] != transferMigration {
		t.Fatalf("the transfer migration is not step %d", oldSteps+1)
	}
	if err := st.Migrate(ctx, "device", migrations[:oldSteps]); err != nil {
		t.Fatal(err)
	}
	// The old schema's row, as the old code wrote it.
	old := &Service{st: st, ca: ca, region: testRegion, account: testAccount}
	pemText, der := selfSigned(t, ecKey(t), "old")
	cert, err := parseCertificatePEM(pemText)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, func(tx *sql.Tx) error { return old.insert(ctx, tx, cert, StatusInactive, ModeSNIOnly, "") }); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := NewService(ctx, st, ca, testRegion, testAccount)
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := st.DB().QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE component='device'`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(migrations))
	}
	id := CertificateID(der)
	c, err := svc.DescribeCertificate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != StatusInactive || c.PEM != pemText || c.Transfer != nil {
		t.Fatalf("upgraded certificate: %s %+v", c.Status, c.Transfer)
	}
	if _, err := svc.TransferCertificate(ctx, id, targetAccount, "moved"); err != nil {
		t.Fatal(err)
	}
	if c, _ := svc.DescribeCertificate(ctx, id); c.Status != StatusPendingTransfer || c.Transfer == nil || c.Transfer.Message != "moved" {
		t.Fatalf("transfer after upgrade: %s %+v", c.Status, c.Transfer)
	}
}

func TestListNames(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "c", "d", "e"}, "a, b, c, d, e"},
		{[]string{"a", "b", "c", "d", "e", "f", "g"}, "a, b, c, d, e and 2 more"},
	} {
		if got := listNames(tt.names); got != tt.want {
			t.Errorf("listNames(%v) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
