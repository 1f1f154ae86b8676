package ocspstaple

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// requireOpenSSL returns the openssl binary, skipping the test when it is
// missing, unless CI is set: there a missing tool is a failure.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed (CI=true)")
		}
		t.Skip("openssl is not installed")
	}
	return path
}

// serveTLS serves cert on 127.0.0.1 until the test ends, completing each
// handshake and closing.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("accept: %v", err)
				}
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// The staple fetched from Portico's CA through pkiweb reaches real TLS
// clients: openssl s_client -status prints it, and Go's client sees it.
func TestStapleInTLSHandshake(t *testing.T) {
	openssl := requireOpenSSL(t)
	f := newResponderFixture(t)
	f.stapler.refresh(context.Background())
	staple := f.stapler.Staple(f.target)
	if staple == nil {
		t.Fatal("no staple")
	}
	addr := serveTLS(t, tls.Certificate{
		Certificate: [][]byte{f.leaf.Raw, f.ca.Certificate().Raw},
		PrivateKey:  f.leafKey,
		Leaf:        f.leaf,
		OCSPStaple:  staple,
	})

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, f.ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"-tls1_2", "-tls1_3"} {
		t.Run("openssl "+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", addr, "-servername", "iot.example.com",
				"-CAfile", caFile, "-verify_return_error", "-status", version)
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("openssl s_client: %v\n%s", err, out)
			}
			for _, want := range []string{"OCSP Response Status: successful", "Cert Status: good", "Verify return code: 0 (ok)"} {
				if !bytes.Contains(out, []byte(want)) {
					t.Fatalf("openssl s_client -status does not show %q:\n%s", want, out)
				}
			}
		})
	}

	t.Run("go client", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "iot.example.com", RootCAs: f.ca.Pool()})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		got := conn.ConnectionState().OCSPResponse
		if !bytes.Equal(got, staple) {
			t.Fatal("the Go client did not receive the staple")
		}
		resp, err := ocsp.ParseResponseForCert(got, f.leaf, f.ca.Certificate())
		if err != nil || resp.Status != ocsp.Good {
			t.Fatalf("stapled response %+v, err %v", resp, err)
		}
	})
}
