// Package acm is the AWS JSON 1.1 adapter for AWS Certificate Manager
// (signing name "acm", X-Amz-Target prefix "CertificateManager"). It decodes
// requests, calls the certificate domain service and encodes its answers and
// faults exactly as the botocore model says.
package acm

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/fault"
)

// TargetPrefix is the X-Amz-Target prefix of every ACM operation.
const TargetPrefix = "CertificateManager."

// Codes are ACM's default error codes per fault kind.
var Codes = awsapi.Codes{
	fault.Invalid:       "ValidationException",
	fault.NotFound:      "ResourceNotFoundException",
	fault.AlreadyExists: "ConflictException",
	fault.Conflict:      "ResourceInUseException",
	fault.LimitExceeded: "LimitExceededException",
	fault.Internal:      "InternalFailure",
}

type handler struct {
	svc    *certificate.Service
	logger *slog.Logger
	ops    map[string]func(ctx context.Context, r *http.Request) (any, error)
}

// New returns the ACM handler.
func New(svc *certificate.Service, logger *slog.Logger) http.Handler {
	h := &handler{svc: svc, logger: logger}
	h.ops = map[string]func(context.Context, *http.Request) (any, error){
		"ImportCertificate":         h.importCertificate,
		"DescribeCertificate":       h.describeCertificate,
		"ListCertificates":          h.listCertificates,
		"GetCertificate":            h.getCertificate,
		"DeleteCertificate":         h.deleteCertificate,
		"AddTagsToCertificate":      h.addTags,
		"RemoveTagsFromCertificate": h.removeTags,
		"ListTagsForCertificate":    h.listTags,
		"RequestCertificate":        h.requestCertificate,
		"RenewCertificate":          h.renewCertificate,
		"RevokeCertificate":         h.revokeCertificate,
		"ExportCertificate":         h.exportCertificate,
		"GetAccountConfiguration":   h.getAccountConfiguration,
		"PutAccountConfiguration":   h.putAccountConfiguration,
	}
	return h
}

// Register adds the ACM adapter to an API server.
func Register(api *awsapi.Server, svc *certificate.Service, logger *slog.Logger) {
	api.Register(awsapi.Service{SigningName: "acm", Protocol: awsapi.JSON11, Handler: New(svc, logger)})
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, TargetPrefix)
	if !ok || op == "" {
		if target == "" {
			target = r.Method + " " + r.URL.Path + " (no X-Amz-Target)"
		}
		awsapi.NotImplemented(w, awsapi.JSON11, target)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		awsapi.WriteError(w, awsapi.JSON11, awsapi.RequestID(w), awsapi.ErrorBody{Status: http.StatusMethodNotAllowed,
			Code: "UnknownOperationException", Message: "ACM operations are POST / requests; got " + r.Method + " " + r.URL.Path})
		return
	}
	fn, ok := h.ops[op]
	if !ok {
		awsapi.NotImplemented(w, awsapi.JSON11, op)
		return
	}
	out, err := fn(r.Context(), r)
	if err != nil {
		awsapi.WriteFault(w, awsapi.JSON11, Codes, h.logger, err)
		return
	}
	awsapi.WriteJSON(w, awsapi.JSON11, out)
}

// decode reads the JSON body; a body that is not the operation's JSON is a
// SerializationException, as on AWS's JSON protocols.
func decode(r *http.Request, v any) error {
	if err := awsapi.DecodeJSON(r, v); err != nil {
		f := fault.As(err)
		if f.Code == "" {
			return fault.Coded(fault.Invalid, "SerializationException", "%s", f.Message)
		}
		return f
	}
	return nil
}

// epoch is a timestamp on the wire: a JSON number of epoch seconds.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	if ms%1000 == 0 {
		return []byte(strconv.FormatInt(ms/1000, 10)), nil
	}
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

func timestamp(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// wireKeyAlgorithm spells a key algorithm as DescribeCertificate and
// ListCertificates return it: ACM answers "RSA-2048" and "EC-prime256v1"
// although requests and filters use "RSA_2048" and "EC_prime256v1".
func wireKeyAlgorithm(k string) string { return strings.Replace(k, "_", "-", 1) }

type tag struct {
	Key   string  `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

func toTags(in []tag) []certificate.Tag {
	out := make([]certificate.Tag, len(in))
	for i, t := range in {
		out[i] = certificate.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

type arnRequest struct {
	CertificateArn string `json:"CertificateArn"`
}

type importRequest struct {
	CertificateArn   string `json:"CertificateArn"`
	Certificate      []byte `json:"Certificate"`
	PrivateKey       []byte `json:"PrivateKey"`
	CertificateChain []byte `json:"CertificateChain"`
	Tags             []tag  `json:"Tags"`
}

type arnResponse struct {
	CertificateArn string `json:"CertificateArn"`
}

func (h *handler) importCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in importRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	arn, err := h.svc.Import(ctx, certificate.ImportInput{
		Certificate:      in.Certificate,
		PrivateKey:       in.PrivateKey,
		CertificateChain: in.CertificateChain,
		CertificateArn:   in.CertificateArn,
		Tags:             toTags(in.Tags),
	})
	if err != nil {
		return nil, err
	}
	return arnResponse{CertificateArn: arn}, nil
}

type keyUsage struct {
	Name string `json:"Name"`
}

type extendedKeyUsage struct {
	Name string `json:"Name"`
	OID  string `json:"OID,omitempty"`
}

type options struct {
	CertificateTransparencyLoggingPreference string `json:"CertificateTransparencyLoggingPreference,omitempty"`
}

type certificateDetail struct {
	CertificateArn          string             `json:"CertificateArn"`
	DomainName              string             `json:"DomainName,omitempty"`
	SubjectAlternativeNames []string           `json:"SubjectAlternativeNames,omitempty"`
	Serial                  string             `json:"Serial,omitempty"`
	Subject                 string             `json:"Subject,omitempty"`
	Issuer                  string             `json:"Issuer,omitempty"`
	DomainValidationOptions []domainValidation `json:"DomainValidationOptions,omitempty"`
	CreatedAt               *epoch             `json:"CreatedAt,omitempty"`
	IssuedAt                *epoch             `json:"IssuedAt,omitempty"`
	ImportedAt              *epoch             `json:"ImportedAt,omitempty"`
	Status                  string             `json:"Status"`
	FailureReason           string             `json:"FailureReason,omitempty"`
	RevokedAt               *epoch             `json:"RevokedAt,omitempty"`
	RevocationReason        string             `json:"RevocationReason,omitempty"`
	NotBefore               *epoch             `json:"NotBefore,omitempty"`
	NotAfter                *epoch             `json:"NotAfter,omitempty"`
	KeyAlgorithm            string             `json:"KeyAlgorithm,omitempty"`
	SignatureAlgorithm      string             `json:"SignatureAlgorithm,omitempty"`
	InUseBy                 []string           `json:"InUseBy"`
	Type                    string             `json:"Type"`
	KeyUsages               []keyUsage         `json:"KeyUsages"`
	ExtendedKeyUsages       []extendedKeyUsage `json:"ExtendedKeyUsages"`
	RenewalEligibility      string             `json:"RenewalEligibility,omitempty"`
	RenewalSummary          *renewalSummary    `json:"RenewalSummary,omitempty"`
	Options                 *options           `json:"Options,omitempty"`
}

type resourceRecord struct {
	Name  string `json:"Name"`
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

type domainValidation struct {
	DomainName       string          `json:"DomainName"`
	ValidationDomain string          `json:"ValidationDomain,omitempty"`
	ValidationStatus string          `json:"ValidationStatus,omitempty"`
	ResourceRecord   *resourceRecord `json:"ResourceRecord,omitempty"`
	ValidationMethod string          `json:"ValidationMethod,omitempty"`
}

type renewalSummary struct {
	RenewalStatus           string             `json:"RenewalStatus"`
	DomainValidationOptions []domainValidation `json:"DomainValidationOptions"`
	RenewalStatusReason     string             `json:"RenewalStatusReason,omitempty"`
	UpdatedAt               *epoch             `json:"UpdatedAt"`
}

func toDomainValidations(in []certificate.DomainValidation) []domainValidation {
	if in == nil {
		return nil
	}
	out := make([]domainValidation, 0, len(in))
	for _, v := range in {
		rr := v.ResourceRecord
		out = append(out, domainValidation{DomainName: v.DomainName, ValidationDomain: v.ValidationDomain,
			ValidationStatus: v.ValidationStatus, ValidationMethod: v.ValidationMethod,
			ResourceRecord: &resourceRecord{Name: rr.Name, Type: rr.Type, Value: rr.Value}})
	}
	return out
}

func (h *handler) describeCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in arnRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	d, err := h.svc.Describe(ctx, in.CertificateArn)
	if err != nil {
		return nil, err
	}
	out := certificateDetail{
		CertificateArn:          d.CertificateArn,
		DomainName:              d.DomainName,
		SubjectAlternativeNames: d.SubjectAlternativeNames,
		Serial:                  d.Serial,
		Subject:                 d.Subject,
		Issuer:                  d.Issuer,
		DomainValidationOptions: toDomainValidations(d.DomainValidationOptions),
		CreatedAt:               timestamp(d.CreatedAt),
		IssuedAt:                timestamp(d.IssuedAt),
		ImportedAt:              timestamp(d.ImportedAt),
		Status:                  d.Status,
		FailureReason:           d.FailureReason,
		RevokedAt:               timestamp(d.RevokedAt),
		RevocationReason:        d.RevocationReason,
		NotBefore:               timestamp(d.NotBefore),
		NotAfter:                timestamp(d.NotAfter),
		KeyAlgorithm:            wireKeyAlgorithm(d.KeyAlgorithm),
		SignatureAlgorithm:      d.SignatureAlgorithm,
		InUseBy:                 d.InUseBy,
		Type:                    d.Type,
		KeyUsages:               []keyUsage{},
		ExtendedKeyUsages:       []extendedKeyUsage{},
		RenewalEligibility:      d.RenewalEligibility,
	}
	if out.InUseBy == nil {
		out.InUseBy = []string{}
	}
	for _, u := range d.KeyUsages {
		out.KeyUsages = append(out.KeyUsages, keyUsage{Name: u})
	}
	for _, u := range d.ExtendedKeyUsages {
		out.ExtendedKeyUsages = append(out.ExtendedKeyUsages, extendedKeyUsage{Name: u.Name, OID: u.OID})
	}
	if rs := d.RenewalSummary; rs != nil {
		out.RenewalSummary = &renewalSummary{RenewalStatus: rs.RenewalStatus,
			DomainValidationOptions: toDomainValidations(rs.DomainValidationOptions),
			RenewalStatusReason:     rs.RenewalStatusReason, UpdatedAt: timestamp(rs.UpdatedAt)}
	}
	if d.CertificateTransparencyLoggingPreference != "" {
		out.Options = &options{CertificateTransparencyLoggingPreference: d.CertificateTransparencyLoggingPreference}
	}
	return struct {
		Certificate certificateDetail `json:"Certificate"`
	}{out}, nil
}

type listRequest struct {
	CertificateStatuses []string `json:"CertificateStatuses"`
	Includes            *struct {
		ExtendedKeyUsage []string `json:"extendedKeyUsage"`
		KeyUsage         []string `json:"keyUsage"`
		KeyTypes         []string `json:"keyTypes"`
		ExportOption     string   `json:"exportOption"`
		ManagedBy        string   `json:"managedBy"`
	} `json:"Includes"`
	NextToken *string         `json:"NextToken"`
	MaxItems  json.RawMessage `json:"MaxItems"`
	SortBy    string          `json:"SortBy"`
	SortOrder string          `json:"SortOrder"`
}

type certificateSummary struct {
	CertificateArn                       string   `json:"CertificateArn"`
	DomainName                           string   `json:"DomainName,omitempty"`
	SubjectAlternativeNameSummaries      []string `json:"SubjectAlternativeNameSummaries,omitempty"`
	HasAdditionalSubjectAlternativeNames bool     `json:"HasAdditionalSubjectAlternativeNames"`
	Status                               string   `json:"Status,omitempty"`
	Type                                 string   `json:"Type,omitempty"`
	KeyAlgorithm                         string   `json:"KeyAlgorithm,omitempty"`
	KeyUsages                            []string `json:"KeyUsages"`
	ExtendedKeyUsages                    []string `json:"ExtendedKeyUsages"`
	InUse                                bool     `json:"InUse"`
	Exported                             bool     `json:"Exported"`
	RenewalEligibility                   string   `json:"RenewalEligibility,omitempty"`
	NotBefore                            *epoch   `json:"NotBefore,omitempty"`
	NotAfter                             *epoch   `json:"NotAfter,omitempty"`
	CreatedAt                            *epoch   `json:"CreatedAt,omitempty"`
	IssuedAt                             *epoch   `json:"IssuedAt,omitempty"`
	ImportedAt                           *epoch   `json:"ImportedAt,omitempty"`
	RevokedAt                            *epoch   `json:"RevokedAt,omitempty"`
}

type listResponse struct {
	NextToken              string               `json:"NextToken,omitempty"`
	CertificateSummaryList []certificateSummary `json:"CertificateSummaryList"`
}

func validationError(format string, args ...any) error {
	return fault.Coded(fault.Invalid, "ValidationException", format, args...)
}

func (h *handler) listCertificates(ctx context.Context, r *http.Request) (any, error) {
	var in listRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	q := certificate.ListInput{Statuses: in.CertificateStatuses, SortOrder: in.SortOrder}
	if len(in.MaxItems) > 0 && string(in.MaxItems) != "null" {
		// MaxItems is boxed in the model: an explicit 0 is a value, and out of range.
		n, err := strconv.ParseInt(string(in.MaxItems), 10, 64)
		if err != nil {
			return nil, fault.Coded(fault.Invalid, "SerializationException", "MaxItems must be an integer, not %s", in.MaxItems)
		}
		if n < 1 || n > 1000 {
			return nil, validationError("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", n)
		}
		q.MaxItems = int(n)
	}
	if in.NextToken != nil {
		if *in.NextToken == "" || len(*in.NextToken) > 10000 {
			return nil, validationError("1 validation error detected: Value at 'nextToken' failed to satisfy constraint: Member must have length between 1 and 10000")
		}
		q.NextToken = *in.NextToken
	}
	if in.SortBy != "" && in.SortBy != "CREATED_AT" {
		return nil, validationError("1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [CREATED_AT]", in.SortBy)
	}
	if in.SortBy != "" && in.SortOrder == "" {
		return nil, validationError("If you specify SortBy, you must also specify SortOrder.")
	}
	if inc := in.Includes; inc != nil {
		q.KeyTypes, q.KeyUsages, q.ExtendedKeyUsages = inc.KeyTypes, inc.KeyUsage, inc.ExtendedKeyUsage
		q.ExportOption, q.ManagedBy = inc.ExportOption, inc.ManagedBy
	}
	items, next, err := h.svc.List(ctx, q)
	if err != nil {
		return nil, err
	}
	out := listResponse{NextToken: next, CertificateSummaryList: make([]certificateSummary, 0, len(items))}
	for _, s := range items {
		out.CertificateSummaryList = append(out.CertificateSummaryList, certificateSummary{
			CertificateArn:                       s.CertificateArn,
			DomainName:                           s.DomainName,
			SubjectAlternativeNameSummaries:      s.SubjectAlternativeNameSummaries,
			HasAdditionalSubjectAlternativeNames: s.HasAdditionalSubjectAlternativeNames,
			Status:                               s.Status,
			Type:                                 s.Type,
			KeyAlgorithm:                         wireKeyAlgorithm(s.KeyAlgorithm),
			KeyUsages:                            nonNil(s.KeyUsages),
			ExtendedKeyUsages:                    nonNil(s.ExtendedKeyUsages),
			InUse:                                s.InUse,
			Exported:                             s.Exported,
			RenewalEligibility:                   s.RenewalEligibility,
			NotBefore:                            timestamp(s.NotBefore),
			NotAfter:                             timestamp(s.NotAfter),
			CreatedAt:                            timestamp(s.CreatedAt),
			IssuedAt:                             timestamp(s.IssuedAt),
			ImportedAt:                           timestamp(s.ImportedAt),
			RevokedAt:                            timestamp(s.RevokedAt),
		})
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type getResponse struct {
	Certificate      string `json:"Certificate"`
	CertificateChain string `json:"CertificateChain,omitempty"`
}

func (h *handler) getCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in arnRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	cert, chain, err := h.svc.Get(ctx, in.CertificateArn)
	if err != nil {
		return nil, err
	}
	return getResponse{Certificate: cert, CertificateChain: chain}, nil
}

type empty struct{}

func (h *handler) deleteCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in arnRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := h.svc.Delete(ctx, in.CertificateArn); err != nil {
		return nil, err
	}
	return empty{}, nil
}

type tagsRequest struct {
	CertificateArn string `json:"CertificateArn"`
	Tags           []tag  `json:"Tags"`
}

func (h *handler) addTags(ctx context.Context, r *http.Request) (any, error) {
	var in tagsRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := h.svc.AddTags(ctx, in.CertificateArn, toTags(in.Tags)); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func (h *handler) removeTags(ctx context.Context, r *http.Request) (any, error) {
	var in tagsRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := h.svc.RemoveTags(ctx, in.CertificateArn, toTags(in.Tags)); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func (h *handler) listTags(ctx context.Context, r *http.Request) (any, error) {
	var in arnRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	tags, err := h.svc.Tags(ctx, in.CertificateArn)
	if err != nil {
		return nil, err
	}
	out := struct {
		Tags []tag `json:"Tags"`
	}{Tags: make([]tag, 0, len(tags))}
	for _, t := range tags {
		out.Tags = append(out.Tags, tag{Key: t.Key, Value: t.Value})
	}
	return out, nil
}

type requestRequest struct {
	DomainName              string   `json:"DomainName"`
	SubjectAlternativeNames []string `json:"SubjectAlternativeNames"`
	ValidationMethod        string   `json:"ValidationMethod"`
	IdempotencyToken        string   `json:"IdempotencyToken"`
	DomainValidationOptions []struct {
		DomainName       string `json:"DomainName"`
		ValidationDomain string `json:"ValidationDomain"`
	} `json:"DomainValidationOptions"`
	Options *struct {
		CertificateTransparencyLoggingPreference string `json:"CertificateTransparencyLoggingPreference"`
		Export                                   string `json:"Export"`
	} `json:"Options"`
	CertificateAuthorityArn string `json:"CertificateAuthorityArn"`
	KeyAlgorithm            string `json:"KeyAlgorithm"`
	ManagedBy               string `json:"ManagedBy"`
	Tags                    []tag  `json:"Tags"`
}

func (h *handler) requestCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in requestRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.ManagedBy != "" {
		return nil, fault.Coded(fault.Invalid, "InvalidParameterException", "Portico has no CloudFront; omit ManagedBy.")
	}
	q := certificate.RequestInput{
		DomainName:              in.DomainName,
		SubjectAlternativeNames: in.SubjectAlternativeNames,
		ValidationMethod:        in.ValidationMethod,
		IdempotencyToken:        in.IdempotencyToken,
		KeyAlgorithm:            in.KeyAlgorithm,
		CertificateAuthorityArn: in.CertificateAuthorityArn,
		Tags:                    toTags(in.Tags),
	}
	for _, d := range in.DomainValidationOptions {
		q.DomainValidationOptions = append(q.DomainValidationOptions, d.DomainName)
	}
	if in.Options != nil {
		q.CertificateTransparencyLoggingPreference = in.Options.CertificateTransparencyLoggingPreference
		if in.Options.Export == "ENABLED" {
			return nil, fault.Coded(fault.Invalid, "InvalidParameterException", "Exportable certificates (Options.Export ENABLED) are not supported yet.")
		}
	}
	arn, err := h.svc.Request(ctx, q)
	if err != nil {
		return nil, err
	}
	return arnResponse{CertificateArn: arn}, nil
}

func (h *handler) renewCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in arnRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := h.svc.Renew(ctx, in.CertificateArn); err != nil {
		return nil, err
	}
	return empty{}, nil
}

type revokeRequest struct {
	CertificateArn   string `json:"CertificateArn"`
	RevocationReason string `json:"RevocationReason"`
}

// revokeCertificate revokes a certificate of Portico's private CA; see
// certificate.Service.Revoke.
func (h *handler) revokeCertificate(ctx context.Context, r *http.Request) (any, error) {
	var in revokeRequest
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if err := h.svc.Revoke(ctx, in.CertificateArn, in.RevocationReason); err != nil {
		return nil, err
	}
	return arnResponse{CertificateArn: in.CertificateArn}, nil
}
