package gateway

import (
	"crypto/tls"
	"strings"
)

// capability is one way of reaching the broker: a protocol with an
// authentication. A domain configuration's authenticationType and
// applicationProtocol admit a set of them.
type capability uint16

const (
	capMQTTX509        capability = 1 << iota // MQTT over TLS, client certificate
	capMQTTCustom                             // MQTT over TLS, custom authorizer (443, ALPN mqtt)
	capMQTTCustomX509                         // MQTT over TLS, client certificate and custom authorizer
	capHTTPSX509                              // HTTPS publish, client certificate
	capHTTPSSigV4                             // HTTPS publish, SigV4
	capHTTPSCustom                            // HTTPS publish, custom authorizer
	capHTTPSCustomX509                        // HTTPS publish, client certificate and custom authorizer
	capWSSX509                                // MQTT over WebSocket, client certificate (Portico extension)
	capWSSSigV4                               // MQTT over WebSocket, SigV4 presigned URL
	capWSSCustom                              // MQTT over WebSocket, custom authorizer

	capMQTT  = capMQTTX509 | capMQTTCustom | capMQTTCustomX509
	capHTTPS = capHTTPSX509 | capHTTPSSigV4 | capHTTPSCustom | capHTTPSCustomX509
	capWSS   = capWSSX509 | capWSSSigV4 | capWSSCustom
)

var authenticationCapabilities = map[string]capability{
	// DEFAULT: the port and ALPN decide (reference 6.1); custom
	// authentication with X.509 needs an explicit CUSTOM_AUTH_X509.
	"DEFAULT":          capMQTTX509 | capMQTTCustom | capHTTPSX509 | capHTTPSSigV4 | capHTTPSCustom | capWSSX509 | capWSSSigV4 | capWSSCustom,
	"AWS_X509":         capMQTTX509 | capHTTPSX509 | capWSSX509,
	"AWS_SIGV4":        capHTTPSSigV4 | capWSSSigV4,
	"CUSTOM_AUTH":      capMQTTCustom | capHTTPSCustom | capWSSCustom,
	"CUSTOM_AUTH_X509": capMQTTCustomX509 | capHTTPSCustomX509,
}

var protocolCapabilities = map[string]capability{
	"DEFAULT":     capMQTT | capHTTPS | capWSS,
	"SECURE_MQTT": capMQTT,
	"HTTPS":       capHTTPS,
	"MQTT_WSS":    capWSS,
}

// allowedCapabilities is what a configuration admits: the intersection of
// what its authentication type and its application protocol allow. An
// unknown value admits nothing.
func allowedCapabilities(auth, proto string) capability {
	if auth == "" {
		auth = "DEFAULT"
	}
	if proto == "" {
		proto = "DEFAULT"
	}
	return authenticationCapabilities[auth] & protocolCapabilities[proto]
}

func (d *domainState) allows(c capability) bool { return d.allowed&c != 0 }

// settings names the domain's configuration for messages.
func (d *domainState) settings() string {
	auth, proto := d.AuthenticationType, d.ApplicationProtocol
	if auth == "" {
		auth = "DEFAULT"
	}
	if proto == "" {
		proto = "DEFAULT"
	}
	return "domain configuration " + d.Configuration + " (authenticationType " + auth + ", applicationProtocol " + proto + ")"
}

// allowedDescription says, for a refusal, what the domain does allow.
func (d *domainState) allowedDescription() string {
	var ways []string
	for _, w := range []struct {
		c    capability
		text string
	}{
		{capMQTTX509, "MQTT with a client certificate (8883, or 443 with ALPN x-amzn-mqtt-ca)"},
		{capMQTTCustom, "MQTT with a custom authorizer (443 with ALPN mqtt)"},
		{capMQTTCustomX509, "MQTT with a client certificate and a custom authorizer"},
		{capHTTPSX509, "HTTPS publish with a client certificate (8443, or 443 with ALPN x-amzn-http-ca)"},
		{capHTTPSSigV4, "HTTPS publish signed with SigV4"},
		{capHTTPSCustom, "HTTPS publish with a custom authorizer"},
		{capHTTPSCustomX509, "HTTPS publish with a client certificate and a custom authorizer"},
		{capWSSX509, "MQTT over WebSocket with a client certificate"},
		{capWSSSigV4, "MQTT over WebSocket with a SigV4 presigned URL"},
		{capWSSCustom, "MQTT over WebSocket with a custom authorizer"},
	} {
		if d.allows(w.c) {
			ways = append(ways, w.text)
		}
	}
	if len(ways) == 0 {
		return d.settings() + " allows no connection"
	}
	return d.settings() + " allows only " + strings.Join(ways, "; ")
}

// ALPN protocol names (reference 6.1).
const (
	protoMQTTX509   = "x-amzn-mqtt-ca"
	protoHTTPX509   = "x-amzn-http-ca"
	protoMQTTCustom = "mqtt"
	protoHTTP11     = "http/1.1"
)

// channel is what the ALPN listener (443) serves on a connection, decided
// from the ClientHello before the handshake completes.
type channel int

const (
	chMQTTX509   channel = iota // ALPN x-amzn-mqtt-ca: MQTT, client certificate required
	chHTTPX509                  // ALPN x-amzn-http-ca: HTTPS, client certificate required
	chMQTTCustom                // ALPN mqtt: MQTT, custom authentication, no client certificate
	chHTTP                      // ALPN http/1.1 or none: HTTPS without client certificate (SigV4, WSS)
	numChannels
)

var (
	channelProtocol         = [numChannels]string{protoMQTTX509, protoHTTPX509, protoMQTTCustom, protoHTTP11}
	channelNeedsCertificate = [numChannels]bool{true, true, false, false}
	// channelCapabilities is what may follow on each channel.
	channelCapabilities = [numChannels]capability{
		chMQTTX509:   capMQTTX509 | capMQTTCustomX509,
		chHTTPX509:   capHTTPSX509 | capHTTPSCustomX509 | capWSSX509,
		chMQTTCustom: capMQTTCustom,
		chHTTP:       capHTTPSSigV4 | capHTTPSCustom | capWSSSigV4 | capWSSCustom,
	}
	channelByProtocol = map[string]channel{protoMQTTX509: chMQTTX509, protoHTTPX509: chHTTPX509, protoMQTTCustom: chMQTTCustom, protoHTTP11: chHTTP}
)

// customOn8883 reports whether the MQTT listener (8883) admits clients
// without a certificate, authenticated by a custom authorizer: only on a
// domain whose authenticationType is explicitly CUSTOM_AUTH. With DEFAULT,
// custom authentication stays on the ALPN port as in AWS's matrix
// (reference 6.1).
func (d *domainState) customOn8883() bool {
	return !d.Default && d.AuthenticationType == "CUSTOM_AUTH" && d.allows(capMQTTCustom)
}

// What may follow on the two fixed-protocol listeners.
const (
	mqttListenerCapabilities  = capMQTTX509 | capMQTTCustomX509
	httpsListenerCapabilities = capHTTPSX509 | capHTTPSCustomX509 | capWSSX509 | capHTTPSSigV4 | capWSSSigV4
)

// listenerKind tells the three device listeners apart.
type listenerKind int

const (
	listenerMQTT  listenerKind = iota // 8883: MQTT with a client certificate
	listenerHTTPS                     // 8443: HTTPS, client certificate optional
	listenerALPN                      // 443: by ALPN
)

func (k listenerKind) String() string {
	return [...]string{"mqtt", "https", "alpn"}[k]
}

// configFor picks the TLS configuration for a ClientHello on a listener.
// A client that offers ALPN protocols none of which the domain admits on
// this listener gets the no_application_protocol alert; a client that
// offers none is served, and refused in its protocol after the handshake
// (CONNACK or HTTP 403) when the domain does not admit it.
func (d *domainState) configFor(kind listenerKind, protos []string) (*tls.Config, string) {
	switch kind {
	case listenerMQTT:
		if len(protos) > 0 && !d.allows(mqttListenerCapabilities) && !d.customOn8883() {
			return d.noProtocol, "MQTT with a client certificate is not allowed"
		}
		return d.mqtt, ""
	case listenerHTTPS:
		if len(protos) > 0 && !d.allows(httpsListenerCapabilities) {
			return d.noProtocol, "HTTPS is not allowed"
		}
		return d.https, ""
	}
	if len(protos) == 0 {
		return d.alpn[chHTTP], ""
	}
	// The client's order is its preference.
	for _, p := range protos {
		if ch, ok := channelByProtocol[p]; ok && d.allows(channelCapabilities[ch]) {
			return d.alpn[ch], ""
		}
	}
	return d.noProtocol, "none of the offered ALPN protocols " + strings.Join(protos, ",") + " is allowed"
}
