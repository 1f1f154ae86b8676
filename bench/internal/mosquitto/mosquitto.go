// Package mosquitto runs the peer the MQTT benchmarks compare Portico
// with: Debian's mosquitto 2.0 on 127.0.0.1, a random port, mutual TLS 1.3
// with the same certificates Portico serves, configured for throughput as
// issue 8 asks (TCP_NODELAY, no queue limit).
package mosquitto

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/portico-iot/portico/bench/internal/material"
)

// Binary is where Debian's package installs the broker.
const Binary = "/usr/sbin/mosquitto"

// Available reports whether the broker is installed.
func Available() bool {
	_, err := os.Stat(Binary)
	return err == nil
}

// Version is the first line of `mosquitto -h`, e.g. "mosquitto version 2.0.11".
func Version() string {
	out, _ := exec.Command(Binary, "-h").Output() // exits 3 after printing help
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// Options configure one broker.
type Options struct {
	Server material.Pair // served certificate and key
	CA     []byte        // DER of the CA that signed the device certificates
	// MaxInflight is max_inflight_messages: QoS 1 messages in flight to one
	// subscriber (Portico's broker allows AWS's 100).
	MaxInflight int
}

// Server is a running mosquitto.
type Server struct {
	Addr string
	PID  int
	// Config is the configuration file's text, for the report.
	Config string
	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
}

// Start writes the certificates and configuration to a temporary directory
// and runs the broker until Close (or until ctx ends).
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.MaxInflight == 0 {
		o.MaxInflight = 100
	}
	dir, err := os.MkdirTemp("", "portico-bench-mosquitto-")
	if err != nil {
		return nil, err
	}
	key, err := keyPEM(o.Server.Key)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	files := map[string][]byte{"ca.pem": material.PEM(o.CA), "server.pem": material.PEM(o.Server.Cert), "server.key": key}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	var last error
	// A port picked free may be taken before mosquitto binds it: retry.
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(ctx, dir, o)
		if err == nil {
			return s, nil
		}
		last = err
	}
	os.RemoveAll(dir)
	return nil, last
}

func start(ctx context.Context, dir string, o Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := Config(dir, port, o.MaxInflight)
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, Binary, "-c", path)
	// Its own process group, killed with us if we die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), PID: cmd.Process.Pid, Config: conf, cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return nil, errors.New("mosquitto exited at start (port taken?)")
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return nil, errors.New("mosquitto did not listen within 10s")
}

// Config is the configuration the benchmarks run mosquitto with.
func Config(dir string, port, maxInflight int) string {
	return fmt.Sprintf(`# written by bench/internal/mosquitto
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
user root
set_tcp_nodelay true
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages %d
listener %d 127.0.0.1
cafile %s/ca.pem
certfile %s/server.pem
keyfile %s/server.key
require_certificate true
tls_version tlsv1.3
`, maxInflight, port, dir, dir, dir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) kill() {
	syscall.Kill(-s.PID, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
	}
}

// Close kills the broker's process group and removes its files.
func (s *Server) Close() {
	s.kill()
	os.RemoveAll(s.dir)
}

// keyPEM encodes a PKCS#8 key as OpenSSL reads it.
func keyPEM(der []byte) ([]byte, error) {
	if len(der) == 0 {
		return nil, errors.New("mosquitto: no server key")
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
