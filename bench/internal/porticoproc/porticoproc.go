// Package porticoproc runs Portico's MQTT data plane — the gateway's MQTT
// listener with SNI among the bench's domain configurations, device
// certificates checked against the registry's snapshot with an IoT policy
// attached, the broker behind it — in a process of its own, so that its
// RSS and CPU time are Portico's alone, as mosquitto's are mosquitto's.
// It is this executable re-run as a child (bench/internal/child).
package porticoproc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/portico-iot/portico/bench/internal/child"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/servers"
	"github.com/portico-iot/portico/internal/gcpace"
	"github.com/portico-iot/portico/internal/memtrim"
)

const role = "portico-server"

func init() { child.Register(role, serve) }

type setup struct{ Domains, Devices int }

type command struct {
	Op   string // "profile-start", "profile-stop", "heap", "memory", "quit"
	Path string
}

type reply struct {
	Addr   string  `json:",omitempty"`
	PID    int     `json:",omitempty"`
	Err    string  `json:",omitempty"`
	Memory *Memory `json:",omitempty"`
}

// Memory is where the Go runtime says the server's memory is, after a GC.
type Memory struct {
	HeapInuse    uint64 // bytes in spans with live or not yet swept objects
	HeapFree     uint64 // heap bytes free but still mapped (HeapIdle - HeapReleased): GC slack
	StackInuse   uint64 // goroutine stacks
	RuntimeOther uint64 // span and GC metadata, buckets, other runtime structures
	Goroutines   int
}

// serve is the child: build, listen, then obey commands until told to
// quit or the parent goes away (stdin closes).
func serve(c *child.Conn) error {
	var s setup
	if err := c.Recv(&s, time.Minute); err != nil {
		return err
	}
	set, _, err := material.Load(s.Domains, s.Devices)
	if err != nil {
		return err
	}
	ctx := context.Background()
	reg, err := servers.NewRegistry(ctx, set)
	if err != nil {
		return err
	}
	defer reg.Close()
	domains, err := servers.Domains(set)
	if err != nil {
		return err
	}
	p, err := servers.StartPortico(domains, reg)
	if err != nil {
		return err
	}
	defer p.Close()
	// As cmd/portico's serve does.
	trimCtx, stopTrim := context.WithCancel(ctx)
	defer stopTrim()
	go memtrim.Run(trimCtx, memtrim.Policy{}, slog.New(slog.DiscardHandler))
	go gcpace.Run(trimCtx, gcpace.Policy{}, p.Broker.Messages, slog.New(slog.DiscardHandler))
	if err := c.Send(reply{Addr: p.Addr, PID: os.Getpid()}); err != nil {
		return err
	}
	var prof *os.File
	for {
		var cmd command
		if err := c.Recv(&cmd, 24*time.Hour); err != nil {
			return nil // the parent is gone
		}
		var r reply
		switch cmd.Op {
		case "profile-start":
			f, err := os.Create(cmd.Path)
			if err == nil {
				if err = pprof.StartCPUProfile(f); err != nil {
					f.Close()
				} else {
					prof = f
				}
			}
			if err != nil {
				r.Err = err.Error()
			}
		case "profile-stop":
			if prof != nil {
				pprof.StopCPUProfile()
				prof.Close()
				prof = nil
			}
		case "heap":
			f, err := os.Create(cmd.Path)
			if err == nil {
				runtime.GC() // the profile's in-use figures are as of the last GC
				err = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				r.Err = err.Error()
			}
		case "memory":
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			r.Memory = &Memory{HeapInuse: m.HeapInuse, HeapFree: m.HeapIdle - m.HeapReleased, StackInuse: m.StackInuse,
				RuntimeOther: m.MSpanSys + m.MCacheSys + m.BuckHashSys + m.GCSys + m.OtherSys, Goroutines: runtime.NumGoroutine()}
		case "quit":
			c.Send(r)
			return nil
		default:
			r.Err = "unknown op " + cmd.Op
		}
		if err := c.Send(r); err != nil {
			return err
		}
	}
}

// Server is the parent's handle on the child.
type Server struct {
	Addr string
	PID  int
	p    *child.Proc
}

// Start runs Portico in a child process with the cached bench material of
// that size (domains domain configurations, devices device certificates).
func Start(ctx context.Context, domains, devices int) (*Server, error) {
	p, err := child.Start(ctx, role)
	if err != nil {
		return nil, err
	}
	if err := p.Send(setup{Domains: domains, Devices: devices}); err != nil {
		p.Kill()
		return nil, err
	}
	var r reply
	if err := p.Recv(&r, 3*time.Minute); err != nil {
		p.Kill()
		return nil, fmt.Errorf("portico server: %w", err)
	}
	return &Server{Addr: r.Addr, PID: r.PID, p: p}, nil
}

func (s *Server) do(cmd command) error {
	_, err := s.ask(cmd)
	return err
}

func (s *Server) ask(cmd command) (reply, error) {
	var r reply
	if err := s.p.Send(cmd); err != nil {
		return r, err
	}
	if err := s.p.Recv(&r, time.Minute); err != nil {
		return r, err
	}
	if r.Err != "" {
		return r, fmt.Errorf("portico server: %s", r.Err)
	}
	return r, nil
}

// Memory reports the server's memory as its Go runtime sees it, after a GC.
func (s *Server) Memory() (Memory, error) {
	r, err := s.ask(command{Op: "memory"})
	if err != nil || r.Memory == nil {
		return Memory{}, err
	}
	return *r.Memory, nil
}

// StartProfile starts a CPU profile of the server into path.
func (s *Server) StartProfile(path string) error {
	return s.do(command{Op: "profile-start", Path: path})
}

// StopProfile ends it.
func (s *Server) StopProfile() error { return s.do(command{Op: "profile-stop"}) }

// HeapProfile writes the server's heap profile (after a GC) to path.
func (s *Server) HeapProfile(path string) error { return s.do(command{Op: "heap", Path: path}) }

// Close asks the server to quit and kills it if it does not in time.
func (s *Server) Close() {
	s.p.Send(command{Op: "quit"})
	s.p.Wait(15 * time.Second)
}
