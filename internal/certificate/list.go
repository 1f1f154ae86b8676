package certificate

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
)

// DefaultMaxItems is the page size when the caller does not choose one.
const DefaultMaxItems = 1000

// maxSummarySANs is how many SANs a summary carries (the model's DomainList max).
const maxSummarySANs = 100

// ListInput is ListCertificates' input. Empty filters do not filter, except
// KeyTypes, whose empty value means DefaultListKeyTypes as in ACM.
type ListInput struct {
	Statuses          []string
	KeyTypes          []string
	KeyUsages         []string
	ExtendedKeyUsages []string
	ExportOption      string // ENABLED or DISABLED
	ManagedBy         string // CLOUDFRONT
	// MaxItems is the page size, 1-1000; 0 means DefaultMaxItems.
	MaxItems  int
	NextToken string
	// SortOrder is ASCENDING (the default) or DESCENDING, by creation.
	SortOrder string
}

// Summary is one entry of ListCertificates.
type Summary struct {
	CertificateArn                       string
	DomainName                           string
	SubjectAlternativeNameSummaries      []string
	HasAdditionalSubjectAlternativeNames bool
	Status                               string
	Type                                 string
	KeyAlgorithm                         string
	KeyUsages                            []string
	ExtendedKeyUsages                    []string
	InUse                                bool
	Exported                             bool
	RenewalEligibility                   string
	NotBefore                            time.Time
	NotAfter                             time.Time
	CreatedAt                            time.Time
	ImportedAt                           time.Time // zero unless IMPORTED
	IssuedAt                             time.Time // zero unless an AMAZON_ISSUED certificate was issued
	RevokedAt                            time.Time // zero unless REVOKED
}

func checkEnum(member string, values, allowed []string) error {
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			return invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
				v, member, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (in *ListInput) check() error {
	if err := checkEnum("certificateStatuses", in.Statuses, Statuses); err != nil {
		return err
	}
	if err := checkEnum("includes.keyTypes", in.KeyTypes, KeyAlgorithms); err != nil {
		return err
	}
	if err := checkEnum("includes.keyUsage", in.KeyUsages, KeyUsageNames); err != nil {
		return err
	}
	if err := checkEnum("includes.extendedKeyUsage", in.ExtendedKeyUsages, ExtendedKeyUsageNames); err != nil {
		return err
	}
	if in.ExportOption != "" {
		if err := checkEnum("includes.exportOption", []string{in.ExportOption}, []string{"ENABLED", "DISABLED"}); err != nil {
			return err
		}
	}
	if in.ManagedBy != "" {
		if err := checkEnum("includes.managedBy", []string{in.ManagedBy}, []string{"CLOUDFRONT"}); err != nil {
			return err
		}
	}
	if in.SortOrder != "" {
		if err := checkEnum("sortOrder", []string{in.SortOrder}, []string{"ASCENDING", "DESCENDING"}); err != nil {
			return err
		}
	}
	if in.MaxItems < 0 || in.MaxItems > 1000 {
		return invalid("1 validation error detected: Value '%d' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", in.MaxItems)
	}
	return nil
}

// pageToken is the position after which the next page starts.
type pageToken struct {
	afterID    int64
	descending bool
}

func (t pageToken) encode() string {
	order := "A"
	if t.descending {
		order = "D"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("acm1:" + order + ":" + strconv.FormatInt(t.afterID, 10)))
}

func decodePageToken(s string) (pageToken, error) {
	bad := fault.Coded(fault.Invalid, "InvalidArgsException", "The NextToken is not valid; pass the NextToken of the previous ListCertificates response unchanged.")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageToken{}, bad
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != "acm1" || (parts[1] != "A" && parts[1] != "D") {
		return pageToken{}, bad
	}
	id, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || id < 0 {
		return pageToken{}, bad
	}
	return pageToken{afterID: id, descending: parts[1] == "D"}, nil
}

// List returns one page of certificate summaries in creation order and the
// token of the next page ("" on the last page).
func (s *Service) List(ctx context.Context, in ListInput) ([]Summary, string, error) {
	if err := in.check(); err != nil {
		return nil, "", err
	}
	limit := in.MaxItems
	if limit == 0 {
		limit = DefaultMaxItems
	}
	descending := in.SortOrder == "DESCENDING"
	var after *pageToken
	if in.NextToken != "" {
		t, err := decodePageToken(in.NextToken)
		if err != nil {
			return nil, "", err
		}
		if t.descending != descending {
			return nil, "", fault.Coded(fault.Invalid, "InvalidArgsException", "The NextToken was issued for a different SortOrder.")
		}
		after = &t
	}
	keyTypes := in.KeyTypes
	if len(keyTypes) == 0 {
		keyTypes = DefaultListKeyTypes
	}

	query := `SELECT ` + recordColumns + ` FROM acm_certificate WHERE key_algorithm IN (?` + strings.Repeat(",?", len(keyTypes)-1) + `)`
	args := make([]any, 0, len(keyTypes)+1)
	for _, k := range keyTypes {
		args = append(args, k)
	}
	order := "ASC"
	if descending {
		order = "DESC"
	}
	if after != nil {
		if descending {
			query += ` AND id < ?`
		} else {
			query += ` AND id > ?`
		}
		args = append(args, after.afterID)
	}
	query += ` ORDER BY id ` + order

	now := s.now()
	var page []*record
	more := false
	rows, err := s.st.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("certificate: list: %w", err)
	}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return nil, "", fmt.Errorf("certificate: list: %w", err)
		}
		if !in.matches(r, now) {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, "", fmt.Errorf("certificate: list: %w", err)
	}
	rows.Close()

	// InUse may query the store; ask only after the rows are closed.
	out := make([]Summary, 0, len(page))
	for _, r := range page {
		users, err := s.inUse(ctx, r.arn)
		if err != nil {
			return nil, "", err
		}
		out = append(out, summaryOf(r, now, len(users) > 0))
	}
	next := ""
	if more {
		next = pageToken{afterID: page[len(page)-1].id, descending: descending}.encode()
	}
	return out, next, nil
}

// matches applies the filters that SQL does not.
func (in *ListInput) matches(r *record, now time.Time) bool {
	if len(in.Statuses) > 0 && !slices.Contains(in.Statuses, r.status(now)) {
		return false
	}
	if r.leaf == nil && (len(in.KeyUsages) > 0 || len(in.ExtendedKeyUsages) > 0) {
		return false
	}
	if len(in.KeyUsages) > 0 {
		ku := keyUsagesOf(r.leaf)
		if !slices.ContainsFunc(in.KeyUsages, func(u string) bool { return slices.Contains(ku, u) }) {
			return false
		}
	}
	if len(in.ExtendedKeyUsages) > 0 {
		eku := extendedKeyUsagesOf(r.leaf)
		if !slices.ContainsFunc(in.ExtendedKeyUsages, func(u string) bool {
			return slices.ContainsFunc(eku, func(e ExtendedKeyUsage) bool { return e.Name == u })
		}) {
			return false
		}
	}
	// Imported certificates are never exportable and never CloudFront-managed.
	if in.ExportOption == "ENABLED" || in.ManagedBy != "" {
		return false
	}
	return true
}

func summaryOf(r *record, now time.Time, inUse bool) Summary {
	var sans, ku, ekuNames []string
	domain := r.domain
	if r.leaf != nil {
		domain = domainName(r.leaf)
		sans = subjectAlternativeNames(r.leaf)
		ku = keyUsagesOf(r.leaf)
		for _, e := range extendedKeyUsagesOf(r.leaf) {
			ekuNames = append(ekuNames, e.Name)
		}
	}
	if r.typ == TypeAmazonIssued {
		domain, sans = r.names[0], append([]string(nil), r.names...)
	}
	more := len(sans) > maxSummarySANs
	if more {
		sans = sans[:maxSummarySANs]
	}
	return Summary{
		CertificateArn:                       r.arn,
		DomainName:                           domain,
		SubjectAlternativeNameSummaries:      sans,
		HasAdditionalSubjectAlternativeNames: more,
		Status:                               r.status(now),
		Type:                                 r.typ,
		KeyAlgorithm:                         r.keyAlg,
		KeyUsages:                            ku,
		ExtendedKeyUsages:                    ekuNames,
		InUse:                                inUse,
		Exported:                             r.exported,
		RenewalEligibility:                   r.renewalEligibility(now, inUse),
		NotBefore:                            r.notBefore,
		NotAfter:                             r.notAfter,
		CreatedAt:                            r.createdAt,
		ImportedAt:                           r.importedAt,
		IssuedAt:                             r.issuedAt,
		RevokedAt:                            r.revokedAt,
	}
}
