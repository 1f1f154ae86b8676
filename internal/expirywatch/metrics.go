package expirywatch

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MetricName is the gauge of days left before each certificate expires.
const MetricName = "portico_certificate_days_to_expiry"

// labelEscaper escapes a label value as the Prometheus text format wants.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// ServeHTTP serves the gauge in the Prometheus text exposition format
// (0.0.4), computed from the last pass's certificates and the current
// time: fractional days, negative once a certificate has expired (so an
// alert on "< N" keeps firing instead of going quiet, unlike ACM's metric,
// which stops at expiry). Mount it at /metrics.
func (w *Watcher) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var b strings.Builder
	b.WriteString("# HELP " + MetricName + " Days until the certificate expires (its NotAfter), fractional; negative once expired.\n")
	b.WriteString("# TYPE " + MetricName + " gauge\n")
	now := w.now()
	if certs := w.certs.Load(); certs != nil {
		for _, c := range *certs {
			days := c.NotAfter.Sub(now).Seconds() / (24 * time.Hour).Seconds()
			b.WriteString(MetricName + `{certificate_arn="` + labelEscaper.Replace(c.ARN) + `"} `)
			b.WriteString(strconv.FormatFloat(days, 'f', 4, 64))
			b.WriteByte('\n')
		}
	}
	rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	rw.Write([]byte(b.String()))
}
