// Package failoverbench measures how fast Portico's DNS moves a name off a
// dead region and back: the real `portico serve`, a TCP health check on a
// "region" (a listener on 127.0.0.2 the benchmark closes and reopens), a
// PRIMARY/SECONDARY failover pair, and a DNS client polling the name every
// few milliseconds. Each kill and each restore is one sample; the report
// gives their distribution against the bound RequestInterval x
// FailureThreshold that Route 53's model promises.
package failoverbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/bench/internal/serveproc"
)

const (
	zoneName  = "fleet.example"
	name      = "iot.fleet.example."
	primary   = "192.0.2.1"
	secondary = "192.0.2.2"
	regionIP  = "127.0.0.2"
)

// Check is one health-check configuration measured.
type Check struct {
	Interval, Threshold int // RequestInterval (s), FailureThreshold
	Cycles              int // kills (and restores) measured
}

// Bound is interval x threshold: when the last failed probe is due at the
// latest after the region dies.
func (c Check) Bound() time.Duration {
	return time.Duration(c.Interval*c.Threshold) * time.Second
}

// Options configure a run.
type Options struct {
	Checks []Check
	// Poll is how often the DNS client asks (the resolution of the samples).
	Poll time.Duration
	// Settle is how long the region stays in its new state after DNS
	// followed, before the next change (plus a random part of an interval).
	Settle  time.Duration
	Portico string // binary; "" builds ./cmd/portico
	Log     func(format string, args ...any)
}

// Defaults: Route 53's fastest check (10 s x 1) and Portico's extension
// (2 s x 2).
func Defaults() Options {
	return Options{Checks: []Check{{Interval: 10, Threshold: 1, Cycles: 5}, {Interval: 2, Threshold: 2, Cycles: 10}},
		Poll: 20 * time.Millisecond, Settle: time.Second}
}

// Samples are the measured times of one check.
type Samples struct {
	Check             Check
	Failover, Restore []time.Duration
}

// Result is a run.
type Result struct {
	Options Options
	Date    string
	Samples []Samples
	Took    time.Duration
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// Execute runs the benchmark.
func Execute(ctx context.Context, o Options) (*Result, error) {
	began := time.Now()
	res := &Result{Options: o, Date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	dir, bin, err := serveproc.Workdir(ctx, "failoverbench-", o.Portico, o.logf)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.Portico = bin
	p, err := serveproc.StartPortico(ctx, o.Portico, dir, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	client := p.Route53()
	zone, err := client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(zoneName), CallerReference: aws.String("failoverbench")})
	if err != nil {
		return nil, err
	}
	for i, c := range o.Checks {
		s, err := measureCheck(ctx, o, client, p, aws.ToString(zone.HostedZone.Id), i, c)
		if err != nil {
			return nil, err
		}
		res.Samples = append(res.Samples, s)
	}
	res.Took = time.Since(began)
	return res, nil
}

// region is the TCP service the health check probes.
type region struct {
	addr string
	ln   net.Listener
}

func (r *region) up() error {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		return err
	}
	r.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return nil
}

func (r *region) down() { r.ln.Close() }

func measureCheck(ctx context.Context, o Options, client *route53.Client, p *serveproc.Portico, zoneID string, i int, c Check) (Samples, error) {
	s := Samples{Check: c}
	port, err := serveproc.FreePort(regionIP)
	if err != nil {
		return s, err
	}
	reg := &region{addr: net.JoinHostPort(regionIP, fmt.Sprint(port))}
	if err := reg.up(); err != nil {
		return s, err
	}
	defer func() { reg.ln.Close() }()
	hc, err := client.CreateHealthCheck(ctx, &route53.CreateHealthCheckInput{CallerReference: aws.String(fmt.Sprintf("region-%d", i)),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, IPAddress: aws.String(regionIP),
			Port: aws.Int32(int32(port)), RequestInterval: aws.Int32(int32(c.Interval)), FailureThreshold: aws.Int32(int32(c.Threshold))}})
	if err != nil {
		return s, err
	}
	set := func(failover types.ResourceRecordSetFailover, value string, check *string) *types.ResourceRecordSet {
		return &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA, TTL: aws.Int64(1),
			SetIdentifier: aws.String(string(failover)), Failover: failover, HealthCheckId: check,
			ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}}
	}
	_, err = client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &types.ChangeBatch{Changes: []types.Change{
			{Action: types.ChangeActionUpsert, ResourceRecordSet: set(types.ResourceRecordSetFailoverPrimary, primary, hc.HealthCheck.Id)},
			{Action: types.ChangeActionUpsert, ResourceRecordSet: set(types.ResourceRecordSetFailoverSecondary, secondary, nil)}}}})
	if err != nil {
		return s, err
	}
	// Generous limits: a sample beyond them is a failure of the run.
	limit := 3*c.Bound() + 10*time.Second
	if _, err := waitFor(ctx, p, primary, o.Poll, limit); err != nil {
		return s, fmt.Errorf("the primary never answered: %w", err)
	}
	// A random pause before each change spreads the changes over the probe
	// schedule (a fixed one would always hit the same phase of it).
	pause := func() { time.Sleep(o.Settle + rand.N(time.Duration(c.Interval)*time.Second)) }
	for cycle := range c.Cycles {
		pause()
		reg.down()
		d, err := waitFor(ctx, p, secondary, o.Poll, limit)
		if err != nil {
			return s, fmt.Errorf("check %ds x %d, cycle %d: %w", c.Interval, c.Threshold, cycle+1, err)
		}
		s.Failover = append(s.Failover, d)
		pause()
		if err := reg.up(); err != nil {
			return s, err
		}
		d2, err := waitFor(ctx, p, primary, o.Poll, limit)
		if err != nil {
			return s, fmt.Errorf("check %ds x %d, cycle %d (restore): %w", c.Interval, c.Threshold, cycle+1, err)
		}
		s.Restore = append(s.Restore, d2)
		o.logf("check %2ds x %d  cycle %2d  failover %6.2fs  restore %6.2fs", c.Interval, c.Threshold, cycle+1, d.Seconds(), d2.Seconds())
	}
	return s, nil
}

// waitFor polls the name until it answers want, and returns how long that
// took.
func waitFor(ctx context.Context, p *serveproc.Portico, want string, poll, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	c := &dns.Client{Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	for time.Since(start) < limit && ctx.Err() == nil {
		if r, _, err := c.Exchange(m, p.DNS.String()); err == nil && len(r.Answer) == 1 {
			if a, ok := r.Answer[0].(*dns.A); ok && a.A.String() == want {
				return time.Since(start), nil
			}
		}
		time.Sleep(poll)
	}
	return 0, fmt.Errorf("%s did not answer %s within %s", name, want, limit)
}
