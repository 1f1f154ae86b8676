// Package apitest starts an in-process Portico API server on loopback and
// returns an aws.Config whose clients (the real AWS SDK for Go v2) talk to it.
// Conformance tests use it so that every assertion goes through the real wire.
package apitest

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/portico-iot/portico/internal/awsapi"
	"github.com/portico-iot/portico/internal/awsapi/sigv4"
)

const (
	Region    = "us-east-1"
	Account   = "123456789012"
	AccessKey = "AKIAPORTICOTEST00001"
	SecretKey = "portico-test-secret-key-0000000000000000"
)

// Server is a running API server and a client configuration for it.
type Server struct {
	API    *awsapi.Server
	URL    string
	Config aws.Config
}

// Start starts an API server with the test credentials; register adds the
// services under test. The server stops when the test ends.
func Start(t testing.TB, register func(s *awsapi.Server)) *Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	api := awsapi.NewServer(Region, []sigv4.Credential{{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}}, logger)
	register(api)
	ts := httptest.NewServer(api)
	t.Cleanup(ts.Close)
	cfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		BaseEndpoint: aws.String(ts.URL),
		// Conformance tests want the first answer, not a retried one.
		RetryMaxAttempts: 1,
	}
	return &Server{API: api, URL: ts.URL, Config: cfg}
}

// Logger returns a logger that discards output, for services under test.
func Logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
