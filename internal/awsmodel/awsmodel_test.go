package awsmodel

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type shape struct {
	Type    string `json:"type"`
	Max     *int   `json:"max"`
	Members map[string]struct {
		Shape string `json:"shape"`
	} `json:"members"`
}

func TestIoTModelCarriesTheExtensions(t *testing.T) {
	raw, err := IoTModel()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Metadata struct {
			APIVersion  string `json:"apiVersion"`
			SigningName string `json:"signingName"`
			Protocol    string `json:"protocol"`
		} `json:"metadata"`
		Operations map[string]json.RawMessage `json:"operations"`
		Shapes     map[string]shape           `json:"shapes"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("the model is not JSON: %v", err)
	}
	if m.Metadata.APIVersion != "2015-05-28" || m.Metadata.SigningName != "iot" || m.Metadata.Protocol != "rest-json" {
		t.Errorf("metadata = %+v", m.Metadata)
	}
	if len(m.Operations) < 250 {
		t.Errorf("%d operations: not the whole iot model", len(m.Operations))
	}
	list := m.Shapes["ServerCertificateArns"]
	if list.Type != "list" || list.Max == nil || *list.Max != 4 {
		t.Errorf("ServerCertificateArns = %+v, want a list of at most 4", list)
	}
	if got := m.Shapes["UpdateDomainConfigurationRequest"].Members["serverCertificateArns"].Shape; got != "ServerCertificateArns" {
		t.Errorf("UpdateDomainConfigurationRequest.serverCertificateArns has shape %q", got)
	}
	if got := m.Shapes["CreateDomainConfigurationRequest"].Members["serverCertificateArns"].Shape; got != "ServerCertificateArns" {
		t.Errorf("CreateDomainConfigurationRequest.serverCertificateArns has shape %q", got)
	}
	if !bytes.Contains(raw, []byte("<p><b>Portico extension</b>")) {
		t.Error("the documentation is HTML-escaped or missing")
	}
	if src := IoTModelSource(); !strings.HasPrefix(src, "botocore ") || !strings.Contains(src, "iot 2015-05-28") {
		t.Errorf("IoTModelSource() = %q", src)
	}
}

// TestEmbeddedModelIsCurrent regenerates the model from the installed
// botocore and compares it with the committed one.
func TestEmbeddedModelIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		t.Skip("python3 with botocore not available")
	}
	out := filepath.Join(t.TempDir(), "iot.json.gz")
	if msg, err := exec.Command("go", "run", "./gen", "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := IoTModel()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) || zr.Comment != IoTModelSource() {
		t.Fatalf("iot.json.gz (%s) differs from the installed botocore (%s); run go generate ./internal/awsmodel", IoTModelSource(), zr.Comment)
	}
}
