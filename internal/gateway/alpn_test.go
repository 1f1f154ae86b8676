package gateway_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// The ALPN port (AWS's 443) routes by the protocol the client offers
// (reference 6.1).

func TestALPNPortMQTTWithClientCertificate(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.received("test/alpn")
	opts := paho.NewClientOptions().AddBroker("tls://" + f.alpnAddr).SetClientID("alpn-device").
		SetTLSConfig(f.clientTLS(dialOptions{alpn: []string{"x-amzn-mqtt-ca"}, cert: &f.device})).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	c.Publish("test/alpn", 1, false, "via 443").WaitTimeout(5 * time.Second)
	expectMessage(t, got, "via 443")

	// The client certificate is required on this channel.
	if _, err := f.dial(f.alpnAddr, dialOptions{alpn: []string{"x-amzn-mqtt-ca"}}); err == nil {
		t.Fatal("x-amzn-mqtt-ca without a client certificate was accepted")
	}
}

func TestALPNPortHTTPSWithClientCertificate(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.received("test/alpn")
	status, body, err := f.publishHTTP(f.alpnAddr, dialOptions{alpn: []string{"x-amzn-http-ca"}, cert: &f.device}, "/topics/test%2Falpn", false)
	if err != nil || status != 200 {
		t.Fatalf("publish: %d %s %v", status, body, err)
	}
	expectMessage(t, got, `{"hello":"world"}`)
	if _, _, err := f.publishHTTP(f.alpnAddr, dialOptions{alpn: []string{"x-amzn-http-ca"}}, "/topics/test%2Falpn", false); err == nil {
		t.Fatal("x-amzn-http-ca without a client certificate was accepted")
	}
}

func TestALPNPortHTTPSWithSigV4(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.received("test/alpn")
	for _, alpn := range [][]string{nil, {"http/1.1"}, {"h2", "http/1.1"}} {
		status, body, err := f.publishHTTP(f.alpnAddr, dialOptions{alpn: alpn}, "/topics/test%2Falpn", true)
		if err != nil || status != 200 {
			t.Fatalf("ALPN %v: publish: %d %s %v", alpn, status, body, err)
		}
		expectMessage(t, got, `{"hello":"world"}`)
	}
	// Unsigned: the iot-data API's own answer.
	status, body, err := f.publishHTTP(f.alpnAddr, dialOptions{}, "/topics/test%2Falpn", false)
	if err != nil || status != 403 || !strings.Contains(body, "MissingAuthenticationTokenException") {
		t.Fatalf("unsigned publish: %d %s %v", status, body, err)
	}
	// Negotiated protocol is http/1.1 even when h2 is offered first.
	c, err := f.dial(f.alpnAddr, dialOptions{alpn: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("negotiated %q", p)
	}
	c.Close()
}

func TestALPNPortRefusesUnknownProtocols(t *testing.T) {
	f := startFront(t, frontOptions{})
	for _, alpn := range [][]string{{"h2"}, {"foo"}, {"x-amzn-mqtt-ca-not"}} {
		_, err := f.dial(f.alpnAddr, dialOptions{alpn: alpn, cert: &f.device})
		if err == nil || !strings.Contains(err.Error(), "no application protocol") {
			t.Fatalf("ALPN %v: err = %v, want the no_application_protocol alert", alpn, err)
		}
	}
}

// ALPN mqtt is MQTT with custom authentication: the handshake completes
// without a client certificate, and the CONNECT is refused (custom
// authorizers arrive later) with the reason in the log.
func TestALPNPortCustomAuthRefusesConnect(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.mqttProbe(f.alpnAddr, dialOptions{alpn: []string{"mqtt"}}, "device-7?x-amz-customauthorizer-name=MyAuthorizer")
	if !strings.Contains(got, "not Authorized") {
		t.Fatalf("custom-auth connect = %q, want CONNACK not authorized", got)
	}
	if !strings.Contains(f.log.String(), "needs a custom authorizer, and none is configured") {
		t.Fatalf("refusal reason not logged:\n%s", f.log.String())
	}

	// MQTT 5: reason code 0x87 with the reason string.
	c, err := f.dial(f.alpnAddr, dialOptions{alpn: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(mqtt5Connect("v5-device"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	header := make([]byte, 2)
	if _, err := io.ReadFull(r, header); err != nil {
		t.Fatal(err)
	}
	rest := make([]byte, header[1])
	if _, err := io.ReadFull(r, rest); err != nil {
		t.Fatal(err)
	}
	if header[0] != 0x20 || rest[1] != 0x87 || !strings.Contains(string(rest), "custom authorizer") {
		t.Fatalf("CONNACK %x %x (%q)", header, rest, rest)
	}
	// Then the server closes.
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("connection still open after the refusal")
	}
}

// mqtt5Connect encodes a minimal MQTT 5 CONNECT.
func mqtt5Connect(clientID string) []byte {
	var v []byte
	v = append(v, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0) // name, level, clean start, keep alive, no properties
	v = binary.BigEndian.AppendUint16(v, uint16(len(clientID)))
	v = append(v, clientID...)
	return append([]byte{0x10, byte(len(v))}, v...)
}

// 8883 accepts MQTT with a client certificate, with or without ALPN.
func TestMQTTPortWithAndWithoutALPN(t *testing.T) {
	f := startFront(t, frontOptions{})
	for _, alpn := range [][]string{nil, {"x-amzn-mqtt-ca"}, {"mqtt"}} {
		if got := f.mqttProbe(f.mqttAddr, dialOptions{alpn: alpn, cert: &f.device}, ""); got != "connected" {
			t.Fatalf("8883 with ALPN %v: %s", alpn, got)
		}
	}
}

// 8443 stays HTTPS: a client certificate, or SigV4 without one.
func TestHTTPSPortPublish(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.received("test/https")
	for name, o := range map[string]struct {
		opts dialOptions
		sign bool
	}{
		"certificate": {dialOptions{cert: &f.device, alpn: []string{"x-amzn-http-ca", "http/1.1"}}, false},
		"sigv4":       {dialOptions{}, true},
	} {
		status, body, err := f.publishHTTP(f.httpsAddr, o.opts, "/topics/test%2Fhttps", o.sign)
		if err != nil || status != 200 {
			t.Fatalf("%s: %d %s %v", name, status, body, err)
		}
		expectMessage(t, got, `{"hello":"world"}`)
	}
}
