// Package endpoint owns domain configurations (the account's default
// endpoints and the operator's custom domains), their TLS security policies,
// and the account's endpoint hostnames returned by DescribeEndpoint.
package endpoint

import (
	"time"

	"github.com/portico-iot/portico/internal/tagging"
)

// Status of a domain configuration.
const (
	StatusEnabled  = "ENABLED"
	StatusDisabled = "DISABLED"
)

// Domain types.
const (
	TypeEndpoint        = "ENDPOINT"
	TypeAWSManaged      = "AWS_MANAGED"
	TypeCustomerManaged = "CUSTOMER_MANAGED"
)

// Service types.
const (
	ServiceData               = "DATA"
	ServiceCredentialProvider = "CREDENTIAL_PROVIDER"
	ServiceJobs               = "JOBS"
)

// Names of the default-endpoint configurations every account has.
const (
	DefaultDataATS            = "iot:Data-ATS"
	DefaultJobs               = "iot:Jobs"
	DefaultCredentialProvider = "iot:CredentialProvider"
)

// MaxServerCertificates is how many server certificates one configuration may
// carry. AWS allows one; Portico allows four (documented extension) so that a
// domain can serve an RSA and an ECDSA certificate, or old and new during a
// rotation.
const MaxServerCertificates = 4

// AWSManagedDeleteDelay is how long an AWS-managed configuration must have
// been DISABLED before DeleteDomainConfiguration accepts it.
const AWSManagedDeleteDelay = 7 * 24 * time.Hour

// AuthorizerConfig names the custom authorizer of a domain.
type AuthorizerConfig struct {
	DefaultAuthorizerName   string `json:"defaultAuthorizerName,omitempty"`
	AllowAuthorizerOverride *bool  `json:"allowAuthorizerOverride,omitempty"`
}

// ServerCertificateConfig configures OCSP stapling.
type ServerCertificateConfig struct {
	EnableOCSPCheck            *bool  `json:"enableOCSPCheck,omitempty"`
	OCSPLambdaArn              string `json:"ocspLambdaArn,omitempty"`
	OCSPAuthorizedResponderArn string `json:"ocspAuthorizedResponderArn,omitempty"`
}

// ClientCertificateConfig configures the client-certificate callback.
type ClientCertificateConfig struct {
	ClientCertificateCallbackArn string `json:"clientCertificateCallbackArn,omitempty"`
}

// Tag is a resource tag (the rules are internal/tagging's).
type Tag = tagging.Tag

// Configuration is a domain configuration as stored.
type Configuration struct {
	Name string
	ARN  string
	// DomainName is the hostname devices connect to: the operator's name
	// (CUSTOMER_MANAGED), the generated <id>-ats.iot.<region>.<base-domain>
	// (AWS_MANAGED: the runtime must resolve it in Portico's own zone and
	// serve it a certificate from the server CA), or the DescribeEndpoint
	// hostname (ENDPOINT).
	DomainName               string
	DomainType               string
	ServiceType              string
	Status                   string
	LastStatusChange         time.Time
	SecurityPolicy           string
	ServerCertificateARNs    []string
	ValidationCertificateARN string
	AuthenticationType       string
	ApplicationProtocol      string
	AuthorizerConfig         *AuthorizerConfig
	ServerCertificateConfig  *ServerCertificateConfig
	ClientCertificateConfig  *ClientCertificateConfig
	Created                  time.Time
}

// CreateInput is CreateDomainConfiguration's input.
type CreateInput struct {
	Name string
	// DomainName given makes a CUSTOMER_MANAGED configuration; empty makes an
	// AWS_MANAGED one with a generated hostname under Portico's base domain.
	DomainName               string
	ServerCertificateARNs    []string
	ValidationCertificateARN string
	ServiceType              string
	SecurityPolicy           string
	AuthenticationType       string
	ApplicationProtocol      string
	AuthorizerConfig         *AuthorizerConfig
	ServerCertificateConfig  *ServerCertificateConfig
	ClientCertificateConfig  *ClientCertificateConfig
	Tags                     []Tag
}

// UpdateInput is UpdateDomainConfiguration's input; nil or empty members are
// left unchanged.
type UpdateInput struct {
	Name                    string
	Status                  string
	SecurityPolicy          string
	ServerCertificateARNs   []string // extension: replaces the certificates when non-nil
	AuthenticationType      string
	ApplicationProtocol     string
	AuthorizerConfig        *AuthorizerConfig
	RemoveAuthorizerConfig  bool
	ServerCertificateConfig *ServerCertificateConfig
	ClientCertificateConfig *ClientCertificateConfig
}

// Summary is one item of ListDomainConfigurations.
type Summary struct {
	Name        string
	ARN         string
	ServiceType string
}

var (
	authenticationTypes  = set("CUSTOM_AUTH_X509", "CUSTOM_AUTH", "AWS_X509", "AWS_SIGV4", "DEFAULT")
	applicationProtocols = set("SECURE_MQTT", "MQTT_WSS", "HTTPS", "DEFAULT")
	serviceTypes         = set(ServiceData, ServiceCredentialProvider, ServiceJobs)
)

func set(values ...string) map[string]bool {
	m := make(map[string]bool, len(values))
	for _, v := range values {
		m[v] = true
	}
	return m
}
