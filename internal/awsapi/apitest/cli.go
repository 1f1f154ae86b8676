package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireTool skips the test because the tool named by what is missing, or
// fails it when CI=true: CI must run every conformance test.
func RequireTool(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required (CI=true): %v", what, err)
	}
	t.Skipf("%s is not installed: %v", what, err)
}

// RequireAWSCLI returns the path of the aws CLI. Without it the test is
// skipped, or fails when CI=true.
func RequireAWSCLI(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	RequireTool(t, "the aws CLI", err)
	return path
}

// CLI is the real aws command line (botocore) pointed at a Server. It runs
// with the test's credentials only: no profile, token, config file or
// retry of the machine may leak in.
type CLI struct {
	// Path is the aws executable.
	Path string
	// Endpoint is passed as --endpoint-url.
	Endpoint string
	// Region is the region the CLI signs for; Region unless a test changes it.
	Region string
}

// CLI returns the aws CLI pointed at s. Without the CLI the test is skipped,
// or fails when CI=true.
func (s *Server) CLI(t testing.TB) *CLI {
	t.Helper()
	return &CLI{Path: RequireAWSCLI(t), Endpoint: s.URL, Region: Region}
}

// cliTimeout bounds one CLI run.
const cliTimeout = time.Minute

// Output runs `aws --endpoint-url <Endpoint> --output json args...` (args
// start with the service) and returns what it printed.
func (c *CLI) Output(args ...string) (stdout []byte, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Path, append([]string{"--endpoint-url", c.Endpoint, "--output", "json"}, args...)...)
	cmd.Env = c.env()
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	stdout, err = cmd.Output()
	return stdout, errBuf.String(), err
}

// Run runs the CLI like Output and fails the test when it exits non-zero.
func (c *CLI) Run(t testing.TB, args ...string) []byte {
	t.Helper()
	stdout, stderr, err := c.Output(args...)
	if err != nil {
		t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// JSON runs the CLI like Run and decodes what it printed into v.
func (c *CLI) JSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := c.Run(t, args...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("aws %s printed %q: %v", strings.Join(args, " "), out, err)
	}
}

// env is the process environment without any AWS_ variable, plus the test
// credentials and region.
func (c *CLI) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+AccessKey,
		"AWS_SECRET_ACCESS_KEY="+SecretKey,
		"AWS_DEFAULT_REGION="+c.Region,
		"AWS_REGION="+c.Region,
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_MAX_ATTEMPTS=1",
	)
}
