package gateway_test

// Helpers of the front-door tests (ALPN port, WebSocket, per-domain access,
// certificate choice, security policies, hygiene). They are self-contained:
// gateway_test.go keeps its own.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/iotdata"
	"github.com/portico-iot/portico/internal/awsapi/sigv4"
	"github.com/portico-iot/portico/internal/broker"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/lockedbuf"
	"github.com/portico-iot/portico/internal/testpki"
)

const (
	fdDomain    = "iot.yourcompany.com"
	fdRegion    = "us-east-1"
	fdAccessKey = "AKIAPORTICOGATEWAY01"
	fdSecretKey = "portico-gateway-test-secret-000000000000"
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// fdSource is the gateway's input, changed by tests between reloads.
type fdSource struct {
	mu      sync.Mutex
	domains []gateway.Domain
	devices map[string]bool // DER -> active
	// policies are the devices' test policies (DER -> policy); a device
	// without one may do everything.
	policies map[string]fdPolicy
	// asked records every authorizer built: "<source IP> <domain>".
	asked []string
}

func (s *fdSource) Domains(context.Context) ([]gateway.Domain, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]gateway.Domain, len(s.domains))
	for i, d := range s.domains {
		d.Certificates = append([]tls.Certificate(nil), d.Certificates...)
		out[i] = d
	}
	return out, nil
}

func (s *fdSource) Devices(context.Context) (gateway.Devices, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := fdRegistry{active: map[string]bool{}, policies: map[string]fdPolicy{}, src: s}
	for k, v := range s.devices {
		r.active[k] = v
	}
	for k, p := range s.policies {
		r.policies[k] = p.clone() // frozen: a live session sees a change only through a reload
	}
	return r, nil
}

// setPolicy gives the device with DER der a test policy (nil: none).
func (s *fdSource) setPolicy(der []byte, p fdPolicy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.policies == nil {
		s.policies = map[string]fdPolicy{}
	}
	s.policies[string(der)] = p
}

func (s *fdSource) authorizersBuilt() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// update changes the domain named name under the lock.
func (s *fdSource) update(name string, fn func(*gateway.Domain)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.domains {
		if s.domains[i].Name == name {
			fn(&s.domains[i])
			return
		}
	}
	panic("no domain " + name)
}

type fdRegistry struct {
	active   map[string]bool
	policies map[string]fdPolicy
	src      *fdSource
}

func (r fdRegistry) Authenticate(der []byte, _ string, _ time.Time) (gateway.Principal, error) {
	active, ok := r.active[string(der)]
	switch {
	case !ok:
		return gateway.Principal{}, errors.New("not registered")
	case !active:
		return gateway.Principal{}, errors.New("not active")
	}
	sum := sha256.Sum256(der)
	p := gateway.Principal{CertificateID: hex.EncodeToString(sum[:])}
	if pol, ok := r.policies[string(der)]; ok && pol != nil {
		p.Authorizer = func(sourceIP netip.Addr, domain string) gateway.Authorizer {
			r.src.mu.Lock()
			r.src.asked = append(r.src.asked, sourceIP.String()+" "+domain)
			r.src.mu.Unlock()
			return &fdAuthorizer{policy: pol}
		}
	}
	return p, nil
}

// fdPolicy is a test policy: the names each action ("connect", "publish",
// "retain", "subscribe", "receive") allows, exactly or, ending in "*", by
// prefix; "${client}" stands for the connection's client ID.
type fdPolicy map[string][]string

func (p fdPolicy) clone() fdPolicy {
	if p == nil {
		return nil
	}
	c := fdPolicy{}
	for k, v := range p {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// fdAuthorizer applies an fdPolicy to one connection.
type fdAuthorizer struct {
	policy   fdPolicy
	mu       sync.Mutex
	clientID string
}

func (a *fdAuthorizer) allows(action, name string) bool {
	a.mu.Lock()
	client := a.clientID
	a.mu.Unlock()
	for _, n := range a.policy[action] {
		if strings.Contains(n, "${client}") {
			if client == "" {
				continue // unresolved: the entry does not apply
			}
			n = strings.ReplaceAll(n, "${client}", client)
		}
		if n == name || (strings.HasSuffix(n, "*") && strings.HasPrefix(name, strings.TrimSuffix(n, "*"))) {
			return true
		}
	}
	return false
}

func (a *fdAuthorizer) Connect(clientID string, _ []string) bool {
	a.mu.Lock()
	a.clientID = clientID
	a.mu.Unlock()
	if a.policy["grow-stack"] != nil {
		growStack(32) // as a deep CONNECT decision would (idlestack_test.go)
	}
	return a.allows("connect", clientID)
}

// growStack uses about kib KiB of the calling goroutine's stack.
//
//go:noinline
func growStack(kib int) byte {
	var frame [1000]byte
	frame[kib%len(frame)] = byte(kib)
	if kib <= 1 {
		return frame[0]
	}
	return growStack(kib-1) + frame[kib%len(frame)]
}

func (a *fdAuthorizer) Publish(topic string, retain bool) bool {
	return a.allows("publish", topic) && (!retain || a.allows("retain", topic))
}
func (a *fdAuthorizer) Subscribe(filter string) bool { return a.allows("subscribe", filter) }
func (a *fdAuthorizer) Receive(topic string) bool    { return a.allows("receive", topic) }

// authorizeDevicePublish is what cmd/portico gives iotdata: the device's
// authorizer, attached to the request by the gateway.
func authorizeDevicePublish(r *http.Request, topic string, retain bool) bool {
	a, ok := gateway.DeviceAuthorizer(r.Context())
	if !ok {
		return false
	}
	return a == nil || a.Publish(topic, retain)
}

// front is a gateway with its three listeners, a broker and a device.
type front struct {
	t         *testing.T
	src       *fdSource
	gw        *gateway.Gateway
	broker    *broker.Broker
	log       *lockedbuf.Buffer // the gateway's log, for assertions on refusal reasons
	ca        *testpki.CA
	roots     *x509.CertPool
	device    tls.Certificate
	mqttAddr  string // 8883
	httpsAddr string // 8443
	alpnAddr  string // 443
}

type frontOptions struct {
	domains func(ca *testpki.CA) []gateway.Domain // default: one DEFAULT domain with an ECDSA certificate
	tune    func(*gateway.Config)
	broker  broker.Options
}

func startFront(t *testing.T, opts frontOptions) *front {
	t.Helper()
	ca := testpki.NewCA(t, "Operator CA")
	dev := ca.Client(t, "device-1")
	devCert, err := tls.X509KeyPair(dev.CertPEM, dev.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	domains := []gateway.Domain{defaultDomain(fdDomain, ecdsaLeaf(t, ca, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), fdDomain))}
	if opts.domains != nil {
		domains = opts.domains(ca)
	}
	src := &fdSource{domains: domains, devices: map[string]bool{string(dev.Cert.Raw): true}}
	logs := &lockedbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.broker.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(opts.broker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	creds := []sigv4.Credential{{AccessKeyID: fdAccessKey, SecretAccessKey: fdSecretKey}}
	dataAPI := awsapi.NewServer(fdRegion, creds, logger)
	iotdata.Register(dataAPI, b, logger)
	cfg := gateway.Config{
		Source: src, Broker: b, Logger: logger, Region: fdRegion,
		DeviceHandler: iotdata.NewDevice(b, logger, authorizeDevicePublish), SigV4Handler: dataAPI,
		Credentials: func(id string) (string, bool) {
			if id == fdAccessKey {
				return fdSecretKey, true
			}
			return "", false
		},
	}
	if opts.tune != nil {
		opts.tune(&cfg)
	}
	gw, err := gateway.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{t: t, src: src, gw: gw, broker: b, log: logs, ca: ca, device: devCert}
	f.roots = x509.NewCertPool()
	f.roots.AddCert(ca.Cert)
	for _, l := range []struct {
		addr  *string
		serve func(net.Listener) error
	}{{&f.mqttAddr, gw.ServeMQTT}, {&f.httpsAddr, gw.ServeHTTPS}, {&f.alpnAddr, gw.ServeALPN}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*l.addr = ln.Addr().String()
		go l.serve(ln)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	return f
}

// defaultDomain is a DEFAULT domain with the default security policy.
func defaultDomain(name string, certs ...tls.Certificate) gateway.Domain {
	return policyDomain(name, endpoint.DefaultSecurityPolicy, certs...)
}

func policyDomain(name, policy string, certs ...tls.Certificate) gateway.Domain {
	p, ok := endpoint.LookupSecurityPolicy(policy)
	if !ok {
		panic("no security policy " + policy)
	}
	return gateway.Domain{Name: name, Configuration: "CustomIoTDomain", Enabled: true, Certificates: certs,
		MinVersion: p.MinVersion, MaxVersion: p.MaxVersion, CipherSuites: p.CipherSuites, CipherSuites8883: p.CipherSuites8883}
}

func (f *front) reload() {
	f.t.Helper()
	if err := f.gw.Reload(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

// leaf issues a server certificate for names from the test CA.
func leaf(t testing.TB, ca *testpki.CA, key any, pub any, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: parsed}
}

func ecdsaLeaf(t testing.TB, ca *testpki.CA, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return leaf(t, ca, key, &key.PublicKey, notBefore, notAfter, names...)
}

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

// rsaLeaf issues an RSA 2048 server certificate (one key for the whole
// test binary: generating RSA keys is slow).
func rsaLeaf(t testing.TB, ca *testpki.CA, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return leaf(t, ca, rsaKey, &rsaKey.PublicKey, notBefore, notAfter, names...)
}

// dialOptions shape one TLS client.
type dialOptions struct {
	serverName string // default fdDomain
	alpn       []string
	cert       *tls.Certificate
	tune       func(*tls.Config)
}

func (f *front) clientTLS(o dialOptions) *tls.Config {
	cfg := &tls.Config{ServerName: o.serverName, RootCAs: f.roots, NextProtos: o.alpn}
	if cfg.ServerName == "" {
		cfg.ServerName = fdDomain
	}
	if o.cert != nil {
		cfg.Certificates = []tls.Certificate{*o.cert}
	}
	if o.tune != nil {
		o.tune(cfg)
	}
	return cfg
}

// dial completes a TLS handshake; with TLS 1.3 the server's verdict on a
// client certificate arrives after the client's handshake, so a short read
// surfaces it.
func (f *front) dial(addr string, o dialOptions) (*tls.Conn, error) {
	return dialTLS(addr, f.clientTLS(o), 100*time.Millisecond)
}

// dialTLS completes a handshake with cfg and waits up to settle for the
// server's verdict on the client certificate, which TLS 1.3 delivers after
// the client's handshake ends.
func dialTLS(addr string, cfg *tls.Config, settle time.Duration) (*tls.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(settle))
	_, rerr := c.Read(make([]byte, 1))
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	if rerr != nil && !(errors.As(rerr, &ne) && ne.Timeout()) {
		c.Close()
		return nil, rerr
	}
	return c, nil
}

// mqttProbe connects with paho over TLS and reports "connected", or the
// error paho saw.
func (f *front) mqttProbe(addr string, o dialOptions, user string) string {
	opts := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(fmt.Sprintf("probe-%d", time.Now().UnixNano())).
		SetTLSConfig(f.clientTLS(o)).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(3 * time.Second)
	if user != "" {
		opts.SetUsername(user).SetPassword("secret")
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return "timeout"
	}
	if err := tok.Error(); err != nil {
		return err.Error()
	}
	c.Disconnect(50)
	return "connected"
}

// publishHTTP posts a message over a fresh TLS connection and returns the
// status, or the TLS error.
func (f *front) publishHTTP(addr string, o dialOptions, path string, sign bool) (int, string, error) {
	c, err := f.dial(addr, o)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+path, strings.NewReader(`{"hello":"world"}`))
	if sign {
		signRequest(f.t, req, []byte(`{"hello":"world"}`))
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := req.Write(c); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

// signRequest signs an iot-data request with the AWS SDK's SigV4 signer.
func signRequest(t testing.TB, req *http.Request, body []byte) {
	t.Helper()
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: fdAccessKey, SecretAccessKey: fdSecretKey},
		req, hex.EncodeToString(sum[:]), "iotdata", fdRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

// presignMQTT presigns wss://addr/mqtt as AWS device SDKs do.
func presignMQTT(t testing.TB, addr, service, secret, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/mqtt", nil)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", "300")
	req.URL.RawQuery = q.Encode()
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: fdAccessKey, SecretAccessKey: secret, SessionToken: token},
		req, emptySHA256, service, fdRegion, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "wss" + strings.TrimPrefix(u, "https")
}

// received subscribes in-process and returns the payloads seen on topic.
func (f *front) received(topic string) <-chan string {
	ch := make(chan string, 100)
	id := int(time.Now().UnixNano() % 1e6)
	if err := f.broker.Subscribe(topic, id, func(m broker.Message) { ch <- string(m.Payload) }); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { f.broker.Unsubscribe(topic, id) })
	return ch
}

func expectMessage(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("payload %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("message %q not delivered", want)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// requireOpenSSL fails under CI and skips elsewhere when openssl is missing.
func requireOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("openssl is required (CI=true): %v", err)
		}
		t.Skip("openssl not installed")
	}
}

// sClient runs openssl s_client against addr and returns whether the
// handshake completed, and what openssl printed.
func sClient(t *testing.T, addr, serverName string, args ...string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-connect", addr, "-servername", serverName}, args...)...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return err == nil && !strings.Contains(string(out), "alert"), string(out)
}

// servedCertificate extracts the server certificate s_client printed.
func servedCertificate(t *testing.T, out string) *x509.Certificate {
	t.Helper()
	start := strings.Index(out, "-----BEGIN CERTIFICATE-----")
	end := strings.Index(out, "-----END CERTIFICATE-----")
	if start < 0 || end < 0 {
		t.Fatalf("no certificate in s_client output:\n%s", out)
	}
	block := out[start : end+len("-----END CERTIFICATE-----")]
	rest := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(block, "-----BEGIN CERTIFICATE-----"), "-----END CERTIFICATE-----"))
	der, err := decodeBase64(rest)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
}
