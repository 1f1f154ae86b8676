// Package e2e drives the built portico binary with the real clients a user
// has: the aws CLI, dig, mosquitto_pub/sub, curl and openssl. Portico and the
// clients run inside a network namespace the test creates, whose resolv.conf
// points at Portico's DNS on port 53, so device hostnames resolve through
// Portico itself, not /etc/hosts.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-iot/portico/internal/lockedbuf"
)

// requireTools fails under CI and skips elsewhere when a client is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required for the end-to-end test (CI=true): %v", tool, err)
			}
			t.Skipf("%s not installed; .ci/run installs it", tool)
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the end-to-end test creates a network namespace and needs root (CI=true)")
		}
		t.Skip("the end-to-end test creates a network namespace and needs root")
	}
}

// buildPortico compiles the binary under test once.
func buildPortico(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "portico")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/portico")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// buildE2ETool compiles one of the clients under test/e2e (a main
// package in its own directory).
func buildE2ETool(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./"+name)
	cmd.Dir = filepath.Dir(file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}

// netns is a network namespace with only loopback, resolving through
// 127.0.0.1:53.
type netns struct {
	name string
	env  []string
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "portico-e2e-" + hex.EncodeToString(b[:])
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", name).Run()
		os.RemoveAll(filepath.Join("/etc/netns", name))
	})
	mustRun(t, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
	dir := filepath.Join("/etc/netns", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// ip netns exec bind-mounts these over /etc/resolv.conf and /etc/hosts.
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The aws CLI talks to Portico's API with the test's credentials, and
	// nothing of the machine's own AWS configuration leaks in.
	return &netns{name: name, env: []string{
		"AWS_ENDPOINT_URL=http://127.0.0.1:4566", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + accessKey, "AWS_SECRET_ACCESS_KEY=" + secretKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=",
		"PORTICO_ACCESS_KEY_ID=" + accessKey, "PORTICO_SECRET_ACCESS_KEY=" + secretKey,
	}}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// command returns a command that runs inside the namespace.
func (n *netns) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
	cmd.Env = append(os.Environ(), n.env...)
	return cmd
}

// result is what a client printed and how it exited.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("err=%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}

// run runs a client in the namespace with a 60 s bound.
func (n *netns) run(name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := n.command(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return result{stdout: out.String(), stderr: errb.String(), err: err}
}

// ok runs a client and fails the test unless it succeeds.
func (n *netns) ok(t *testing.T, name string, args ...string) string {
	t.Helper()
	r := n.run(name, args...)
	if r.err != nil {
		t.Fatalf("%s %s failed:\n%s", name, strings.Join(args, " "), r)
	}
	return r.stdout
}

// aws runs the aws CLI and decodes its JSON output into v (if not nil).
func (n *netns) aws(t *testing.T, v any, args ...string) {
	t.Helper()
	out := n.ok(t, "aws", append(args, "--output", "json")...)
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("aws %s: bad JSON %v:\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// awsFails runs the aws CLI, expecting the AWS error code in its message.
func (n *netns) awsFails(t *testing.T, code string, args ...string) {
	t.Helper()
	r := n.run("aws", args...)
	if r.err == nil {
		t.Fatalf("aws %s succeeded, want %s:\n%s", strings.Join(args, " "), code, r)
	}
	if !strings.Contains(r.stderr, "("+code+")") {
		t.Fatalf("aws %s: want error %s:\n%s", strings.Join(args, " "), code, r)
	}
}

// portico is a running portico serve inside the namespace.
type portico struct {
	cmd  *exec.Cmd
	out  *lockedbuf.Buffer
	done chan struct{}
}

// startPortico runs the binary in the namespace and waits for its health check.
func (n *netns) startPortico(t *testing.T, bin string, args ...string) *portico {
	t.Helper()
	return n.startPorticoAt(t, bin, "127.0.0.1:4566", args...)
}

// startPorticoAt is startPortico for a process whose API listens on api
// (give the same address as --api-addr).
func (n *netns) startPorticoAt(t *testing.T, bin, api string, args ...string) *portico {
	t.Helper()
	cmd := n.command(context.Background(), bin, append([]string{"serve"}, args...)...)
	p := &portico{cmd: cmd, out: &lockedbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("portico exited during start-up:\n%s", p.out.String())
		default:
		}
		r := n.run("curl", "-fsS", "--max-time", "2", "http://"+api+"/_portico/health")
		if r.err == nil && strings.Contains(r.stdout, "ok") {
			return p
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("portico did not become healthy:\n%s", p.out.String())
	return nil
}

// kill stops portico with SIGKILL, as a crash would.
func (p *portico) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// background is a long-running client such as mosquitto_sub.
type background struct {
	cmd  *exec.Cmd
	out  *lockedbuf.Buffer
	done chan struct{}
}

func (n *netns) startBackground(t *testing.T, name string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	// Line-buffer the client's output so waitFor sees it as it happens.
	cmd := n.command(ctx, "stdbuf", append([]string{"-oL", "-eL", name}, args...)...)
	b := &background{cmd: cmd, out: &lockedbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = b.out, b.out
	// Its own process group, killed whole: a client may start children (a
	// shell loop), which would otherwise outlive it and hold its output open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	killGroup := func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Cancel = killGroup
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { cmd.Wait(); cancel(); close(b.done) }()
	t.Cleanup(func() { killGroup(); <-b.done })
	return b
}

// waitFor polls the client's output for s.
func (b *background) waitFor(t *testing.T, s string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(b.out.String(), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("did not see %q within %s in:\n%s", s, within, b.out.String())
}

func (b *background) exited(within time.Duration) bool {
	select {
	case <-b.done:
		return true
	case <-time.After(within):
		return false
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

var _ = io.Discard
var _ = http.StatusOK
