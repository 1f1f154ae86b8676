package device

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/testpki"
)

// newCATestService is a registry on the real clock: testpki issues
// certificates valid around time.Now.
func newCATestService(t testing.TB) *Service {
	t.Helper()
	svc, _, _ := newTestService(t)
	svc.Now = time.Now
	svc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return svc
}

// verificationPEM returns a certificate with the registration code as CN,
// signed by ca, as the AWS guide has operators make with openssl.
func verificationPEM(t testing.TB, svc *Service, ca *testpki.CA) string {
	t.Helper()
	code, err := svc.GetRegistrationCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return string(ca.Client(t, code).CertPEM)
}

func registerCA(t testing.TB, svc *Service, ca *testpki.CA, active, auto bool) *CACertificate {
	t.Helper()
	c, err := svc.RegisterCACertificate(context.Background(), RegisterCAInput{
		CACertificatePEM: string(ca.PEM), VerificationCertificatePEM: verificationPEM(t, svc, ca),
		SetAsActive: active, AllowAutoRegistration: auto,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRegistrationCode(t *testing.T) {
	svc := newCATestService(t)
	ctx := context.Background()
	a, err := svc.GetRegistrationCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := svc.GetRegistrationCode(ctx)
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" || a != b {
		t.Fatalf("registration codes %q, %q: want one stable 64-hex code", a, b)
	}
}

func TestRegisterCACertificate(t *testing.T) {
	svc := newCATestService(t)
	ctx := context.Background()
	ca := testpki.NewCA(t, "Example Devices Root")
	other := testpki.NewCA(t, "Someone Else")
	verification := verificationPEM(t, svc, ca)

	_, err := svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM)})
	wantFault(t, err, fault.Invalid, "")
	_, err = svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM),
		VerificationCertificatePEM: string(ca.Client(t, "not-the-code").CertPEM)})
	wantFault(t, err, fault.Invalid, "RegistrationCodeValidationException")
	code, _ := svc.GetRegistrationCode(ctx)
	_, err = svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM),
		VerificationCertificatePEM: string(other.Client(t, code).CertPEM)})
	wantFault(t, err, fault.Invalid, "CertificateValidationException")
	_, err = svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM),
		VerificationCertificatePEM: verification, Mode: ModeSNIOnly})
	wantFault(t, err, fault.Invalid, "")
	_, err = svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.Client(t, "leaf").CertPEM),
		VerificationCertificatePEM: verification})
	wantFault(t, err, fault.Invalid, "CertificateValidationException")
	_, err = svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM),
		VerificationCertificatePEM: verification, Mode: "BOTH"})
	wantFault(t, err, fault.Invalid, "")

	c, err := svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM),
		VerificationCertificatePEM: verification, SetAsActive: true,
		RegistrationConfig: &RegistrationConfig{TemplateName: "fleet-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != CertificateID(ca.Cert.Raw) || c.Status != CAStatusActive || c.AutoRegistration != AutoRegistrationDisable ||
		c.Mode != ModeDefault || c.CustomerVersion != 1 || c.ARN != "arn:aws:iot:"+testRegion+":"+testAccount+":cacert/"+c.ID ||
		c.RegistrationConfig == nil || c.RegistrationConfig.TemplateName != "fleet-1" || c.OwnedBy != testAccount {
		t.Fatalf("registered: %+v", c)
	}
	_, err = svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(ca.PEM), VerificationCertificatePEM: verification})
	wantFault(t, err, fault.AlreadyExists, "")

	// SNI_ONLY needs no proof of possession.
	sni, err := svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(other.PEM), Mode: ModeSNIOnly})
	if err != nil || sni.Mode != ModeSNIOnly || sni.Status != CAStatusInactive || sni.RegistrationConfig != nil {
		t.Fatalf("SNI_ONLY: %+v %v", sni, err)
	}

	// Pagination, newest first by default, and the template filter.
	var seen []string
	marker := ""
	for {
		page, err := svc.ListCACertificates(ctx, 1, marker, false, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.CACertificates {
			seen = append(seen, s.ID)
		}
		if marker = page.NextMarker; marker == "" {
			break
		}
	}
	// Both may have the same creation millisecond: the order is then by ID.
	if len(seen) != 2 || !(seen[0] == sni.ID && seen[1] == c.ID || seen[0] == c.ID && seen[1] == sni.ID) {
		t.Fatalf("listed %v", seen)
	}
	byTemplate, err := svc.ListCACertificates(ctx, 0, "", true, "fleet-1")
	if err != nil || len(byTemplate.CACertificates) != 1 || byTemplate.CACertificates[0].ID != c.ID {
		t.Fatalf("by template: %+v %v", byTemplate, err)
	}
}

func TestUpdateAndDeleteCACertificate(t *testing.T) {
	svc := newCATestService(t)
	ctx := context.Background()
	ca := testpki.NewCA(t, "Example Devices Root")
	c := registerCA(t, svc, ca, true, false)

	// Nothing to change: no new version.
	if err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: c.ID, NewStatus: CAStatusActive}); err != nil {
		t.Fatal(err)
	}
	if d, _ := svc.DescribeCACertificate(ctx, c.ID); d.CustomerVersion != 1 {
		t.Fatalf("a no-op update changed the version: %+v", d)
	}
	err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: c.ID, NewStatus: "REGISTER_INACTIVE"})
	wantFault(t, err, fault.Invalid, "")
	err = svc.UpdateCACertificate(ctx, UpdateCAInput{ID: strings.Repeat("ab", 32), NewStatus: CAStatusInactive})
	wantFault(t, err, fault.NotFound, "")
	if err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: c.ID, NewAutoRegistration: AutoRegistrationEnable,
		RegistrationConfig: &RegistrationConfig{TemplateBody: "{}", RoleARN: "arn:aws:iam::111122223333:role/jitp"}}); err != nil {
		t.Fatal(err)
	}
	d, _ := svc.DescribeCACertificate(ctx, c.ID)
	if d.AutoRegistration != AutoRegistrationEnable || d.CustomerVersion != 2 || d.RegistrationConfig == nil || d.GenerationID == c.GenerationID {
		t.Fatalf("after update: %+v", d)
	}
	if err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: c.ID, RemoveAutoRegistration: true}); err != nil {
		t.Fatal(err)
	}
	if d, _ := svc.DescribeCACertificate(ctx, c.ID); d.RegistrationConfig != nil {
		t.Fatalf("removeAutoRegistration kept %+v", d.RegistrationConfig)
	}

	dev, err := svc.RegisterCertificate(ctx, string(ca.Client(t, "device-1").CertPEM), "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	err = svc.DeleteCACertificate(ctx, c.ID)
	wantFault(t, err, fault.Conflict, "CertificateStateException") // ACTIVE
	if err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: c.ID, NewStatus: CAStatusInactive}); err != nil {
		t.Fatal(err)
	}
	err = svc.DeleteCACertificate(ctx, c.ID)
	wantFault(t, err, fault.Conflict, "CertificateStateException") // signed a registered certificate
	if !strings.Contains(err.Error(), "1 registered certificate") {
		t.Errorf("message %q does not say why", err)
	}
	if err := svc.DeleteCertificate(ctx, dev.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteCACertificate(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.DescribeCACertificate(ctx, c.ID)
	wantFault(t, err, fault.NotFound, "")
}

func TestRegisterCertificateWithCA(t *testing.T) {
	svc := newCATestService(t)
	ctx := context.Background()
	ca := testpki.NewCA(t, "Example Devices Root")
	unregistered := testpki.NewCA(t, "Unregistered")
	c := registerCA(t, svc, ca, false, false)
	devPEM := string(ca.Client(t, "device-1").CertPEM)

	_, err := svc.RegisterCertificate(ctx, devPEM, "", "", false)
	wantFault(t, err, fault.Conflict, "CertificateStateException") // the CA is INACTIVE
	if err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: c.ID, NewStatus: CAStatusActive}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.RegisterCertificate(ctx, string(unregistered.Client(t, "stranger").CertPEM), "", "", false)
	wantFault(t, err, fault.Invalid, "CertificateValidationException")
	_, err = svc.RegisterCertificate(ctx, devPEM, string(unregistered.PEM), "", false)
	wantFault(t, err, fault.Invalid, "CertificateValidationException")
	_, err = svc.RegisterCertificate(ctx, devPEM, "", StatusPendingActivation, false)
	wantFault(t, err, fault.Invalid, "")
	expired := ca.Issue(t, testpki.LeafOptions{CommonName: "old", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	_, err = svc.RegisterCertificate(ctx, string(expired.CertPEM), "", "", false)
	wantFault(t, err, fault.Invalid, "CertificateValidationException")

	dev, err := svc.RegisterCertificate(ctx, devPEM, string(ca.PEM), "", true)
	if err != nil {
		t.Fatal(err)
	}
	if dev.Status != StatusActive || dev.CACertificateID != c.ID || dev.Mode != ModeDefault {
		t.Fatalf("registered: %+v", dev)
	}
	_, err = svc.RegisterCertificate(ctx, devPEM, "", "", false)
	wantFault(t, err, fault.AlreadyExists, "")
	second, err := svc.RegisterCertificate(ctx, string(ca.Client(t, "device-2").CertPEM), "", StatusInactive, true)
	if err != nil || second.Status != StatusInactive {
		t.Fatalf("status wins over setAsActive: %+v %v", second, err)
	}
	page, err := svc.ListCertificatesByCA(ctx, c.ID, 1, "", true)
	if err != nil || len(page.Certificates) != 1 || page.Certificates[0].ID != dev.ID || page.NextMarker == "" {
		t.Fatalf("by CA, page 1: %+v %v", page, err)
	}
	page, err = svc.ListCertificatesByCA(ctx, c.ID, 1, page.NextMarker, true)
	if err != nil || len(page.Certificates) != 1 || page.Certificates[0].ID != second.ID || page.NextMarker != "" {
		t.Fatalf("by CA, page 2: %+v %v", page, err)
	}

	// An SNI_ONLY CA's certificates are SNI_ONLY.
	sniCA := testpki.NewCA(t, "SNI only")
	if _, err := svc.RegisterCACertificate(ctx, RegisterCAInput{CACertificatePEM: string(sniCA.PEM), Mode: ModeSNIOnly, SetAsActive: true}); err != nil {
		t.Fatal(err)
	}
	sniDev, err := svc.RegisterCertificate(ctx, string(sniCA.Client(t, "d").CertPEM), "", StatusActive, false)
	if err != nil || sniDev.Mode != ModeSNIOnly {
		t.Fatalf("SNI_ONLY device: %+v %v", sniDev, err)
	}
}

// events records published events.
type events struct {
	mu     sync.Mutex
	topics []string
	bodies []RegisteredEvent
}

func (e *events) publish(topic string, payload []byte) error {
	var ev RegisteredEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.topics = append(e.topics, topic)
	e.bodies = append(e.bodies, ev)
	return nil
}

func TestJustInTimeRegistration(t *testing.T) {
	svc := newCATestService(t)
	ctx := context.Background()
	var got events
	svc.PublishEventsWith(got.publish)
	auto := testpki.NewCA(t, "Auto-registering Root")
	manual := testpki.NewCA(t, "Manual Root")
	autoCA := registerCA(t, svc, auto, true, true)
	registerCA(t, svc, manual, true, false)
	dev := auto.Client(t, "device-1")
	manualDev := manual.Client(t, "device-2")
	now := time.Now()

	snap, err := svc.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snap.Authenticate(manualDev.Cert.Raw, "iot.example.com", now); !errors.Is(err, ErrUnknownCertificate) {
		t.Fatalf("CA without auto-registration: %v", err)
	}
	id, err := snap.Authenticate(dev.Cert.Raw, "iot.example.com", now)
	if !errors.Is(err, ErrAutoRegistering) || id.CACertificateID != autoCA.ID {
		t.Fatalf("first connection: %+v %v", id, err)
	}
	// A second attempt before the registration is written queues nothing new.
	snap.Authenticate(dev.Cert.Raw, "iot.example.com", now)
	if err := svc.WaitAutoRegistrations(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := svc.DescribeCertificate(ctx, CertificateID(dev.Cert.Raw))
	if err != nil || c.Status != StatusPendingActivation || c.CACertificateID != autoCA.ID || c.Mode != ModeDefault {
		t.Fatalf("registered just in time: %+v %v", c, err)
	}
	got.mu.Lock()
	if len(got.topics) != 1 || got.topics[0] != "$aws/events/certificates/registered/"+autoCA.ID {
		t.Fatalf("events on %v", got.topics)
	}
	ev := got.bodies[0]
	got.mu.Unlock()
	if ev.CertificateID != c.ID || ev.CACertificateID != autoCA.ID || ev.CertificateStatus != StatusPendingActivation ||
		ev.AWSAccountID != testAccount || ev.Timestamp == 0 || ev.CertificateRegistrationTimestamp == 0 {
		t.Fatalf("event %+v", ev)
	}

	// Registered now, so refused as not ACTIVE until someone activates it.
	snap, _ = svc.Snapshot(ctx)
	if _, err := snap.Authenticate(dev.Cert.Raw, "iot.example.com", now); !errors.Is(err, ErrCertificateNotActive) {
		t.Fatalf("pending certificate: %v", err)
	}
	if err := svc.UpdateCertificate(ctx, c.ID, StatusActive); err != nil {
		t.Fatal(err)
	}
	snap, _ = svc.Snapshot(ctx)
	if _, err := snap.Authenticate(dev.Cert.Raw, "", now); err != nil {
		t.Fatalf("activated certificate: %v", err)
	}
	// Its CA deactivated, it may not connect, and nothing auto-registers.
	if err := svc.UpdateCACertificate(ctx, UpdateCAInput{ID: autoCA.ID, NewStatus: CAStatusInactive}); err != nil {
		t.Fatal(err)
	}
	snap, _ = svc.Snapshot(ctx)
	if _, err := snap.Authenticate(dev.Cert.Raw, "", now); !errors.Is(err, ErrCANotActive) {
		t.Fatalf("certificate of an INACTIVE CA: %v", err)
	}
	if _, err := snap.Authenticate(auto.Client(t, "device-3").Cert.Raw, "", now); !errors.Is(err, ErrUnknownCertificate) {
		t.Fatalf("new certificate of an INACTIVE CA: %v", err)
	}
}
