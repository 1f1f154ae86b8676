// Package acmeissuer obtains certificates for the ACM validator from any
// ACME directory (Let's Encrypt, step-ca, an internal CA) with lego,
// answering DNS-01 challenges through Portico's own DNS.
//
// The operator's validation record
//
//	_acme-challenge.<name>.  CNAME  _<h>.acm-validations.<zone>.
//
// delegates DNS-01 to Portico (the acme-dns pattern): for each challenge the
// issuer publishes the TXT record at the CNAME's target in Challenges, a set
// the DNS server serves in the validation zone, and withdraws it afterwards.
package acmeissuer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"
	"github.com/miekg/dns"
)

// Issuer is a certificate.Issuer (of Portico's certificate package) backed
// by an ACME directory. Set the fields before the first Issue; an Issuer is
// safe for concurrent use (orders run one at a time).
type Issuer struct {
	// DirectoryURL is the ACME directory, e.g.
	// https://acme-v02.api.letsencrypt.org/directory.
	DirectoryURL string
	// Email is the account's contact; may be empty.
	Email string
	// HTTPClient talks to the directory; nil means lego's default (system
	// roots). Give one trusting the directory's CA for a private ACME server.
	HTTPClient *http.Client
	// AccountKey is the ACME account key; nil means one generated on first
	// use (a new account per process).
	AccountKey crypto.Signer
	// Challenges receives the DNS-01 TXT records.
	Challenges *Challenges
	// Target returns the fully qualified name at which the TXT record for
	// domain's challenge must be published: the target of its validation
	// CNAME (certificate.Service.ValidationRecord(domain).Value). Nil means
	// lego's own CNAME resolution of _acme-challenge.<domain>.
	Target func(domain string) string
	// Nameservers are host:port addresses of Portico's DNS server. The
	// propagation check asks them for the TXT record at the target before
	// the ACME server is told to validate. When set, lego's DNS client
	// (process-wide) uses them as its recursive nameservers too, so that it
	// follows the _acme-challenge CNAME through Portico.
	Nameservers []string
	// PropagationTimeout and PollingInterval bound the propagation check;
	// 0 means two minutes and two seconds.
	PropagationTimeout, PollingInterval time.Duration

	mu     sync.Mutex
	client *lego.Client
}

// user is the lego account.
type user struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (u *user) GetEmail() string                       { return u.email }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

// Issue obtains a certificate for key and names from the ACME directory
// (certificate.Issuer). names' DNS-01 challenges are answered through
// Challenges; the returned chain is the directory's, issuer first. An
// order the directory refuses for good is a *certificate.IssueFailure with
// the closest ACM FailureReason (see permanentProblems); other errors are
// transient.
func (i *Issuer) Issue(ctx context.Context, key crypto.Signer, names []string) ([]byte, []byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	client, err := i.setup(ctx)
	if err != nil {
		return nil, nil, err
	}
	res, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains:    names,
		PrivateKey: key,
		Bundle:     false,
	})
	if err != nil {
		// Permanent refusals (CAA, a rejected name, ...) become a
		// certificate.IssueFailure: the request is FAILED at once.
		return nil, nil, classify(fmt.Errorf("acme: obtain %v: %w", names, err))
	}
	leaf, chain := splitLeaf(res.Certificate)
	if len(res.IssuerCertificate) > 0 {
		chain = res.IssuerCertificate
	}
	return leaf, chain, nil
}

// setup creates the lego client and registers the account, once.
func (i *Issuer) setup(ctx context.Context) (*lego.Client, error) {
	if i.client != nil {
		return i.client, nil
	}
	if i.DirectoryURL == "" {
		return nil, errors.New("acme: no directory URL")
	}
	if i.Challenges == nil {
		return nil, errors.New("acme: no challenge record set")
	}
	key := i.AccountKey
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("acme: account key: %w", err)
		}
		key, i.AccountKey = k, k
	}
	u := &user{email: i.Email, key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = i.DirectoryURL
	cfg.UserAgent = "portico"
	if i.HTTPClient != nil {
		cfg.HTTPClient = i.HTTPClient
	}
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("acme: directory %s: %w", i.DirectoryURL, err)
	}
	if len(i.Nameservers) > 0 {
		opts := dns01.NewOptions()
		opts.RecursiveNameservers = slices.Clone(i.Nameservers)
		opts.Timeout = 5 * time.Second
		dns01.SetDefaultClient(dns01.NewClient(opts))
	}
	if err := client.Challenge.SetDNS01Provider(provider{i}, dns01.WrapPreCheck(i.preCheck)); err != nil {
		return nil, fmt.Errorf("acme: %w", err)
	}
	reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return nil, fmt.Errorf("acme: register account at %s: %w", i.DirectoryURL, err)
	}
	u.reg = reg
	i.client = client
	return client, nil
}

// target is where the TXT record for domain's challenge goes.
func (i *Issuer) target(ctx context.Context, domain string) string {
	domain = strings.TrimPrefix(domain, "*.")
	if i.Target != nil {
		return dns.Fqdn(strings.ToLower(i.Target(domain)))
	}
	return dns01.GetChallengeInfo(ctx, domain, "").EffectiveFQDN
}

// preCheck waits until Portico's DNS serves the TXT record at the
// challenge's target. Without Nameservers it trusts Challenges (the wiring
// reloads the DNS server before Add returns).
func (i *Issuer) preCheck(ctx context.Context, domain, _, value string, _ dns01.PreCheckFunc) (bool, error) {
	name := i.target(ctx, domain)
	if len(i.Nameservers) == 0 {
		return slices.Contains(i.Challenges.Values(name), value), nil
	}
	for _, ns := range i.Nameservers {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeTXT)
		c := &dns.Client{Timeout: 5 * time.Second}
		in, _, err := c.ExchangeContext(ctx, m, ns)
		if err != nil {
			return false, nil // not yet: retried until the propagation timeout
		}
		found := false
		for _, rr := range in.Answer {
			if t, ok := rr.(*dns.TXT); ok && strings.Join(t.Txt, "") == value {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// provider is lego's DNS-01 provider over Challenges.
type provider struct{ i *Issuer }

// challengeValue is the TXT value for a key authorization (RFC 8555 8.4).
func challengeValue(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (p provider) Present(ctx context.Context, domain, _, keyAuth string) error {
	p.i.Challenges.Add(p.i.target(ctx, domain), challengeValue(keyAuth))
	return nil
}

func (p provider) CleanUp(ctx context.Context, domain, _, keyAuth string) error {
	p.i.Challenges.Remove(p.i.target(ctx, domain), challengeValue(keyAuth))
	return nil
}

func (p provider) Timeout() (time.Duration, time.Duration) {
	timeout, interval := p.i.PropagationTimeout, p.i.PollingInterval
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return timeout, interval
}

// splitLeaf separates the first PEM block of bundle from the rest.
func splitLeaf(bundle []byte) (leaf, rest []byte) {
	s := string(bundle)
	const end = "-----END CERTIFICATE-----"
	k := strings.Index(s, end)
	if k < 0 {
		return bundle, nil
	}
	k += len(end)
	return []byte(strings.TrimSpace(s[:k]) + "\n"), []byte(strings.TrimLeft(s[k:], "\r\n"))
}
