// Package dnsbench measures Portico's authoritative DNS server with dnsperf
// against Knot DNS serving the same zone, in one run, on loopback.
//
// Portico is the real `portico serve` binary (built from this checkout); the
// zone is created through its Route 53 API: static A records and failover
// pairs (PRIMARY with a TCP health check on a live local port, SECONDARY).
// Knot (knotd) is a secondary of Portico: it transfers the zone by AXFR, so
// both serve the same content (a failover name reaches Knot as the record
// Portico currently answers). dnsperf then asks each server for the static
// names and for the failover names, sides alternating round by round.
package dnsbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/serveproc"
)

// Options configure a run.
type Options struct {
	// Duration bounds each dnsperf run (-l); Runs is how many rounds of
	// the four measurements (2 servers x 2 record kinds) are made.
	Duration time.Duration
	Runs     int
	// Names is how many static names and how many failover names the zone
	// holds; the query files ask each once per pass, in order.
	Names int
	// Clients (-c), Threads (-T) and Outstanding (-q) shape dnsperf's load.
	Clients, Threads, Outstanding int
	// Portico is the portico binary; empty builds ./cmd/portico.
	Portico string
	// KnotWorkers is knotd's udp-workers; 0 leaves Knot's default (one per
	// core).
	KnotWorkers int
	// Log receives progress; nil discards it.
	Log func(format string, args ...any)
}

// Defaults are the documented settings.
func Defaults() Options {
	return Options{Duration: 10 * time.Second, Runs: 4, Names: 100, Clients: 4, Threads: 1, Outstanding: 100}
}

// Sides and record kinds.
const (
	SidePortico  = "Portico"
	SideKnot     = "Knot"
	KindStatic   = "static A"
	KindFailover = "failover A"
)

// Goals of issue 5.
const (
	GoalVsKnot       = 0.5
	GoalFailover     = 0.9
	zoneName         = "bench.example"
	primaryAddress   = "192.0.2.1"
	secondaryAddress = "198.51.100.1"
)

// Run is one dnsperf run.
type Run struct {
	Round   int
	Side    string
	Kind    string
	QPS     float64
	Sent    int
	Lost    int
	Latency time.Duration // average
	Load    string        // 1-minute load average before the run
}

// Result is a whole run.
type Result struct {
	Options  Options
	Date     string
	Versions map[string]string
	Commands []string // the dnsperf and knotd command lines (ports as run)
	Checks   []string // dig-style answers checked before measuring
	Runs     []Run
	Took     time.Duration
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// lookTool finds a tool on PATH or in the sbin directories.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	pkg := map[string]string{"knotd": "knot", "dnsperf": "dnsperf"}[name]
	return "", fmt.Errorf("%s is not installed (apt-get install %s)", name, pkg)
}

// Available reports whether dnsperf and knotd are installed (Debian
// packages dnsperf and knot), as Execute needs.
func Available() error {
	for _, tool := range []string{"dnsperf", "knotd"} {
		if _, err := lookTool(tool); err != nil {
			return err
		}
	}
	return nil
}

// Execute runs the benchmark.
func Execute(ctx context.Context, o Options) (*Result, error) {
	began := time.Now()
	res := &Result{Options: o, Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Versions: map[string]string{}}
	dnsperf, err := lookTool("dnsperf")
	if err != nil {
		return nil, err
	}
	knotd, err := lookTool("knotd")
	if err != nil {
		return nil, err
	}
	dir, bin, err := serveproc.Workdir(ctx, "dnsbench-", o.Portico, o.logf)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.Portico = bin
	res.Versions["knotd"] = firstLine(exec.Command(knotd, "--version"))
	res.Versions["dnsperf"] = dnsperfVersion(dnsperf)
	res.Versions["portico"] = firstLine(exec.Command(o.Portico, "version"))

	// Addresses: Portico on 127.0.0.1, Knot on 127.0.0.2.
	knotPort, err := serveproc.FreePort("127.0.0.2")
	if err != nil {
		return nil, err
	}
	knotDNS := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(knotPort))

	// The region behind the PRIMARYs: a live TCP port, so the health check
	// stays healthy and is probed all along.
	region, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer region.Close()
	go func() {
		for {
			c, err := region.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	portico, err := serveproc.StartPortico(ctx, o.Portico, dir, "127.0.0.1", "--dns-transfer-allow", "127.0.0.0/8", "--dns-notify", knotDNS.String())
	if err != nil {
		return nil, err
	}
	defer portico.Stop()
	porticoDNS := portico.DNS
	o.logf("portico serve: API %s, DNS %s", portico.API, porticoDNS)
	if err := createZone(ctx, portico.Route53(), o.Names, region.Addr().(*net.TCPAddr).Port); err != nil {
		return nil, fmt.Errorf("creating the zone: %w\n%s", err, portico.Log())
	}

	knot, knotCmd, err := startKnot(ctx, knotd, dir, knotDNS, porticoDNS, o.KnotWorkers)
	if err != nil {
		return nil, err
	}
	defer knot.Stop()
	res.Commands = append(res.Commands, knotCmd)
	o.logf("knotd: %s", knotDNS)

	// Both serve the zone, the same answers.
	last := fmt.Sprintf("f%d.%s.", o.Names-1, zoneName)
	for _, side := range []netip.AddrPort{porticoDNS, knotDNS} {
		if err := waitAnswer(ctx, side, last, primaryAddress, 20*time.Second); err != nil {
			return nil, fmt.Errorf("%s: %w\nknotd log:\n%s", side, err, knot.Log())
		}
	}
	for _, q := range []string{"s0." + zoneName + ".", "f0." + zoneName + "."} {
		for _, side := range []struct {
			name string
			addr netip.AddrPort
		}{{SidePortico, porticoDNS}, {SideKnot, knotDNS}} {
			ans, err := answer(side.addr, q)
			if err != nil {
				return nil, err
			}
			res.Checks = append(res.Checks, fmt.Sprintf("%-8s %s", side.name, ans))
		}
	}

	files := map[string]string{}
	for kind, prefix := range map[string]string{KindStatic: "s", KindFailover: "f"} {
		path := filepath.Join(dir, prefix+".queries")
		var b strings.Builder
		for i := range o.Names {
			fmt.Fprintf(&b, "%s%d.%s A\n", prefix, i, zoneName)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		files[kind] = path
	}

	addrs := map[string]netip.AddrPort{SidePortico: porticoDNS, SideKnot: knotDNS}
	// The four runs of a round in a cycle, rotated by one each round (a
	// Latin square over four rounds): each pair a ratio compares runs next
	// to each other in most rounds (the machine's background load drifts),
	// and every run takes every position.
	order := [][2]string{{SidePortico, KindStatic}, {SideKnot, KindStatic}, {SideKnot, KindFailover}, {SidePortico, KindFailover}}
	for round := range o.Runs {
		for i := range order {
			step := order[(i+round)%len(order)]
			run, cmd, err := measure(ctx, dnsperf, o, addrs[step[0]], files[step[1]])
			if err != nil {
				return nil, err
			}
			run.Round, run.Side, run.Kind = round+1, step[0], step[1]
			if round == 0 {
				res.Commands = append(res.Commands, cmd+"  # "+run.Side+", "+run.Kind)
			}
			o.logf("round %d %-7s %-10s %9.0f q/s  lost %d  avg %v  (load %s)", run.Round, run.Side, run.Kind, run.QPS, run.Lost, run.Latency, run.Load)
			res.Runs = append(res.Runs, run)
		}
	}
	res.Took = time.Since(began)
	return res, nil
}

// measure runs dnsperf once against addr with the query file; it returns
// the run and the command line.
func measure(ctx context.Context, dnsperf string, o Options, addr netip.AddrPort, queries string) (Run, string, error) {
	if err := ctx.Err(); err != nil {
		return Run{}, "", err
	}
	args := []string{"-s", addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())), "-d", queries,
		"-l", strconv.Itoa(int(o.Duration.Seconds())), "-c", strconv.Itoa(o.Clients), "-T", strconv.Itoa(o.Threads),
		"-q", strconv.Itoa(o.Outstanding)}
	run := Run{Load: machine.LoadAverage()}
	out, err := exec.CommandContext(ctx, dnsperf, args...).CombinedOutput()
	if err != nil {
		return run, "", fmt.Errorf("dnsperf %v: %w\n%s", args, err, out)
	}
	if err := parseDnsperf(string(out), &run); err != nil {
		return run, "", fmt.Errorf("dnsperf output: %w\n%s", err, out)
	}
	return run, "dnsperf " + strings.Join(args, " "), nil
}

func firstLine(cmd *exec.Cmd) string {
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func dnsperfVersion(path string) string {
	out, _ := exec.Command(path, "-h").CombinedOutput()
	if m := regexp.MustCompile(`Version (\S+)`).FindSubmatch(out); m != nil {
		return "dnsperf " + string(m[1])
	}
	return "dnsperf"
}

// createZone creates the zone: n static names s<i> and n failover names
// f<i> (PRIMARY behind a TCP health check of port, SECONDARY plain).
func createZone(ctx context.Context, client *route53.Client, n, port int) error {
	z, err := client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String(zoneName), CallerReference: aws.String("dnsbench")})
	if err != nil {
		return err
	}
	hc, err := client.CreateHealthCheck(ctx, &route53.CreateHealthCheckInput{CallerReference: aws.String("dnsbench-primary"),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, IPAddress: aws.String("127.0.0.1"),
			Port: aws.Int32(int32(port)), RequestInterval: aws.Int32(10), FailureThreshold: aws.Int32(3)}})
	if err != nil {
		return err
	}
	var changes []types.Change
	a := func(name, value string) *types.ResourceRecordSet {
		return &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA, TTL: aws.Int64(300),
			ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}}
	}
	for i := range n {
		changes = append(changes, types.Change{Action: types.ChangeActionCreate,
			ResourceRecordSet: a(fmt.Sprintf("s%d.%s", i, zoneName), fmt.Sprintf("192.0.2.%d", 1+i%250))})
		p := a(fmt.Sprintf("f%d.%s", i, zoneName), primaryAddress)
		p.SetIdentifier, p.Failover, p.HealthCheckId = aws.String("primary"), types.ResourceRecordSetFailoverPrimary, hc.HealthCheck.Id
		s := a(fmt.Sprintf("f%d.%s", i, zoneName), secondaryAddress)
		s.SetIdentifier, s.Failover = aws.String("secondary"), types.ResourceRecordSetFailoverSecondary
		changes = append(changes, types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: p},
			types.Change{Action: types.ChangeActionCreate, ResourceRecordSet: s})
	}
	for len(changes) > 0 {
		batch := changes[:min(len(changes), 900)]
		changes = changes[len(batch):]
		if _, err := client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: z.HostedZone.Id,
			ChangeBatch: &types.ChangeBatch{Changes: batch}}); err != nil {
			return err
		}
	}
	return nil
}

// startKnot runs knotd as a secondary of primary; it returns the process
// and its command line.
func startKnot(ctx context.Context, knotd, dir string, addr, primary netip.AddrPort, workers int) (*serveproc.Process, string, error) {
	kdir := filepath.Join(dir, "knot")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, "", err
	}
	w := ""
	if workers > 0 {
		w = fmt.Sprintf("    udp-workers: %d\n", workers)
	}
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: %[2]s@%[3]d
%[6]slog:
  - target: stderr
    any: warning
database:
    storage: "%[1]s/db"
remote:
  - id: portico
    address: %[4]s@%[5]d
acl:
  - id: portico_notify
    address: %[4]s
    action: notify
template:
  - id: default
    storage: "%[1]s/zones"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
zone:
  - domain: %[7]s
    master: portico
    acl: portico_notify
`, kdir, addr.Addr(), addr.Port(), primary.Addr(), primary.Port(), w, zoneName)
	path := filepath.Join(kdir, "knot.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, "", err
	}
	p, err := serveproc.Start("knotd", exec.CommandContext(ctx, knotd, "-c", path))
	if err != nil {
		return nil, "", err
	}
	return p, "knotd -c knot.conf  # secondary of Portico (AXFR), " + map[bool]string{true: "udp-workers default (one per core)", false: fmt.Sprintf("udp-workers %d", workers)}[workers == 0], nil
}

func answer(server netip.AddrPort, name string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.RecursionDesired = false
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, server.String())
	if err != nil {
		return "", err
	}
	var parts []string
	for _, rr := range r.Answer {
		parts = append(parts, strings.Join(strings.Fields(rr.String()), " "))
	}
	flags := ""
	if r.Authoritative {
		flags = "aa "
	}
	return fmt.Sprintf("%s%s: %s", flags, dns.RcodeToString[r.Rcode], strings.Join(parts, "; ")), nil
}

func waitAnswer(ctx context.Context, server netip.AddrPort, name, want string, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		got, err := answer(server, name)
		if err == nil && strings.HasSuffix(got, " "+want) {
			return nil
		}
		last = fmt.Sprint(got, err)
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s A not %s within %v (last: %s)", name, want, within, last)
}

var (
	qpsLine     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	sentLine    = regexp.MustCompile(`Queries sent:\s+(\d+)`)
	lostLine    = regexp.MustCompile(`Queries lost:\s+(\d+)`)
	latencyLine = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
)

// parseDnsperf reads dnsperf's statistics.
func parseDnsperf(out string, r *Run) error {
	m := qpsLine.FindStringSubmatch(out)
	if m == nil {
		return errors.New("no 'Queries per second' line")
	}
	r.QPS, _ = strconv.ParseFloat(m[1], 64)
	if m := sentLine.FindStringSubmatch(out); m != nil {
		r.Sent, _ = strconv.Atoi(m[1])
	}
	if m := lostLine.FindStringSubmatch(out); m != nil {
		r.Lost, _ = strconv.Atoi(m[1])
	}
	if m := latencyLine.FindStringSubmatch(out); m != nil {
		s, _ := strconv.ParseFloat(m[1], 64)
		r.Latency = time.Duration(s * float64(time.Second))
	}
	// Answers with an rcode other than NOERROR mean the zone is not served.
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "Response codes:") && !strings.Contains(line, "NOERROR") {
			return fmt.Errorf("answers were not NOERROR: %s", line)
		}
		if strings.HasPrefix(line, "Response codes:") && strings.Contains(line, ",") {
			return fmt.Errorf("some answers were not NOERROR: %s", line)
		}
	}
	return nil
}
