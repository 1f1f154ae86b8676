package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkacm "github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/spf13/cobra"

	"github.com/portico-iot/portico/internal/certificate"
	"github.com/portico-iot/portico/internal/config"
	"github.com/portico-iot/portico/internal/expirywatch"
)

// checkWebhooks refuses webhook URLs that could never receive a POST.
func checkWebhooks(webhooks []string) error {
	for _, w := range webhooks {
		u, err := url.Parse(w)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--expiry-webhook %q is not an http:// or https:// URL", w)
		}
	}
	return nil
}

// startCertificateWarnings starts the expiry watcher of every certificate
// (imported or issued) until ctx ends: the approaching-expiration events go
// to the log and to webhooks, and the returned handler serves the
// portico_certificate_days_to_expiry gauge (mount it at /metrics). changes
// (store.Subscribe) refreshes the gauge when certificates come and go; nil
// means hourly only. The first pass runs before it returns, so the gauge
// is complete from the first scrape.
func startCertificateWarnings(ctx context.Context, svc *certificate.Service, changes <-chan struct{}, webhooks []string, logger *slog.Logger) (http.Handler, error) {
	if err := checkWebhooks(webhooks); err != nil {
		return nil, err
	}
	w := &expirywatch.Watcher{
		Source:   expirywatch.Certificates{Service: svc},
		Region:   svc.Region(),
		Account:  svc.Account(),
		Webhooks: webhooks,
		Now:      svc.Now,
		Logger:   logger.With("component", "expiry"),
	}
	if err := w.Tick(ctx); err != nil {
		logger.Warn("certificate expiry pass failed", "err", err)
	}
	go w.Run(ctx, changes)
	return w, nil
}

// certificateCommand holds operator commands about ACM certificates.
func certificateCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "certificate", Short: "ACM certificates: follow a request until it is issued"}
	var endpoint, region, dataDir string
	var poll, timeout time.Duration
	wait := &cobra.Command{
		Use:   "wait ARN",
		Short: "Show the DNS record a requested certificate needs, then its status until ISSUED (or FAILED, VALIDATION_TIMED_OUT)",
		Long: "Polls DescribeCertificate on a running Portico. Credentials: PORTICO_ACCESS_KEY_ID and\n" +
			"PORTICO_SECRET_ACCESS_KEY, else <data-dir>/credentials.json, else AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.\n" +
			"Exits 0 once ISSUED, 1 when the certificate can no longer be issued.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyEnv(cmd.Flags()); err != nil {
				return err
			}
			creds, err := operatorCredentials(dataDir)
			if err != nil {
				return err
			}
			client := sdkacm.NewFromConfig(aws.Config{Region: region, Credentials: creds, BaseEndpoint: aws.String(endpoint)})
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return waitForCertificate(ctx, client, args[0], cmd.OutOrStdout(), poll)
		},
	}
	wait.Flags().StringVar(&endpoint, "endpoint-url", "http://127.0.0.1:4566", "Portico's AWS API")
	wait.Flags().StringVar(&region, "region", "us-east-1", "the region Portico serves")
	wait.Flags().StringVar(&dataDir, "data-dir", "./portico-data", "Portico's data directory (for its generated credentials)")
	wait.Flags().DurationVar(&poll, "interval", 5*time.Second, "time between status checks")
	wait.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: never; ACM times validation out after 72 h)")
	cmd.AddCommand(wait)
	return cmd
}

// operatorCredentials finds the API credentials without ever creating any:
// a wrong --data-dir must not mint a new key.
func operatorCredentials(dataDir string) (aws.CredentialsProvider, error) {
	if os.Getenv("PORTICO_ACCESS_KEY_ID") != "" {
		c, err := config.LoadCredentials(dataDir)
		if err != nil {
			return nil, err
		}
		return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""), nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, config.CredentialsFile)); err == nil {
		c, err := config.LoadCredentials(dataDir)
		if err != nil {
			return nil, err
		}
		return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""), nil
	}
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN")), nil
	}
	return nil, fmt.Errorf("no API credentials: set PORTICO_ACCESS_KEY_ID and PORTICO_SECRET_ACCESS_KEY, or point --data-dir at Portico's data directory")
}

// certificateDescriber is the one ACM call waitForCertificate makes.
type certificateDescriber interface {
	DescribeCertificate(ctx context.Context, in *sdkacm.DescribeCertificateInput, opts ...func(*sdkacm.Options)) (*sdkacm.DescribeCertificateOutput, error)
}

// errNotIssued is returned when a certificate reached a status from which
// it will never be issued.
var errNotIssued = errors.New("certificate will not be issued")

// waitForCertificate prints the validation records of a requested
// certificate once, then a line each time its status or validation
// progress changes, until it is ISSUED (nil) or can no longer be
// (errNotIssued, with the status and FailureReason), or ctx ends.
func waitForCertificate(ctx context.Context, client certificateDescriber, arn string, out io.Writer, poll time.Duration) error {
	if poll <= 0 {
		poll = 5 * time.Second
	}
	printedRecords := false
	last := ""
	for {
		desc, err := client.DescribeCertificate(ctx, &sdkacm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
		if err != nil {
			return fmt.Errorf("describe %s: %w", arn, err)
		}
		c := desc.Certificate
		if !printedRecords && len(c.DomainValidationOptions) > 0 && c.Status == types.CertificateStatusPendingValidation {
			printRecords(out, c)
			printedRecords = true
		}
		line := statusLine(c)
		if line != last {
			fmt.Fprintf(out, "%s  %s\n", time.Now().UTC().Format(time.TimeOnly), line)
			last = line
		}
		switch c.Status {
		case types.CertificateStatusIssued:
			return nil
		case types.CertificateStatusPendingValidation:
		default:
			reason := ""
			if c.FailureReason != "" {
				reason = " (" + string(c.FailureReason) + ")"
			}
			return fmt.Errorf("%w: %s is %s%s", errNotIssued, arn, c.Status, reason)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped waiting for %s: %w", arn, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// printRecords lists the distinct CNAMEs to create (a wildcard shares its
// base name's record).
func printRecords(out io.Writer, c *types.CertificateDetail) {
	fmt.Fprintf(out, "Create this DNS record for %s (in a Portico hosted zone, or at your DNS provider):\n", aws.ToString(c.DomainName))
	seen := map[string]bool{}
	for _, dv := range c.DomainValidationOptions {
		rr := dv.ResourceRecord
		if rr == nil || seen[aws.ToString(rr.Name)] {
			continue
		}
		seen[aws.ToString(rr.Name)] = true
		fmt.Fprintf(out, "  %s  %s  %s\n", aws.ToString(rr.Name), rr.Type, aws.ToString(rr.Value))
	}
}

func statusLine(c *types.CertificateDetail) string {
	switch c.Status {
	case types.CertificateStatusPendingValidation:
		ok := 0
		for _, dv := range c.DomainValidationOptions {
			if dv.ValidationStatus == types.DomainStatusSuccess {
				ok++
			}
		}
		return fmt.Sprintf("%s  %d of %d names validated", c.Status, ok, len(c.DomainValidationOptions))
	case types.CertificateStatusIssued:
		if c.NotAfter != nil {
			return fmt.Sprintf("%s  valid until %s", c.Status, c.NotAfter.UTC().Format(time.RFC3339))
		}
	case types.CertificateStatusFailed:
		return strings.TrimSpace(fmt.Sprintf("%s  %s", c.Status, c.FailureReason))
	}
	return string(c.Status)
}
