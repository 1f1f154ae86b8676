package iot

import (
	"context"
	"net/http"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/device"
)

// CertificateTransfers are the certificate transfer operations of the
// registry (internal/device, transfer.go). Portico serves one account, so
// AcceptCertificateTransfer and RejectCertificateTransfer, the target
// account's calls, are refused by the domain.
type CertificateTransfers interface {
	TransferCertificate(ctx context.Context, id, targetAccount, message string) (string, error)
	CancelCertificateTransfer(ctx context.Context, id string) error
	AcceptCertificateTransfer(ctx context.Context, id string, setAsActive bool) error
	RejectCertificateTransfer(ctx context.Context, id, rejectReason string) error
}

var _ CertificateTransfers = (*device.Service)(nil)

func (h *handler) registerCertificateTransfers() {
	t, ok := h.Devices.(CertificateTransfers)
	if !ok {
		return
	}
	a := transfersAPI{handler: h, svc: t}
	h.mux.HandleFunc("PATCH /transfer-certificate/{certificateId}", a.transferCertificate)
	h.mux.HandleFunc("PATCH /cancel-certificate-transfer/{certificateId}", a.cancelCertificateTransfer)
	h.mux.HandleFunc("PATCH /accept-certificate-transfer/{certificateId}", a.acceptCertificateTransfer)
	h.mux.HandleFunc("PATCH /reject-certificate-transfer/{certificateId}", a.rejectCertificateTransfer)
}

type transfersAPI struct {
	*handler
	svc CertificateTransfers
}

func (a transfersAPI) done(w http.ResponseWriter, err error) {
	if err != nil {
		a.handler.fail(w, err)
		return
	}
	a.ok(w, struct{}{})
}

func (a transfersAPI) transferCertificate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("targetAwsAccount") {
		a.handler.fail(w, notNull("targetAwsAccount"))
		return
	}
	var in struct {
		TransferMessage string `json:"transferMessage"`
	}
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		a.handler.fail(w, err)
		return
	}
	arn, err := a.svc.TransferCertificate(r.Context(), r.PathValue("certificateId"), q.Get("targetAwsAccount"), in.TransferMessage)
	if err != nil {
		a.handler.fail(w, err)
		return
	}
	a.ok(w, struct {
		TransferredCertificateArn string `json:"transferredCertificateArn"`
	}{arn})
}

func (a transfersAPI) cancelCertificateTransfer(w http.ResponseWriter, r *http.Request) {
	a.done(w, a.svc.CancelCertificateTransfer(r.Context(), r.PathValue("certificateId")))
}

func (a transfersAPI) acceptCertificateTransfer(w http.ResponseWriter, r *http.Request) {
	setAsActive, err := queryBool(r, "setAsActive")
	if err != nil {
		a.handler.fail(w, err)
		return
	}
	a.done(w, a.svc.AcceptCertificateTransfer(r.Context(), r.PathValue("certificateId"), setAsActive))
}

func (a transfersAPI) rejectCertificateTransfer(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RejectReason string `json:"rejectReason"`
	}
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		a.handler.fail(w, err)
		return
	}
	a.done(w, a.svc.RejectCertificateTransfer(r.Context(), r.PathValue("certificateId"), in.RejectReason))
}

// transferDataJSON is DescribeCertificate's transferData.
type transferDataJSON struct {
	TransferMessage string   `json:"transferMessage,omitempty"`
	TransferDate    *float64 `json:"transferDate,omitempty"`
}

// transferDataOf renders a certificate's pending transfer; nil for none.
func transferDataOf(t *device.TransferData) *transferDataJSON {
	if t == nil {
		return nil
	}
	return &transferDataJSON{TransferMessage: t.Message, TransferDate: certEpoch(t.Date)}
}
