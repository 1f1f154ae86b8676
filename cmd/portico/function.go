package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/endpoint"
	"github.com/portico-iot/portico/internal/fault"
	"github.com/portico-iot/portico/internal/function"
	"github.com/portico-iot/portico/internal/store"
)

// functionCommand registers the user functions Portico calls where AWS
// calls a Lambda function (custom authorizers).
func functionCommand() *cobra.Command {
	fn := &cobra.Command{Use: "function", Short: "User functions: HTTP(S) endpoints Portico calls where AWS calls a Lambda function"}
	var dataDir, url, secret, region, account string
	var timeout time.Duration
	put := &cobra.Command{
		Use:   "put NAME",
		Short: "Register or replace a function (its ARN is arn:aws:lambda:<region>:<account>:function:NAME)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags()); err != nil {
				return err
			}
			ctx := context.Background()
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
			st, err := store.Open(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			reg, err := function.New(ctx, st, function.Config{Region: region, Account: account})
			if err != nil {
				return err
			}
			f, err := reg.Put(ctx, function.Function{Name: args[0], URL: url, Timeout: timeout, Secret: secret})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n  url:     %s\n  timeout: %s\n", reg.ARN(f.Name), f.URL, f.Timeout)
			if secret == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "  secret:  %s (verify X-Portico-Signature with it)\n", f.Secret)
			}
			return nil
		},
	}
	put.Flags().StringVar(&dataDir, "data-dir", "./portico-data", "Portico's data directory")
	put.Flags().StringVar(&url, "url", "", "the function's http or https URL (required)")
	put.Flags().DurationVar(&timeout, "timeout", function.DefaultTimeout, "how long a call may take")
	put.Flags().StringVar(&secret, "secret", "", "the HMAC-SHA256 signing secret (default: keep the existing one, or generate one)")
	put.Flags().StringVar(&region, "region", "us-east-1", "the region in the function's ARN")
	put.Flags().StringVar(&account, "account-id", "123456789012", "the account in the function's ARN")
	put.MarkFlagRequired("url")
	fn.AddCommand(put)
	return fn
}

// authorizerUsers names the domain configurations whose authorizerConfig
// names an authorizer, for DeleteAuthorizer.
func authorizerUsers(endpoints *endpoint.Service) func(ctx context.Context, name string) ([]string, error) {
	return func(ctx context.Context, name string) ([]string, error) {
		all, err := endpoints.All(ctx)
		if err != nil {
			return nil, fault.New(fault.Internal, "could not check authorizer usage: %v", err)
		}
		var users []string
		for _, c := range all {
			if c.AuthorizerConfig != nil && c.AuthorizerConfig.DefaultAuthorizerName == name {
				users = append(users, c.Name)
			}
		}
		return users, nil
	}
}

var _ authorizer.Functions = (*function.Registry)(nil)
