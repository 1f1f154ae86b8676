package config

import (
	"fmt"
	"testing"

	"github.com/spf13/pflag"
)

func TestDNSTransferFlags(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.Bind(fs)
	t.Setenv("PORTICO_DNS_NOTIFY", "127.0.0.5:5353,[::1]:53,127.0.0.6")
	if err := fs.Parse([]string{"--dns-transfer-allow", "127.0.0.0/8,192.0.2.7,2001:db8::/32"}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.TransferAllow); got != "[127.0.0.0/8 192.0.2.7/32 2001:db8::/32]" {
		t.Errorf("TransferAllow = %s", got)
	}
	if got := fmt.Sprint(c.NotifyTargets); got != "[127.0.0.5:5353 [::1]:53 127.0.0.6:53]" {
		t.Errorf("NotifyTargets = %s", got)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.DNSTransferAllow = []string{"localhost"} },
		func(c *Config) { c.DNSNotify = []string{"ns2.example.com:53"} },
	} {
		var c Config
		c.Bind(pflag.NewFlagSet("x", pflag.ContinueOnError))
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %v %v", c.DNSTransferAllow, c.DNSNotify)
		}
	}
}
