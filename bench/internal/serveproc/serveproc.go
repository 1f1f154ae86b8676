// Package serveproc runs the real `portico serve` binary for the benchmarks
// that measure it from outside (DNS, failover): built from this checkout,
// on free loopback ports, with known API credentials, and a Route 53 client
// for it.
package serveproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/portico-iot/portico/internal/lockedbuf"
)

// The API credentials the benchmarks give Portico.
const (
	AccessKeyID     = "AKIABENCHMARK0000001"
	SecretAccessKey = "portico-bench-secret-000000000000000000"
)

// Build compiles ./cmd/portico (run from the repository root) into dir.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "portico")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/portico").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/portico (run from the repository root): %w\n%s", err, out)
	}
	return bin, nil
}

// Workdir makes a temporary directory for one benchmark run and, when
// binary is "", builds ./cmd/portico into it. The caller removes dir.
func Workdir(ctx context.Context, prefix, binary string, logf func(string, ...any)) (dir, bin string, err error) {
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", err
	}
	if binary != "" {
		return dir, binary, nil
	}
	logf("building ./cmd/portico")
	if bin, err = Build(ctx, dir); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, bin, nil
}

// FreePort returns a port of ip free for both TCP and UDP.
func FreePort(ip string) (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// Process is a started server whose output is kept for error messages.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	log  lockedbuf.Buffer
}

// Start starts cmd, keeping its output.
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, Cmd: cmd}
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Log is what the process printed so far.
func (p *Process) Log() string { return p.log.String() }

// Stop ends the process (SIGTERM, then SIGKILL after 5 s).
func (p *Process) Stop() {
	if p == nil || p.Cmd.Process == nil {
		return
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.Cmd.Process.Kill()
		<-done
	}
}

// Portico is a running `portico serve`.
type Portico struct {
	*Process
	API string         // http://ip:port
	DNS netip.AddrPort // UDP and TCP
}

// StartPortico runs bin serve on ip with free ports, its data under dir,
// and extra flags; it returns once the API answers.
func StartPortico(ctx context.Context, bin, dir, ip string, extra ...string) (*Portico, error) {
	var ports [5]int
	for i := range ports {
		var err error
		if ports[i], err = FreePort(ip); err != nil {
			return nil, err
		}
	}
	at := func(i int) string { return net.JoinHostPort(ip, strconv.Itoa(ports[i])) }
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--data-dir", data, "--log-level", "warn", "--api-addr", at(0), "--dns-addr", at(1),
		"--mqtt-addr", at(2), "--https-addr", at(3), "--tls-addr", at(4)}, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PORTICO_ACCESS_KEY_ID="+AccessKeyID, "PORTICO_SECRET_ACCESS_KEY="+SecretAccessKey)
	p, err := Start("portico", cmd)
	if err != nil {
		return nil, err
	}
	srv := &Portico{Process: p, API: "http://" + at(0), DNS: netip.MustParseAddrPort(at(1))}
	if err := srv.waitAPI(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return srv, nil
}

// Route53 is a Route 53 client for the server.
func (p *Portico) Route53() *route53.Client {
	return route53.New(route53.Options{Region: "us-east-1", BaseEndpoint: aws.String(p.API),
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")})
}

func (p *Portico) waitAPI(ctx context.Context) error {
	client := p.Route53()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.ListHostedZones(ctx, &route53.ListHostedZonesInput{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("portico serve did not answer: %w\n%s", err, p.Log())
		}
		if p.Cmd.ProcessState != nil {
			return fmt.Errorf("portico serve exited\n%s", p.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
