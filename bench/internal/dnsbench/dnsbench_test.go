package dnsbench

import (
	"strings"
	"testing"
	"time"
)

const dnsperfOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 41933 -d s.queries -l 3 -c 4 -T 1 -q 100
[Status] Sending queries (to 127.0.0.1:41933)
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         244215
  Queries completed:    244215 (100.00%)
  Queries lost:         0 (0.00%)

  Response codes:       NOERROR 244215 (100.00%)
  Average packet size:  request 34, response 50
  Run time (s):         3.000561
  Queries per second:   81390.5

  Average Latency (s):  0.001070 (min 0.000024, max 0.006851)
  Latency StdDev (s):   0.000435
`

func TestParseDnsperf(t *testing.T) {
	var r Run
	if err := parseDnsperf(dnsperfOutput, &r); err != nil {
		t.Fatal(err)
	}
	if r.QPS != 81390.5 || r.Sent != 244215 || r.Lost != 0 || r.Latency != 1070*time.Microsecond {
		t.Errorf("parsed %+v", r)
	}
	refused := strings.Replace(dnsperfOutput, "NOERROR 244215 (100.00%)", "NOERROR 1 (0.00%), REFUSED 244214 (100.00%)", 1)
	if err := parseDnsperf(refused, &r); err == nil {
		t.Error("answers other than NOERROR accepted")
	}
	if err := parseDnsperf("dnsperf: no server", &r); err == nil {
		t.Error("output without statistics accepted")
	}
}

func TestRatios(t *testing.T) {
	r := &Result{Runs: []Run{
		{Round: 1, Side: SidePortico, Kind: KindStatic, QPS: 100}, {Round: 1, Side: SideKnot, Kind: KindStatic, QPS: 200},
		{Round: 1, Side: SideKnot, Kind: KindFailover, QPS: 200}, {Round: 1, Side: SidePortico, Kind: KindFailover, QPS: 90},
		{Round: 2, Side: SidePortico, Kind: KindStatic, QPS: 50}, {Round: 2, Side: SideKnot, Kind: KindStatic, QPS: 50},
		{Round: 2, Side: SideKnot, Kind: KindFailover, QPS: 50}, {Round: 2, Side: SidePortico, Kind: KindFailover, QPS: 50},
	}}
	if got := r.VsKnot(KindStatic); got != 0.75 {
		t.Errorf("Portico/Knot static = %v, want the median of 0.5 and 1", got)
	}
	if got := r.FailoverVsStatic(SidePortico); got != 0.95 {
		t.Errorf("failover/static = %v", got)
	}
	if !r.Met() {
		t.Error("goals reported missed")
	}
	if md := r.Markdown(); !strings.Contains(md, "| static A | 75 | 125 | **0.75x** |") {
		t.Errorf("markdown:\n%s", md)
	}
}
