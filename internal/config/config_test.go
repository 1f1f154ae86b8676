package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
)

func TestEnvFillsFlagsNotGiven(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.Bind(fs)
	t.Setenv("PORTICO_REGION", "eu-west-1")
	t.Setenv("PORTICO_API_ADDR", "127.0.0.1:9999")
	t.Setenv("PORTICO_TLS_ADDR", "0.0.0.0:443")
	if err := fs.Parse([]string{"--api-addr", "127.0.0.1:1234"}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyEnv(fs); err != nil {
		t.Fatal(err)
	}
	if c.Region != "eu-west-1" {
		t.Errorf("region = %q, want the environment's", c.Region)
	}
	if c.APIAddr != "127.0.0.1:1234" {
		t.Errorf("api addr = %q, want the flag's", c.APIAddr)
	}
	if c.TLSAddr != "0.0.0.0:443" {
		t.Errorf("tls addr = %q, want the environment's", c.TLSAddr)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Nameservers[0] != "ns1.portico.internal" {
		t.Errorf("nameservers = %v", c.Nameservers)
	}
}

func TestValidateRefuses(t *testing.T) {
	base := func() Config {
		var c Config
		c.Bind(pflag.NewFlagSet("x", pflag.ContinueOnError))
		return c
	}
	for name, mutate := range map[string]func(*Config){
		"region":    func(c *Config) { c.Region = "moon" },
		"account":   func(c *Config) { c.AccountID = "12" },
		"advertise": func(c *Config) { c.AdvertiseAddr = "example.com" },
		"address":   func(c *Config) { c.MQTTAddr = "8883" },
		"tls":       func(c *Config) { c.TLSAddr = "443" },
		"acme url":  func(c *Config) { c.ACMEDirectory = "localhost:14000/dir" },
		"acme opts": func(c *Config) { c.ACMEEmail = "ops@example.com" },
	} {
		c := base()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
	}
}

func TestCredentialsGeneratedOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PORTICO_ACCESS_KEY_ID", "")
	t.Setenv("PORTICO_SECRET_ACCESS_KEY", "")
	first, err := LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Generated || len(first.AccessKeyID) != 20 || len(first.SecretAccessKey) != 40 {
		t.Fatalf("generated = %+v", first)
	}
	info, err := os.Stat(filepath.Join(dir, CredentialsFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode = %v, %v", info.Mode(), err)
	}
	again, err := LoadCredentials(dir)
	if err != nil || again.Generated || again.AccessKeyID != first.AccessKeyID || again.SecretAccessKey != first.SecretAccessKey {
		t.Fatalf("reload = %+v, %v", again, err)
	}
	t.Setenv("PORTICO_ACCESS_KEY_ID", "AKIAFROMENV")
	if _, err := LoadCredentials(dir); err == nil {
		t.Fatal("access key without secret accepted")
	}
	t.Setenv("PORTICO_SECRET_ACCESS_KEY", "secret")
	env, err := LoadCredentials(dir)
	if err != nil || !env.FromEnv || env.AccessKeyID != "AKIAFROMENV" {
		t.Fatalf("from env = %+v, %v", env, err)
	}
}

func TestTLSAddrDefault(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if c.TLSAddr != "127.0.0.1:9443" {
		t.Fatalf("--tls-addr default = %q", c.TLSAddr)
	}
}
