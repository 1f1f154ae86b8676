package customauth

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/portico-iot/portico/internal/authorizer"
	"github.com/portico-iot/portico/internal/gateway"
)

// Functions calls user functions by Lambda ARN (internal/function.Registry).
type Functions interface {
	FunctionName(ctx context.Context, arn string) (string, error)
	Invoke(ctx context.Context, name string, event any) ([]byte, error)
}

// CertificateCallback runs clientCertificateCallbackArn functions: the
// event of reference 2.11, the chain as PEM strings (AWS's encoding is not
// documented; see docs/compatibility.md), and the answer
// {"isAuthenticated": true} to admit.
type CertificateCallback struct{ Functions Functions }

var _ gateway.CertificateCallback = CertificateCallback{}

// Decide implements gateway.CertificateCallback within the 5 s budget of a
// Lambda call.
func (c CertificateCallback) Decide(ctx context.Context, arn string, req gateway.CertificateCallbackRequest) error {
	name, err := c.Functions.FunctionName(ctx, arn)
	if err != nil {
		return err
	}
	chain := make([]string, len(req.Chain))
	for i, der := range req.Chain {
		chain[i] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	ctx, cancel := context.WithTimeout(ctx, authorizer.Budget)
	defer cancel()
	out, err := c.Functions.Invoke(ctx, name, map[string]any{
		"connectionMetadata":     map[string]any{"id": connectionID()},
		"principalId":            req.CertificateID,
		"serverName":             req.ServerName,
		"clientCertificateChain": chain,
	})
	if err != nil {
		return err
	}
	var answer struct {
		IsAuthenticated *bool `json:"isAuthenticated"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&answer); err != nil || answer.IsAuthenticated == nil {
		return fmt.Errorf("function %s: the answer is not {\"isAuthenticated\": true|false}", name)
	}
	if !*answer.IsAuthenticated {
		return fmt.Errorf("function %s answered isAuthenticated false for certificate %s", name, req.CertificateID)
	}
	return nil
}
