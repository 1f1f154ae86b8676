package device

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/testpki"
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

// FuzzRegisterCACertificate feeds arbitrary CA and verification certificate
// text through RegisterCACertificate in both modes. It must never panic and
// must refuse with an Invalid fault (never an internal error); whatever it
// accepts must describe back as the certificate with the ID of its DER.
func FuzzRegisterCACertificate(f *testing.F) {
	svc := newCATestService(f)
	ca := testpki.NewCA(f, "Fuzz Root")
	verification := verificationPEM(f, svc, ca)
	f.Add(string(ca.PEM), verification, false)
	f.Add(string(ca.PEM), "", true)
	f.Add(string(ca.PEM), string(ca.Client(f, "not the code").CertPEM), false)
	f.Add(verification, verification, false)
	f.Add(string(ca.PEM)+string(ca.PEM), verification, false)
	f.Add(string(ca.PEM[:len(ca.PEM)/2]), verification, false)
	f.Add("", "", true)
	f.Fuzz(func(t *testing.T, caPEM, verificationPEM string, sniOnly bool) {
		ctx := context.Background()
		in := RegisterCAInput{CACertificatePEM: caPEM, VerificationCertificatePEM: verificationPEM}
		if sniOnly {
			in.Mode = ModeSNIOnly
		}
		c, err := svc.RegisterCACertificate(ctx, in)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || (fe.Kind != fault.Invalid && fe.Kind != fault.AlreadyExists) {
				t.Fatalf("refusal is not an Invalid or AlreadyExists fault: %v (%T)", err, err)
			}
			return
		}
		block, _ := pem.Decode([]byte(c.PEM))
		if block == nil || CertificateID(block.Bytes) != c.ID {
			t.Fatalf("described CA certificate does not match its ID %s", c.ID)
		}
		if err := svc.DeleteCACertificate(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzAuthenticateUnknown presents arbitrary DER to a snapshot that holds
// an auto-registering CA: never a panic, never an acceptance, and only
// certificates the CA really signed are queued for registration.
func FuzzAuthenticateUnknown(f *testing.F) {
	svc := newCATestService(f)
	ca := testpki.NewCA(f, "Fuzz Root")
	registerCA(f, svc, ca, true, true)
	snap, err := svc.Snapshot(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	signed := ca.Client(f, "device").Cert.Raw
	f.Add(signed)
	f.Add(signed[:len(signed)-1])
	f.Add(testpki.NewCA(f, "Fuzz Root").Client(f, "impostor").Cert.Raw) // same issuer name, other key
	f.Add([]byte{0x30, 0x82, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		_, err := snap.Authenticate(der, "iot.example.com", time.Now())
		switch {
		case err == nil:
			t.Fatal("an unregistered certificate was accepted")
		case errors.Is(err, ErrAutoRegistering):
			cert, perr := x509.ParseCertificate(der)
			if perr != nil || !signs(ca.Cert, cert) {
				t.Fatalf("queued a certificate the CA did not sign")
			}
		case !errors.Is(err, ErrUnknownCertificate):
			t.Fatalf("unexpected refusal %v", err)
		}
	})
}

// FuzzRegisterCertificate feeds arbitrary device and CA certificate text
// through RegisterCertificate with a registered, active CA: never a panic,
// only Invalid, AlreadyExists, Conflict (state) faults, and whatever is
// accepted was signed by the registered CA.
func FuzzRegisterCertificate(f *testing.F) {
	svc := newCATestService(f)
	ca := testpki.NewCA(f, "Fuzz Root")
	registerCA(f, svc, ca, true, false)
	dev := string(ca.Client(f, "device").CertPEM)
	f.Add(dev, "")
	f.Add(dev, string(ca.PEM))
	f.Add(dev, dev)
	f.Add(string(testpki.NewCA(f, "Fuzz Root").Client(f, "impostor").CertPEM), "")
	f.Add(string(ca.PEM), "")
	f.Add(dev[:len(dev)/2], "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, certPEM, caPEM string) {
		ctx := context.Background()
		c, err := svc.RegisterCertificate(ctx, certPEM, caPEM, "", false)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || (fe.Kind != fault.Invalid && fe.Kind != fault.AlreadyExists && fe.Kind != fault.Conflict) {
				t.Fatalf("refusal is not a client fault: %v (%T)", err, err)
			}
			return
		}
		block, _ := pem.Decode([]byte(c.PEM))
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !signs(ca.Cert, cert) || c.CACertificateID != CertificateID(ca.Cert.Raw) {
			t.Fatalf("accepted a certificate the registered CA did not sign: %+v", c)
		}
		if err := svc.DeleteCertificate(ctx, c.ID, false); err != nil {
			t.Fatal(err)
		}
	})
}
