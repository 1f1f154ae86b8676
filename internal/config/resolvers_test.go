package config

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

func TestValidationResolversFlag(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse([]string{"--validation-resolvers", "127.0.0.53,[::1]:5353,192.0.2.1:53"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.53:53", "[::1]:5353", "192.0.2.1:53"}; !slices.Equal(c.ValidationResolvers, want) {
		t.Errorf("ValidationResolvers = %v, want %v", c.ValidationResolvers, want)
	}
	for _, bad := range []string{"resolver.example.com", "127.0.0.1:0", "1.2.3.4:99999"} {
		var c Config
		c.Bind(pflag.NewFlagSet("x", pflag.ContinueOnError))
		c.ValidationResolvers = []string{bad}
		if err := c.Validate(); err == nil {
			t.Errorf("accepted --validation-resolvers %q", bad)
		}
	}
}
