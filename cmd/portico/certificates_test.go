package main

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"

	"github.com/portico-iot/portico/internal/awsapi"
	acmapi "github.com/portico-iot/portico/internal/awsapi/acm"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/lockedbuf"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/testpki"
)

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartCertificateWarnings(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := certificate.NewService(ctx, storetest.New(t), "us-east-1", "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "Wiring Test CA")
	leaf := ca.Issue(t, testpki.LeafOptions{CommonName: "iot.yourcompany.com", DNSNames: []string{"iot.yourcompany.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(3*24*time.Hour - time.Hour)})
	arn, err := svc.Import(ctx, certificate.ImportInput{Certificate: leaf.CertPEM, PrivateKey: leaf.KeyPEM, CertificateChain: ca.PEM})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var events []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	defer hook.Close()

	if _, err := startCertificateWarnings(ctx, svc, nil, []string{"ftp://example.com/x"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("an ftp:// webhook was accepted")
	}
	metrics, err := startCertificateWarnings(ctx, svc, nil, []string{hook.URL}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(events)
	mu.Unlock()
	if n != 1 || events[0]["detail-type"] != "ACM Certificate Approaching Expiration" || events[0]["region"] != "us-east-1" {
		t.Fatalf("webhook got %v, want one approaching-expiration event at start", events)
	}
	rec := httptest.NewRecorder()
	metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `portico_certificate_days_to_expiry{certificate_arn="`+arn+`"} 2.95`) {
		t.Fatalf("/metrics:\n%s", rec.Body.String())
	}
}

type refusingIssuer struct{}

func (refusingIssuer) Issue(context.Context, crypto.Signer, []string) ([]byte, []byte, error) {
	return nil, nil, &certificate.IssueFailure{Err: errors.New("refused")}
}

// mapResolver plays Portico's zones for the validator.
type mapResolver struct {
	mu sync.Mutex
	m  map[string]string
}

func (r *mapResolver) LookupCNAME(_ context.Context, name string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[name]
	return v, ok, nil
}

func TestWaitForCertificate(t *testing.T) {
	ctx := context.Background()
	svc, err := certificate.NewService(ctx, storetest.New(t), apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, func(api *awsapi.Server) { acmapi.Register(api, svc, apitest.Logger()) })
	client := sdkacm.NewFromConfig(srv.Config)
	ca, err := pki.LoadOrCreate(t.TempDir(), "server", pkix.Name{CommonName: "Portico Server CA"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := &mapResolver{m: map[string]string{}}
	v := &certificate.Validator{Service: svc, Resolver: res, Issuer: certificate.CAIssuer{CA: ca}}

	for _, tc := range []struct {
		name   string
		issuer certificate.Issuer
		want   string
	}{{"issued", certificate.CAIssuer{CA: ca}, "ISSUED  valid until "}, {"failed", refusingIssuer{}, "FAILED  OTHER"}} {
		t.Run(tc.name, func(t *testing.T) {
			v.Issuer = tc.issuer
			req, err := client.RequestCertificate(ctx, &sdkacm.RequestCertificateInput{DomainName: aws.String("iot.yourcompany.com"),
				SubjectAlternativeNames: []string{"*.iot.yourcompany.com"}})
			if err != nil {
				t.Fatal(err)
			}
			arn := aws.ToString(req.CertificateArn)
			out := &lockedbuf.Buffer{}
			done := make(chan error, 1)
			go func() { done <- waitForCertificate(ctx, client, arn, out, 5*time.Millisecond) }()

			eventually(t, "the validation record", func() bool { return strings.Contains(out.String(), "PENDING_VALIDATION  0 of 2 names validated") })
			text := out.String()
			record := "  _acme-challenge.iot.yourcompany.com.  CNAME  "
			if !strings.Contains(text, "Create this DNS record for iot.yourcompany.com") || strings.Count(text, record) != 1 {
				t.Fatalf("wait printed:\n%s", text)
			}
			value := strings.Fields(text[strings.Index(text, record)+len(record):])[0]
			res.mu.Lock()
			res.m["_acme-challenge.iot.yourcompany.com."] = value
			res.mu.Unlock()
			if err := v.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if (tc.name == "issued") != (err == nil) || (err != nil && !errors.Is(err, errNotIssued)) {
					t.Fatalf("wait returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("wait did not return")
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("wait printed:\n%s", out.String())
			}
		})
	}
}
