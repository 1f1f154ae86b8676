package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/deviceauth"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/ocspstaple"
	"github.com/portico-iot/portico/internal/pki"
)

// certificateChecker adapts the ACM service to what the endpoint service asks.
type certificateChecker struct{ certs *certificate.Service }

func (c certificateChecker) Check(ctx context.Context, arn, domainName string) (endpoint.CertificateState, error) {
	st, err := c.certs.Standing(ctx, arn)
	if err != nil {
		return endpoint.CertificateState{}, err
	}
	return endpoint.CertificateState{Status: st.Status, Covers: st.Covers(domainName), NotBefore: st.NotBefore, NotAfter: st.NotAfter}, nil
}

// gatewaySource builds the gateway's view of domains and devices.
type gatewaySource struct {
	endpoints *endpoint.Service
	certs     *certificate.Service
	devices   *device.Service
	// defaultCertificate serves the account's default data endpoint.
	defaultCertificate tls.Certificate
	// managed issues the certificates of AWS-managed configurations.
	managed *managedCertificates
	// stapler keeps the OCSP staples of domains with enableOCSPCheck.
	stapler *ocspstaple.Stapler
}

func (s gatewaySource) Domains(ctx context.Context) ([]gateway.Domain, error) {
	configs, err := s.endpoints.All(ctx)
	if err != nil {
		return nil, err
	}
	materials, err := s.certs.All(ctx)
	if err != nil {
		return nil, err
	}
	byARN := make(map[string]*certificate.Material, len(materials))
	for _, m := range materials {
		byARN[m.ARN] = m
	}
	var out []gateway.Domain
	var staples []ocspstaple.Target
	for _, c := range configs {
		if c.ServiceType != endpoint.ServiceData {
			continue // jobs and credential-provider endpoints are not served yet
		}
		policy, ok := endpoint.LookupSecurityPolicy(c.SecurityPolicy)
		if !ok {
			return nil, fmt.Errorf("domain configuration %s has unknown security policy %q", c.Name, c.SecurityPolicy)
		}
		d := gateway.Domain{Name: c.DomainName, Configuration: c.Name, Enabled: c.Status == endpoint.StatusEnabled,
			MinVersion: policy.MinVersion, MaxVersion: policy.MaxVersion, CipherSuites: policy.CipherSuites, CipherSuites8883: policy.CipherSuites8883,
			AuthenticationType: c.AuthenticationType, ApplicationProtocol: c.ApplicationProtocol}
		if ccc := c.ClientCertificateConfig; ccc != nil {
			d.ClientCertificateCallback = ccc.ClientCertificateCallbackArn
		}
		switch c.DomainType {
		case endpoint.TypeEndpoint:
			d.Default = true
			d.Certificates = []tls.Certificate{s.defaultCertificate}
		case endpoint.TypeAWSManaged:
			cert, err := s.managed.certificate(c.DomainName)
			if err != nil {
				return nil, err
			}
			if ocspEnabled(c) {
				t := ocspstaple.Target{Leaf: cert.Leaf, Issuer: s.managed.ca.Certificate()} // the intermediate, which signs the leaf's OCSP answers
				staples = append(staples, t)
				cert.OCSPStaple = s.stapler.Staple(t)
			}
			d.Certificates = []tls.Certificate{cert}
		default:
			for _, arn := range c.ServerCertificateARNs {
				m := byARN[arn]
				// A certificate that is missing, expired or no longer covers the
				// name is not served; the others on the domain still are. The
				// gateway checks validity again at each handshake and picks
				// among them (newest first, by what the client supports).
				if m == nil || m.Status != "ISSUED" || !m.Covers(c.DomainName) {
					continue
				}
				tc := m.TLS
				if tc.Leaf == nil {
					tc.Leaf = m.Leaf
				}
				if t, ok := s.stapleTarget(c, m, byARN); ok {
					staples = append(staples, t)
					tc.OCSPStaple = s.stapler.Staple(t)
				}
				d.Certificates = append(d.Certificates, tc)
			}
		}
		out = append(out, d)
	}
	// The stapler fetches for exactly the certificates served with
	// enableOCSPCheck; Set never fires Changes, so this cannot loop.
	s.stapler.Set(staples)
	return out, nil
}

func ocspEnabled(c *endpoint.Configuration) bool {
	scc := c.ServerCertificateConfig
	return scc != nil && scc.EnableOCSPCheck != nil && *scc.EnableOCSPCheck
}

// stapleTarget says whether m is stapled on configuration c, and how its
// OCSP response is verified: by the issuer, or by the certificate named in
// ocspAuthorizedResponderArn.
func (s gatewaySource) stapleTarget(c *endpoint.Configuration, m *certificate.Material, byARN map[string]*certificate.Material) (ocspstaple.Target, bool) {
	if !ocspEnabled(c) {
		return ocspstaple.Target{}, false
	}
	scc := c.ServerCertificateConfig
	t := ocspstaple.Target{Leaf: m.Leaf, Lambda: scc.OCSPLambdaArn}
	if len(m.Chain) > 0 {
		t.Issuer = m.Chain[0]
	}
	if arn := scc.OCSPAuthorizedResponderArn; arn != "" {
		r := byARN[arn]
		if r == nil {
			// Without the responder certificate no response can be trusted.
			return ocspstaple.Target{}, false
		}
		t.Responder = r.Leaf
	}
	return t, true
}

func (s gatewaySource) Devices(ctx context.Context) (gateway.Devices, error) {
	snap, err := s.devices.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return deviceauth.Authenticator{Snapshot: snap}, nil
}

// inUseBy adapts the endpoint service to ACM's InUseBy question.
func inUseBy(endpoints *endpoint.Service) func(ctx context.Context, arn string) ([]string, error) {
	return func(ctx context.Context, arn string) ([]string, error) {
		users, err := endpoints.UsingCertificate(ctx, arn)
		if err != nil {
			return nil, fault.New(fault.Internal, "could not check certificate usage: %v", err)
		}
		return users, nil
	}
}

// advertiseIP is the address Portico's DNS gives for its own names.
func advertiseIP(addr string) net.IP { return net.ParseIP(addr) }

// managedCertificates issues, from Portico's server CA, the certificate of
// each AWS-managed configuration's generated hostname, once per process
// (again when it nears expiry); devices trust `portico ca export`.
type managedCertificates struct {
	ca   *pki.CA
	opts []pki.IssueOption // revocation URLs to embed
	mu   sync.Mutex
	by   map[string]tls.Certificate
}

func newManagedCertificates(ca *pki.CA, opts ...pki.IssueOption) *managedCertificates {
	return &managedCertificates{ca: ca, opts: opts, by: map[string]tls.Certificate{}}
}

const managedCertificateValidity = 365 * 24 * time.Hour

func (m *managedCertificates) certificate(host string) (tls.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.by[host]; ok && time.Until(c.Leaf.NotAfter) > managedCertificateValidity/12 {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := m.ca.IssueServer(&key.PublicKey, []string{host}, nil, managedCertificateValidity, m.opts...)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue the certificate of %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	c := tls.Certificate{Certificate: append([][]byte{der}, m.ca.Chain()...), PrivateKey: key, Leaf: leaf}
	m.by[host] = c
	return c, nil
}
