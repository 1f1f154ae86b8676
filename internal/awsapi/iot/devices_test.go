package iot_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsiot "github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/smithy-go"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/awsapi/iot"
	"github.com/portico-iot/portico/internal/device"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/store/storetest"
)

// recordingClient keeps the last response body so tests can check the wire
// itself (member names, timestamp encoding), not only what the SDK made of it.
type recordingClient struct {
	mu   sync.Mutex
	last []byte
}

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.last = body
	c.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (c *recordingClient) lastBody() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

type deviceFixture struct {
	client *awsiot.Client
	wire   *recordingClient
	ca     *pki.CA
	svc    *device.Service
	srv    *apitest.Server
}

func newDeviceFixture(t *testing.T) *deviceFixture {
	t.Helper()
	ctx := context.Background()
	st := storetest.New(t)
	ca, err := pki.LoadOrCreate(t.TempDir(), "device", pkix.Name{CommonName: "Portico device CA"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := device.NewService(ctx, st, ca, apitest.Region, apitest.Account)
	if err != nil {
		t.Fatal(err)
	}
	srv := apitest.Start(t, func(s *awsapi.Server) {
		iot.Register(s, iot.Deps{Devices: svc, Logger: apitest.Logger()})
	})
	wire := &recordingClient{}
	cfg := srv.Config.Copy()
	cfg.HTTPClient = wire
	return &deviceFixture{client: awsiot.NewFromConfig(cfg), wire: wire, ca: ca, svc: svc, srv: srv}
}

// testCertificatePEM returns a self-signed certificate for key, as a device
// maker's own tooling would produce it.
func testCertificatePEM(t *testing.T, key crypto.Signer, cn string) (string, []byte) {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Example Devices"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), der
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// apiError returns the code, message and HTTP status of an SDK error.
func apiError(t *testing.T, err error) (code, message string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want an API error", err, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

func TestCertificateLifecycleThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)

	created, err := f.client.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.CertificateId)
	block, _ := pem.Decode([]byte(aws.ToString(created.CertificatePem)))
	if block == nil {
		t.Fatal("certificatePem is not PEM")
	}
	sum := sha256.Sum256(block.Bytes)
	if id != hex.EncodeToString(sum[:]) {
		t.Errorf("certificateId %s is not the SHA-256 of the certificate", id)
	}
	if want := "arn:aws:iot:" + apitest.Region + ":" + apitest.Account + ":cert/" + id; aws.ToString(created.CertificateArn) != want {
		t.Errorf("certificateArn = %s, want %s", aws.ToString(created.CertificateArn), want)
	}
	if created.KeyPair == nil || !strings.HasPrefix(aws.ToString(created.KeyPair.PrivateKey), "-----BEGIN RSA PRIVATE KEY-----") ||
		!strings.HasPrefix(aws.ToString(created.KeyPair.PublicKey), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("keyPair = %+v", created.KeyPair)
	}
	keyBlock, _ := pem.Decode([]byte(aws.ToString(created.KeyPair.PrivateKey)))
	priv, err := x509.ParsePKCS1PrivateKey(keyBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(cert.PublicKey) {
		t.Error("private key does not match the certificate")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: f.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not chain to the device CA: %v", err)
	}

	desc, err := f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.CertificateDescription
	if d.Status != types.CertificateStatusActive || d.CertificateMode != types.CertificateModeDefault {
		t.Errorf("status/mode = %s/%s", d.Status, d.CertificateMode)
	}
	if aws.ToString(d.CertificateId) != id || aws.ToString(d.CertificateArn) != aws.ToString(created.CertificateArn) ||
		aws.ToString(d.CertificatePem) != aws.ToString(created.CertificatePem) || aws.ToString(d.OwnedBy) != apitest.Account {
		t.Errorf("description = %+v", d)
	}
	if d.CreationDate == nil || d.CreationDate.Before(before) || d.CreationDate.After(time.Now()) {
		t.Errorf("creationDate = %v", d.CreationDate)
	}
	if d.Validity == nil || !d.Validity.NotAfter.Equal(time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)) ||
		!d.Validity.NotBefore.Equal(cert.NotBefore) {
		t.Errorf("validity = %+v", d.Validity)
	}
	if aws.ToString(d.GenerationId) == "" || d.CustomerVersion == nil || *d.CustomerVersion != 1 {
		t.Errorf("generationId/customerVersion = %v/%v", d.GenerationId, d.CustomerVersion)
	}

	// The wire itself: model member names, numeric timestamps, absent
	// members omitted.
	var raw struct {
		CertificateDescription map[string]any `json:"certificateDescription"`
	}
	if err := json.Unmarshal(f.wire.lastBody(), &raw); err != nil {
		t.Fatal(err)
	}
	var members []string
	for k := range raw.CertificateDescription {
		members = append(members, k)
	}
	sort.Strings(members)
	if got, want := strings.Join(members, ","), "certificateArn,certificateId,certificateMode,certificatePem,creationDate,customerVersion,generationId,lastModifiedDate,ownedBy,status,validity"; got != want {
		t.Errorf("describe members\n%s\nwant\n%s", got, want)
	}
	if _, ok := raw.CertificateDescription["creationDate"].(float64); !ok {
		t.Errorf("creationDate is %T on the wire, want a number", raw.CertificateDescription["creationDate"])
	}

	// ACTIVE certificates cannot be deleted.
	_, err = f.client.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: aws.String(id)})
	var stateErr *types.CertificateStateException
	if !errors.As(err, &stateErr) {
		t.Fatalf("delete ACTIVE: err = %v, want CertificateStateException", err)
	}
	if _, _, status := apiError(t, err); status != 406 {
		t.Errorf("CertificateStateException status = %d, want 406", status)
	}

	if _, err := f.client.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: aws.String(id), NewStatus: types.CertificateStatusInactive}); err != nil {
		t.Fatal(err)
	}
	desc, err = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if desc.CertificateDescription.Status != types.CertificateStatusInactive {
		t.Fatalf("status after update = %s", desc.CertificateDescription.Status)
	}
	if _, err := f.client.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: aws.String(id), ForceDelete: true}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: aws.String(id)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("describe after delete: err = %v, want ResourceNotFoundException", err)
	}
	_, err = f.client.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: aws.String(id)})
	if !errors.As(err, &notFound) {
		t.Fatalf("second delete: err = %v, want ResourceNotFoundException", err)
	}

	inactive, err := f.client.CreateKeysAndCertificate(ctx, &awsiot.CreateKeysAndCertificateInput{})
	if err != nil {
		t.Fatal(err)
	}
	desc, err = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: inactive.CertificateId})
	if err != nil {
		t.Fatal(err)
	}
	if desc.CertificateDescription.Status != types.CertificateStatusInactive {
		t.Errorf("without setAsActive the status is %s, want INACTIVE", desc.CertificateDescription.Status)
	}
}

func TestRegisterCertificateWithoutCAThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	certPEM, der := testCertificatePEM(t, newECKey(t), "sensor-17")

	out, err := f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(certPEM)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	id := hex.EncodeToString(sum[:])
	if aws.ToString(out.CertificateId) != id || aws.ToString(out.CertificateArn) != "arn:aws:iot:"+apitest.Region+":"+apitest.Account+":cert/"+id {
		t.Fatalf("register = %s %s", aws.ToString(out.CertificateId), aws.ToString(out.CertificateArn))
	}
	desc, err := f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: out.CertificateId})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.CertificateDescription
	if d.Status != types.CertificateStatusActive || d.CertificateMode != types.CertificateModeSniOnly || d.CaCertificateId != nil {
		t.Errorf("status/mode/caCertificateId = %s/%s/%v, want ACTIVE/SNI_ONLY/absent", d.Status, d.CertificateMode, d.CaCertificateId)
	}
	if aws.ToString(d.CertificatePem) != certPEM {
		t.Error("described PEM differs from the registered one")
	}

	// Registering it again names the existing certificate.
	_, err = f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(certPEM), Status: types.CertificateStatusInactive})
	var exists *types.ResourceAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate: err = %v, want ResourceAlreadyExistsException", err)
	}
	if aws.ToString(exists.ResourceId) != id || aws.ToString(exists.ResourceArn) != aws.ToString(out.CertificateArn) {
		t.Errorf("duplicate names %s / %s", aws.ToString(exists.ResourceId), aws.ToString(exists.ResourceArn))
	}
	if _, _, status := apiError(t, err); status != 409 {
		t.Errorf("status = %d, want 409", status)
	}

	inactivePEM, _ := testCertificatePEM(t, newECKey(t), "sensor-18")
	in2, err := f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(inactivePEM), Status: types.CertificateStatusInactive})
	if err != nil {
		t.Fatal(err)
	}
	desc, _ = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: in2.CertificateId})
	if desc.CertificateDescription.Status != types.CertificateStatusInactive {
		t.Errorf("status = %s, want INACTIVE", desc.CertificateDescription.Status)
	}

	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPEM, _ := testCertificatePEM(t, weakKey, "weak")
	other, _ := testCertificatePEM(t, newECKey(t), "other")
	bad := []struct {
		name   string
		pem    string
		status types.CertificateStatus
		want   string
	}{
		{"not PEM", "this is not a certificate", "", "InvalidRequestException"},
		{"truncated", certPEM[:len(certPEM)/2], "", "InvalidRequestException"},
		{"chain", other + certPEM, "", "InvalidRequestException"},
		{"status PENDING_TRANSFER", other, types.CertificateStatusPendingTransfer, "InvalidRequestException"},
		{"RSA 1024", weakPEM, "", "CertificateValidationException"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(tt.pem), Status: tt.status})
			code, msg, status := apiError(t, err)
			if code != tt.want || status != 400 || msg == "" {
				t.Fatalf("got %s (%d) %q, want %s (400)", code, status, msg, tt.want)
			}
		})
	}
	var invalid *types.InvalidRequestException
	_, err = f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String("garbage")})
	if !errors.As(err, &invalid) {
		t.Fatalf("err = %T, want *types.InvalidRequestException", err)
	}
	var invalidCert *types.CertificateValidationException
	_, err = f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(weakPEM)})
	if !errors.As(err, &invalidCert) {
		t.Fatalf("err = %T, want *types.CertificateValidationException", err)
	}
}

func TestListCertificatesThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 5 {
		p, _ := testCertificatePEM(t, newECKey(t), "list")
		status := types.CertificateStatusActive
		if i%2 == 1 {
			status = types.CertificateStatusInactive
		}
		out, err := f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(p), Status: status})
		if err != nil {
			t.Fatal(err)
		}
		want[aws.ToString(out.CertificateId)] = true
		time.Sleep(2 * time.Millisecond) // distinct creation dates for the order check
	}
	for _, ascending := range []bool{true, false} {
		pager := awsiot.NewListCertificatesPaginator(f.client, &awsiot.ListCertificatesInput{PageSize: aws.Int32(2), AscendingOrder: ascending})
		var got []types.Certificate
		pages := 0
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			got = append(got, page.Certificates...)
		}
		if pages != 3 || len(got) != 5 {
			t.Fatalf("ascending=%v: %d certificates in %d pages, want 5 in 3", ascending, len(got), pages)
		}
		for i, c := range got {
			if !want[aws.ToString(c.CertificateId)] || c.CertificateMode != types.CertificateModeSniOnly || c.CreationDate == nil ||
				aws.ToString(c.CertificateArn) == "" || c.Status == "" {
				t.Errorf("listed %+v", c)
			}
			if i == 0 {
				continue
			}
			prev := *got[i-1].CreationDate
			if (ascending && c.CreationDate.Before(prev)) || (!ascending && c.CreationDate.After(prev)) {
				t.Errorf("ascending=%v: %v listed after %v", ascending, c.CreationDate, prev)
			}
		}
	}
	_, err := f.client.ListCertificates(ctx, &awsiot.ListCertificatesInput{PageSize: aws.Int32(251)})
	if code, _, _ := apiError(t, err); code != "InvalidRequestException" {
		t.Errorf("pageSize 251: %s", code)
	}
	_, err = f.client.ListCertificates(ctx, &awsiot.ListCertificatesInput{Marker: aws.String("Zm9v")})
	if code, _, _ := apiError(t, err); code != "InvalidRequestException" {
		t.Errorf("bad marker: %s", code)
	}
}

func TestUpdateCertificateThroughSDK(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	p, _ := testCertificatePEM(t, newECKey(t), "u")
	out, err := f.client.RegisterCertificateWithoutCA(ctx, &awsiot.RegisterCertificateWithoutCAInput{CertificatePem: aws.String(p)})
	if err != nil {
		t.Fatal(err)
	}
	update := func(s types.CertificateStatus) error {
		_, err := f.client.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: out.CertificateId, NewStatus: s})
		return err
	}
	if err := update(types.CertificateStatusRevoked); err != nil {
		t.Fatal(err)
	}
	var stateErr *types.CertificateStateException
	if err := update(types.CertificateStatusActive); !errors.As(err, &stateErr) {
		t.Fatalf("REVOKED -> ACTIVE: err = %v, want CertificateStateException", err)
	}
	if code, _, _ := apiError(t, update(types.CertificateStatusPendingActivation)); code != "InvalidRequestException" {
		t.Errorf("PENDING_ACTIVATION: %s", code)
	}
	// A revoked certificate can be deleted.
	if _, err := f.client.DeleteCertificate(ctx, &awsiot.DeleteCertificateInput{CertificateId: out.CertificateId}); err != nil {
		t.Fatal(err)
	}

	bogus := []struct{ id, want string }{
		{"abc", "InvalidRequestException"},
		{strings.Repeat("z", 64), "InvalidRequestException"},
		{strings.Repeat("0", 64), "ResourceNotFoundException"},
	}
	for _, b := range bogus {
		_, err := f.client.UpdateCertificate(ctx, &awsiot.UpdateCertificateInput{CertificateId: aws.String(b.id), NewStatus: types.CertificateStatusInactive})
		if code, _, _ := apiError(t, err); code != b.want {
			t.Errorf("update %s: %s, want %s", b.id, code, b.want)
		}
		_, err = f.client.DescribeCertificate(ctx, &awsiot.DescribeCertificateInput{CertificateId: aws.String(b.id)})
		if code, _, _ := apiError(t, err); code != b.want {
			t.Errorf("describe %s: %s, want %s", b.id, code, b.want)
		}
	}
}

func TestUnimplementedOperationIsNamed(t *testing.T) {
	f := newDeviceFixture(t)
	ctx := context.Background()
	_, err := f.client.ListThingGroups(ctx, &awsiot.ListThingGroupsInput{})
	code, msg, status := apiError(t, err)
	if code != "NotImplementedException" || status != 501 || msg != "Portico does not implement the operation ListThingGroups yet" {
		t.Fatalf("ListThingGroups: %s (%d) %q", code, status, msg)
	}
	_, err = f.client.DescribeJob(ctx, &awsiot.DescribeJobInput{JobId: aws.String("job-1")})
	if _, msg, _ := apiError(t, err); !strings.Contains(msg, "DescribeJob") {
		t.Fatalf("DescribeJob: %q", msg)
	}
	// (TransferCertificate was the example here until it was implemented:
	// transfer_test.go.)
	_, err = f.client.DescribeStream(ctx, &awsiot.DescribeStreamInput{StreamId: aws.String("firmware-1")})
	if _, msg, _ := apiError(t, err); !strings.Contains(msg, "DescribeStream") {
		t.Fatalf("DescribeStream: %q", msg)
	}
}

// TestCreateKeysAndCertificateWithAWSCLI runs the real aws CLI (botocore)
// against the in-process server.
func TestCreateKeysAndCertificateWithAWSCLI(t *testing.T) {
	f := newDeviceFixture(t)
	cli := f.srv.CLI(t)
	run := func(args ...string) map[string]any {
		t.Helper()
		var v map[string]any
		cli.JSON(t, &v, append([]string{"iot"}, args...)...)
		return v
	}

	created := run("create-keys-and-certificate", "--set-as-active")
	id, _ := created["certificateId"].(string)
	if len(id) != 64 {
		t.Fatalf("certificateId = %v", created["certificateId"])
	}
	keyPair, _ := created["keyPair"].(map[string]any)
	if priv, _ := keyPair["PrivateKey"].(string); !strings.HasPrefix(priv, "-----BEGIN RSA PRIVATE KEY-----") {
		t.Errorf("keyPair.PrivateKey = %.40q", priv)
	}
	if arn, _ := created["certificateArn"].(string); !strings.HasSuffix(arn, ":cert/"+id) {
		t.Errorf("certificateArn = %v", created["certificateArn"])
	}

	// What the CLI created, the SDK sees ACTIVE.
	desc, err := f.client.DescribeCertificate(context.Background(), &awsiot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if desc.CertificateDescription.Status != types.CertificateStatusActive {
		t.Errorf("status = %s, want ACTIVE", desc.CertificateDescription.Status)
	}

	// botocore parses the timestamps; CLI v1 prints them back as epoch
	// seconds, v2 as ISO 8601.
	described := run("describe-certificate", "--certificate-id", id)
	d, _ := described["certificateDescription"].(map[string]any)
	var createdAt time.Time
	switch v := d["creationDate"].(type) {
	case float64:
		createdAt = time.UnixMilli(int64(v * 1000))
	case string:
		createdAt, _ = time.Parse(time.RFC3339, v)
	}
	if time.Since(createdAt).Abs() > time.Minute {
		t.Errorf("creationDate as the CLI prints it: %v", d["creationDate"])
	}
	if d["certificateMode"] != "DEFAULT" || d["status"] != "ACTIVE" {
		t.Errorf("describe-certificate: %v", d)
	}
	listed := run("list-certificates")
	certs, _ := listed["certificates"].([]any)
	if len(certs) != 1 {
		t.Errorf("list-certificates: %v", listed)
	}
}
