// Package config turns flags and PORTICO_* environment variables into one
// typed Config for `portico serve`.
package config

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Config is everything `portico serve` needs.
type Config struct {
	DataDir       string
	Region        string
	AccountID     string
	APIAddr       string
	MQTTAddr      string
	HTTPSAddr     string
	TLSAddr       string
	DNSAddr       string
	AdvertiseAddr string
	BaseDomain    string
	Nameservers   []string
	LogLevel      string
	// ACMEDirectory, when set, has requested certificates issued by that
	// ACME directory instead of Portico's server CA; ACMEEmail is the
	// account contact and ACMECABundle a PEM file of roots trusted for the
	// directory's TLS (in addition to the system's).
	ACMEDirectory string
	ACMEEmail     string
	ACMECABundle  string
	// FunctionsFile, when set, is a JSON file of user functions registered
	// (or replaced) at start, beside `portico function put`.
	FunctionsFile string
	// ExpiryWebhooks receive ACM's "approaching expiration" events as JSON
	// POSTs.
	ExpiryWebhooks []string
	// MQTTSessionExpiry is how long a persistent MQTT session outlives its
	// connection (AWS: 1 hour by default, at most 7 days).
	MQTTSessionExpiry time.Duration
	// DNSTransferAllow are the addresses or prefixes allowed zone
	// transfers (AXFR/IXFR) from the DNS server; DNSNotify the secondaries
	// (ip:port) sent NOTIFY when a zone changes. Validate parses them into
	// TransferAllow and NotifyTargets.
	DNSTransferAllow []string
	DNSNotify        []string
	TransferAllow    []netip.Prefix
	NotifyTargets    []netip.AddrPort
	// ValidationResolvers are the DNS resolvers (ip:port) through which the
	// ACM validator looks up validation CNAMEs of names outside Portico's
	// hosted zones. Validate normalises each to ip:port (port 53 if
	// omitted); empty means the nameservers of /etc/resolv.conf.
	ValidationResolvers []string
	// LatencyTable, when set, is a JSON file mapping client subnets to AWS
	// regions for Route 53 latency records: [{"prefix": "10.1.0.0/16",
	// "region": "us-east-1"}, ...]; loaded by the DNS server at start.
	LatencyTable string
}

// Bind registers the serve flags on fs, with their defaults.
func (c *Config) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./portico-data", "directory for the database, CAs and credentials")
	fs.StringVar(&c.Region, "region", "us-east-1", "AWS region this Portico serves")
	fs.StringVar(&c.AccountID, "account-id", "123456789012", "12-digit AWS account ID used in ARNs")
	fs.StringVar(&c.APIAddr, "api-addr", "127.0.0.1:4566", "address of the AWS API (iot, acm, route53, iot-data)")
	fs.StringVar(&c.MQTTAddr, "mqtt-addr", "127.0.0.1:8883", "address of MQTT over TLS")
	fs.StringVar(&c.HTTPSAddr, "https-addr", "127.0.0.1:8443", "address of HTTPS publish")
	fs.StringVar(&c.TLSAddr, "tls-addr", "127.0.0.1:9443", "address of the ALPN-routed device port (AWS's 443): MQTT, HTTPS publish and MQTT over WebSocket")
	fs.StringVar(&c.DNSAddr, "dns-addr", "127.0.0.1:8053", "address of the authoritative DNS server (UDP and TCP)")
	fs.StringVar(&c.LatencyTable, "latency-table", "", "JSON file mapping client subnets to regions for latency records: [{\"prefix\": \"10.1.0.0/16\", \"region\": \"us-east-1\"}, ...]; client: EDNS Client Subnet, else the resolver address")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "127.0.0.1", "IP address Portico's DNS gives for its endpoint hostnames")
	fs.StringVar(&c.BaseDomain, "base-domain", "portico.internal", "domain under which endpoint hostnames live (<prefix>-ats.iot.<region>.<base-domain>)")
	fs.StringSliceVar(&c.Nameservers, "nameservers", nil, "NS names for new hosted zones (default ns1.<base-domain>, ns2.<base-domain>)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", "", "ACME directory URL that issues requested certificates (DNS-01 answered by Portico's DNS); empty: Portico's server CA")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact e-mail of the ACME account")
	fs.DurationVar(&c.MQTTSessionExpiry, "mqtt-session-expiry", time.Hour, "how long a persistent MQTT session (clean session 0, MQTT 5 session expiry) and its queued messages outlive its connection; at most 168h")
	fs.StringSliceVar(&c.ExpiryWebhooks, "expiry-webhook", nil, "URL that receives ACM approaching-expiration events as JSON POSTs (repeatable)")
	fs.StringVar(&c.FunctionsFile, "functions", "", "JSON file of user functions to register at start: {\"functions\": [{\"name\", \"url\", \"timeout\", \"secret\"}]}")
	fs.StringSliceVar(&c.DNSTransferAllow, "dns-transfer-allow", nil, "IP addresses or prefixes (127.0.0.0/8) allowed zone transfers (AXFR, IXFR) of every served zone; empty: none")
	fs.StringSliceVar(&c.DNSNotify, "dns-notify", nil, "secondary name servers (ip:port; port 53 if omitted) sent NOTIFY when a zone changes")
	fs.StringSliceVar(&c.ValidationResolvers, "validation-resolvers", nil, "DNS resolvers (ip:port,...; port 53 if omitted) for ACM validation CNAMEs outside Portico's hosted zones; empty: the nameservers of /etc/resolv.conf")
	fs.StringVar(&c.ACMECABundle, "acme-ca-bundle", "", "PEM file of CA certificates trusted for the ACME directory's HTTPS (e.g. Pebble's)")
}

// ApplyEnv sets every flag not given on the command line from PORTICO_<NAME>
// (upper case, dashes as underscores), so flags win over the environment.
func ApplyEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "PORTICO_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso|-isob)?-[a-z]{4,9}-\d$`)
	accountPattern = regexp.MustCompile(`^\d{12}$`)
)

// Validate checks the values and fills derived defaults.
func (c *Config) Validate() error {
	if c.MQTTSessionExpiry != 0 && (c.MQTTSessionExpiry < time.Second || c.MQTTSessionExpiry > 7*24*time.Hour) {
		return fmt.Errorf("--mqtt-session-expiry %v must be between 1s and 168h", c.MQTTSessionExpiry)
	}
	if !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("--region %q is not an AWS region name such as us-east-1", c.Region)
	}
	if !accountPattern.MatchString(c.AccountID) {
		return fmt.Errorf("--account-id %q must be 12 digits", c.AccountID)
	}
	if net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("--advertise-addr %q must be an IP address", c.AdvertiseAddr)
	}
	c.BaseDomain = strings.TrimSuffix(strings.ToLower(c.BaseDomain), ".")
	if c.BaseDomain == "" || strings.Contains(c.BaseDomain, " ") {
		return fmt.Errorf("--base-domain %q is not a domain name", c.BaseDomain)
	}
	for _, a := range []struct{ flag, addr string }{{"api-addr", c.APIAddr}, {"mqtt-addr", c.MQTTAddr}, {"https-addr", c.HTTPSAddr}, {"tls-addr", c.TLSAddr}, {"dns-addr", c.DNSAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("--%s %q: %w", a.flag, a.addr, err)
		}
	}
	if c.ACMEDirectory != "" {
		if u, err := url.Parse(c.ACMEDirectory); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--acme-directory %q is not an http(s) URL", c.ACMEDirectory)
		}
	} else if c.ACMEEmail != "" || c.ACMECABundle != "" {
		return errors.New("--acme-email and --acme-ca-bundle need --acme-directory")
	}
	c.TransferAllow, c.NotifyTargets = nil, nil
	for _, a := range c.DNSTransferAllow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(a)
			if err2 != nil {
				return fmt.Errorf("--dns-transfer-allow %q is not an IP address or prefix", a)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		c.TransferAllow = append(c.TransferAllow, p.Masked())
	}
	for _, a := range c.DNSNotify {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(strings.Trim(a, "[]"))
			if err2 != nil {
				return fmt.Errorf("--dns-notify %q is not ip:port", a)
			}
			ap = netip.AddrPortFrom(ip, 53)
		}
		c.NotifyTargets = append(c.NotifyTargets, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	for i, a := range c.ValidationResolvers {
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(strings.Trim(a, "[]"))
			if err2 != nil {
				return fmt.Errorf("--validation-resolvers %q is not ip:port", a)
			}
			ap = netip.AddrPortFrom(ip, 53)
		}
		if ap.Port() == 0 {
			return fmt.Errorf("--validation-resolvers %q: port 0", a)
		}
		c.ValidationResolvers[i] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	}
	if len(c.Nameservers) == 0 {
		c.Nameservers = []string{"ns1." + c.BaseDomain, "ns2." + c.BaseDomain}
	}
	return nil
}

// Credentials are the API access key Portico accepts.
type Credentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	// Generated is true when this start created them.
	Generated bool `json:"-"`
	// FromEnv is true when they came from PORTICO_ACCESS_KEY_ID/SECRET.
	FromEnv bool `json:"-"`
}

// CredentialsFile is where generated credentials live in the data dir.
const CredentialsFile = "credentials.json"

// LoadCredentials returns the credentials from the environment, or from the
// data dir, generating and storing them (mode 0600) on first start.
func LoadCredentials(dataDir string) (Credentials, error) {
	id, secret := os.Getenv("PORTICO_ACCESS_KEY_ID"), os.Getenv("PORTICO_SECRET_ACCESS_KEY")
	if id != "" || secret != "" {
		if id == "" || secret == "" {
			return Credentials{}, errors.New("set both PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY, or neither")
		}
		return Credentials{AccessKeyID: id, SecretAccessKey: secret, FromEnv: true}, nil
	}
	path := filepath.Join(dataDir, CredentialsFile)
	data, err := os.ReadFile(path)
	if err == nil {
		var c Credentials
		if err := json.Unmarshal(data, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return Credentials{}, fmt.Errorf("%s is corrupt; delete it to generate new credentials", path)
		}
		return c, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Credentials{}, err
	}
	c := Credentials{AccessKeyID: "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), Generated: true}
	out, _ := json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return Credentials{}, fmt.Errorf("store credentials: %w", err)
	}
	return c, nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
