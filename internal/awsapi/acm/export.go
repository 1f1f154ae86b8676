package acm

import (
	"context"
	"net/http"
)

type exportRequest struct {
	CertificateArn string `json:"CertificateArn"`
	// Passphrase is a blob: base64 inside the JSON string.
	Passphrase []byte `json:"Passphrase"`
}

type exportResponse struct {
	Certificate      string `json:"Certificate"`
	CertificateChain string `json:"CertificateChain,omitempty"`
	PrivateKey       string `json:"PrivateKey"`
}

func (h *handler) exportCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in exportRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	out, err := h.svc.Export(ctx, in.CertificateArn, in.Passphrase)
	if err != nil {
		return nil, err
	}
	return exportResponse{Certificate: out.Certificate, CertificateChain: out.CertificateChain, PrivateKey: out.PrivateKey}, nil
}
