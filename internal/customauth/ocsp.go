package customauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// OCSPLambda returns the runner of ocspLambdaArn functions for
// internal/ocspstaple: the event is the base64 of the DER OCSP request (a
// JSON string) and the answer the base64 of the DER response (a JSON
// string), as AWS's private-endpoint mode has it (reference 2.10).
func OCSPLambda(fns Functions) func(ctx context.Context, arn string, request []byte) ([]byte, error) {
	return func(ctx context.Context, arn string, request []byte) ([]byte, error) {
		name, err := fns.FunctionName(ctx, arn)
		if err != nil {
			return nil, err
		}
		out, err := fns.Invoke(ctx, name, base64.StdEncoding.EncodeToString(request))
		if err != nil {
			return nil, err
		}
		var answer string
		if err := json.Unmarshal(out, &answer); err != nil {
			return nil, fmt.Errorf("function %s: the answer is not a JSON string holding the base64 OCSP response", name)
		}
		der, err := base64.StdEncoding.DecodeString(answer)
		if err != nil {
			return nil, fmt.Errorf("function %s: the answer is not base64: %v", name, err)
		}
		return der, nil
	}
}
