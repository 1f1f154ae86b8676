package endpoint

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/store"
	"github.com/portico-iot/portico/internal/tagging"
)

// Certificates answers what the endpoint service needs to know about an ACM
// certificate. The wiring adapts the certificate service to it.
type Certificates interface {
	// Check reports the certificate's ACM status, whether it covers
	// domainName and, when known, its validity period. An unknown ARN is a
	// fault.NotFound.
	Check(ctx context.Context, arn, domainName string) (CertificateState, error)
}

// CertificateState is a certificate as the endpoint service judges it.
// With the validity dates (the leaf's NotBefore and NotAfter) the service
// judges them by its own clock (expired, not yet valid); zero dates leave
// only the ACM status.
type CertificateState struct {
	Status              string
	Covers              bool
	NotBefore, NotAfter time.Time
}

// Service manages domain configurations and endpoint hostnames.
type Service struct {
	st         *store.Store
	byName     *store.Prepared // one configuration by name
	certs      Certificates
	region     string
	account    string
	baseDomain string
	prefix     string
	Now        func() time.Time
	// References checks the authorizer and functions a configuration
	// names; set by the binary once those services exist.
	References References
}

var migrations = []string{`
CREATE TABLE endpoint_account (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE domain_configurations (
  name TEXT PRIMARY KEY,
  arn TEXT NOT NULL,
  domain_name TEXT NOT NULL,
  domain_type TEXT NOT NULL,
  service_type TEXT NOT NULL,
  status TEXT NOT NULL,
  last_status_change INTEGER NOT NULL,
  security_policy TEXT NOT NULL,
  server_certificate_arns TEXT NOT NULL DEFAULT '[]',
  validation_certificate_arn TEXT NOT NULL DEFAULT '',
  authentication_type TEXT NOT NULL DEFAULT '',
  application_protocol TEXT NOT NULL DEFAULT '',
  authorizer_config TEXT NOT NULL DEFAULT '',
  server_certificate_config TEXT NOT NULL DEFAULT '',
  client_certificate_config TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]',
  created INTEGER NOT NULL
);
CREATE UNIQUE INDEX domain_configurations_domain_name ON domain_configurations (domain_name);
`}

// Config configures the endpoint service.
type Config struct {
	Region     string
	Account    string
	BaseDomain string // endpoint hostnames are <prefix>-ats.iot.<region>.<BaseDomain>
	Now        func() time.Time
}

// NewService opens the endpoint service, creating the account's endpoint
// prefix and default configurations on first start.
func NewService(ctx context.Context, st *store.Store, certs Certificates, cfg Config) (*Service, error) {
	if err := st.Migrate(ctx, "endpoint", migrations); err != nil {
		return nil, err
	}
	s := &Service{st: st, certs: certs, region: cfg.Region, account: cfg.Account,
		baseDomain: strings.TrimSuffix(strings.ToLower(cfg.BaseDomain), "."), Now: cfg.Now,
		byName: st.Prepare(selectColumns + ` WHERE name=?`)}
	if err := s.seed(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// seed creates the endpoint prefix and the three default configurations once.
func (s *Service) seed(ctx context.Context) error {
	err := s.st.DB().QueryRowContext(ctx, `SELECT value FROM endpoint_account WHERE key='prefix'`).Scan(&s.prefix)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("endpoint: read prefix: %w", err)
	}
	s.prefix = randomID(14, lowerAlnum)
	now := s.now()
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO endpoint_account (key, value) VALUES ('prefix', ?)`, s.prefix); err != nil {
			return err
		}
		for _, d := range []struct{ name, service, endpointType string }{
			{DefaultDataATS, ServiceData, "iot:Data-ATS"},
			{DefaultJobs, ServiceJobs, "iot:Jobs"},
			{DefaultCredentialProvider, ServiceCredentialProvider, "iot:CredentialProvider"},
		} {
			host, _ := s.Hostname(d.endpointType)
			c := &Configuration{Name: d.name, ARN: s.arn(d.name, ""), DomainName: host, DomainType: TypeEndpoint,
				ServiceType: d.service, Status: StatusEnabled, LastStatusChange: now, SecurityPolicy: DefaultSecurityPolicy,
				AuthenticationType: "DEFAULT", ApplicationProtocol: "DEFAULT", Created: now}
			if err := insert(ctx, tx, c, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("endpoint: seed defaults: %w", err)
	}
	return nil
}

// Prefix is the account's endpoint identifier.
func (s *Service) Prefix() string { return s.prefix }

// Hostname returns the hostname DescribeEndpoint gives for an endpoint type.
func (s *Service) Hostname(endpointType string) (string, error) {
	suffix := "iot." + s.region + "." + s.baseDomain
	switch endpointType {
	case "", "iot:Data":
		return s.prefix + "." + suffix, nil
	case "iot:Data-ATS":
		return s.prefix + "-ats." + suffix, nil
	case "iot:CredentialProvider":
		return s.prefix + ".credentials." + suffix, nil
	case "iot:Jobs":
		return s.prefix + ".jobs." + suffix, nil
	}
	return "", fault.Invalidf("Endpoint type %q is not valid. Valid types: iot:Data, iot:Data-ATS, iot:CredentialProvider, iot:Jobs", endpointType)
}

func (s *Service) arn(name, suffix string) string {
	a := fmt.Sprintf("arn:aws:iot:%s:%s:domainconfiguration/%s", s.region, s.account, name)
	if suffix != "" {
		a += "/" + suffix
	}
	return a
}

var (
	createNamePattern     = regexp.MustCompile(`^[\w.-]{1,128}$`)
	reservedNamePattern   = regexp.MustCompile(`^[\w.:-]{1,128}$`)
	acmARNPattern         = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso-b|-iso)?:acm:[a-z]{2}-(gov-|iso-|isob-)?[a-z]{4,9}-\d{1}:\d{12}:certificate/[a-zA-Z0-9/-]+$`)
	domainNamePattern     = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	authorizerNamePattern = regexp.MustCompile(`^[\w=,@-]+$`)
	markerPattern         = regexp.MustCompile(`^[A-Za-z0-9+/]+={0,2}$`)
)

// Model limits of the members Portico validates by length only.
const (
	maxDomainName                   = 253
	maxACMARN                       = 2048
	maxAuthorizerName               = 128
	maxOCSPLambdaARN                = 140
	maxClientCertificateCallbackARN = 2048
	maxMarker                       = 1024
	// managedIDLength is the length of the generated label of an
	// AWS-managed hostname, <id>-ats.iot.<region>.<base-domain>.
	managedIDLength = 20
)

// invalidMember is the model-validation message AWS uses for a member that
// breaks a constraint.
func invalidMember(value, member, constraint string) error {
	return fault.Invalidf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint)
}

func checkACMARN(arn, member string) error {
	if len(arn) < 1 || len(arn) > maxACMARN {
		return invalidMember(arn, member, fmt.Sprintf("Member must have length between 1 and %d", maxACMARN))
	}
	if !acmARNPattern.MatchString(arn) {
		return invalidMember(arn, member, "Member must satisfy regular expression pattern: "+strings.Trim(acmARNPattern.String(), "^$"))
	}
	return nil
}

// checkAuthorizerConfig validates the members of an authorizerConfig.
// allowAuthorizerOverride is required when defaultAuthorizerName is given
// (the developer guide says so; docs/compatibility.md).
func checkAuthorizerConfig(a *AuthorizerConfig) error {
	if a == nil || a.DefaultAuthorizerName == "" {
		return nil
	}
	name := a.DefaultAuthorizerName
	if len(name) > maxAuthorizerName || !authorizerNamePattern.MatchString(name) {
		return invalidMember(name, "authorizerConfig.defaultAuthorizerName",
			fmt.Sprintf("Member must satisfy regular expression pattern: %s and length 1-%d", strings.Trim(authorizerNamePattern.String(), "^$"), maxAuthorizerName))
	}
	if a.AllowAuthorizerOverride == nil {
		return fault.Invalidf("authorizerConfig.allowAuthorizerOverride is required when authorizerConfig.defaultAuthorizerName is given")
	}
	return nil
}

func checkServerCertificateConfig(c *ServerCertificateConfig) error {
	if c == nil {
		return nil
	}
	if len(c.OCSPLambdaArn) > maxOCSPLambdaARN {
		return invalidMember(c.OCSPLambdaArn, "serverCertificateConfig.ocspLambdaArn",
			fmt.Sprintf("Member must have length less than or equal to %d", maxOCSPLambdaARN))
	}
	if c.OCSPAuthorizedResponderArn != "" {
		return checkACMARN(c.OCSPAuthorizedResponderArn, "serverCertificateConfig.ocspAuthorizedResponderArn")
	}
	return nil
}

func checkClientCertificateConfig(c *ClientCertificateConfig) error {
	if c != nil && len(c.ClientCertificateCallbackArn) > maxClientCertificateCallbackARN {
		return invalidMember(c.ClientCertificateCallbackArn, "clientCertificateConfig.clientCertificateCallbackArn",
			fmt.Sprintf("Member must have length less than or equal to %d", maxClientCertificateCallbackARN))
	}
	return nil
}

// checkOptionalConfigs validates the structures Create and Update share.
func checkOptionalConfigs(a *AuthorizerConfig, scc *ServerCertificateConfig, ccc *ClientCertificateConfig) error {
	if err := checkAuthorizerConfig(a); err != nil {
		return err
	}
	if err := checkServerCertificateConfig(scc); err != nil {
		return err
	}
	return checkClientCertificateConfig(ccc)
}

func checkName(name string, pattern *regexp.Regexp) error {
	if !pattern.MatchString(name) {
		return fault.Invalidf("1 validation error detected: Value '%s' at 'domainConfigurationName' failed to satisfy constraint: Member must satisfy regular expression pattern: %s and length 1-128", name, strings.Trim(strings.TrimSuffix(pattern.String(), "{1,128}$"), "^"))
	}
	return nil
}

// Create creates a domain configuration: CUSTOMER_MANAGED when a domain name
// is given, else AWS_MANAGED with a generated hostname under Portico's base
// domain.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Configuration, error) {
	if err := checkName(in.Name, createNamePattern); err != nil {
		return nil, err
	}
	if strings.HasPrefix(strings.ToLower(in.Name), "iot:") {
		return nil, fault.Invalidf("Domain configuration names beginning with 'iot:' are reserved")
	}
	// A taken name is the first thing to report, before any other check.
	if err := nameTaken(ctx, s.st.DB(), in.Name); err != nil {
		return nil, err
	}
	c := &Configuration{Name: in.Name, ServiceType: in.ServiceType, Status: StatusEnabled,
		AuthenticationType: in.AuthenticationType, ApplicationProtocol: in.ApplicationProtocol,
		AuthorizerConfig: in.AuthorizerConfig, ServerCertificateConfig: in.ServerCertificateConfig,
		ClientCertificateConfig: in.ClientCertificateConfig, ValidationCertificateARN: in.ValidationCertificateARN}
	if c.ServiceType == "" {
		c.ServiceType = ServiceData
	}
	if !serviceTypes[c.ServiceType] {
		return nil, fault.Invalidf("Service type %q is not valid. Valid values: DATA, CREDENTIAL_PROVIDER, JOBS", c.ServiceType)
	}
	if c.ServiceType != ServiceData {
		return nil, fault.Invalidf("Only the DATA service type can be used to create a domain configuration; %s is not supported", c.ServiceType)
	}
	policy, err := resolvePolicy(in.SecurityPolicy)
	if err != nil {
		return nil, err
	}
	c.SecurityPolicy = policy
	if err := checkAuthAndProtocol(c.AuthenticationType, c.ApplicationProtocol); err != nil {
		return nil, err
	}
	if err := checkOptionalConfigs(in.AuthorizerConfig, in.ServerCertificateConfig, in.ClientCertificateConfig); err != nil {
		return nil, err
	}
	if err := s.References.check(ctx, in.AuthorizerConfig, in.ServerCertificateConfig, in.ClientCertificateConfig); err != nil {
		return nil, err
	}
	if err := tagging.Validate(in.Tags); err != nil {
		return nil, err
	}
	if in.DomainName == "" {
		if err := checkManaged(in); err != nil {
			return nil, err
		}
		c.DomainType = TypeAWSManaged
	} else if err := s.checkCustomerManaged(ctx, in, c); err != nil {
		return nil, err
	}
	now := s.now()
	c.Created, c.LastStatusChange = now, now
	c.ARN = s.arn(c.Name, randomID(5, alnum))
	_, err = s.st.Update(ctx, func(tx *sql.Tx) error {
		if err := nameTaken(ctx, tx, c.Name); err != nil {
			return err
		}
		if c.DomainType == TypeAWSManaged {
			host, err := s.newManagedHostname(ctx, tx)
			if err != nil {
				return err
			}
			c.DomainName = host
		}
		var existing string
		err := tx.QueryRowContext(ctx, `SELECT name FROM domain_configurations WHERE domain_name=?`, c.DomainName).Scan(&existing)
		if err == nil {
			return &fault.Error{Kind: fault.AlreadyExists, Message: fmt.Sprintf("Domain name %s is already used by domain configuration %s", c.DomainName, existing)}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return insert(ctx, tx, c, in.Tags)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// checkManaged refuses what an AWS-managed configuration cannot carry: its
// certificate is Portico's, issued for the generated hostname.
func checkManaged(in CreateInput) error {
	if len(in.ServerCertificateARNs) > 0 {
		return fault.Invalidf("serverCertificateArns can only be given with a domainName: a domain configuration without a domainName is AWS-managed and is served a certificate Portico issues")
	}
	if in.ValidationCertificateARN != "" {
		return fault.Invalidf("validationCertificateArn can only be given with a domainName")
	}
	return nil
}

// checkCustomerManaged validates the domain name and certificates of a
// customer-managed configuration and fills them into c.
func (s *Service) checkCustomerManaged(ctx context.Context, in CreateInput, c *Configuration) error {
	if len(in.DomainName) > maxDomainName {
		return invalidMember(in.DomainName, "domainName", fmt.Sprintf("Member must have length between 1 and %d", maxDomainName))
	}
	c.DomainName = normalizeDomain(in.DomainName)
	if !domainNamePattern.MatchString(c.DomainName) {
		return fault.Invalidf("Domain name %q is not a valid fully qualified domain name", in.DomainName)
	}
	if strings.HasSuffix(c.DomainName, "."+s.baseDomain) || c.DomainName == s.baseDomain {
		return fault.Invalidf("Domain name %q is inside Portico's own endpoint domain %s", c.DomainName, s.baseDomain)
	}
	c.DomainType = TypeCustomerManaged
	if len(in.ServerCertificateARNs) == 0 {
		return fault.Invalidf("serverCertificateArns is required for a domain configuration with a domainName")
	}
	if err := s.checkCertificates(ctx, in.ServerCertificateARNs, c.DomainName); err != nil {
		return err
	}
	c.ServerCertificateARNs = in.ServerCertificateARNs
	if in.ValidationCertificateARN != "" {
		if err := checkACMARN(in.ValidationCertificateARN, "validationCertificateArn"); err != nil {
			return err
		}
		if err := s.checkCertificates(ctx, []string{in.ValidationCertificateARN}, c.DomainName); err != nil {
			return err
		}
	}
	return nil
}

// newManagedHostname picks an unused <id>-ats.iot.<region>.<base-domain>.
func (s *Service) newManagedHostname(ctx context.Context, tx *sql.Tx) (string, error) {
	for range 8 {
		host := randomID(managedIDLength, lowerAlnum) + "-ats.iot." + s.region + "." + s.baseDomain
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM domain_configurations WHERE domain_name=?`, host).Scan(&n); err != nil {
			return "", fmt.Errorf("endpoint: check generated hostname: %w", err)
		}
		if n == 0 {
			return host, nil
		}
	}
	return "", fmt.Errorf("endpoint: no unused generated hostname after 8 tries")
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// nameTaken returns AlreadyExists if a configuration has that name; names
// differing only in case are refused too, so a name is never ambiguous.
func nameTaken(ctx context.Context, q queryRower, name string) error {
	var existing, arn string
	err := q.QueryRowContext(ctx, `SELECT name, arn FROM domain_configurations WHERE name=? COLLATE NOCASE`, name).Scan(&existing, &arn)
	switch {
	case err == nil:
		return &fault.Error{Kind: fault.AlreadyExists, Message: fmt.Sprintf("Domain configuration with name %s already exists", existing),
			ResourceID: existing, ResourceARN: arn}
	case errors.Is(err, sql.ErrNoRows):
		return nil
	default:
		return fmt.Errorf("endpoint: check name: %w", err)
	}
}

// checkCertificates verifies each ARN names an ISSUED certificate, valid now,
// covering domain.
func (s *Service) checkCertificates(ctx context.Context, arns []string, domain string) error {
	if len(arns) > MaxServerCertificates {
		return fault.Invalidf("serverCertificateArns has %d items; at most %d are allowed", len(arns), MaxServerCertificates)
	}
	seen := map[string]bool{}
	for _, arn := range arns {
		if err := checkACMARN(arn, "serverCertificateArns.member"); err != nil {
			return err
		}
		if seen[arn] {
			return fault.Invalidf("Certificate ARN %s is listed twice", arn)
		}
		seen[arn] = true
		if detail, err := s.certificateProblem(ctx, arn, domain); err != nil {
			return err
		} else if detail != "" {
			return fault.Coded(fault.Invalid, "CertificateValidationException", "Certificate %s: %s", arn, detail)
		}
	}
	return nil
}

// certificateProblem says why a certificate cannot serve domain now, or ""
// when it can. Only unexpected failures are errors.
func (s *Service) certificateProblem(ctx context.Context, arn, domain string) (string, error) {
	c, err := s.certs.Check(ctx, arn, domain)
	if fault.Is(err, fault.NotFound) {
		return "The certificate does not exist in ACM; it may have been deleted", nil
	}
	if err != nil {
		return "", err
	}
	status, covers, notBefore, notAfter := c.Status, c.Covers, c.NotBefore, c.NotAfter
	now := s.now()
	switch {
	case !notAfter.IsZero() && now.After(notAfter):
		return "The certificate expired at " + notAfter.UTC().Format(time.RFC3339), nil
	case status == "EXPIRED":
		return "The certificate has expired (ACM status EXPIRED)", nil
	case status != "ISSUED":
		return fmt.Sprintf("The certificate status in ACM is %s; it must be ISSUED", status), nil
	case !notBefore.IsZero() && now.Before(notBefore):
		return "The certificate is not valid yet: its validity starts at " + notBefore.UTC().Format(time.RFC3339), nil
	case !covers:
		return "The certificate does not cover the domain name " + domain, nil
	}
	return "", nil
}

func resolvePolicy(name string) (string, error) {
	if name == "" {
		return DefaultSecurityPolicy, nil
	}
	p, ok := LookupSecurityPolicy(name)
	if !ok {
		return "", fault.Invalidf("Security policy %q is not valid. Valid policies: %s", name, strings.Join(SecurityPolicyNames(), ", "))
	}
	return p.Name, nil
}

// allowedProtocols is the authenticationType x applicationProtocol matrix
// Portico accepts (docs/compatibility.md: AWS leaves it unconfirmed).
var allowedProtocols = map[string]map[string]bool{
	"DEFAULT":          set("DEFAULT"),
	"AWS_X509":         set("SECURE_MQTT", "HTTPS", "DEFAULT"),
	"AWS_SIGV4":        set("MQTT_WSS", "HTTPS", "DEFAULT"),
	"CUSTOM_AUTH":      set("SECURE_MQTT", "MQTT_WSS", "HTTPS", "DEFAULT"),
	"CUSTOM_AUTH_X509": set("SECURE_MQTT", "HTTPS", "DEFAULT"),
}

func checkAuthAndProtocol(auth, proto string) error {
	if auth != "" && !authenticationTypes[auth] {
		return fault.Invalidf("Authentication type %q is not valid. Valid values: CUSTOM_AUTH_X509, CUSTOM_AUTH, AWS_X509, AWS_SIGV4, DEFAULT", auth)
	}
	if proto != "" && !applicationProtocols[proto] {
		return fault.Invalidf("Application protocol %q is not valid. Valid values: SECURE_MQTT, MQTT_WSS, HTTPS, DEFAULT", proto)
	}
	if auth == "" || proto == "" {
		return nil
	}
	if !allowedProtocols[auth][proto] {
		return fault.Invalidf("Authentication type %s cannot be used with application protocol %s", auth, proto)
	}
	return nil
}

// Describe returns one configuration by name (default endpoints included).
func (s *Service) Describe(ctx context.Context, name string) (*Configuration, error) {
	if err := checkName(name, reservedNamePattern); err != nil {
		return nil, err
	}
	c, err := scanOne(s.byName.QueryRowContext(ctx, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Domain configuration %s not found", name)
	}
	return c, err
}

// CertificateStatus is how a configuration's server certificate looks now.
type CertificateStatus struct {
	ARN    string
	Status string // VALID or INVALID
	Detail string
}

// CertificateStatuses reports each server certificate of c as VALID or
// INVALID, with the reason in Detail: deleted from ACM, expired, not yet
// valid, not ISSUED, or not covering the domain name. An AWS-managed
// configuration has none.
func (s *Service) CertificateStatuses(ctx context.Context, c *Configuration) []CertificateStatus {
	out := make([]CertificateStatus, 0, len(c.ServerCertificateARNs))
	for _, arn := range c.ServerCertificateARNs {
		cs := CertificateStatus{ARN: arn, Status: "VALID"}
		detail, err := s.certificateProblem(ctx, arn, c.DomainName)
		if err != nil {
			detail = "The certificate could not be checked: " + err.Error()
		}
		if detail != "" {
			cs.Status, cs.Detail = "INVALID", detail
		}
		out = append(out, cs)
	}
	return out
}

// Update changes a configuration.
func (s *Service) Update(ctx context.Context, in UpdateInput) (*Configuration, error) {
	if err := checkName(in.Name, reservedNamePattern); err != nil {
		return nil, err
	}
	if in.Status != "" && in.Status != StatusEnabled && in.Status != StatusDisabled {
		return nil, fault.Invalidf("Domain configuration status %q is not valid. Valid values: ENABLED, DISABLED", in.Status)
	}
	var policy string
	if in.SecurityPolicy != "" {
		var err error
		if policy, err = resolvePolicy(in.SecurityPolicy); err != nil {
			return nil, err
		}
	}
	if in.RemoveAuthorizerConfig && in.AuthorizerConfig != nil {
		return nil, fault.Invalidf("authorizerConfig and removeAuthorizerConfig cannot be given together")
	}
	if err := checkOptionalConfigs(in.AuthorizerConfig, in.ServerCertificateConfig, in.ClientCertificateConfig); err != nil {
		return nil, err
	}
	if err := s.References.check(ctx, in.AuthorizerConfig, in.ServerCertificateConfig, in.ClientCertificateConfig); err != nil {
		return nil, err
	}
	// New certificates are checked before the transaction: the certificate
	// service reads the same store, which serves one connection at a time.
	checkedARN := ""
	if len(in.ServerCertificateARNs) > 0 {
		c, err := s.Describe(ctx, in.Name)
		if err != nil {
			return nil, err
		}
		if c.DomainType == TypeCustomerManaged {
			if err := s.checkCertificates(ctx, in.ServerCertificateARNs, c.DomainName); err != nil {
				return nil, err
			}
			checkedARN = c.ARN
		}
	}
	var out *Configuration
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		c, err := scanOne(tx.QueryRowContext(ctx, selectColumns+` WHERE name=?`, in.Name))
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("Domain configuration %s not found", in.Name)
		}
		if err != nil {
			return err
		}
		if c.DomainType == TypeEndpoint {
			if in.AuthenticationType != "" || in.ApplicationProtocol != "" {
				return fault.Invalidf("The authentication type and application protocol of %s cannot be changed", c.Name)
			}
			if in.ServerCertificateARNs != nil || in.Status == StatusDisabled {
				return fault.Invalidf("Only the TLS security policy of the default endpoint %s can be updated", c.Name)
			}
		}
		if c.DomainType == TypeAWSManaged && in.ServerCertificateARNs != nil {
			return fault.Invalidf("Domain configuration %s is AWS-managed: its certificate is issued by Portico and serverCertificateArns cannot be set", c.Name)
		}
		if in.Status != "" && in.Status != c.Status {
			c.Status = in.Status
			c.LastStatusChange = s.now()
		}
		if policy != "" {
			c.SecurityPolicy = policy
		}
		if in.AuthenticationType != "" {
			c.AuthenticationType = in.AuthenticationType
		}
		if in.ApplicationProtocol != "" {
			c.ApplicationProtocol = in.ApplicationProtocol
		}
		if err := checkAuthAndProtocol(c.AuthenticationType, c.ApplicationProtocol); err != nil {
			return err
		}
		if in.AuthorizerConfig != nil {
			c.AuthorizerConfig = in.AuthorizerConfig
		}
		if in.RemoveAuthorizerConfig {
			c.AuthorizerConfig = nil
		}
		if in.ServerCertificateConfig != nil {
			c.ServerCertificateConfig = in.ServerCertificateConfig
		}
		if in.ClientCertificateConfig != nil {
			c.ClientCertificateConfig = in.ClientCertificateConfig
		}
		if in.ServerCertificateARNs != nil {
			if len(in.ServerCertificateARNs) == 0 {
				return fault.Invalidf("serverCertificateArns must name at least one certificate")
			}
			if c.ARN != checkedARN {
				// Deleted and created again between the check and now.
				return fault.Invalidf("Domain configuration %s changed during the update; retry", c.Name)
			}
			c.ServerCertificateARNs = in.ServerCertificateARNs
		}
		out = c
		return update(ctx, tx, c)
	})
	return out, err
}

// Delete removes a DISABLED configuration; an AWS-managed one must have been
// DISABLED for AWSManagedDeleteDelay.
func (s *Service) Delete(ctx context.Context, name string) error {
	if err := checkName(name, createNamePattern); err != nil {
		return err
	}
	_, err := s.st.Update(ctx, func(tx *sql.Tx) error {
		var status, domainType string
		var lastChange int64
		err := tx.QueryRowContext(ctx, `SELECT status, domain_type, last_status_change FROM domain_configurations WHERE name=?`, name).
			Scan(&status, &domainType, &lastChange)
		if errors.Is(err, sql.ErrNoRows) {
			return fault.NotFoundf("Domain configuration %s not found", name)
		}
		if err != nil {
			return err
		}
		if domainType == TypeEndpoint {
			return fault.Invalidf("The default endpoint %s cannot be deleted", name)
		}
		if status != StatusDisabled {
			return fault.Invalidf("Domain configuration %s must be DISABLED before it can be deleted", name)
		}
		if domainType == TypeAWSManaged {
			disabled := time.UnixMilli(lastChange)
			if deletable := disabled.Add(AWSManagedDeleteDelay); s.now().Before(deletable) {
				return fault.Invalidf("Domain configuration %s is AWS-managed: it can be deleted 7 days after it was disabled (disabled at %s, deletable from %s)",
					name, disabled.UTC().Format(time.RFC3339), deletable.UTC().Format(time.RFC3339))
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM domain_configurations WHERE name=?`, name)
		return err
	})
	return err
}

// ListInput is ListDomainConfigurations' input.
type ListInput struct {
	Marker      string
	PageSize    int
	ServiceType string
}

// DefaultPageSize is ListDomainConfigurations' page size when none is given.
const DefaultPageSize = 100

// List returns configurations sorted by name, a page at a time.
func (s *Service) List(ctx context.Context, in ListInput) ([]Summary, string, error) {
	if in.PageSize == 0 {
		in.PageSize = DefaultPageSize
	}
	if in.PageSize < 1 || in.PageSize > 250 {
		return nil, "", fault.Invalidf("pageSize must be between 1 and 250")
	}
	if in.ServiceType != "" && !serviceTypes[in.ServiceType] {
		return nil, "", fault.Invalidf("Service type %q is not valid. Valid values: DATA, CREDENTIAL_PROVIDER, JOBS", in.ServiceType)
	}
	after := ""
	if in.Marker != "" {
		if len(in.Marker) > maxMarker || !markerPattern.MatchString(in.Marker) {
			return nil, "", invalidMember(in.Marker, "marker",
				fmt.Sprintf("Member must satisfy regular expression pattern: %s and length less than or equal to %d", strings.Trim(markerPattern.String(), "^$"), maxMarker))
		}
		b, err := base64.StdEncoding.DecodeString(in.Marker)
		if err != nil {
			return nil, "", fault.Invalidf("marker %q was not returned by ListDomainConfigurations", in.Marker)
		}
		after = string(b)
	}
	rows, err := s.st.DB().QueryContext(ctx, `SELECT name, arn, service_type FROM domain_configurations
		WHERE name > ? AND (?='' OR service_type=?) ORDER BY name LIMIT ?`, after, in.ServiceType, in.ServiceType, in.PageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("endpoint: list: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var sm Summary
		if err := rows.Scan(&sm.Name, &sm.ARN, &sm.ServiceType); err != nil {
			return nil, "", err
		}
		out = append(out, sm)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > in.PageSize {
		out = out[:in.PageSize]
		next = base64.StdEncoding.EncodeToString([]byte(out[len(out)-1].Name))
	}
	return out, next, nil
}

// All returns every configuration, for runtime snapshots.
func (s *Service) All(ctx context.Context) ([]*Configuration, error) {
	rows, err := s.st.DB().QueryContext(ctx, selectColumns+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("endpoint: all: %w", err)
	}
	defer rows.Close()
	var out []*Configuration
	for rows.Next() {
		c, err := scanOne(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UsingCertificate returns the ARNs of the configurations that serve the
// given ACM certificate (ACM's InUseBy, and the guard on DeleteCertificate).
func (s *Service) UsingCertificate(ctx context.Context, certificateARN string) ([]string, error) {
	rows, err := s.st.DB().QueryContext(ctx, `SELECT DISTINCT d.arn FROM domain_configurations d, json_each(d.server_certificate_arns) j
		WHERE j.value = ? OR d.validation_certificate_arn = ? ORDER BY d.arn`, certificateARN, certificateARN)
	if err != nil {
		return nil, fmt.Errorf("endpoint: certificate users: %w", err)
	}
	defer rows.Close()
	var arns []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		arns = append(arns, a)
	}
	return arns, rows.Err()
}

func normalizeDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
)

func randomID(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

type rowScanner interface{ Scan(dest ...any) error }

const selectColumns = `SELECT name, arn, domain_name, domain_type, service_type, status, last_status_change, security_policy,
  server_certificate_arns, validation_certificate_arn, authentication_type, application_protocol,
  authorizer_config, server_certificate_config, client_certificate_config, created FROM domain_configurations`

func scanOne(r rowScanner) (*Configuration, error) {
	var c Configuration
	var lastChange, created int64
	var certs, authz, scc, ccc string
	if err := r.Scan(&c.Name, &c.ARN, &c.DomainName, &c.DomainType, &c.ServiceType, &c.Status, &lastChange, &c.SecurityPolicy,
		&certs, &c.ValidationCertificateARN, &c.AuthenticationType, &c.ApplicationProtocol, &authz, &scc, &ccc, &created); err != nil {
		return nil, err
	}
	c.LastStatusChange = time.UnixMilli(lastChange)
	c.Created = time.UnixMilli(created)
	if err := json.Unmarshal([]byte(certs), &c.ServerCertificateARNs); err != nil {
		return nil, fmt.Errorf("endpoint: corrupt certificate list for %s: %w", c.Name, err)
	}
	if authz != "" {
		c.AuthorizerConfig = new(AuthorizerConfig)
		json.Unmarshal([]byte(authz), c.AuthorizerConfig)
	}
	if scc != "" {
		c.ServerCertificateConfig = new(ServerCertificateConfig)
		json.Unmarshal([]byte(scc), c.ServerCertificateConfig)
	}
	if ccc != "" {
		c.ClientCertificateConfig = new(ClientCertificateConfig)
		json.Unmarshal([]byte(ccc), c.ClientCertificateConfig)
	}
	return &c, nil
}

func optionalJSON(v any, isNil bool) string {
	if isNil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func certsJSON(arns []string) string {
	if arns == nil {
		arns = []string{}
	}
	b, _ := json.Marshal(arns)
	return string(b)
}

func insert(ctx context.Context, tx *sql.Tx, c *Configuration, tags []Tag) error {
	if tags == nil {
		tags = []Tag{}
	}
	tagJSON, _ := json.Marshal(tags)
	_, err := tx.ExecContext(ctx, `INSERT INTO domain_configurations (name, arn, domain_name, domain_type, service_type, status,
		last_status_change, security_policy, server_certificate_arns, validation_certificate_arn, authentication_type,
		application_protocol, authorizer_config, server_certificate_config, client_certificate_config, tags, created)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		c.Name, c.ARN, c.DomainName, c.DomainType, c.ServiceType, c.Status, c.LastStatusChange.UnixMilli(), c.SecurityPolicy,
		certsJSON(c.ServerCertificateARNs), c.ValidationCertificateARN, c.AuthenticationType, c.ApplicationProtocol,
		optionalJSON(c.AuthorizerConfig, c.AuthorizerConfig == nil), optionalJSON(c.ServerCertificateConfig, c.ServerCertificateConfig == nil),
		optionalJSON(c.ClientCertificateConfig, c.ClientCertificateConfig == nil), string(tagJSON), c.Created.UnixMilli())
	if err != nil {
		return fmt.Errorf("endpoint: insert %s: %w", c.Name, err)
	}
	return nil
}

func update(ctx context.Context, tx *sql.Tx, c *Configuration) error {
	_, err := tx.ExecContext(ctx, `UPDATE domain_configurations SET status=?, last_status_change=?, security_policy=?,
		server_certificate_arns=?, authentication_type=?, application_protocol=?, authorizer_config=?,
		server_certificate_config=?, client_certificate_config=? WHERE name=?`,
		c.Status, c.LastStatusChange.UnixMilli(), c.SecurityPolicy, certsJSON(c.ServerCertificateARNs), c.AuthenticationType,
		c.ApplicationProtocol, optionalJSON(c.AuthorizerConfig, c.AuthorizerConfig == nil),
		optionalJSON(c.ServerCertificateConfig, c.ServerCertificateConfig == nil),
		optionalJSON(c.ClientCertificateConfig, c.ClientCertificateConfig == nil), c.Name)
	if err != nil {
		return fmt.Errorf("endpoint: update %s: %w", c.Name, err)
	}
	return nil
}
