package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/acmeissuer"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/dnsresolve"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/zone"
)

// validationResolver answers the certificate validator's CNAME questions:
// from Portico's own hosted zones for names one of them is authoritative for
// (the longest matching zone; of two zones with one name, the first, as the
// DNS server serves them), the way its DNS server would answer; for any other
// name, through the recursive resolvers of --validation-resolvers (nil: such
// names are never found). Chains are followed hop by hop, each hop answered
// by whichever side is authoritative for it.
type validationResolver struct {
	zones    *zone.Service
	external *dnsresolve.Resolver
}

func (r validationResolver) LookupCNAME(ctx context.Context, name string) (string, bool, error) {
	data, err := r.zones.Snapshot(ctx)
	if err != nil {
		return "", false, err
	}
	name = strings.ToLower(dns.Fqdn(name))
	var best *zone.ZoneData
	for i := range data.Zones {
		z := &data.Zones[i]
		if dns.IsSubDomain(z.Name, name) && (best == nil || dns.CountLabel(z.Name) > dns.CountLabel(best.Name)) {
			best = z
		}
	}
	if best != nil {
		// Authoritative: what the zone holds is the answer, even "none".
		for _, rs := range best.RecordSets {
			if rs.Type == "CNAME" && rs.Name == name && len(rs.Values) > 0 {
				return rs.Values[0], true, nil
			}
		}
		return "", false, nil
	}
	if r.external == nil {
		return "", false, nil
	}
	return r.external.LookupCNAME(ctx, name)
}

// LookupCNAMEChain implements certificate.ChainResolver.
func (r validationResolver) LookupCNAMEChain(ctx context.Context, name string) ([]string, error) {
	maxChain := 0
	if r.external != nil {
		maxChain = r.external.MaxChain
	}
	return dnsresolve.Follow(ctx, name, maxChain, r.LookupCNAME)
}

var _ certificate.ChainResolver = validationResolver{}

// externalResolver is the validator's resolver for names outside Portico's
// zones: --validation-resolvers, else the nameservers of /etc/resolv.conf
// (none found: only Portico's zones are checked, with a warning).
func (n *node) externalResolver() *dnsresolve.Resolver {
	servers := n.cfg.ValidationResolvers
	if len(servers) == 0 {
		var err error
		if servers, err = dnsresolve.FromResolvConf("/etc/resolv.conf"); err != nil {
			n.logger.Warn("no validation resolvers: validation CNAMEs are looked up in Portico's hosted zones only", "err", err)
			return nil
		}
	}
	return &dnsresolve.Resolver{Servers: servers}
}

// startValidation runs the ACM validator: certificates requested with DNS
// validation are issued once their validation records appear in Portico's
// zones, and renewed before they expire. The issuer is Portico's server CA,
// or the ACME directory of --acme-directory, whose DNS-01 challenges Portico's
// DNS answers at the validation CNAMEs' targets.
func (n *node) startValidation(ctx context.Context, ca *pki.CA, opts []pki.IssueOption) error {
	// RevokeCertificate revokes at the server CA, whose OCSP responder and
	// CRL (pkiweb) then say so. Set before the API listener serves.
	n.certs.Revoker = ca
	var issuer certificate.Issuer = certificate.CAIssuer{CA: ca, Options: opts}
	if n.cfg.ACMEDirectory != "" {
		acme, err := n.acmeIssuer()
		if err != nil {
			return err
		}
		issuer = acme
	}
	v := &certificate.Validator{
		Service:  n.certs,
		Resolver: validationResolver{zones: n.zones, external: n.externalResolver()},
		Issuer:   issuer,
		Logger:   n.logger.With("component", "acm"),
	}
	go v.Run(ctx)
	return nil
}

// acmeAccountKeyFile holds the ACME account key in the data dir, so that a
// restart keeps the account.
const acmeAccountKeyFile = "acme-account.key"

// acmeIssuer configures the ACME issuer; startDNS must have run.
func (n *node) acmeIssuer() (*acmeissuer.Issuer, error) {
	if n.challenges == nil {
		return nil, errors.New("acme: the DNS server is not serving challenges")
	}
	key, err := loadOrCreateAccountKey(filepath.Join(n.cfg.DataDir, acmeAccountKeyFile))
	if err != nil {
		return nil, err
	}
	iss := &acmeissuer.Issuer{
		DirectoryURL: n.cfg.ACMEDirectory,
		Email:        n.cfg.ACMEEmail,
		AccountKey:   key,
		Challenges:   n.challenges,
		Target:       func(domain string) string { return n.certs.ValidationRecord(domain).Value },
		Nameservers:  []string{n.dnsAddr},
	}
	if n.cfg.ACMECABundle != "" {
		data, err := os.ReadFile(n.cfg.ACMECABundle)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("--acme-ca-bundle %s: no PEM certificates", n.cfg.ACMECABundle)
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		iss.HTTPClient = &http.Client{Transport: transport, Timeout: 2 * time.Minute}
	}
	return iss, nil
}

// loadOrCreateAccountKey reads a PKCS#8 PEM key, or creates an ECDSA P-256
// one with mode 0600.
func loadOrCreateAccountKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: unusable key", path)
		}
		return signer, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("acme account key: %w", err)
	}
	return key, nil
}
