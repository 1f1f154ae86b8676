package iot

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestOperationFor(t *testing.T) {
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/things", "ListThings"},
		{"GET", "/things/lamp-1", "DescribeThing"},
		{"POST", "/keys-and-certificate", "CreateKeysAndCertificate"},
		{"POST", "/certificate/register-no-ca", "RegisterCertificateWithoutCA"},
		{"GET", "/certificates/" + strings.Repeat("a", 64), "DescribeCertificate"},
		{"PUT", "/certificates/abc", "UpdateCertificate"},
		{"DELETE", "/certificates/abc", "DeleteCertificate"},
		{"HEAD", "/certificates", "ListCertificates"},
		{"GET", "/cacertificate/abc", "DescribeCACertificate"},
		{"GET", "/domainConfigurations/my%20domain", "DescribeDomainConfiguration"},
		// A literal segment beats a label, a trailing slash is a segment.
		{"GET", "/certificate-providers/", "ListCertificateProviders"},
		{"GET", "/certificate-providers/p1", "DescribeCertificateProvider"},
		// Greedy labels take the rest of the path.
		{"GET", "/destinations/arn:aws:iot:us-east-1:123456789012:ruledestination/http/abc", "GetTopicRuleDestination"},
		{"GET", "/destinations/arn%3Aaws%3Aiot", "GetTopicRuleDestination"},
		{"GET", "/destinations/", ""},
		// iot-data operations, when the control plane has none.
		{"POST", "/topics/a%2Fb%2Fc", "Publish"},
		{"GET", "/things/lamp-1/shadow", "GetThingShadow"},
		{"GET", "/retainedMessage", "ListRetainedMessages"},
		// Nothing.
		{"GET", "/", ""},
		{"GET", "", ""},
		{"PATCH", "/things", ""},
		{"GET", "/no/such/operation", ""},
		{"GET", "/things//", ""},
		{"GET", "/certificates/", ""},
	}
	for _, tt := range tests {
		if got := OperationFor(tt.method, tt.path); got != tt.want {
			t.Errorf("OperationFor(%s, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
	if got := DataOperationFor("GET", "/things"); got != "" {
		t.Errorf("DataOperationFor(GET /things) = %q, want none (a control-plane operation)", got)
	}
	if got := DataOperationFor("DELETE", "/connections/client-1"); got != "DeleteConnection" {
		t.Errorf("DataOperationFor(DELETE /connections/client-1) = %q", got)
	}
}

// TestEveryModelOperationRoundTrips instantiates every template of the
// generated tables and checks the request finds its own operation again: no
// operation is shadowed by another.
func TestEveryModelOperationRoundTrips(t *testing.T) {
	if len(iotRoutes) < 250 || len(iotDataRoutes) < 8 {
		t.Fatalf("tables hold %d iot and %d iot-data operations; regenerate them", len(iotRoutes), len(iotDataRoutes))
	}
	label := regexp.MustCompile(`\{[^}]*\}`)
	instantiate := func(tmpl string) string {
		return label.ReplaceAllStringFunc(tmpl, func(l string) string {
			if strings.HasSuffix(l, "+}") {
				return "some/greedy/value"
			}
			return "label-value"
		})
	}
	for _, r := range iotRoutes {
		if got := OperationFor(r.method, instantiate(r.template)); got != r.name {
			t.Errorf("%s %s (%s) resolves to %q", r.method, r.template, r.name, got)
		}
	}
	for _, r := range iotDataRoutes {
		if got := DataOperationFor(r.method, instantiate(r.template)); got != r.name {
			t.Errorf("iot-data %s %s (%s) resolves to %q", r.method, r.template, r.name, got)
		}
		if got := OperationFor(r.method, instantiate(r.template)); got != r.name {
			t.Errorf("%s %s (%s) resolves to %q", r.method, r.template, r.name, got)
		}
	}
}

// TestGeneratedTableIsCurrent regenerates the table from the installed
// botocore models and compares it with the committed one.
func TestGeneratedTableIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		t.Skip("python3 with botocore not available")
	}
	out := filepath.Join(t.TempDir(), "table.go")
	cmd := exec.Command("go", "run", "./internal/gen", "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("operations_table.go")
	if err != nil {
		t.Fatal(err)
	}
	// The first line names the botocore version; the table is what matters.
	body := func(b []byte) []byte { _, rest, _ := bytes.Cut(b, []byte("\n")); return rest }
	if !bytes.Equal(body(fresh), body(committed)) {
		t.Fatal("operations_table.go differs from the installed botocore models; run go generate ./internal/awsapi/iot")
	}
}
