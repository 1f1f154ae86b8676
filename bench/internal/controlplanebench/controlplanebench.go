// Package controlplanebench measures Portico's management API against
// moto_server (the AWS mock most projects test against): the real
// `portico serve` and `moto_server`, both on 127.0.0.1, given the same
// domain configurations through the AWS SDK for Go v2, then asked
// DescribeDomainConfiguration by the same client code (C workers, random
// names) for a bounded time and count, over rounds that alternate which
// side goes first. The report gives calls/s, latency, the server's CPU
// time and the ratio Portico / moto (issue 8).
package controlplanebench

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/portico-iot/portico/bench/internal/machine"
	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/procstat"
	"github.com/portico-iot/portico/bench/internal/serveproc"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// The two sides.
const (
	SidePortico = "portico"
	SideMoto    = "moto"
)

// Region is the region both clients sign for.
const Region = "us-east-1"

// Options configure a run.
type Options struct {
	Configs  int           // domain configurations created on each side
	Workers  int           // concurrent callers
	Duration time.Duration // measured time per run (at most)
	MaxCalls int           // measured calls per run (at most)
	Warmup   time.Duration // unmeasured calls before each run
	Rounds   int           // each round measures both sides
	Portico  string        // binary; "" builds ./cmd/portico
	Moto     string        // moto_server; "" looks it up on PATH and in ~/.pyenv/shims
	Log      func(format string, args ...any)
}

// Defaults: 100 configurations, 8 workers, 3 rounds of 3 s after 1 s of
// warm-up.
func Defaults() Options {
	return Options{Configs: 100, Workers: 8, Duration: 3 * time.Second, MaxCalls: 2_000_000,
		Warmup: time.Second, Rounds: 3}
}

// Run is one measurement of one side.
type Run struct {
	Round    int
	Side     string
	Calls    int // successful calls
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration // latency of the successful calls
	CPU      time.Duration // the server's utime+stime over the run
	Load     string        // 1-minute load average before the run
}

// Rate is the run's successful calls per second.
func (r Run) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Result is a whole run.
type Result struct {
	Options   Options
	Date      string
	Versions  map[string]string // "portico", "moto", "go"
	Machine   machine.Info
	Runs      []Run
	ErrorText []string // the first distinct errors seen, side-prefixed
	Took      time.Duration
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}

// FindMoto returns the moto_server executable.
func FindMoto() (string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".pyenv", "shims", "moto_server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("moto_server is not installed (pip install 'moto[server]')")
}

// side is one server under test with its clients.
type side struct {
	name string
	pid  int
	iot  *iot.Client
	acm  *acm.Client
}

func clients(endpoint, key, secret string) (*iot.Client, *acm.Client) {
	creds := credentials.NewStaticCredentialsProvider(key, secret, "")
	return iot.New(iot.Options{Region: Region, BaseEndpoint: aws.String(endpoint), Credentials: creds}),
		acm.New(acm.Options{Region: Region, BaseEndpoint: aws.String(endpoint), Credentials: creds})
}

// Execute runs the benchmark.
func Execute(ctx context.Context, o Options) (*Result, error) {
	if o.Configs < 1 || o.Workers < 1 || o.Rounds < 1 || o.Duration <= 0 || o.MaxCalls < 1 {
		return nil, fmt.Errorf("controlplanebench: bad options %+v", o)
	}
	began := time.Now()
	res := &Result{Options: o, Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Machine: machine.Describe(),
		Versions: map[string]string{"portico": machine.GitRevision()}}
	res.Versions["go"] = res.Machine.GoVersion
	var err error
	if o.Moto == "" {
		if o.Moto, err = FindMoto(); err != nil {
			return nil, err
		}
	}
	res.Versions["moto"] = motoVersion(o.Moto)
	dir, bin, err := serveproc.Workdir(ctx, "controlplanebench-", o.Portico, o.logf)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.Portico = bin
	set, _, err := material.Load(1, 0)
	if err != nil {
		return nil, err
	}

	p, err := serveproc.StartPortico(ctx, o.Portico, dir, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	m, err := startMoto(ctx, o.Moto)
	if err != nil {
		return nil, err
	}
	defer m.stop()

	pi, pa := clients(p.API, serveproc.AccessKeyID, serveproc.SecretAccessKey)
	mi, ma := clients(m.endpoint, "AKIAMOTOBENCH0000001", "moto-accepts-any-secret")
	sides := map[string]*side{
		SidePortico: {name: SidePortico, pid: p.Cmd.Process.Pid, iot: pi, acm: pa},
		SideMoto:    {name: SideMoto, pid: m.cmd.Process.Pid, iot: mi, acm: ma},
	}
	names := make([]string, o.Configs)
	for i := range names {
		names[i] = fmt.Sprintf("cp%05d", i)
	}
	for _, s := range []*side{sides[SidePortico], sides[SideMoto]} {
		o.logf("%s: importing a certificate and creating %d domain configurations", s.name, o.Configs)
		if err := populate(ctx, s, set, names); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}

	errs := &errorLog{}
	for round := 1; round <= o.Rounds; round++ {
		order := []string{SidePortico, SideMoto}
		if round%2 == 0 {
			order = []string{SideMoto, SidePortico}
		}
		for _, name := range order {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s := sides[name]
			// Warm-up: the same loop, not recorded.
			measure(ctx, s.iot, names, o.Workers, o.Warmup, o.MaxCalls, nil)
			run := Run{Round: round, Side: name, Load: machine.LoadAverage()}
			cpu0, err := procstat.CPU(s.pid)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			st := measure(ctx, s.iot, names, o.Workers, o.Duration, o.MaxCalls, func(err error) { errs.add(name, err) })
			cpu1, err := procstat.CPU(s.pid)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			run.Calls, run.Errors, run.Elapsed, run.CPU = st.calls, st.errors, st.elapsed, cpu1-cpu0
			run.P50, run.P99 = st.percentile(50), st.percentile(99)
			res.Runs = append(res.Runs, run)
			o.logf("round %d  %-7s  %8.0f calls/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %5.2f s  errors %d",
				round, name, run.Rate(), ms(run.P50), ms(run.P99), run.CPU.Seconds(), run.Errors)
		}
	}
	res.ErrorText = errs.list()
	res.Took = time.Since(began)
	return res, nil
}

// populate imports the wildcard certificate of set into the side's ACM and
// creates one domain configuration per name, serving it, then checks that
// every name describes as created.
func populate(ctx context.Context, s *side, set *material.Set, names []string) error {
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: set.Wildcard.Cert})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: set.Wildcard.Key})
	chainPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: set.CA.Cert})
	imp, err := s.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: certPEM, PrivateKey: keyPEM, CertificateChain: chainPEM})
	if err != nil {
		return fmt.Errorf("ImportCertificate: %w", err)
	}
	for i, name := range names {
		_, err := s.iot.CreateDomainConfiguration(ctx, &iot.CreateDomainConfigurationInput{DomainConfigurationName: aws.String(name),
			DomainName: aws.String(material.DomainName(i)), ServerCertificateArns: []string{aws.ToString(imp.CertificateArn)}})
		if err != nil {
			return fmt.Errorf("CreateDomainConfiguration %s: %w", name, err)
		}
	}
	for i, name := range names {
		out, err := s.iot.DescribeDomainConfiguration(ctx, &iot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("DescribeDomainConfiguration %s: %w", name, err)
		}
		if got := aws.ToString(out.DomainName); got != material.DomainName(i) || len(out.ServerCertificates) != 1 {
			return fmt.Errorf("DescribeDomainConfiguration %s: domain %q with %d server certificates, want %q with 1", name, got,
				len(out.ServerCertificates), material.DomainName(i))
		}
	}
	return nil
}

// sample is what measure returns.
type sample struct {
	calls, errors int
	elapsed       time.Duration
	latencies     []time.Duration
}

func (s sample) percentile(p float64) time.Duration { return stats.Percentile(s.latencies, p) }

// measure calls DescribeDomainConfiguration on random names from workers
// goroutines until d has passed or max calls were started, and reports
// every error to onErr (when not nil).
func measure(ctx context.Context, client *iot.Client, names []string, workers int, d time.Duration, max int, onErr func(error)) sample {
	ctx, cancel := context.WithTimeout(ctx, d+10*time.Second)
	defer cancel()
	var started, failed atomic.Int64
	lat := make([][]time.Duration, workers)
	deadline := time.Now().Add(d)
	begin := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && started.Add(1) <= int64(max) && ctx.Err() == nil {
				in := &iot.DescribeDomainConfigurationInput{DomainConfigurationName: aws.String(names[rand.N(len(names))])}
				t0 := time.Now()
				_, err := client.DescribeDomainConfiguration(ctx, in)
				if err != nil {
					failed.Add(1)
					if onErr != nil {
						onErr(err)
					}
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	s := sample{elapsed: time.Since(begin), errors: int(failed.Load())}
	for _, l := range lat {
		s.latencies = append(s.latencies, l...)
	}
	s.calls = len(s.latencies)
	return s
}

// errorLog keeps the first few distinct error messages.
type errorLog struct {
	mu   sync.Mutex
	seen map[string]bool
	text []string
}

func (e *errorLog) add(side string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	msg := side + ": " + err.Error()
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if e.seen[msg] || len(e.text) >= 10 {
		return
	}
	e.seen[msg] = true
	e.text = append(e.text, msg)
}

func (e *errorLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.text...)
}

// moto is a running moto_server, in its own process group.
type moto struct {
	cmd      *exec.Cmd
	proc     *serveproc.Process
	endpoint string
	exited   chan struct{} // closed once the process is reaped
}

func startMoto(ctx context.Context, bin string) (*moto, error) {
	port, err := serveproc.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	proc, err := serveproc.Start("moto_server", cmd)
	if err != nil {
		return nil, err
	}
	m := &moto{cmd: cmd, proc: proc, endpoint: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{})}
	go func() { cmd.Wait(); close(m.exited) }()
	client, _ := clients(m.endpoint, "AKIAMOTOBENCH0000001", "moto-accepts-any-secret")
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := client.ListDomainConfigurations(ctx, &iot.ListDomainConfigurationsInput{})
		if err == nil {
			return m, nil
		}
		select {
		case <-m.exited:
			m.stop()
			return nil, fmt.Errorf("moto_server exited\n%s", proc.Log())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.stop()
			return nil, fmt.Errorf("moto_server did not answer: %w\n%s", err, proc.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends moto_server's whole process group: SIGTERM, then SIGKILL after
// 5 s, and SIGKILL again for anything of the group left behind.
func (m *moto) stop() {
	pgid := m.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(5 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-m.exited
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// motoVersion asks the Python next to moto_server (or python3 on PATH)
// for moto's version.
func motoVersion(bin string) string {
	py := filepath.Join(filepath.Dir(bin), "python3")
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	out, err := exec.Command(py, "-c", "import moto; print(moto.__version__)").Output()
	if err != nil {
		return "moto (version unknown)"
	}
	return "moto " + strings.TrimSpace(string(out))
}
