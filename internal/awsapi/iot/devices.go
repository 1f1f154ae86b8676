package iot

import (
	"context"
	"net/http"
	"time"

	"github.com/portico-iot/portico/internal/device"
)

// Devices is the certificate registry (internal/device) as the adapter sees it.
type Devices interface {
	CreateKeysAndCertificate(ctx context.Context, setAsActive bool) (*device.KeysAndCertificate, error)
	CreateCertificateFromCSR(ctx context.Context, csrPEM string, setAsActive bool) (*device.IssuedCertificate, error)
	RegisterCertificateWithoutCA(ctx context.Context, certificatePEM string, status device.Status) (*device.Certificate, error)
	DescribeCertificate(ctx context.Context, id string) (*device.Certificate, error)
	ListCertificates(ctx context.Context, pageSize int, marker string, ascending bool) (*device.Page, error)
	UpdateCertificate(ctx context.Context, id string, newStatus device.Status) error
	DeleteCertificate(ctx context.Context, id string, forceDelete bool) error
}

var _ Devices = (*device.Service)(nil)

func (h *handler) registerDevices() {
	h.mux.HandleFunc("POST /keys-and-certificate", h.createKeysAndCertificate)
	h.mux.HandleFunc("POST /certificates", h.createCertificateFromCSR)
	h.mux.HandleFunc("POST /certificate/register-no-ca", h.registerCertificateWithoutCA)
	h.mux.HandleFunc("GET /certificates", h.listCertificates)
	h.mux.HandleFunc("GET /certificates/{certificateId}", h.describeCertificate)
	h.mux.HandleFunc("PUT /certificates/{certificateId}", h.updateCertificate)
	h.mux.HandleFunc("DELETE /certificates/{certificateId}", h.deleteCertificate)
	h.registerThings()
	h.registerPolicies()
	h.registerCACertificates()
	h.registerCertificateTransfers()
}

// certEpoch renders a time as a restJson1 timestamp (epoch seconds with a
// millisecond fraction); nil for the zero time, so the member is omitted.
func certEpoch(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	v := float64(t.UnixMilli()) / 1000
	return &v
}

type keyPairJSON struct {
	PublicKey  string `json:"PublicKey,omitempty"`
	PrivateKey string `json:"PrivateKey,omitempty"`
}

func (h *handler) createKeysAndCertificate(w http.ResponseWriter, r *http.Request) {
	setAsActive, err := queryBool(r, "setAsActive")
	if err != nil {
		h.fail(w, err)
		return
	}
	out, err := h.Devices.CreateKeysAndCertificate(r.Context(), setAsActive)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, struct {
		CertificateArn string      `json:"certificateArn"`
		CertificateID  string      `json:"certificateId"`
		CertificatePem string      `json:"certificatePem"`
		KeyPair        keyPairJSON `json:"keyPair"`
	}{out.ARN, out.ID, out.CertificatePEM, keyPairJSON{out.PublicKeyPEM, out.PrivateKeyPEM}})
}

func (h *handler) createCertificateFromCSR(w http.ResponseWriter, r *http.Request) {
	setAsActive, err := queryBool(r, "setAsActive")
	if err != nil {
		h.fail(w, err)
		return
	}
	var in struct {
		CSR *string `json:"certificateSigningRequest"`
	}
	csr, err := decodeRequired(r, &in, "certificateSigningRequest", &in.CSR)
	if err != nil {
		h.fail(w, err)
		return
	}
	out, err := h.Devices.CreateCertificateFromCSR(r.Context(), csr, setAsActive)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, struct {
		CertificateArn string `json:"certificateArn"`
		CertificateID  string `json:"certificateId"`
		CertificatePem string `json:"certificatePem"`
	}{out.ARN, out.ID, out.CertificatePEM})
}

func (h *handler) registerCertificateWithoutCA(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CertificatePem *string `json:"certificatePem"`
		Status         string  `json:"status"`
	}
	pem, err := decodeRequired(r, &in, "certificatePem", &in.CertificatePem)
	if err != nil {
		h.fail(w, err)
		return
	}
	c, err := h.Devices.RegisterCertificateWithoutCA(r.Context(), pem, device.Status(in.Status))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.ok(w, struct {
		CertificateArn string `json:"certificateArn"`
		CertificateID  string `json:"certificateId"`
	}{c.ARN, c.ID})
}

type certificateValidityJSON struct {
	NotBefore *float64 `json:"notBefore,omitempty"`
	NotAfter  *float64 `json:"notAfter,omitempty"`
}

type certificateDescriptionJSON struct {
	CertificateArn   string                   `json:"certificateArn,omitempty"`
	CertificateID    string                   `json:"certificateId,omitempty"`
	CACertificateID  string                   `json:"caCertificateId,omitempty"`
	Status           string                   `json:"status,omitempty"`
	CertificatePem   string                   `json:"certificatePem,omitempty"`
	OwnedBy          string                   `json:"ownedBy,omitempty"`
	CreationDate     *float64                 `json:"creationDate,omitempty"`
	LastModifiedDate *float64                 `json:"lastModifiedDate,omitempty"`
	CustomerVersion  int                      `json:"customerVersion,omitempty"`
	GenerationID     string                   `json:"generationId,omitempty"`
	Validity         *certificateValidityJSON `json:"validity,omitempty"`
	CertificateMode  string                   `json:"certificateMode,omitempty"`
	TransferData     *transferDataJSON        `json:"transferData,omitempty"`
}

func (h *handler) describeCertificate(w http.ResponseWriter, r *http.Request) {
	c, err := h.Devices.DescribeCertificate(r.Context(), r.PathValue("certificateId"))
	if err != nil {
		h.fail(w, err)
		return
	}
	d := certificateDescriptionJSON{
		CertificateArn:   c.ARN,
		CertificateID:    c.ID,
		CACertificateID:  c.CACertificateID,
		Status:           string(c.Status),
		CertificatePem:   c.PEM,
		OwnedBy:          c.OwnedBy,
		CreationDate:     certEpoch(c.CreationDate),
		LastModifiedDate: certEpoch(c.LastModifiedDate),
		CustomerVersion:  c.CustomerVersion,
		GenerationID:     c.GenerationID,
		CertificateMode:  string(c.Mode),
		TransferData:     transferDataOf(c.Transfer),
	}
	if !c.NotBefore.IsZero() || !c.NotAfter.IsZero() {
		d.Validity = &certificateValidityJSON{NotBefore: certEpoch(c.NotBefore), NotAfter: certEpoch(c.NotAfter)}
	}
	h.ok(w, struct {
		CertificateDescription certificateDescriptionJSON `json:"certificateDescription"`
	}{d})
}

type certificateSummaryJSON struct {
	CertificateArn  string   `json:"certificateArn,omitempty"`
	CertificateID   string   `json:"certificateId,omitempty"`
	Status          string   `json:"status,omitempty"`
	CertificateMode string   `json:"certificateMode,omitempty"`
	CreationDate    *float64 `json:"creationDate,omitempty"`
}

func (h *handler) listCertificates(w http.ResponseWriter, r *http.Request) {
	// 0 would mean "default" to the domain; on the wire it is out of range.
	pageSize, marker, err := pageQuery(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	ascending, err := queryBool(r, "isAscendingOrder")
	if err != nil {
		h.fail(w, err)
		return
	}
	page, err := h.Devices.ListCertificates(r.Context(), pageSize, marker, ascending)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		Certificates []certificateSummaryJSON `json:"certificates"`
		NextMarker   string                   `json:"nextMarker,omitempty"`
	}{Certificates: make([]certificateSummaryJSON, 0, len(page.Certificates)), NextMarker: page.NextMarker}
	for _, c := range page.Certificates {
		out.Certificates = append(out.Certificates, certificateSummaryJSON{
			CertificateArn: c.ARN, CertificateID: c.ID, Status: string(c.Status),
			CertificateMode: string(c.Mode), CreationDate: certEpoch(c.CreationDate),
		})
	}
	h.ok(w, out)
}

func (h *handler) updateCertificate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("newStatus") {
		h.fail(w, notNull("newStatus"))
		return
	}
	h.done(w, h.Devices.UpdateCertificate(r.Context(), r.PathValue("certificateId"), device.Status(q.Get("newStatus"))))
}

func (h *handler) deleteCertificate(w http.ResponseWriter, r *http.Request) {
	force, err := queryBool(r, "forceDelete")
	if err != nil {
		h.fail(w, err)
		return
	}
	h.done(w, h.Devices.DeleteCertificate(r.Context(), r.PathValue("certificateId"), force))
}
