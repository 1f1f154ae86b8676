package zone

import (
	"sort"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseName(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		in, want, wantPresentation string
		problem                    string // expected FATAL code, "" for success
	}{
		{in: "Example.COM", want: "example.com.", wantPresentation: "example.com."},
		{in: "example.com.", want: "example.com.", wantPresentation: "example.com."},
		{in: "*.example.com", want: `\052.example.com.`, wantPresentation: "*.example.com."},
		{in: `\052.example.com`, want: `\052.example.com.`, wantPresentation: "*.example.com."},
		{in: `\101bc.example.com`, want: "abc.example.com.", wantPresentation: "abc.example.com."},
		{in: "_acme-challenge.example.com", want: "_acme-challenge.example.com.", wantPresentation: "_acme-challenge.example.com."},
		{in: `a\056b.example.com`, want: `a\056b.example.com.`, wantPresentation: `a\.b.example.com.`},
		{in: `x\001.example.com`, want: `x\001.example.com.`, wantPresentation: `x\001.example.com.`},
		{in: "a@b.example.com", want: `a\100b.example.com.`, wantPresentation: `a\@b.example.com.`},
		{in: ".", want: ".", wantPresentation: "."},
		{in: long63 + ".com", want: long63 + ".com.", wantPresentation: long63 + ".com."},
		{in: "", problem: "DomainNameEmpty"},
		{in: "a..example.com", problem: "DomainLabelEmpty"},
		{in: ".example.com", problem: "DomainLabelEmpty"},
		{in: "example.com..", problem: "DomainLabelEmpty"},
		{in: long63 + "a.com", problem: "DomainLabelTooLong"},
		{in: strings.Repeat("abcdefghi.", 26) + "com", problem: "DomainNameTooLong"},
		{in: "ex ample.com", problem: "UnsupportedCharacter"},
		{in: "exämple.com", problem: "UnsupportedCharacter"},
		{in: `a\9.com`, problem: "InvalidEscapeSequence"},
		{in: `a\400.com`, problem: "InvalidEscapeSequence"},
		{in: `a\05`, problem: "InvalidEscapeSequence"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, err := parseName(tc.in)
			if tc.problem != "" {
				p, ok := err.(*nameProblem)
				if !ok || p.code != tc.problem {
					t.Fatalf("parseName(%q) = %v, %v; want problem %s", tc.in, n, err, tc.problem)
				}
				if want := "FATAL problem: " + tc.problem + " ("; !strings.HasPrefix(err.Error(), want) ||
					!strings.HasSuffix(err.Error(), "encountered with '"+tc.in+"'") {
					t.Errorf("message %q lacks Route 53's shape", err.Error())
				}
				return
			}
			if err != nil {
				t.Fatalf("parseName(%q): %v", tc.in, err)
			}
			if got := n.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := n.presentation(); got != tc.wantPresentation {
				t.Errorf("presentation() = %q, want %q", got, tc.wantPresentation)
			}
			if _, ok := dns.IsDomainName(n.presentation()); !ok {
				t.Errorf("miekg/dns refuses %q", n.presentation())
			}
			back, err := parseName(n.String())
			if err != nil || back.String() != n.String() {
				t.Errorf("printed form %q does not read back: %v", n.String(), err)
			}
		})
	}
}

// Route 53 orders by the name with labels reversed, compared as ASCII, so
// characters that sort before '.' (like '-') move names around.
func TestSortKeyOrder(t *testing.T) {
	names := []string{"www.example.com", "example.com", "a-b.example.com", "a.example.com", "*.example.com", "b.a.example.com", "example.net", "z.example.com"}
	sort.Slice(names, func(i, j int) bool {
		a, _ := parseName(names[i])
		b, _ := parseName(names[j])
		return a.sortKey() < b.sortKey()
	})
	want := []string{"example.com", "*.example.com", "a-b.example.com", "a.example.com", "b.a.example.com", "www.example.com", "z.example.com", "example.net"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("order = %v\nwant    %v", names, want)
	}
	n, _ := parseName("www.example.com")
	if got := n.sortKey(); got != "com.example.www." {
		t.Errorf("sortKey = %q", got)
	}
}

func TestBuildRR(t *testing.T) {
	owner, _ := parseName("x.example.com")
	tests := []struct {
		typ, value string
		wantRR     string // rdata as miekg prints it; "" when invalid
		problem    string
	}{
		{"A", "192.0.2.1", "192.0.2.1", ""},
		{"A", "192.0.2", "", "ARRDATAIllegalIPv4Address"},
		{"A", "2001:db8::1", "", "ARRDATAIllegalIPv4Address"},
		{"A", "192.0.2.1 192.0.2.2", "", "ARRDATANotSingleField"},
		{"A", " 192.0.2.1", "", "ARRDATANotSingleField"},
		{"A", "01.2.3.4", "", "ARRDATAIllegalIPv4Address"},
		{"AAAA", "2001:db8::1", "2001:db8::1", ""},
		{"AAAA", "192.0.2.1", "", "AAAARRDATAIllegalIPv6Address"},
		{"AAAA", "fe80::1%eth0", "", "AAAARRDATAIllegalIPv6Address"},
		{"CNAME", "a1b2-ats.iot.us-east-1.portico.internal", "a1b2-ats.iot.us-east-1.portico.internal.", ""},
		{"CNAME", "Target.Example.NET.", "target.example.net.", ""},
		{"CNAME", "a..b", "", "DomainLabelEmpty"},
		{"CNAME", "a b", "", "CNAMERRDATANotSingleField"},
		{"NS", "ns1.example.net", "ns1.example.net.", ""},
		{"PTR", "host.example.com", "host.example.com.", ""},
		{"MX", "10 mail.example.com", "10 mail.example.com.", ""},
		{"MX", "0 .", "0 .", ""},
		{"MX", "mail.example.com", "", "MXRRDATANotTwoFields"},
		{"MX", "70000 mail.example.com", "", "MXRRDATAIllegalPriority"},
		{"MX", "-1 mail.example.com", "", "MXRRDATAIllegalPriority"},
		{"SRV", "1 10 8883 mqtt.example.com", "1 10 8883 mqtt.example.com.", ""},
		{"SRV", "1 10 mqtt.example.com", "", "SRVRRDATANotFourFields"},
		{"SRV", "1 10 99999 mqtt.example.com", "", "SRVRRDATAIllegalNumber"},
		{"SOA", "ns1.example.net. hostmaster.example.net. 1 7200 900 1209600 86400", "ns1.example.net. hostmaster.example.net. 1 7200 900 1209600 86400", ""},
		{"SOA", "ns1.example.net. hostmaster.example.net. 1 7200 900 1209600", "", "SOARRDATANotSevenFields"},
		{"SOA", "ns1.example.net. hostmaster.example.net. 1 7200 900 1209600 x", "", "SOARRDATAIllegalNumber"},
		{"TXT", `"v=spf1 -all"`, `"v=spf1 -all"`, ""},
		{"TXT", `"a" "b"`, `"a" "b"`, ""},
		{"TXT", `"say \"hi\"; \\ \101"`, `"say \"hi\"; \\ A"`, ""},
		{"TXT", `""`, `""`, ""},
		{"TXT", `v=spf1 -all`, "", "InvalidCharacterString"},
		{"TXT", `"unterminated`, "", "InvalidCharacterString"},
		{"TXT", `"a"b`, "", "InvalidCharacterString"},
		{"TXT", `"` + strings.Repeat("x", 256) + `"`, "", "CharacterStringTooLong"},
		{"TXT", `"é"`, "", "UnsupportedCharacter"},
		{"CAA", `0 issue "letsencrypt.org"`, `0 issue "letsencrypt.org"`, ""},
		{"CAA", `128 iodef "mailto:sec@example.com"`, `128 iodef "mailto:sec@example.com"`, ""},
		{"CAA", `0 issue letsencrypt.org`, "", "InvalidCharacterString"},
		{"CAA", `256 issue "x"`, "", "CAARRDATAIllegalFlags"},
		{"CAA", `0 is-sue "x"`, "", "CAARRDATAIllegalTag"},
		{"CAA", `0`, "", "CAARRDATAIllegalFormat"},
		{"A", strings.Repeat("1", MaxValueLength+1), "", "ValueTooLong"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" "+tc.value, func(t *testing.T) {
			rr, err := buildRR(owner, tc.typ, 300, tc.value)
			if tc.problem != "" {
				p, ok := err.(*valueProblem)
				if !ok || p.code != tc.problem {
					t.Fatalf("buildRR(%s, %q) = %v, %v; want %s", tc.typ, tc.value, rr, err, tc.problem)
				}
				want := "Invalid Resource Record: 'FATAL problem: " + tc.problem + " ("
				if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "encountered with '"+tc.value+"''") {
					t.Errorf("message %q lacks Route 53's shape", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildRR(%s, %q): %v", tc.typ, tc.value, err)
			}
			got := strings.TrimPrefix(rr.String(), rr.Header().String())
			if !strings.EqualFold(got, tc.wantRR) {
				t.Errorf("rdata = %q, want %q", got, tc.wantRR)
			}
			// The record must survive the wire.
			buf := make([]byte, 4096)
			if _, err := dns.PackRR(rr, buf, 0, nil, false); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}
}
