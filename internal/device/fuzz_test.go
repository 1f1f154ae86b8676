package device

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/portico-iot/portico/internal/fault"
)

// FuzzRegisterCertificateWithoutCA feeds arbitrary certificatePem text through
// the whole registration path. It must never panic, must refuse with an
// Invalid fault (never an internal error), and whatever it accepts must
// describe back as one parseable certificate with the ID of its DER.
func FuzzRegisterCertificateWithoutCA(f *testing.F) {
	svc, _, _ := newTestService(f)
	good, der := selfSigned(f, ecKey(f), "seed")
	other, _ := selfSigned(f, ecKey(f), "seed-2")
	f.Add(good)
	f.Add(good + other)
	f.Add("text before\n" + good + "\n")
	f.Add(strings.Replace(good, "CERTIFICATE", "PRIVATE KEY", 2))
	f.Add(good[:len(good)/2])
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der[:len(der)-1]})))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x82, 0xff, 0xff}})))
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		ctx := context.Background()
		c, err := svc.RegisterCertificateWithoutCA(ctx, text, "")
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || (fe.Kind != fault.Invalid && fe.Kind != fault.AlreadyExists) {
				t.Fatalf("refusal is not an Invalid or AlreadyExists fault: %v (%T)", err, err)
			}
			return
		}
		block, rest := pem.Decode([]byte(c.PEM))
		if block == nil || len(rest) != 0 {
			t.Fatalf("described PEM is not one block: %q", c.PEM)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("described certificate does not parse: %v", err)
		}
		if CertificateID(cert.Raw) != c.ID {
			t.Fatalf("ID %s is not the SHA-256 of the stored DER", c.ID)
		}
		// Keep the table small and let the same input be accepted again.
		if err := svc.UpdateCertificate(ctx, c.ID, StatusInactive); err != nil {
			t.Fatal(err)
		}
		if err := svc.DeleteCertificate(ctx, c.ID, false); err != nil {
			t.Fatal(err)
		}
	})
}
