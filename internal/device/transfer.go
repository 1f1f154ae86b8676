package device

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/portico-iot/portico/internal/fault"
)

// Certificate transfers, as AWS IoT does them, in a Portico that serves one
// account. The source account (Portico's own) may offer an INACTIVE
// certificate without attachments to another account (TransferCertificate:
// PENDING_TRANSFER) and take it back (CancelCertificateTransfer: INACTIVE).
// Only the target account may accept or reject a transfer, and a transfer
// always targets an account Portico does not serve: AcceptCertificateTransfer
// and RejectCertificateTransfer answer InvalidRequestException saying so, and
// a transfer never completes.

// MaxTransferMessageLength is the model's limit on transferMessage and
// rejectReason (shape Message), in characters.
const MaxTransferMessageLength = 128

// TransferData is a certificate's pending transfer, as DescribeCertificate
// shows it (transferData). Portico keeps it only while the certificate is
// PENDING_TRANSFER: CancelCertificateTransfer clears it.
type TransferData struct {
	// TargetAccount is the account the certificate is offered to; the wire
	// does not show it.
	TargetAccount string
	// Message is the transferMessage; "" when none was given.
	Message string
	// Date is when TransferCertificate was called.
	Date time.Time
}

// transferMigration records a certificate's pending transfer in its row:
// transfer_ms 0 means none.
const transferMigration = `ALTER TABLE device_certificates ADD COLUMN transfer_target TEXT NOT NULL DEFAULT '';
	ALTER TABLE device_certificates ADD COLUMN transfer_message TEXT NOT NULL DEFAULT '';
	ALTER TABLE device_certificates ADD COLUMN transfer_ms INTEGER NOT NULL DEFAULT 0;`

// messageLength counts characters as AWS's length constraints do (UTF-16
// code units).
func messageLength(s string) int { return len(utf16.Encode([]rune(s))) }

func validateMessage(member, s string) error {
	if messageLength(s) > MaxTransferMessageLength {
		return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", s, member, MaxTransferMessageLength)
	}
	return nil
}

// validateAccount checks an AWS account ID (shape AwsAccountId: 12 digits).
func validateAccount(member, account string) error {
	if len(account) != 12 {
		return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length of 12 digits", account, member)
	}
	for i := 0; i < len(account); i++ {
		if account[i] < '0' || account[i] > '9' {
			return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [0-9]+", account, member)
		}
	}
	return nil
}

func transferConflict(format string, args ...any) error {
	return fault.Coded(fault.Conflict, "TransferConflictException", format, args...)
}

// TransferCertificate offers the certificate to targetAccount, with an
// optional message, and returns its ARN (transferredCertificateArn). The
// certificate must be INACTIVE (ACTIVE, REVOKED, PENDING_TRANSFER and the
// registration statuses are CertificateStateException) and have no policies
// and no things attached (TransferConflictException naming them);
// targetAccount must be 12 digits and not Portico's own account
// (InvalidRequestException). The certificate becomes PENDING_TRANSFER, which
// no device may connect with, and keeps its transfer data until the
// transfer is cancelled.
func (s *Service) TransferCertificate(ctx context.Context, id, targetAccount, message string) (string, error) {
	id, err := validateID(id)
	if err != nil {
		return "", err
	}
	if err := validateAccount("targetAwsAccount", targetAccount); err != nil {
		return "", err
	}
	if err := validateMessage("transferMessage", message); err != nil {
		return "", err
	}
	if targetAccount == s.account {
		return "", fault.Invalidf("Certificate %s is already owned by account %s; a transfer must target another account", id, targetAccount)
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		current, err := currentStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		switch current {
		case StatusInactive:
		case StatusActive:
			return stateError("Certificate %s is ACTIVE; deactivate it (UpdateCertificate to INACTIVE) before transferring it", id)
		case StatusPendingTransfer:
			return stateError("Certificate %s is already PENDING_TRANSFER; cancel that transfer (CancelCertificateTransfer) before starting another", id)
		case StatusRevoked:
			return stateError("Certificate %s is REVOKED; a revoked certificate cannot be transferred", id)
		default:
			return stateError("Certificate %s is %s; only an INACTIVE certificate can be transferred", id, current)
		}
		policies, err := attachedNames(ctx, tx, `SELECT policy_name FROM device_policy_targets WHERE certificate_id=? ORDER BY policy_name`, id)
		if err != nil {
			return err
		}
		things, err := attachedNames(ctx, tx, `SELECT thing_name FROM device_thing_principals WHERE certificate_id=? ORDER BY thing_name`, id)
		if err != nil {
			return err
		}
		var attached []string
		if len(policies) > 0 {
			attached = append(attached, fmt.Sprintf("%d policy(ies) attached (%s; DetachPolicy)", len(policies), listNames(policies)))
		}
		if len(things) > 0 {
			attached = append(attached, fmt.Sprintf("%d thing(s) attached (%s; DetachThingPrincipal)", len(things), listNames(things)))
		}
		if len(attached) > 0 {
			return transferConflict("Certificate %s has %s; detach them before transferring it", id, strings.Join(attached, " and "))
		}
		return s.setTransfer(ctx, tx, id, StatusPendingTransfer, targetAccount, message, s.now().UnixMilli())
	})
	if err != nil {
		return "", err
	}
	return s.ARN(id), nil
}

// CancelCertificateTransfer takes back a PENDING_TRANSFER certificate: it
// becomes INACTIVE and its transfer data is cleared. A certificate with no
// pending transfer is InvalidRequestException. (AWS answers
// TransferAlreadyCompletedException once the target has accepted; a
// transfer from Portico is never accepted.)
func (s *Service) CancelCertificateTransfer(ctx context.Context, id string) error {
	id, err := validateID(id)
	if err != nil {
		return err
	}
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		current, err := currentStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		if current != StatusPendingTransfer {
			return fault.Invalidf("Certificate %s is %s, not PENDING_TRANSFER: there is no transfer to cancel", id, current)
		}
		return s.setTransfer(ctx, tx, id, StatusInactive, "", "", 0)
	})
	return err
}

// AcceptCertificateTransfer is called by the target account of a transfer,
// which Portico never serves: a pending transfer is InvalidRequestException
// naming both accounts, as is a certificate with no pending transfer.
// setAsActive is the caller's and changes nothing.
func (s *Service) AcceptCertificateTransfer(ctx context.Context, id string, setAsActive bool) error {
	return s.targetOnly(ctx, id, "accept")
}

// RejectCertificateTransfer is AcceptCertificateTransfer's sibling: the
// target account's call, refused the same way. rejectReason is checked
// against the model (at most 128 characters).
func (s *Service) RejectCertificateTransfer(ctx context.Context, id, rejectReason string) error {
	if err := validateMessage("rejectReason", rejectReason); err != nil {
		return err
	}
	return s.targetOnly(ctx, id, "reject")
}

func (s *Service) targetOnly(ctx context.Context, id, verb string) error {
	id, err := validateID(id)
	if err != nil {
		return err
	}
	var status, target string
	err = s.st.DB().QueryRowContext(ctx, `SELECT status, transfer_target FROM device_certificates WHERE id=?`, id).Scan(&status, &target)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("device: %s certificate transfer: %w", verb, err)
	}
	if Status(status) != StatusPendingTransfer {
		return fault.Invalidf("Certificate %s is %s, not PENDING_TRANSFER: there is no transfer to %s", id, status, verb)
	}
	return fault.Invalidf("This Portico serves account %s; the transfer of certificate %s targets account %s, which Portico does not serve: only that account can %s it. To take the certificate back, cancel the transfer (CancelCertificateTransfer)", s.account, id, target, verb)
}

// setTransfer writes a certificate's status and transfer columns, as a
// modification (customer version and generation ID change).
func (s *Service) setTransfer(ctx context.Context, tx *sql.Tx, id string, status Status, target, message string, transferMs int64) error {
	gen, err := newGenerationID()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE device_certificates SET status=?, transfer_target=?, transfer_message=?,
		transfer_ms=?, modified_ms=?, customer_version=customer_version+1, generation_id=? WHERE id=?`,
		string(status), target, message, transferMs, s.now().UnixMilli(), gen, id)
	if err != nil {
		return fmt.Errorf("device: certificate transfer: %w", err)
	}
	return nil
}

// attachedNames returns the first column of query's rows.
func attachedNames(ctx context.Context, tx *sql.Tx, query, id string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, id)
	if err != nil {
		return nil, fmt.Errorf("device: transfer certificate: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("device: transfer certificate: %w", err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// listNames joins names for a message, the first 5 and a count of the rest.
func listNames(names []string) string {
	const shown = 5
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:shown], ", "), len(names)-shown)
}
