package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/gateway"
	"github.com/portico-iot/portico/internal/testpki"
)

// servedLeaf handshakes on the ALPN port (no client certificate needed) and
// returns the certificate the gateway chose.
func (f *front) servedLeaf(t *testing.T, tune func(*tls.Config)) (*x509.Certificate, error) {
	t.Helper()
	c, err := f.dial(f.alpnAddr, dialOptions{tune: tune})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func rsaOnlyTLS12(c *tls.Config) {
	c.MaxVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
}

// An ECDSA and an RSA certificate side by side: old clients that only speak
// RSA suites get the RSA one, the others the newest.
func TestCertificateChosenByClientCapabilities(t *testing.T) {
	now := time.Now()
	var ecCert, rsaCert tls.Certificate
	f := startFront(t, frontOptions{domains: func(ca *testpki.CA) []gateway.Domain {
		rsaCert = rsaLeaf(t, ca, now.Add(-2*time.Hour), now.Add(24*time.Hour), fdDomain)
		ecCert = ecdsaLeaf(t, ca, now.Add(-time.Hour), now.Add(24*time.Hour), fdDomain)
		return []gateway.Domain{defaultDomain(fdDomain, rsaCert, ecCert)}
	}})
	got, err := f.servedLeaf(t, nil)
	if err != nil || !got.Equal(ecCert.Leaf) {
		t.Fatalf("default client got %v (%v), want the ECDSA certificate", keyType(got), err)
	}
	got, err = f.servedLeaf(t, rsaOnlyTLS12)
	if err != nil || !got.Equal(rsaCert.Leaf) {
		t.Fatalf("RSA-only TLS 1.2 client got %v (%v), want the RSA certificate", keyType(got), err)
	}
	// TLS 1.3 with only RSA signature schemes.
	got, err = f.servedLeaf(t, func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS13
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	})
	if err != nil || !got.Equal(ecCert.Leaf) {
		t.Fatalf("TLS 1.3 client got %v (%v)", keyType(got), err)
	}
}

func keyType(c *x509.Certificate) string {
	if c == nil {
		return "nothing"
	}
	return c.PublicKeyAlgorithm.String()
}

// Newest first, among the certificates valid at the handshake: an expired
// or not yet valid certificate is skipped even when it is the newest.
func TestCertificateValidityAtHandshake(t *testing.T) {
	now := time.Now()
	var current, expired, future tls.Certificate
	var ca *testpki.CA
	f := startFront(t, frontOptions{domains: func(c *testpki.CA) []gateway.Domain {
		ca = c
		current = ecdsaLeaf(t, ca, now.Add(-48*time.Hour), now.Add(24*time.Hour), fdDomain)
		expired = ecdsaLeaf(t, ca, now.Add(-time.Hour), now.Add(-time.Minute), fdDomain)
		future = ecdsaLeaf(t, ca, now.Add(time.Hour), now.Add(48*time.Hour), fdDomain)
		return []gateway.Domain{defaultDomain(fdDomain, expired, current, future)}
	}})
	got, err := f.servedLeaf(t, nil)
	if err != nil || !got.Equal(current.Leaf) {
		t.Fatalf("served %v (%v), want the one valid now", got.NotBefore, err)
	}
	// A newer valid certificate wins at once.
	newer := ecdsaLeaf(t, ca, now.Add(-time.Minute), now.Add(24*time.Hour), fdDomain)
	f.src.update(fdDomain, func(d *gateway.Domain) { d.Certificates = append(d.Certificates, newer) })
	f.reload()
	if got, err := f.servedLeaf(t, nil); err != nil || !got.Equal(newer.Leaf) {
		t.Fatalf("after adding a newer certificate: %v", err)
	}
	// A certificate for another name is never served.
	other := ecdsaLeaf(t, ca, now, now.Add(24*time.Hour), "other.yourcompany.com")
	f.src.update(fdDomain, func(d *gateway.Domain) { d.Certificates = []tls.Certificate{other, current} })
	f.reload()
	if got, err := f.servedLeaf(t, nil); err != nil || !got.Equal(current.Leaf) {
		t.Fatalf("with a certificate for another name: %v", err)
	}
	// Nothing valid: unrecognized_name, and the reason in the log.
	f.src.update(fdDomain, func(d *gateway.Domain) { d.Certificates = []tls.Certificate{expired, future} })
	f.reload()
	if _, err := f.servedLeaf(t, nil); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
		t.Fatalf("no valid certificate: err = %v", err)
	}
	if !strings.Contains(f.log.String(), "has no server certificate valid now") {
		t.Fatalf("reason not logged:\n%s", f.log.String())
	}
}

// The same choice seen by openssl: an RSA-only TLS 1.2 client gets the RSA
// certificate, a default client the ECDSA one.
func TestCertificateChoiceWithOpenSSL(t *testing.T) {
	requireOpenSSL(t)
	now := time.Now()
	f := startFront(t, frontOptions{domains: func(ca *testpki.CA) []gateway.Domain {
		return []gateway.Domain{defaultDomain(fdDomain,
			rsaLeaf(t, ca, now.Add(-2*time.Hour), now.Add(24*time.Hour), fdDomain),
			ecdsaLeaf(t, ca, now.Add(-time.Hour), now.Add(24*time.Hour), fdDomain))}
	}})
	for _, tc := range []struct {
		args []string
		want x509.PublicKeyAlgorithm
	}{
		{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, x509.RSA},
		{[]string{"-tls1_2", "-cipher", "AES128-GCM-SHA256"}, x509.RSA},
		{nil, x509.ECDSA},
		{[]string{"-tls1_2"}, x509.ECDSA},
		{[]string{"-tls1_3"}, x509.ECDSA},
	} {
		ok, out := sClient(t, f.alpnAddr, fdDomain, tc.args...)
		if !ok {
			t.Fatalf("openssl s_client %v failed:\n%s", tc.args, out)
		}
		if got := servedCertificate(t, out); got.PublicKeyAlgorithm != tc.want {
			t.Errorf("openssl s_client %v got %v, want %v", tc.args, got.PublicKeyAlgorithm, tc.want)
		}
	}
}

// Rotation is invisible to connected devices: N sessions stay up while the
// domain's certificate is swapped, and the next handshake sees the new one.
func TestRotationKeepsConnectedDevices(t *testing.T) {
	const n = 50
	now := time.Now()
	f := startFront(t, frontOptions{})
	var lost atomic.Int32
	var received sync.Map
	clients := make([]paho.Client, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr, alpn := f.mqttAddr, []string(nil)
			if i%2 == 1 {
				addr, alpn = f.alpnAddr, []string{"x-amzn-mqtt-ca"}
			}
			opts := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(fmt.Sprintf("fleet-%d", i)).
				SetTLSConfig(f.clientTLS(dialOptions{cert: &f.device, alpn: alpn})).SetAutoReconnect(false).
				SetConnectTimeout(10 * time.Second).SetKeepAlive(30 * time.Second).
				SetConnectionLostHandler(func(paho.Client, error) { lost.Add(1) })
			c := paho.NewClient(opts)
			if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
				errs <- fmt.Errorf("client %d: %v", i, tok.Error())
				return
			}
			if tok := c.Subscribe("fleet/after", 1, func(_ paho.Client, m paho.Message) { received.Store(i, string(m.Payload())) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				errs <- fmt.Errorf("client %d subscribe: %v", i, tok.Error())
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range clients {
			c.Disconnect(10)
		}
	}()
	old, err := f.servedLeaf(t, nil)
	if err != nil {
		t.Fatal(err)
	}

	rotated := ecdsaLeaf(t, f.ca, now.Add(-time.Minute), now.Add(90*24*time.Hour), fdDomain)
	f.src.update(fdDomain, func(d *gateway.Domain) { d.Certificates = []tls.Certificate{rotated} })
	f.reload()

	got, err := f.servedLeaf(t, nil)
	if err != nil || !got.Equal(rotated.Leaf) || got.Equal(old) {
		t.Fatalf("after rotation the handshake got %x (%v), want the new certificate", got.SerialNumber, err)
	}
	// Every session is still there and still delivers.
	if err := f.broker.Publish("fleet/after", []byte("still here"), 1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every device to receive the message after the rotation", func() bool {
		count := 0
		received.Range(func(_, _ any) bool { count++; return true })
		return count == n
	})
	for i, c := range clients {
		if !c.IsConnectionOpen() {
			t.Errorf("client %d disconnected", i)
		}
	}
	if l := lost.Load(); l != 0 {
		t.Fatalf("%d devices lost their connection during the rotation", l)
	}
}
