package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/awsapi/apitest"
	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/pkiweb"
	"github.com/portico-iot/portico/internal/store/storetest"
)

// caExport runs `portico ca export` with args and returns what it prints.
func caExport(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := caCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(append([]string{"export"}, args...))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("ca export %v: %v", args, err)
	}
	return out.Bytes()
}

func pemCertificates(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// handshake serves cert on a loopback TLS listener and connects to it as
// serverName trusting roots only; it returns the chain the client verified.
func handshake(t *testing.T, cert tls.Certificate, serverName string, roots *x509.CertPool) []*x509.Certificate {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.(*tls.Conn).Handshake()
		io.Copy(io.Discard, c)
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS handshake for %s against the exported root: %v", serverName, err)
	}
	defer conn.Close()
	state := conn.ConnectionState()
	if len(state.VerifiedChains) == 0 {
		t.Fatal("no verified chain")
	}
	return state.VerifiedChains[0]
}

// Each of Portico's server certificates is served with the intermediate and
// verifies, in a real handshake, against the root `portico ca export`
// prints and nothing else: the default endpoint, an AWS-managed domain and
// a certificate issued for request-certificate (CAIssuer).
func TestServedChainsVerifyAgainstTheExportedRoot(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	serverCA, err := openCA(dataDir, serverCAName)
	if err != nil {
		t.Fatal(err)
	}
	exported := caExport(t, "--data-dir", dataDir)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(exported) {
		t.Fatal("ca export printed no certificate")
	}
	if got := pemCertificates(t, exported); len(got) != 1 || !got[0].Equal(serverCA.Root()) {
		t.Fatal("ca export does not print the root alone")
	}
	chain := pemCertificates(t, caExport(t, "--data-dir", dataDir, "--chain"))
	if len(chain) != 2 || !chain[0].Equal(serverCA.Certificate()) || !chain[1].Equal(serverCA.Root()) {
		t.Fatal("ca export --chain is not intermediate, root")
	}
	device := pemCertificates(t, caExport(t, "--data-dir", dataDir, "--device"))
	if len(device) != 1 || device[0].Equal(serverCA.Root()) {
		t.Fatal("ca export --device does not print a separate root")
	}

	// The responder, as serve wires it, for the OCSP check of each leaf.
	web := httptest.NewServer(pkiweb.New(pkiweb.Config{Authorities: map[string]pkiweb.Authority{serverCAName: serverCA}, Logger: apitest.Logger()}))
	defer web.Close()
	revocation := pki.WithRevocationURLs(pkiweb.OCSPURL(web.URL, serverCAName), pkiweb.CRLURL(web.URL, serverCAName))

	check := func(t *testing.T, cert tls.Certificate, name string) {
		t.Helper()
		if len(cert.Certificate) < 2 {
			t.Fatalf("served chain of %d certificates; the intermediate is missing", len(cert.Certificate))
		}
		if inter, _ := x509.ParseCertificate(cert.Certificate[1]); inter == nil || !inter.Equal(serverCA.Certificate()) {
			t.Error("the second certificate served is not the intermediate")
		}
		verified := handshake(t, cert, name, roots)
		if len(verified) != 3 || !verified[1].Equal(serverCA.Certificate()) || !verified[2].Equal(serverCA.Root()) {
			t.Errorf("verified chain of %d certificates, want leaf, intermediate, root", len(verified))
		}
		// The leaf's OCSP answer is signed by the intermediate, the Issuer
		// an ocspstaple.Target names.
		leaf := verified[0]
		if len(leaf.OCSPServer) != 1 {
			t.Fatalf("leaf OCSP locations %v", leaf.OCSPServer)
		}
		req, err := ocsp.CreateRequest(leaf, serverCA.Certificate(), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(leaf.OCSPServer[0], "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r, err := ocsp.ParseResponseForCert(body, leaf, serverCA.Certificate())
		if err != nil || r.Status != ocsp.Good {
			t.Fatalf("OCSP answer %+v, err %v; want good, signed by the intermediate", r, err)
		}
	}

	t.Run("default endpoint", func(t *testing.T) {
		st := storetest.New(t)
		certs, err := certificate.NewService(ctx, st, apitest.Region, apitest.Account)
		if err != nil {
			t.Fatal(err)
		}
		endpoints, err := endpoint.NewService(ctx, st, certificateChecker{certs},
			endpoint.Config{Region: apitest.Region, Account: apitest.Account, BaseDomain: "portico.internal"})
		if err != nil {
			t.Fatal(err)
		}
		n := &node{cfg: config.Config{AdvertiseAddr: "127.0.0.1"}, endpoints: endpoints}
		cert, err := n.defaultEndpointCertificate(serverCA, revocation)
		if err != nil {
			t.Fatal(err)
		}
		check(t, cert, cert.Leaf.DNSNames[0])
	})
	t.Run("AWS-managed domain", func(t *testing.T) {
		const host = "abc123-ats.iot.us-east-1.portico.internal"
		cert, err := newManagedCertificates(serverCA, revocation).certificate(host)
		if err != nil {
			t.Fatal(err)
		}
		check(t, cert, host)
	})
	t.Run("ACM certificate from CAIssuer", func(t *testing.T) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		issuer := certificate.CAIssuer{CA: serverCA, Options: []pki.IssueOption{revocation}}
		certPEM, chainPEM, err := issuer.Issue(ctx, key, []string{"iot.yourcompany.com"})
		if err != nil {
			t.Fatal(err)
		}
		// CertificateChain (GetCertificate, export-certificate): the issuing
		// intermediate, then the root, as ACM gives a private CA's chain.
		if got := pemCertificates(t, chainPEM); len(got) != 2 || !got[0].Equal(serverCA.Certificate()) || !got[1].Equal(serverCA.Root()) {
			t.Fatalf("CertificateChain holds %d certificates, want intermediate, root", len(got))
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		// Served as the gateway serves an ACM certificate: leaf and chain.
		cert, err := tls.X509KeyPair(append(certPEM, chainPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
		if err != nil {
			t.Fatal(err)
		}
		check(t, cert, "iot.yourcompany.com")

		// openssl agrees, with the root as the only trust anchor.
		openssl, err := exec.LookPath("openssl")
		apitest.RequireTool(t, "openssl", err)
		dir := t.TempDir()
		write := func(name string, data []byte) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		rootFile, chainFile, leafFile := write("root.pem", exported), write("chain.pem", chainPEM), write("leaf.pem", certPEM)
		out, err := exec.Command(openssl, "verify", "-CAfile", rootFile, "-untrusted", chainFile, leafFile).CombinedOutput()
		if err != nil || !strings.Contains(string(out), leafFile+": OK") {
			t.Fatalf("openssl verify -CAfile root.pem -untrusted chain.pem leaf.pem: %v\n%s", err, out)
		}
	})
}

// A device certificate comes from the device intermediate; devices get the
// certificate alone (as from AWS), and openssl verifies it given the
// exported device root and the intermediate (`ca export --device --chain`).
func TestDeviceCertificateVerifiesWithTheDeviceChain(t *testing.T) {
	dataDir := t.TempDir()
	deviceCA, err := openCA(dataDir, deviceCAName)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := deviceCA.IssueClientUntil(key.Public(), "AWS IoT Certificate", time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if !bytes.Equal(leaf.RawIssuer, deviceCA.Certificate().RawSubject) {
		t.Fatalf("device certificate issued by %v, want the device intermediate", leaf.Issuer)
	}
	openssl, err := exec.LookPath("openssl")
	apitest.RequireTool(t, "openssl", err)
	dir := t.TempDir()
	root, chain := filepath.Join(dir, "device-root.pem"), filepath.Join(dir, "device-chain.pem")
	leafFile := filepath.Join(dir, "device.pem")
	os.WriteFile(root, caExport(t, "--data-dir", dataDir, "--device"), 0o644)
	os.WriteFile(chain, caExport(t, "--data-dir", dataDir, "--device", "--chain"), 0o644)
	os.WriteFile(leafFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	out, err := exec.Command(openssl, "verify", "-purpose", "sslclient", "-CAfile", root, "-untrusted", chain, leafFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), leafFile+": OK") {
		t.Fatalf("openssl verify of a device certificate: %v\n%s", err, out)
	}
	// Without the intermediate it does not verify: the root did not sign it.
	if out, err := exec.Command(openssl, "verify", "-CAfile", root, leafFile).CombinedOutput(); err == nil {
		t.Fatalf("a device certificate verified without the intermediate:\n%s", out)
	}
}
