package iot

import (
	"context"
	"net/http"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/tagging"
)

// CACertificates is the CA side of the certificate registry
// (internal/device): registration code, CA certificates, and device
// certificates registered with a CA. The Devices service serves it when it
// implements it.
type CACertificates interface {
	GetRegistrationCode(ctx context.Context) (string, error)
	RegisterCACertificate(ctx context.Context, in device.RegisterCAInput) (*device.CACertificate, error)
	DescribeCACertificate(ctx context.Context, id string) (*device.CACertificate, error)
	ListCACertificates(ctx context.Context, pageSize int, marker string, ascending bool, templateName string) (*device.CAPage, error)
	UpdateCACertificate(ctx context.Context, in device.UpdateCAInput) error
	DeleteCACertificate(ctx context.Context, id string) error
	RegisterCertificate(ctx context.Context, certificatePEM, caCertificatePEM string, status device.Status, setAsActive bool) (*device.Certificate, error)
	ListCertificatesByCA(ctx context.Context, caID string, pageSize int, marker string, ascending bool) (*device.Page, error)
}

var _ CACertificates = (*device.Service)(nil)

// registerCACertificates adds the CA certificate operations when the
// registry serves them.
func (h *handler) registerCACertificates() {
	cas, ok := h.Devices.(CACertificates)
	if !ok {
		return
	}
	c := caHandler{handler: h, cas: cas}
	h.mux.HandleFunc("GET /registrationcode", c.getRegistrationCode)
	h.mux.HandleFunc("POST /cacertificate", c.registerCACertificate)
	h.mux.HandleFunc("GET /cacertificate/{caCertificateId}", c.describeCACertificate)
	h.mux.HandleFunc("GET /cacertificates", c.listCACertificates)
	h.mux.HandleFunc("PUT /cacertificate/{caCertificateId}", c.updateCACertificate)
	h.mux.HandleFunc("DELETE /cacertificate/{caCertificateId}", c.deleteCACertificate)
	h.mux.HandleFunc("POST /certificate/register", c.registerCertificate)
	h.mux.HandleFunc("GET /certificates-by-ca/{caCertificateId}", c.listCertificatesByCA)
}

type caHandler struct {
	*handler
	cas CACertificates
}

// registrationConfigJSON is the model's RegistrationConfig.
type registrationConfigJSON struct {
	TemplateBody *string `json:"templateBody,omitempty"`
	RoleArn      *string `json:"roleArn,omitempty"`
	TemplateName *string `json:"templateName,omitempty"`
}

func (r *registrationConfigJSON) domain() *device.RegistrationConfig {
	if r == nil {
		return nil
	}
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	return &device.RegistrationConfig{TemplateBody: deref(r.TemplateBody), RoleARN: deref(r.RoleArn), TemplateName: deref(r.TemplateName)}
}

func wireRegistrationConfig(c *device.RegistrationConfig) *registrationConfigJSON {
	if c == nil {
		return nil
	}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return &registrationConfigJSON{TemplateBody: opt(c.TemplateBody), RoleArn: opt(c.RoleARN), TemplateName: opt(c.TemplateName)}
}

func (c caHandler) getRegistrationCode(w http.ResponseWriter, r *http.Request) {
	code, err := c.cas.GetRegistrationCode(r.Context())
	c.respond(w, struct {
		RegistrationCode string `json:"registrationCode"`
	}{code}, err)
}

func (c caHandler) registerCACertificate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CACertificate           *string                 `json:"caCertificate"`
		VerificationCertificate string                  `json:"verificationCertificate"`
		RegistrationConfig      *registrationConfigJSON `json:"registrationConfig"`
		Tags                    []tag                   `json:"tags"`
		CertificateMode         string                  `json:"certificateMode"`
	}
	caPEM, err := decodeRequired(r, &in, "caCertificate", &in.CACertificate)
	if err != nil {
		c.fail(w, err)
		return
	}
	setAsActive, err := queryBool(r, "setAsActive")
	if err != nil {
		c.fail(w, err)
		return
	}
	auto, err := queryBool(r, "allowAutoRegistration")
	if err != nil {
		c.fail(w, err)
		return
	}
	out, err := c.cas.RegisterCACertificate(r.Context(), device.RegisterCAInput{
		CACertificatePEM: caPEM, VerificationCertificatePEM: in.VerificationCertificate,
		SetAsActive: setAsActive, AllowAutoRegistration: auto,
		RegistrationConfig: in.RegistrationConfig.domain(), Mode: device.Mode(in.CertificateMode),
		Tags: fromWireTags(in.Tags),
	})
	if err != nil {
		c.fail(w, err)
		return
	}
	c.ok(w, struct {
		CertificateArn string `json:"certificateArn"`
		CertificateID  string `json:"certificateId"`
	}{out.ARN, out.ID})
}

type caCertificateDescriptionJSON struct {
	CertificateArn         string                   `json:"certificateArn,omitempty"`
	CertificateID          string                   `json:"certificateId,omitempty"`
	Status                 string                   `json:"status,omitempty"`
	CertificatePem         string                   `json:"certificatePem,omitempty"`
	OwnedBy                string                   `json:"ownedBy,omitempty"`
	CreationDate           *float64                 `json:"creationDate,omitempty"`
	AutoRegistrationStatus string                   `json:"autoRegistrationStatus,omitempty"`
	LastModifiedDate       *float64                 `json:"lastModifiedDate,omitempty"`
	CustomerVersion        int                      `json:"customerVersion,omitempty"`
	GenerationID           string                   `json:"generationId,omitempty"`
	Validity               *certificateValidityJSON `json:"validity,omitempty"`
	CertificateMode        string                   `json:"certificateMode,omitempty"`
}

func (c caHandler) describeCACertificate(w http.ResponseWriter, r *http.Request) {
	ca, err := c.cas.DescribeCACertificate(r.Context(), r.PathValue("caCertificateId"))
	if err != nil {
		c.fail(w, err)
		return
	}
	c.ok(w, struct {
		CertificateDescription caCertificateDescriptionJSON `json:"certificateDescription"`
		RegistrationConfig     *registrationConfigJSON      `json:"registrationConfig,omitempty"`
	}{caCertificateDescriptionJSON{
		CertificateArn: ca.ARN, CertificateID: ca.ID, Status: string(ca.Status), CertificatePem: ca.PEM,
		OwnedBy: ca.OwnedBy, CreationDate: certEpoch(ca.CreationDate), AutoRegistrationStatus: string(ca.AutoRegistration),
		LastModifiedDate: certEpoch(ca.LastModifiedDate), CustomerVersion: ca.CustomerVersion, GenerationID: ca.GenerationID,
		Validity:        &certificateValidityJSON{NotBefore: certEpoch(ca.NotBefore), NotAfter: certEpoch(ca.NotAfter)},
		CertificateMode: string(ca.Mode),
	}, wireRegistrationConfig(ca.RegistrationConfig)})
}

func (c caHandler) listCACertificates(w http.ResponseWriter, r *http.Request) {
	pageSize, marker, err := pageQuery(r)
	if err != nil {
		c.fail(w, err)
		return
	}
	ascending, err := queryBool(r, "isAscendingOrder")
	if err != nil {
		c.fail(w, err)
		return
	}
	page, err := c.cas.ListCACertificates(r.Context(), pageSize, marker, ascending, r.URL.Query().Get("templateName"))
	if err != nil {
		c.fail(w, err)
		return
	}
	type caSummaryJSON struct {
		CertificateArn string   `json:"certificateArn,omitempty"`
		CertificateID  string   `json:"certificateId,omitempty"`
		Status         string   `json:"status,omitempty"`
		CreationDate   *float64 `json:"creationDate,omitempty"`
	}
	out := struct {
		Certificates []caSummaryJSON `json:"certificates"`
		NextMarker   string          `json:"nextMarker,omitempty"`
	}{Certificates: make([]caSummaryJSON, 0, len(page.CACertificates)), NextMarker: page.NextMarker}
	for _, s := range page.CACertificates {
		out.Certificates = append(out.Certificates, caSummaryJSON{s.ARN, s.ID, string(s.Status), certEpoch(s.CreationDate)})
	}
	c.ok(w, out)
}

func (c caHandler) updateCACertificate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RegistrationConfig     *registrationConfigJSON `json:"registrationConfig"`
		RemoveAutoRegistration bool                    `json:"removeAutoRegistration"`
	}
	if err := awsapi.DecodeJSON(r, &in); err != nil {
		c.fail(w, err)
		return
	}
	q := r.URL.Query()
	c.done(w, c.cas.UpdateCACertificate(r.Context(), device.UpdateCAInput{
		ID: r.PathValue("caCertificateId"), NewStatus: device.CAStatus(q.Get("newStatus")),
		NewAutoRegistration: device.AutoRegistration(q.Get("newAutoRegistrationStatus")),
		RegistrationConfig:  in.RegistrationConfig.domain(), RemoveAutoRegistration: in.RemoveAutoRegistration,
	}))
}

func (c caHandler) deleteCACertificate(w http.ResponseWriter, r *http.Request) {
	c.done(w, c.cas.DeleteCACertificate(r.Context(), r.PathValue("caCertificateId")))
}

func (c caHandler) registerCertificate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CertificatePem   *string `json:"certificatePem"`
		CACertificatePem string  `json:"caCertificatePem"`
		Status           string  `json:"status"`
	}
	pem, err := decodeRequired(r, &in, "certificatePem", &in.CertificatePem)
	if err != nil {
		c.fail(w, err)
		return
	}
	setAsActive, err := queryBool(r, "setAsActive")
	if err != nil {
		c.fail(w, err)
		return
	}
	out, err := c.cas.RegisterCertificate(r.Context(), pem, in.CACertificatePem, device.Status(in.Status), setAsActive)
	if err != nil {
		c.fail(w, err)
		return
	}
	c.ok(w, struct {
		CertificateArn string `json:"certificateArn"`
		CertificateID  string `json:"certificateId"`
	}{out.ARN, out.ID})
}

func (c caHandler) listCertificatesByCA(w http.ResponseWriter, r *http.Request) {
	pageSize, marker, err := pageQuery(r)
	if err != nil {
		c.fail(w, err)
		return
	}
	ascending, err := queryBool(r, "isAscendingOrder")
	if err != nil {
		c.fail(w, err)
		return
	}
	page, err := c.cas.ListCertificatesByCA(r.Context(), r.PathValue("caCertificateId"), pageSize, marker, ascending)
	if err != nil {
		c.fail(w, err)
		return
	}
	out := struct {
		Certificates []certificateSummaryJSON `json:"certificates"`
		NextMarker   string                   `json:"nextMarker,omitempty"`
	}{Certificates: make([]certificateSummaryJSON, 0, len(page.Certificates)), NextMarker: page.NextMarker}
	for _, s := range page.Certificates {
		out.Certificates = append(out.Certificates, certificateSummaryJSON{
			CertificateArn: s.ARN, CertificateID: s.ID, Status: string(s.Status),
			CertificateMode: string(s.Mode), CreationDate: certEpoch(s.CreationDate),
		})
	}
	c.ok(w, out)
}

// CATags tags CA certificates (ARNs of resource type "cacert").
type CATags interface {
	TagCACertificate(ctx context.Context, arn string, tags []tagging.Tag) error
	UntagCACertificate(ctx context.Context, arn string, keys []string) error
	CACertificateTags(ctx context.Context, arn string) ([]tagging.Tag, error)
}

var _ CATags = (*device.Service)(nil)

// caTagger adapts CATags to the Tagger of TagResource and its siblings.
type caTagger struct{ t CATags }

func (c caTagger) TagResource(ctx context.Context, arn string, tags []tagging.Tag) error {
	return c.t.TagCACertificate(ctx, arn, tags)
}

func (c caTagger) UntagResource(ctx context.Context, arn string, keys []string) error {
	return c.t.UntagCACertificate(ctx, arn, keys)
}

func (c caTagger) ListTagsForResource(ctx context.Context, arn string) ([]tagging.Tag, error) {
	return c.t.CACertificateTags(ctx, arn)
}
