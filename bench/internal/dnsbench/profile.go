package dnsbench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/miekg/dns"

	"github.com/portico-iot/portico/internal/dnsserver"
)

// Profile runs Portico's DNS server in this process, on the zone the
// benchmark creates (built directly, without the store), while dnsperf asks
// it for the names of kind for o.Duration, and writes a CPU profile of the
// server to path. It returns dnsperf's queries/s.
func Profile(ctx context.Context, o Options, kind, path string) (float64, error) {
	dnsperf, err := lookTool("dnsperf")
	if err != nil {
		return 0, err
	}
	soa, _ := dns.NewRR(zoneName + ". 900 IN SOA ns1.portico.internal. hostmaster.portico.internal. 1 7200 900 1209600 86400")
	z := dnsserver.Zone{Origin: zoneName, Records: []dns.RR{soa}}
	prefix := "s"
	for i := range o.Names {
		rr, _ := dns.NewRR(fmt.Sprintf("s%d.%s. 300 IN A 192.0.2.%d", i, zoneName, 1+i%250))
		z.Records = append(z.Records, rr)
		p, _ := dns.NewRR(fmt.Sprintf("f%d.%s. 300 IN A %s", i, zoneName, primaryAddress))
		s, _ := dns.NewRR(fmt.Sprintf("f%d.%s. 300 IN A %s", i, zoneName, secondaryAddress))
		z.Groups = append(z.Groups, dnsserver.RecordGroup{Name: fmt.Sprintf("f%d.%s.", i, zoneName), Type: dns.TypeA, Policy: dnsserver.PolicyFailover,
			Members: []dnsserver.Member{{ID: "primary", HealthCheck: "hc", Records: []dns.RR{p}}, {ID: "secondary", Secondary: true, Records: []dns.RR{s}}}})
	}
	if kind == KindFailover {
		prefix = "f"
	}
	srv := dnsserver.New(dnsserver.Config{Addr: "127.0.0.1:0", Source: dnsserver.SourceFunc(func(context.Context) ([]dnsserver.Zone, uint64, error) {
		return []dnsserver.Zone{z}, 1, nil
	})})
	if err := srv.Listen(); err != nil {
		return 0, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx, nil) }()
	defer func() { cancel(); <-done }()
	addr := srv.UDPAddr().(*net.UDPAddr)

	queries, err := os.CreateTemp("", "dnsbench-*.queries")
	if err != nil {
		return 0, err
	}
	defer os.Remove(queries.Name())
	for i := range o.Names {
		fmt.Fprintf(queries, "%s%d.%s A\n", prefix, i, zoneName)
	}
	queries.Close()
	time.Sleep(100 * time.Millisecond) // Run loads, then serves

	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, err
	}
	out, err := exec.CommandContext(ctx, dnsperf, "-s", addr.IP.String(), "-p", strconv.Itoa(addr.Port), "-d", queries.Name(),
		"-l", strconv.Itoa(int(o.Duration.Seconds())), "-c", strconv.Itoa(o.Clients), "-T", strconv.Itoa(o.Threads),
		"-q", strconv.Itoa(o.Outstanding)).CombinedOutput()
	pprof.StopCPUProfile()
	if err != nil {
		return 0, fmt.Errorf("dnsperf: %w\n%s", err, out)
	}
	var run Run
	if err := parseDnsperf(string(out), &run); err != nil {
		return 0, err
	}
	return run.QPS, nil
}
