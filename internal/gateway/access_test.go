package gateway_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/gateway"
)

// A probe tries one way in and reports the outcome: "ok", "connack" (MQTT
// CONNACK not authorized), "alpn" (TLS alert no_application_protocol), or
// an HTTP status with its AWS error code ("403 ForbiddenException").
type probe struct {
	name string
	run  func(f *front) string
}

var probes = []probe{
	{"mqtt 8883", func(f *front) string { return mqttOutcome(f.mqttProbe(f.mqttAddr, dialOptions{cert: &f.device}, "")) }},
	{"mqtt 8883 alpn", func(f *front) string {
		return mqttOutcome(f.mqttProbe(f.mqttAddr, dialOptions{cert: &f.device, alpn: []string{"x-amzn-mqtt-ca"}}, ""))
	}},
	{"mqtt 443 x-amzn-mqtt-ca", func(f *front) string {
		return mqttOutcome(f.mqttProbe(f.alpnAddr, dialOptions{cert: &f.device, alpn: []string{"x-amzn-mqtt-ca"}}, ""))
	}},
	{"mqtt 443 mqtt", func(f *front) string {
		return mqttOutcome(f.mqttProbe(f.alpnAddr, dialOptions{alpn: []string{"mqtt"}}, "user?x-amz-customauthorizer-name=A"))
	}},
	{"https 443 x-amzn-http-ca", func(f *front) string {
		return httpOutcome(f.publishHTTP(f.alpnAddr, dialOptions{cert: &f.device, alpn: []string{"x-amzn-http-ca"}}, "/topics/t", false))
	}},
	{"https 443 http/1.1 sigv4", func(f *front) string {
		return httpOutcome(f.publishHTTP(f.alpnAddr, dialOptions{alpn: []string{"http/1.1"}}, "/topics/t", true))
	}},
	{"https 443 no alpn sigv4", func(f *front) string {
		return httpOutcome(f.publishHTTP(f.alpnAddr, dialOptions{}, "/topics/t", true))
	}},
	{"https 443 custom auth", func(f *front) string {
		return httpOutcome(f.publishHTTP(f.alpnAddr, dialOptions{}, "/topics/t?x-amz-customauthorizer-name=A", false))
	}},
	{"https 8443 certificate", func(f *front) string {
		return httpOutcome(f.publishHTTP(f.httpsAddr, dialOptions{cert: &f.device}, "/topics/t", false))
	}},
	{"https 8443 sigv4", func(f *front) string {
		return httpOutcome(f.publishHTTP(f.httpsAddr, dialOptions{}, "/topics/t", true))
	}},
	{"wss 443 sigv4", func(f *front) string {
		return upgradeOutcome(f, presignMQTT(f.t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{})
	}},
	{"wss 8443 certificate", func(f *front) string {
		return upgradeOutcome(f, "wss://"+f.httpsAddr+"/mqtt", dialOptions{cert: &f.device})
	}},
}

func mqttOutcome(s string) string {
	switch {
	case s == "connected":
		return "ok"
	case strings.Contains(s, "not Authorized"):
		return "connack"
	case strings.Contains(s, "no application protocol"):
		return "alpn"
	}
	return s
}

func httpOutcome(status int, _ string, err error) string {
	if err != nil {
		if strings.Contains(err.Error(), "no application protocol") {
			return "alpn"
		}
		return err.Error()
	}
	if status == 200 {
		return "ok"
	}
	return strconv.Itoa(status)
}

func upgradeOutcome(f *front, u string, o dialOptions) string {
	c, err := f.dial(strings.TrimPrefix(strings.Split(u, "/mqtt")[0], "wss://"), o)
	if err != nil {
		if strings.Contains(err.Error(), "no application protocol") {
			return "alpn"
		}
		return err.Error()
	}
	c.Close()
	resp := f.upgrade(f.t, u, o, []string{"mqtt"})
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return "ok"
	}
	return strconv.Itoa(resp.StatusCode)
}

// TestDomainAuthenticationAndProtocol drives every way in against a domain
// per authenticationType x applicationProtocol (docs/compatibility.md).
func TestDomainAuthenticationAndProtocol(t *testing.T) {
	all := func(outcome string) map[string]string {
		m := map[string]string{}
		for _, p := range probes {
			m[p.name] = outcome
		}
		return m
	}
	with := func(base map[string]string, changes ...string) map[string]string {
		for i := 0; i < len(changes); i += 2 {
			base[changes[i]] = changes[i+1]
		}
		return base
	}
	// What a domain that admits nothing on a channel answers: the ALPN
	// alert where the client offered ALPN, else a refusal in the protocol.
	refusedEverywhere := func() map[string]string {
		return with(all("alpn"),
			"mqtt 8883", "connack", "https 443 no alpn sigv4", "403", "https 443 custom auth", "403",
			"https 8443 certificate", "403", "https 8443 sigv4", "403", "wss 443 sigv4", "403", "wss 8443 certificate", "403")
	}
	cases := []struct {
		auth, proto string
		want        map[string]string
	}{
		{"DEFAULT", "DEFAULT", with(all("ok"), "mqtt 443 mqtt", "connack", "https 443 custom auth", "401")},
		{"AWS_X509", "SECURE_MQTT", with(refusedEverywhere(), "mqtt 8883", "ok", "mqtt 8883 alpn", "ok", "mqtt 443 x-amzn-mqtt-ca", "ok")},
		{"AWS_X509", "HTTPS", with(refusedEverywhere(), "https 443 x-amzn-http-ca", "ok", "https 8443 certificate", "ok")},
		{"AWS_X509", "DEFAULT", with(refusedEverywhere(), "mqtt 8883", "ok", "mqtt 8883 alpn", "ok", "mqtt 443 x-amzn-mqtt-ca", "ok",
			"https 443 x-amzn-http-ca", "ok", "https 8443 certificate", "ok", "wss 8443 certificate", "ok")},
		{"AWS_SIGV4", "HTTPS", with(refusedEverywhere(), "https 443 http/1.1 sigv4", "ok", "https 443 no alpn sigv4", "ok", "https 8443 sigv4", "ok")},
		{"AWS_SIGV4", "MQTT_WSS", with(refusedEverywhere(), "https 443 http/1.1 sigv4", "403", "wss 443 sigv4", "ok")},
		{"CUSTOM_AUTH", "SECURE_MQTT", with(refusedEverywhere(), "mqtt 443 mqtt", "connack", "mqtt 8883 alpn", "connack")},
		{"CUSTOM_AUTH", "HTTPS", with(refusedEverywhere(), "https 443 http/1.1 sigv4", "403", "https 443 custom auth", "401")},
		{"CUSTOM_AUTH_X509", "SECURE_MQTT", with(refusedEverywhere(), "mqtt 8883 alpn", "connack", "mqtt 443 x-amzn-mqtt-ca", "connack")},
		{"CUSTOM_AUTH_X509", "HTTPS", with(refusedEverywhere(), "https 443 x-amzn-http-ca", "401", "https 8443 certificate", "401")},
	}
	for _, tc := range cases {
		t.Run(tc.auth+"_"+tc.proto, func(t *testing.T) {
			t.Parallel()
			f := startFront(t, frontOptions{})
			f.src.update(fdDomain, func(d *gateway.Domain) { d.AuthenticationType, d.ApplicationProtocol = tc.auth, tc.proto })
			f.reload()
			for _, p := range probes {
				if got := p.run(f); got != tc.want[p.name] {
					t.Errorf("%s: %s, want %s", p.name, got, tc.want[p.name])
				}
			}
		})
	}
}

// A refusal says why, in the response and in the log.
func TestDomainRefusalExplains(t *testing.T) {
	f := startFront(t, frontOptions{})
	f.src.update(fdDomain, func(d *gateway.Domain) { d.AuthenticationType, d.ApplicationProtocol = "AWS_X509", "SECURE_MQTT" })
	f.reload()
	status, body, err := f.publishHTTP(f.alpnAddr, dialOptions{}, "/topics/t", true)
	if err != nil || status != 403 || !strings.Contains(body, "ForbiddenException") ||
		!strings.Contains(body, "allows only MQTT with a client certificate") {
		t.Fatalf("publish: %d %s %v", status, body, err)
	}
	if _, err := f.dial(f.alpnAddr, dialOptions{alpn: []string{"http/1.1"}}); err == nil {
		t.Fatal("http/1.1 accepted")
	}
	if !strings.Contains(f.log.String(), "none of the offered ALPN protocols http/1.1 is allowed") {
		t.Fatalf("ALPN refusal not logged:\n%s", f.log.String())
	}
}

// Narrowing a domain's configuration closes the sessions it no longer admits.
func TestDomainNarrowedClosesSessions(t *testing.T) {
	f := startFront(t, frontOptions{})
	var mqttLost, wssLost atomic.Int32
	opts := paho.NewClientOptions().AddBroker("tls://" + f.mqttAddr).SetClientID("narrowed").
		SetTLSConfig(f.clientTLS(dialOptions{cert: &f.device})).SetAutoReconnect(false).
		SetConnectionLostHandler(func(paho.Client, error) { mqttLost.Add(1) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	if _, err := f.wssClient(t, presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{}, "wss", &wssLost); err != nil {
		t.Fatal(err)
	}
	f.src.update(fdDomain, func(d *gateway.Domain) { d.AuthenticationType, d.ApplicationProtocol = "AWS_SIGV4", "MQTT_WSS" })
	f.reload()
	waitFor(t, 5*time.Second, "the MQTT session to be closed", func() bool { return mqttLost.Load() == 1 })
	time.Sleep(200 * time.Millisecond)
	if wssLost.Load() != 0 {
		t.Fatal("the WebSocket session, still admitted, was closed")
	}
}
