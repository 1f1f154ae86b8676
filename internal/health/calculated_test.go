package health

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

func TestCalculatedService(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	a, err := svc.Create(ctx, "a", Config{Type: TypeTCP, IPAddress: "192.0.2.1", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Create(ctx, "b", Config{Type: TypeTCP, IPAddress: "192.0.2.2", Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Type: TypeCalculated, HealthThreshold: 1, ChildHealthChecks: []string{a.ID, b.ID}}
	calc, err := svc.Create(ctx, "calc", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if calc.Config.HealthThreshold != 1 || len(calc.Config.ChildHealthChecks) != 2 || calc.Config.Port != 0 || calc.Config.RequestInterval != 0 {
		t.Fatalf("created %+v", calc.Config)
	}
	if again, err := svc.Create(ctx, "calc", cfg); err != nil || again.ID != calc.ID {
		t.Fatalf("replay %v %v", again, err)
	}
	empty, err := svc.Create(ctx, "empty", Config{Type: TypeCalculated, ChildHealthChecks: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := svc.Create(ctx, "empty", Config{Type: TypeCalculated, ChildHealthChecks: []string{}}); err != nil || again.ID != empty.ID {
		t.Fatalf("replay of an empty child list %v %v", again, err)
	}
	for name, tc := range map[string]struct {
		cfg  Config
		code string
	}{
		"missing child":      {Config{Type: TypeCalculated, ChildHealthChecks: []string{"nope"}}, "NoSuchHealthCheck"},
		"threshold 257":      {Config{Type: TypeCalculated, HealthThreshold: 257}, "InvalidInput"},
		"port on calculated": {Config{Type: TypeCalculated, Port: 80}, "InvalidInput"},
		"child twice":        {Config{Type: TypeCalculated, ChildHealthChecks: []string{a.ID, a.ID}}, "InvalidInput"},
		"children on TCP":    {Config{Type: TypeTCP, IPAddress: "192.0.2.1", Port: 1, ChildHealthChecks: []string{a.ID}}, "InvalidInput"},
		"threshold on HTTP":  {Config{Type: TypeHTTP, IPAddress: "192.0.2.1", HealthThreshold: 1}, "InvalidInput"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := svc.Create(ctx, "bad-"+name, tc.cfg)
			wantFault(t, err, tc.code)
		})
	}

	two := int32(2)
	up, err := svc.Update(ctx, calc.ID, UpdateInput{HealthThreshold: &two, ChildHealthChecks: []string{a.ID, b.ID, empty.ID}})
	if err != nil || up.Config.HealthThreshold != 2 || len(up.Config.ChildHealthChecks) != 3 || up.Version != 2 {
		t.Fatalf("update %+v %v", up, err)
	}
	_, err = svc.Update(ctx, calc.ID, UpdateInput{ChildHealthChecks: []string{calc.ID}})
	wantFault(t, err, "InvalidInput")
	up, err = svc.Update(ctx, calc.ID, UpdateInput{ResetElements: []string{"ChildHealthChecks"}})
	if err != nil || up.Config.ChildHealthChecks != nil {
		t.Fatalf("reset children %+v %v", up, err)
	}
	_, err = svc.Update(ctx, a.ID, UpdateInput{HealthThreshold: &two})
	wantFault(t, err, "InvalidInput")
}

// switchDialer is a Dial whose targets a test turns on and off.
type switchDialer struct {
	mu sync.Mutex
	up map[string]bool
}

func (d *switchDialer) set(addr string, up bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.up[addr] = up
}

func (d *switchDialer) dial(_ context.Context, _, addr string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.up[addr] {
		return nil, errors.New("connection refused")
	}
	c1, c2 := net.Pipe()
	c2.Close()
	return c1, nil
}

func TestCalculatedChecker(t *testing.T) {
	d := &switchDialer{up: map[string]bool{"192.0.2.1:1": true, "192.0.2.2:1": true}}
	c := &Checker{Dial: d.dial}
	probe := func(id, ip string) HealthCheck {
		return HealthCheck{ID: id, Version: 1, Config: Config{Type: TypeTCP, IPAddress: ip, Port: 1, RequestInterval: 1, FailureThreshold: 1}}
	}
	calc := func(id string, threshold int32, inverted bool, children ...string) HealthCheck {
		return HealthCheck{ID: id, Version: 1, Config: Config{Type: TypeCalculated, HealthThreshold: threshold, Inverted: inverted, ChildHealthChecks: children}}
	}
	checks := []HealthCheck{
		probe("a", "192.0.2.1"), probe("b", "192.0.2.2"),
		calc("both", 2, false, "a", "b"),
		calc("either", 1, false, "a", "b"),
		calc("nested", 1, false, "both"),     // a CALCULATED child counts with its own result
		calc("inverted", 2, true, "a", "b"),  // healthy when fewer than 2 are
		calc("too-many", 3, false, "a", "b"), // threshold above the children: never healthy
		calc("zero", 0, false),               // threshold 0: always healthy
		calc("gone", 1, false, "deleted"),    // a deleted child counts as unhealthy
		calc("loop-1", 1, false, "loop-2"),   // a cycle counts as unhealthy where it closes
		calc("loop-2", 1, false, "loop-1"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(context.Context) ([]HealthCheck, error) { return checks, nil }, nil) }()
	defer func() {
		cancel()
		<-done
	}()
	want := func(when string, expect map[string]bool) {
		t.Helper()
		waitFor(t, 5*time.Second, when, func() bool {
			for id, v := range expect {
				if c.Healthy(id) != v {
					return false
				}
			}
			return true
		})
	}
	want("all up", map[string]bool{"both": true, "either": true, "nested": true, "inverted": false, "too-many": false,
		"zero": true, "gone": false, "loop-1": false, "loop-2": false})
	d.set("192.0.2.2:1", false)
	want("b down", map[string]bool{"b": false, "both": false, "either": true, "nested": false, "inverted": true})
	d.set("192.0.2.1:1", false)
	want("both down", map[string]bool{"a": false, "either": false, "zero": true})
	d.set("192.0.2.1:1", true)
	d.set("192.0.2.2:1", true)
	want("back up", map[string]bool{"both": true, "nested": true, "inverted": false})
	if st, ok := c.Status("both"); !ok || st.Last != nil {
		t.Errorf("a CALCULATED check has no probe observation: %+v", st)
	}
}
