package gateway_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/testpki"
)

// AWS's TLS 1.2 suites (reference 4.2) by OpenSSL name; notInGo are the
// four Go does not implement (docs/compatibility.md), so no policy offers
// them.
var (
	awsTLS12Suites = []string{
		"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-GCM-SHA384",
		"ECDHE-RSA-AES256-SHA", "AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA", "AES256-GCM-SHA384", "AES256-SHA",
		"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-GCM-SHA384",
		"ECDHE-ECDSA-AES256-SHA",
	}
	notInGo = []string{"ECDHE-RSA-AES256-SHA384", "ECDHE-ECDSA-AES256-SHA384", "AES256-SHA256", "DHE-RSA-AES256-SHA"}
	// Suites Go implements that no AWS policy lists.
	notInAWS       = []string{"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-DES-CBC3-SHA"}
	awsTLS13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)

func policyHost(policy string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(policy, "IoTSecurityPolicy_"), "_", "-")) + ".yourcompany.com"
}

// TestSecurityPoliciesWithOpenSSL connects with openssl s_client to a
// domain per security policy: what the policy forbids fails, what it allows
// succeeds with the version and suite asked for.
func TestSecurityPoliciesWithOpenSSL(t *testing.T) {
	requireOpenSSL(t)
	now := time.Now()
	policies := endpoint.SecurityPolicyNames()
	if len(policies) != 5 {
		t.Fatalf("policies = %v", policies)
	}
	f := startFront(t, frontOptions{domains: func(ca *testpki.CA) []gateway.Domain {
		var ds []gateway.Domain
		for _, p := range policies {
			h := policyHost(p)
			// ECDSA and RSA, so that both families of suites can be negotiated.
			ds = append(ds, policyDomain(h, p,
				rsaLeaf(t, ca, now.Add(-2*time.Hour), now.Add(24*time.Hour), h),
				ecdsaLeaf(t, ca, now.Add(-time.Hour), now.Add(24*time.Hour), h)))
		}
		return ds
	}})
	for _, name := range policies {
		p, _ := endpoint.LookupSecurityPolicy(name)
		host := policyHost(name)
		t.Run(name, func(t *testing.T) {
			tls13 := p.MaxVersion >= tls.VersionTLS13
			tls12 := p.MinVersion <= tls.VersionTLS12
			check := func(allowed bool, wantProtocol, wantSuite string, args ...string) {
				t.Helper()
				ok, out := sClient(t, f.alpnAddr, host, append([]string{"-brief"}, args...)...)
				switch {
				case allowed && !ok:
					t.Errorf("openssl s_client %v failed, the policy allows it:\n%s", args, out)
				case !allowed && ok:
					t.Errorf("openssl s_client %v succeeded, the policy forbids it:\n%s", args, out)
				case allowed && (!strings.Contains(out, "Protocol version: "+wantProtocol) || !strings.Contains(out, "Ciphersuite: "+wantSuite)):
					t.Errorf("openssl s_client %v negotiated something else:\n%s", args, out)
				}
			}
			check(tls13, "TLSv1.3", "TLS_", "-tls1_3")
			check(tls12, "TLSv1.2", "", "-tls1_2")
			check(false, "", "", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
			for _, s := range awsTLS13Suites {
				check(tls13, "TLSv1.3", s, "-tls1_3", "-ciphersuites", s)
			}
			check(false, "", "", "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256")
			for _, s := range awsTLS12Suites {
				check(tls12, "TLSv1.2", s, "-tls1_2", "-cipher", s+"@SECLEVEL=0")
			}
			for _, s := range append(append([]string(nil), notInGo...), notInAWS...) {
				check(false, "", "", "-tls1_2", "-cipher", s+"@SECLEVEL=0")
			}
		})
	}
	// TLS12_1_0_2016_01 offers AES128-SHA256 on 443 only, not on 8443/8883.
	host := policyHost("IoTSecurityPolicy_TLS12_1_0_2016_01")
	args := []string{"-brief", "-tls1_2", "-cipher", "AES128-SHA256@SECLEVEL=0"}
	if ok, out := sClient(t, f.alpnAddr, host, args...); !ok {
		t.Errorf("AES128-SHA256 refused on the ALPN port:\n%s", out)
	}
	if ok, out := sClient(t, f.httpsAddr, host, args...); ok {
		t.Errorf("AES128-SHA256 accepted on 8443:\n%s", out)
	}
}
