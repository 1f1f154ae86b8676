package iot_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/device"
)

const transferTarget = "444455556666"

// wantTransferError checks an SDK error's code and HTTP status, and that its
// message says each of says.
func wantTransferError(t *testing.T, what string, err error, code string, status int, says ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %s", what, code)
		return
	}
	gotCode, msg, gotStatus := apiError(t, err)
	if gotCode != code || gotStatus != status {
		t.Errorf("%s: %s (%d) %q, want %s (%d)", what, gotCode, gotStatus, msg, code, status)
	}
	for _, s := range says {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: message %q does not say %q", what, msg, s)
		}
	}
}

func TestCertificateTransferThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	created, err := f.client.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := created.CertificateId

	start := time.Now().Truncate(time.Millisecond)
	out, err := f.client.TransferCertificate(ctx, &awsiot.TransferCertificateInput{
		CertificateId: id, TargetAwsAccount: aws.String(transferTarget), TransferMessage: aws.String("for the fleet in Lyon")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.TransferredCertificateArn) != aws.ToString(created.CertificateArn) {
		t.Errorf("transferredCertificateArn %s, want %s", aws.ToString(out.TransferredCertificateArn), aws.ToString(created.CertificateArn))
	}

	desc, err := f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: id})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.CertificateDescription
	if d.Status != types.CertificateStatusPendingTransfer || d.TransferData == nil {
		t.Fatalf("describe: status %s, transferData %+v", d.Status, d.TransferData)
	}
	td := d.TransferData
	if aws.ToString(td.TransferMessage) != "for the fleet in Lyon" || td.TransferDate == nil ||
		td.TransferDate.Before(start) || td.TransferDate.After(time.Now()) ||
		td.AcceptDate != nil || td.RejectDate != nil || td.RejectReason != nil {
		t.Errorf("transferData %+v (date %v)", td, td.TransferDate)
	}
	// On the wire: transferDate is epoch seconds, like the other dates.
	var wire struct {
		CertificateDescription struct {
			TransferData map[string]any `json:"transferData"`
		} `json:"certificateDescription"`
	}
	if err := json.Unmarshal(f.wire.lastBody(), &wire); err != nil {
		t.Fatal(err)
	}
	if _, ok := wire.CertificateDescription.TransferData["transferDate"].(float64); !ok {
		t.Errorf("wire transferData %v", wire.CertificateDescription.TransferData)
	}

	list, err := f.client.ListCertificates(ctx, &awsiot.ListCertificatesInput{})
	if err != nil || len(list.Certificates) != 1 || list.Certificates[0].Status != types.CertificateStatusPendingTransfer {
		t.Fatalf("list: %+v %v", list, err)
	}

	// While pending, the certificate cannot change.
	for _, st := range []types.CertificateStatus{types.CertificateStatusActive, types.CertificateStatusInactive, types.CertificateStatusRevoked} {
		_, err = f.client.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: id, NewStatus: st})
		wantTransferError(t, "update to "+string(st), err, "CertificateStateException", 406, "PENDING_TRANSFER")
	}
	_, err = f.client.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: id, ForceDelete: true})
	wantTransferError(t, "delete", err, "CertificateStateException", 406, "PENDING_TRANSFER", "cancel")
	_, err = f.client.TransferCertificate(ctx, &awsiot.TransferCertificateInput{CertificateId: id, TargetAwsAccount: aws.String("777788889999")})
	wantTransferError(t, "second transfer", err, "CertificateStateException", 406, "PENDING_TRANSFER")

	// Accept and reject are the target account's, which Portico does not
	// serve.
	_, err = f.client.AcceptCertificateTransfer(ctx, &awsiot.AcceptCertificateTransferInput{CertificateId: id, SetAsActive: true})
	wantTransferError(t, "accept", err, "InvalidRequestException", 400, "serves account "+apitest.Account, "targets account "+transferTarget)
	_, err = f.client.RejectCertificateTransfer(ctx, &awsiot.RejectCertificateTransferInput{CertificateId: id, RejectReason: aws.String("not ours")})
	wantTransferError(t, "reject", err, "InvalidRequestException", 400, "serves account "+apitest.Account, "targets account "+transferTarget)
	_, err = f.client.RejectCertificateTransfer(ctx, &awsiot.RejectCertificateTransferInput{CertificateId: id, RejectReason: aws.String(strings.Repeat("r", 129))})
	wantTransferError(t, "reject reason of 129", err, "InvalidRequestException", 400, "rejectReason")

	if _, err := f.client.CancelCertificateTransfer(ctx, &awsiot.CancelCertificateTransferInput{CertificateId: id}); err != nil {
		t.Fatal(err)
	}
	desc, _ = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: id})
	if desc.CertificateDescription.Status != types.CertificateStatusInactive || desc.CertificateDescription.TransferData != nil {
		t.Errorf("after cancel: %s %+v", desc.CertificateDescription.Status, desc.CertificateDescription.TransferData)
	}
	_, err = f.client.CancelCertificateTransfer(ctx, &awsiot.CancelCertificateTransferInput{CertificateId: id})
	wantTransferError(t, "cancel again", err, "InvalidRequestException", 400, "not PENDING_TRANSFER")
	_, err = f.client.AcceptCertificateTransfer(ctx, &awsiot.AcceptCertificateTransferInput{CertificateId: id})
	wantTransferError(t, "accept with none pending", err, "InvalidRequestException", 400, "no transfer")

	// Cancelled, it is an ordinary INACTIVE certificate: it can be deleted.
	if _, err := f.client.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: id}); err != nil {
		t.Fatal(err)
	}
}

func TestCertificateTransferRefusalsThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	newCert := func(active bool) *awsiot.CreateKeysAndCertificateOutput {
		out, err := f.client.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{SetAsActive: active})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	active := newCert(true)
	revoked := newCert(false)
	if _, err := f.client.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: revoked.CertificateId, NewStatus: types.CertificateStatusRevoked}); err != nil {
		t.Fatal(err)
	}
	withPolicy := newCert(false)
	if _, err := f.client.CreatePolicy(ctx, &awsiot.CreatePolicyInput{PolicyName: aws.String("telemetry"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AttachPolicy(ctx, &awsiot.AttachPolicyInput{PolicyName: aws.String("telemetry"), Target: withPolicy.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	withThing := newCert(false)
	if _, err := f.client.CreateThing(ctx, &awsiot.CreateThingInput{ThingName: aws.String("sensor-7")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AttachThingPrincipal(ctx, &awsiot.AttachThingPrincipalInput{ThingName: aws.String("sensor-7"), Principal: withThing.CertificateArn}); err != nil {
		t.Fatal(err)
	}
	good := newCert(false)

	tests := []struct {
		name             string
		id               *string
		target, message  string
		code             string
		status           int
		says             []string
		conflictTypeWant bool
	}{
		{"ACTIVE", active.CertificateId, transferTarget, "", "CertificateStateException", 406, []string{"ACTIVE", "deactivate"}, false},
		{"REVOKED", revoked.CertificateId, transferTarget, "", "CertificateStateException", 406, []string{"REVOKED"}, false},
		{"policy attached", withPolicy.CertificateId, transferTarget, "", "TransferConflictException", 409, []string{"telemetry", "DetachPolicy"}, true},
		{"thing attached", withThing.CertificateId, transferTarget, "", "TransferConflictException", 409, []string{"sensor-7", "DetachThingPrincipal"}, true},
		{"own account", good.CertificateId, apitest.Account, "", "InvalidRequestException", 400, []string{apitest.Account}, false},
		{"short account", good.CertificateId, "12345", "", "InvalidRequestException", 400, []string{"targetAwsAccount"}, false},
		{"account with letters", good.CertificateId, "12345678901a", "", "InvalidRequestException", 400, []string{"targetAwsAccount"}, false},
		{"message of 129", good.CertificateId, transferTarget, strings.Repeat("m", 129), "InvalidRequestException", 400, []string{"transferMessage", "128"}, false},
		{"unknown certificate", aws.String(strings.Repeat("ab", 32)), transferTarget, "", "ResourceNotFoundException", 404, nil, false},
		{"malformed ID", aws.String("abc"), transferTarget, "", "InvalidRequestException", 400, []string{"certificateId"}, false},
	}
	for _, tt := range tests {
		in := &awsiot.TransferCertificateInput{CertificateId: tt.id, TargetAwsAccount: aws.String(tt.target)}
		if tt.message != "" {
			in.TransferMessage = aws.String(tt.message)
		}
		_, err := f.client.TransferCertificate(ctx, in)
		wantTransferError(t, tt.name, err, tt.code, tt.status, tt.says...)
		var conflict *types.TransferConflictException
		if tt.conflictTypeWant && !errors.As(err, &conflict) {
			t.Errorf("%s: the SDK made %T of it, want *types.TransferConflictException", tt.name, err)
		}
	}
	for _, c := range []*awsiot.CreateKeysAndCertificateOutput{active, revoked, withPolicy, withThing, good} {
		desc, _ := f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: c.CertificateId})
		if desc.CertificateDescription.Status == types.CertificateStatusPendingTransfer || desc.CertificateDescription.TransferData != nil {
			t.Errorf("%s changed by a refused transfer", aws.ToString(c.CertificateId))
		}
	}

	// Cancel, accept and reject of an unknown or active certificate.
	unknown := aws.String(strings.Repeat("cd", 32))
	_, err := f.client.CancelCertificateTransfer(ctx, &awsiot.CancelCertificateTransferInput{CertificateId: unknown})
	wantTransferError(t, "cancel unknown", err, "ResourceNotFoundException", 404)
	_, err = f.client.AcceptCertificateTransfer(ctx, &awsiot.AcceptCertificateTransferInput{CertificateId: unknown})
	wantTransferError(t, "accept unknown", err, "ResourceNotFoundException", 404)
	_, err = f.client.RejectCertificateTransfer(ctx, &awsiot.RejectCertificateTransferInput{CertificateId: unknown})
	wantTransferError(t, "reject unknown", err, "ResourceNotFoundException", 404)
	_, err = f.client.CancelCertificateTransfer(ctx, &awsiot.CancelCertificateTransferInput{CertificateId: active.CertificateId})
	wantTransferError(t, "cancel ACTIVE", err, "InvalidRequestException", 400, "ACTIVE")
}

// The developer guide's commands, through the aws CLI.
func TestCertificateTransferWithAWSCLI(t *testing.T) {
	f := newDeviceFixture(t)
	cli := f.srv.CLI(t)
	ctx := context.Background()
	c, err := f.svc.CreateKeysAndCertificate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := cli.Output("iot", "transfer-certificate", "--certificate-id", c.ID, "--target-aws-account", transferTarget)
	if err == nil || !strings.Contains(stderr, "CertificateStateException") || !strings.Contains(stderr, "deactivate") {
		t.Fatalf("transfer of an ACTIVE certificate: %v %s", err, stderr)
	}
	cli.Run(t, "iot", "update-certificate", "--certificate-id", c.ID, "--new-status", "INACTIVE")
	if _, err := f.svc.CreatePolicy(ctx, "telemetry", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`, nil); err != nil {
		t.Fatal(err)
	}
	cli.Run(t, "iot", "attach-policy", "--policy-name", "telemetry", "--target", c.ARN)
	_, stderr, err = cli.Output("iot", "transfer-certificate", "--certificate-id", c.ID, "--target-aws-account", transferTarget)
	if err == nil || !strings.Contains(stderr, "TransferConflictException") || !strings.Contains(stderr, "telemetry") {
		t.Fatalf("transfer with a policy attached: %v %s", err, stderr)
	}
	cli.Run(t, "iot", "detach-policy", "--policy-name", "telemetry", "--target", c.ARN)

	var out struct{ TransferredCertificateArn string }
	cli.JSON(t, &out, "iot", "transfer-certificate", "--certificate-id", c.ID, "--target-aws-account", transferTarget,
		"--transfer-message", "for the fleet in Lyon")
	if out.TransferredCertificateArn != c.ARN {
		t.Errorf("transferredCertificateArn %q, want %s", out.TransferredCertificateArn, c.ARN)
	}
	var desc struct {
		CertificateDescription struct {
			Status       string
			TransferData *struct {
				TransferMessage string
				TransferDate    float64 // the CLI prints epoch seconds without a config file
			}
		}
	}
	cli.JSON(t, &desc, "iot", "describe-certificate", "--certificate-id", c.ID)
	d := desc.CertificateDescription
	if d.Status != string(device.StatusPendingTransfer) || d.TransferData == nil || d.TransferData.TransferMessage != "for the fleet in Lyon" {
		t.Fatalf("describe-certificate: %+v", d)
	}
	if when := time.UnixMilli(int64(d.TransferData.TransferDate * 1000)); time.Since(when) > time.Minute || time.Until(when) > time.Second {
		t.Errorf("transferDate %v", d.TransferData.TransferDate)
	}
	var list struct {
		Certificates []struct{ CertificateId, Status string }
	}
	cli.JSON(t, &list, "iot", "list-certificates")
	if len(list.Certificates) != 1 || list.Certificates[0].Status != "PENDING_TRANSFER" {
		t.Errorf("list-certificates: %+v", list)
	}
	for _, args := range [][]string{
		{"update-certificate", "--certificate-id", c.ID, "--new-status", "ACTIVE"},
		{"delete-certificate", "--certificate-id", c.ID},
	} {
		if _, stderr, err := cli.Output(append([]string{"iot"}, args...)...); err == nil || !strings.Contains(stderr, "CertificateStateException") {
			t.Errorf("%s while PENDING_TRANSFER: %v %s", args[0], err, stderr)
		}
	}
	_, stderr, err = cli.Output("iot", "accept-certificate-transfer", "--certificate-id", c.ID, "--set-as-active")
	if err == nil || !strings.Contains(stderr, "InvalidRequestException") || !strings.Contains(stderr, "targets account "+transferTarget) {
		t.Errorf("accept-certificate-transfer: %v %s", err, stderr)
	}
	_, stderr, err = cli.Output("iot", "reject-certificate-transfer", "--certificate-id", c.ID, "--reject-reason", "wrong account")
	if err == nil || !strings.Contains(stderr, "InvalidRequestException") || !strings.Contains(stderr, "serves account "+apitest.Account) {
		t.Errorf("reject-certificate-transfer: %v %s", err, stderr)
	}

	if printed := cli.Run(t, "iot", "cancel-certificate-transfer", "--certificate-id", c.ID); len(strings.TrimSpace(string(printed))) != 0 {
		t.Errorf("cancel-certificate-transfer printed %q", printed)
	}
	desc.CertificateDescription.TransferData = nil
	cli.JSON(t, &desc, "iot", "describe-certificate", "--certificate-id", c.ID)
	if desc.CertificateDescription.Status != "INACTIVE" || desc.CertificateDescription.TransferData != nil {
		t.Errorf("after cancel-certificate-transfer: %+v", desc.CertificateDescription)
	}
	_, stderr, err = cli.Output("iot", "cancel-certificate-transfer", "--certificate-id", c.ID)
	if err == nil || !strings.Contains(stderr, "InvalidRequestException") {
		t.Errorf("cancel with nothing pending: %v %s", err, stderr)
	}
}
