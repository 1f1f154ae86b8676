// Package child runs a benchmark's client side in a second process (the same
// executable, re-run with an environment variable naming its role), so the
// server's CPU time can be measured on its own and the client and server do
// not share one Go runtime. Parent and child exchange JSON lines over the
// child's stdin and stdout; the child's stderr goes to the parent's.
package child

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

const envRole = "PORTICO_BENCH_CHILD"

// Conn is one side's view of the JSON-line channel.
type Conn struct {
	enc   *json.Encoder
	lines chan []byte
	errc  chan error
}

func newConn(w io.Writer, r io.Reader) *Conn {
	c := &Conn{enc: json.NewEncoder(w), lines: make(chan []byte, 16), errc: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			c.lines <- append([]byte(nil), sc.Bytes()...)
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		c.errc <- err
	}()
	return c
}

// Send writes v as one line.
func (c *Conn) Send(v any) error { return c.enc.Encode(v) }

// Recv reads the next line into v, waiting at most timeout.
func (c *Conn) Recv(v any, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case line := <-c.lines:
		return json.Unmarshal(line, v)
	case err := <-c.errc:
		c.errc <- err
		return fmt.Errorf("child channel closed: %w", err)
	case <-t.C:
		return fmt.Errorf("no message within %v", timeout)
	}
}

var (
	mu    sync.Mutex
	roles = map[string]func(*Conn) error{}
)

// Register names a client role that Start can run; call it from init.
func Register(role string, fn func(*Conn) error) {
	mu.Lock()
	defer mu.Unlock()
	roles[role] = fn
}

// Main runs the role this process was started for, if any, and exits; it
// returns at once in a parent. Call it first thing in main.
func Main() {
	role := os.Getenv(envRole)
	if role == "" {
		return
	}
	mu.Lock()
	fn := roles[role]
	mu.Unlock()
	if fn == nil {
		fmt.Fprintf(os.Stderr, "bench child: unknown role %q\n", role)
		os.Exit(2)
	}
	if err := fn(newConn(os.Stdout, os.Stdin)); err != nil {
		fmt.Fprintf(os.Stderr, "bench child %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Proc is a running child.
type Proc struct {
	*Conn
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // valid once exited is closed
}

// Start runs this executable again as role. ctx bounds its life: it is
// killed when ctx ends.
func Start(ctx context.Context, role string) (*Proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envRole+"="+role)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Conn: newConn(stdin, stdout), cmd: cmd, exited: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Wait waits for the child to exit, killing it after timeout.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return errors.New("child killed: did not exit in time")
	}
}

// Kill ends the child now (if it still runs) and waits for it.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Kill()
	<-p.exited
}
