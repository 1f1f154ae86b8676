package mosquitto

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/portico-iot/portico/bench/internal/material"
	"github.com/portico-iot/portico/bench/internal/mqttc"
)

// TestConnect starts the broker with the bench material and completes an
// mTLS 1.3 handshake and an MQTT CONNECT against it.
func TestConnect(t *testing.T) {
	if !Available() {
		t.Skip("mosquitto not installed")
	}
	set, _, err := material.Load(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), Options{Server: set.Domains[0], CA: set.CA.Cert})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfgs, err := material.DeviceConfigs(2, 1, &tls.Config{MinVersion: tls.VersionTLS13, ServerName: material.DomainName(0)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cfgs[0])
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(mqttc.Connect("t1", 30)); err != nil {
		t.Fatal(err)
	}
	if err := mqttc.ReadConnack(c); err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x", v)
	}
}
