package zonedns_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/apitest"
	r53 "github.com/portico-iot/portico/internal/awsapi/route53"
	"github.com/portico-iot/portico/internal/dnsserver"
	"github.com/portico-iot/portico/internal/health"
	"github.com/portico-iot/portico/internal/lockedbuf"
	"github.com/portico-iot/portico/internal/store/storetest"
	"github.com/portico-iot/portico/internal/zone"
	"github.com/portico-iot/portico/internal/zonedns"
)

// lookTool finds a tool on PATH or in the sbin directories Debian installs
// daemons to.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/sbin", name)
}

// freeLoopback returns a loopback address and a port free for UDP and TCP.
func freeLoopback(t *testing.T) netip.AddrPort {
	t.Helper()
	for range 50 {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(100 + rand.IntN(150))})
		ln, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			continue
		}
		ap := netip.MustParseAddrPort(ln.Addr().String())
		pc, err := net.ListenPacket("udp", ap.String())
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return ap
	}
	t.Fatal("no free loopback address and port")
	return netip.AddrPort{}
}

// knot is a knotd process serving as a secondary of Portico.
type knot struct {
	addr netip.AddrPort
	cmd  *exec.Cmd
	log  *lockedbuf.Buffer
}

// startKnot configures knotd in a temporary directory as a secondary of
// primary for zones, accepting NOTIFY from notifyFrom.
func startKnot(t *testing.T, knotd string, primary netip.AddrPort, notifyFrom netip.Addr, zones ...string) *knot {
	t.Helper()
	dir := t.TempDir()
	addr := freeLoopback(t)
	var zoneConf strings.Builder
	for _, z := range zones {
		fmt.Fprintf(&zoneConf, "  - domain: %s\n    master: portico\n    acl: portico_notify\n", z)
	}
	conf := fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: %[2]s@%[3]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "%[1]s/db"
remote:
  - id: portico
    address: %[4]s@%[5]d
acl:
  - id: portico_notify
    address: %[6]s
    action: notify
template:
  - id: default
    storage: "%[1]s/zones"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
zone:
%[7]s`, dir, addr.Addr(), addr.Port(), primary.Addr(), primary.Port(), notifyFrom, zoneConf.String())
	path := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	k := &knot{addr: addr, log: &lockedbuf.Buffer{}}
	k.cmd = exec.Command(knotd, "-c", path)
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("knotd: %v", err)
	}
	t.Cleanup(func() {
		k.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			k.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("knotd log:\n%s", k.log.String())
		}
	})
	return k
}

// dig asks server (ip:port) over UDP and returns the answer section's
// records, sorted, TTLs included.
func dig(t *testing.T, path string, server netip.AddrPort, name, qtype string) []string {
	t.Helper()
	out, err := exec.Command(path, "@"+server.Addr().String(), "-p", strconv.Itoa(int(server.Port())),
		"+norecurse", "+time=2", "+tries=1", "+noall", "+answer", name, qtype).CombinedOutput()
	if err != nil {
		// Timeouts happen while knotd starts; the caller polls.
		return []string{"error: " + strings.TrimSpace(string(out))}
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" && !strings.HasPrefix(l, ";") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

func waitDig(t *testing.T, what string, within time.Duration, get func() []string, want []string) time.Duration {
	t.Helper()
	start := time.Now()
	var got []string
	for time.Since(start) < within {
		if got = get(); slices.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: after %v got %q, want %q", what, within, got, want)
	return 0
}

// TestKnotSecondary runs a real Knot DNS (knotd) as a secondary of
// Portico's DNS server: it transfers the hosted zone, answers dig like
// Portico does, and serves a change made through the Route 53 API within
// seconds, prompted by NOTIFY (its SOA refresh timer is two hours).
func TestKnotSecondary(t *testing.T) {
	knotd, err := lookTool("knotd")
	apitest.RequireTool(t, "knotd (Debian knot)", err)
	digPath, err := lookTool("dig")
	apitest.RequireTool(t, "dig (Debian bind9-dnsutils)", err)

	ctx, cancel := context.WithCancel(context.Background())
	st := storetest.New(t)
	zones, err := zone.NewService(ctx, st, []string{"ns1.portico.example", "ns2.portico.example"})
	if err != nil {
		t.Fatal(err)
	}
	checks, err := health.NewService(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	zones.HealthCheckExists = checks.Exists
	checker := &health.Checker{TCPTimeout: time.Second, ConnectTimeout: time.Second, ResponseTimeout: time.Second, BodyTimeout: time.Second}

	// The region behind the PRIMARY: a TCP port the health check probes.
	region, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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

	// Portico's DNS on 127.0.0.1; knotd is given its own 127.0.0.x. The
	// NOTIFY target is only known once knotd's address is chosen, so the
	// server is created after it (knotd retries its first transfer).
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		if err != nil {
			pc.Close()
			if attempt == 20 {
				t.Fatalf("no port free for both UDP and TCP: %v", err)
			}
		}
	}
	portico := netip.MustParseAddrPort(pc.LocalAddr().String())
	k := startKnot(t, knotd, portico, portico.Addr(), "yourcompany.com")

	srv := dnsserver.New(dnsserver.Config{PacketConn: pc, Listener: ln, Source: zonedns.Source(zones), Health: checker,
		TransferAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Notify: []netip.AddrPort{k.addr}})
	checker.OnChange = srv.HealthChanged
	zones.Served = srv.Served
	dnsChanges, cancelDNS := st.Subscribe()
	hcChanges, cancelHC := st.Subscribe()
	dnsDone, hcDone := make(chan error, 1), make(chan error, 1)
	go func() { dnsDone <- srv.Run(ctx, dnsChanges) }()
	go func() { hcDone <- checker.Run(ctx, checks.All, hcChanges) }()
	defer func() {
		cancel()
		if err := <-dnsDone; err != nil {
			t.Error(err)
		}
		<-hcDone
		cancelDNS()
		cancelHC()
	}()
	api := apitest.Start(t, func(s *awsapi.Server) { r53.RegisterWithHealth(s, zones, checks, checker, apitest.Logger()) })
	client := route53.NewFromConfig(api.Config)

	// The zone: plain records and a failover pair behind a health check.
	created, err := client.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("yourcompany.com"), CallerReference: aws.String("knot")})
	if err != nil {
		t.Fatal(err)
	}
	zoneID := created.HostedZone.Id
	port := int32(region.Addr().(*net.TCPAddr).Port)
	hc, err := client.CreateHealthCheck(ctx, &route53.CreateHealthCheckInput{CallerReference: aws.String("east"),
		HealthCheckConfig: &types.HealthCheckConfig{Type: types.HealthCheckTypeTcp, IPAddress: aws.String("127.0.0.1"), Port: aws.Int32(port),
			RequestInterval: aws.Int32(1), FailureThreshold: aws.Int32(1)}})
	if err != nil {
		t.Fatal(err)
	}
	set := func(name, value string, mutate ...func(*types.ResourceRecordSet)) types.Change {
		rs := &types.ResourceRecordSet{Name: aws.String(name), Type: types.RRTypeA, TTL: aws.Int64(60),
			ResourceRecords: []types.ResourceRecord{{Value: aws.String(value)}}}
		for _, m := range mutate {
			m(rs)
		}
		return types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: rs}
	}
	change := func(changes ...types.Change) {
		t.Helper()
		if _, err := client.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: zoneID,
			ChangeBatch: &types.ChangeBatch{Changes: changes}}); err != nil {
			t.Fatal(err)
		}
	}
	change(
		set("www.yourcompany.com", "192.0.2.10"),
		set("iot.yourcompany.com", "192.0.2.21", func(rs *types.ResourceRecordSet) {
			rs.SetIdentifier, rs.Failover, rs.HealthCheckId = aws.String("east"), types.ResourceRecordSetFailoverPrimary, hc.HealthCheck.Id
		}),
		set("iot.yourcompany.com", "192.0.2.22", func(rs *types.ResourceRecordSet) {
			rs.SetIdentifier, rs.Failover = aws.String("west"), types.ResourceRecordSetFailoverSecondary
		}),
		types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: &types.ResourceRecordSet{Name: aws.String("yourcompany.com"),
			Type: types.RRTypeMx, TTL: aws.Int64(300), ResourceRecords: []types.ResourceRecord{{Value: aws.String("10 mail.yourcompany.com")}}}},
	)

	fromKnot := func(name, qtype string) func() []string {
		return func() []string { return dig(t, digPath, k.addr, name, qtype) }
	}
	// knotd transfers the zone: it answers, and like Portico.
	waitDig(t, "knotd serving the transferred zone", 15*time.Second, fromKnot("www.yourcompany.com", "A"),
		[]string{"www.yourcompany.com. 60 IN A 192.0.2.10"})
	for _, q := range [][2]string{{"yourcompany.com", "SOA"}, {"yourcompany.com", "NS"}, {"yourcompany.com", "MX"},
		{"www.yourcompany.com", "A"}, {"iot.yourcompany.com", "A"}} {
		want := dig(t, digPath, portico, q[0], q[1])
		if len(want) == 0 || strings.HasPrefix(want[0], "error") {
			t.Fatalf("Portico %s %s: %q", q[0], q[1], want)
		}
		waitDig(t, "knotd like Portico for "+q[0]+" "+q[1], 5*time.Second, fromKnot(q[0], q[1]), want)
	}
	if got := dig(t, digPath, k.addr, "iot.yourcompany.com", "A"); !slices.Equal(got, []string{"iot.yourcompany.com. 60 IN A 192.0.2.21"}) {
		t.Errorf("knotd's failover answer %q, want the healthy PRIMARY", got)
	}

	// A change through the Route 53 API reaches knotd by NOTIFY, and an
	// incremental transfer.
	logged := len(k.log.String())
	start := time.Now()
	change(set("new.yourcompany.com", "192.0.2.99"))
	took := waitDig(t, "knotd serving the change", 5*time.Second, fromKnot("new.yourcompany.com", "A"),
		[]string{"new.yourcompany.com. 60 IN A 192.0.2.99"})
	t.Logf("change served by knotd %v after ChangeResourceRecordSets (%v after it returned)", time.Since(start), took)
	if since := k.log.String()[logged:]; !strings.Contains(since, "IXFR, incoming") || strings.Contains(since, "AXFR-style") {
		t.Errorf("knotd did not take the change as an incremental IXFR:\n%s", since)
	}

	// The region dies: the health check fails, Portico's answer and serial
	// change, and knotd follows.
	region.Close()
	took = waitDig(t, "knotd serving the SECONDARY", 10*time.Second, fromKnot("iot.yourcompany.com", "A"),
		[]string{"iot.yourcompany.com. 60 IN A 192.0.2.22"})
	t.Logf("failover served by knotd %v after the region closed", took)
	if a, b := dig(t, digPath, portico, "yourcompany.com", "SOA"), dig(t, digPath, k.addr, "yourcompany.com", "SOA"); !slices.Equal(a, b) {
		t.Errorf("SOA differs: Portico %q, knotd %q", a, b)
	}
}
