package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFailoverFollowsHealth moves a name between regions by DNS alone: a
// PRIMARY/SECONDARY failover pair whose primary has an HTTP health check
// probing a real server (python's http.server, in the namespace). When the
// server stops, dig gets the secondary; when it comes back, the primary.
func TestFailoverFollowsHealth(t *testing.T) {
	requireTools(t, "aws", "dig", "python3", "curl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	ns.startPortico(t, bin, "--data-dir", filepath.Join(t.TempDir(), "data"), "--dns-addr", "127.0.0.1:53")

	region := ns.startBackground(t, "python3", "-m", "http.server", "--bind", "127.0.0.1", "8080")
	waitUntil(t, 10*time.Second, "the primary region's server", func() bool {
		return ns.run("curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/").err == nil
	})

	var hc struct{ HealthCheck struct{ Id string } }
	ns.aws(t, &hc, "route53", "create-health-check", "--caller-reference", "primary-region", "--health-check-config",
		`{"Type":"HTTP","IPAddress":"127.0.0.1","Port":8080,"ResourcePath":"/","RequestInterval":10,"FailureThreshold":1}`)
	var zone struct{ HostedZone struct{ Id string } }
	ns.aws(t, &zone, "route53", "create-hosted-zone", "--name", "yourcompany.com", "--caller-reference", "failover")
	batch := `{"Changes":[
	 {"Action":"CREATE","ResourceRecordSet":{"Name":"iot.yourcompany.com","Type":"A","TTL":5,"SetIdentifier":"us-east-1",
	  "Failover":"PRIMARY","HealthCheckId":"` + hc.HealthCheck.Id + `","ResourceRecords":[{"Value":"127.0.0.10"}]}},
	 {"Action":"CREATE","ResourceRecordSet":{"Name":"iot.yourcompany.com","Type":"A","TTL":5,"SetIdentifier":"us-west-2",
	  "Failover":"SECONDARY","ResourceRecords":[{"Value":"127.0.0.20"}]}}]}`
	var change struct{ ChangeInfo struct{ Id string } }
	ns.aws(t, &change, "route53", "change-resource-record-sets", "--hosted-zone-id", zone.HostedZone.Id, "--change-batch", batch)
	waitInsync(t, ns, change.ChangeInfo.Id)

	answer := func() string {
		return strings.TrimSpace(ns.run("dig", "@127.0.0.1", "+short", "iot.yourcompany.com", "A").stdout)
	}
	status := func() string {
		var s struct {
			HealthCheckObservations []struct{ StatusReport struct{ Status string } }
		}
		ns.aws(t, &s, "route53", "get-health-check-status", "--health-check-id", hc.HealthCheck.Id)
		if len(s.HealthCheckObservations) == 0 {
			return ""
		}
		return s.HealthCheckObservations[0].StatusReport.Status
	}
	waitUntil(t, 10*time.Second, "the primary answer", func() bool { return answer() == "127.0.0.10" })
	waitUntil(t, 20*time.Second, "a successful observation", func() bool { return strings.HasPrefix(status(), "Success") })

	region.cmd.Process.Kill()
	waitUntil(t, 30*time.Second, "failover to the secondary", func() bool { return answer() == "127.0.0.20" })
	if s := status(); !strings.HasPrefix(s, "Failure") {
		t.Fatalf("status while the primary is down = %q", s)
	}
	for _, transport := range []string{"+notcp", "+tcp"} {
		if out := strings.TrimSpace(ns.ok(t, "dig", "@127.0.0.1", transport, "+short", "iot.yourcompany.com", "A")); out != "127.0.0.20" {
			t.Fatalf("dig %s = %q", transport, out)
		}
	}

	ns.startBackground(t, "python3", "-m", "http.server", "--bind", "127.0.0.1", "8080")
	waitUntil(t, 30*time.Second, "failing back to the primary", func() bool { return answer() == "127.0.0.10" })
}
