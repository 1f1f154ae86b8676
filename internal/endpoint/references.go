package endpoint

import (
	"context"

	"github.com/portico-iot/portico/internal/fault"
)

// References are the checks of what a configuration names elsewhere: the
// custom authorizer of its authorizerConfig and the user functions of its
// clientCertificateCallbackArn and ocspLambdaArn. They run before the
// configuration is written (never inside the store transaction: the other
// services read the same store). A nil check is skipped.
type References struct {
	// AuthorizerExists reports whether a custom authorizer exists.
	AuthorizerExists func(ctx context.Context, name string) (bool, error)
	// FunctionExists returns an error when a Lambda ARN names no
	// registered function (internal/function's Resolve).
	FunctionExists func(ctx context.Context, arn string) error
}

// check verifies the references a create or update sets.
func (r References) check(ctx context.Context, a *AuthorizerConfig, scc *ServerCertificateConfig, ccc *ClientCertificateConfig) error {
	if a != nil && a.DefaultAuthorizerName != "" && r.AuthorizerExists != nil {
		ok, err := r.AuthorizerExists(ctx, a.DefaultAuthorizerName)
		if err != nil {
			return err
		}
		if !ok {
			// CreateDomainConfiguration has no ResourceNotFoundException in
			// its model; AWS answers an unknown authorizer as invalid.
			return fault.Invalidf("authorizerConfig.defaultAuthorizerName: authorizer %s does not exist", a.DefaultAuthorizerName)
		}
	}
	if r.FunctionExists == nil {
		return nil
	}
	for _, f := range []struct{ member, arn string }{
		{"serverCertificateConfig.ocspLambdaArn", optional(scc, func(c *ServerCertificateConfig) string { return c.OCSPLambdaArn })},
		{"clientCertificateConfig.clientCertificateCallbackArn", optional(ccc, func(c *ClientCertificateConfig) string { return c.ClientCertificateCallbackArn })},
	} {
		if f.arn == "" {
			continue
		}
		if err := r.FunctionExists(ctx, f.arn); err != nil {
			if fault.Is(err, fault.Invalid) {
				return fault.Invalidf("%s: %s", f.member, err.Error())
			}
			return err
		}
	}
	return nil
}

func optional[T any](c *T, get func(*T) string) string {
	if c == nil {
		return ""
	}
	return get(c)
}
