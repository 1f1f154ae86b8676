package endpoint

import (
	"crypto/tls"
	"sort"
	"strings"
)

// SecurityPolicy is one of AWS IoT's predefined TLS security policies.
type SecurityPolicy struct {
	Name       string // canonical spelling, as AWS returns it
	MinVersion uint16
	MaxVersion uint16
	// CipherSuites are the TLS 1.2 suites in AWS's order, limited to those Go
	// implements; TLS 1.3 suites are not configurable in Go and match AWS's set.
	CipherSuites []uint16
	// CipherSuites8883 are the TLS 1.2 suites on ports 8443 and 8883 when
	// they differ from those on 443 (nil: the same).
	CipherSuites8883 []uint16
}

// DefaultSecurityPolicy is what a configuration gets when none is given.
const DefaultSecurityPolicy = "IoTSecurityPolicy_TLS13_1_2_2022_10"

// tls12Suites is AWS's TLS 1.2 list (shared/reference 4.2) in its order,
// without the four suites Go does not implement (0xC028, 0xC024, 0x003D,
// 0x0039; see docs/compatibility.md).
var tls12Suites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
}

var securityPolicies = map[string]SecurityPolicy{}

func init() {
	for _, p := range []SecurityPolicy{
		{Name: "IoTSecurityPolicy_TLS13_1_3_2022_10", MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13},
		{Name: "IoTSecurityPolicy_TLS13_1_2_2022_10", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13, CipherSuites: tls12Suites},
		{Name: "IoTSecurityPolicy_TLS12_1_2_2022_10", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: tls12Suites},
		// On 8443/8883 AWS leaves AES128-SHA256 out of this policy (reference 4.2, column D8).
		{Name: "IoTSecurityPolicy_TLS12_1_0_2016_01", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: tls12Suites,
			CipherSuites8883: without(tls12Suites, tls.TLS_RSA_WITH_AES_128_CBC_SHA256)},
		{Name: "IoTSecurityPolicy_TLS12_1_0_2015_01", MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, CipherSuites: tls12Suites},
	} {
		securityPolicies[strings.ToLower(p.Name)] = p
	}
}

func without(suites []uint16, drop uint16) []uint16 {
	out := make([]uint16, 0, len(suites))
	for _, s := range suites {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// LookupSecurityPolicy finds a policy by name, case-insensitively (the
// custom-domain guide spells them "IotSecurityPolicy_...").
func LookupSecurityPolicy(name string) (SecurityPolicy, bool) {
	p, ok := securityPolicies[strings.ToLower(name)]
	return p, ok
}

// SecurityPolicyNames lists the canonical policy names, sorted.
func SecurityPolicyNames() []string {
	names := make([]string, 0, len(securityPolicies))
	for _, p := range securityPolicies {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}
