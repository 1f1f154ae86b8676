package gateway

import (
	"crypto/tls"
	"strconv"
	"strings"
)

// tlsProfile is everything a domain's TLS configurations depend on apart
// from its certificates. Domains with equal profiles share one set of
// configurations, which pick the certificate by the handshake's server name:
// an operator's thousands of domains under a few security policies cost a
// few configurations, not eight each (a tls.Config is about 400 bytes of
// pointers the garbage collector scans on every cycle).
type tlsProfile struct {
	minVersion, maxVersion         uint16
	cipherSuites, cipherSuites8883 string // suitesKey of each
	customOn8883                   bool
}

// suitesKey spells a cipher suite list as a comparable value, keeping nil
// (the policy's default) apart from an empty list.
func suitesKey(suites []uint16) string {
	if suites == nil {
		return "default"
	}
	var b strings.Builder
	b.WriteString("list")
	for _, s := range suites {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(int(s)))
	}
	return b.String()
}

func profileOf(d *domainState) tlsProfile {
	return tlsProfile{
		minVersion: d.MinVersion, maxVersion: d.MaxVersion,
		cipherSuites: suitesKey(d.CipherSuites), cipherSuites8883: suitesKey(d.CipherSuites8883),
		customOn8883: d.customOn8883(),
	}
}

// tlsConfigs are one profile's configurations, per listener and channel.
type tlsConfigs struct {
	mqtt  *tls.Config // MQTT listener (8883): client certificate required
	https *tls.Config // HTTPS listener (8443): client certificate optional (SigV4 otherwise)
	// alpn holds the ALPN listener's (443) configuration per channel.
	alpn [numChannels]*tls.Config
	// noProtocol offers no protocol a client asks for: crypto/tls answers a
	// ClientHello that carries ALPN with the no_application_protocol alert.
	noProtocol *tls.Config
}

// newTLSConfigs builds the configurations of d's profile.
func (g *Gateway) newTLSConfigs(d *domainState) *tlsConfigs {
	base := &tls.Config{
		GetCertificate: g.pickCertificate,
		MinVersion:     d.MinVersion,
		MaxVersion:     d.MaxVersion,
		CipherSuites:   d.CipherSuites,
		// AWS IoT does not support session tickets.
		SessionTicketsDisabled: true,
		VerifyConnection:       g.verifyDevice,
	}
	c := &tlsConfigs{}
	c.mqtt = base.Clone()
	c.mqtt.ClientAuth = tls.RequireAnyClientCert
	if d.customOn8883() {
		c.mqtt.ClientAuth = tls.RequestClientCert
	}
	c.mqtt.NextProtos = []string{protoMQTTX509, protoMQTTCustom}
	c.https = base.Clone()
	c.https.ClientAuth = tls.RequestClientCert
	c.https.NextProtos = []string{protoHTTPX509, protoHTTP11}
	if d.CipherSuites8883 != nil {
		c.mqtt.CipherSuites, c.https.CipherSuites = d.CipherSuites8883, d.CipherSuites8883
	}
	for ch := channel(0); ch < numChannels; ch++ {
		cc := base.Clone()
		cc.NextProtos = []string{channelProtocol[ch]}
		if channelNeedsCertificate[ch] {
			cc.ClientAuth = tls.RequireAnyClientCert
		}
		c.alpn[ch] = cc
	}
	c.noProtocol = base.Clone()
	c.noProtocol.NextProtos = []string{refusedProtocol}
	return c
}

// pickCertificate is every configuration's GetCertificate: it finds the
// handshake's domain again by server name, as GetConfigForClient did. A
// domain removed or disabled in between gets no certificate, and crypto/tls
// answers with the unrecognized_name alert.
func (g *Gateway) pickCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	d := g.snap.Load().lookup(hello.ServerName)
	if d == nil || !d.Enabled {
		return nil, nil
	}
	return g.pickDomainCertificate(d, hello), nil
}
