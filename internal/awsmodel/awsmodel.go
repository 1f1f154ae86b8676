// Package awsmodel serves the AWS service models as Portico implements them:
// today the IoT control plane ("iot"), which carries Portico's documented
// extensions (docs/compatibility.md). Installed into the aws CLI with
//
//	aws configure add-model --service-model file://iot.json --service-name iot
//
// (it lands in ~/.aws/models/iot/2015-05-28/service-2.json and shadows the
// CLI's own), it lets the CLI send what Portico accepts beyond AWS, such as
// update-domain-configuration --server-certificate-arns.
//
// The model is generated from the local botocore by ./gen and embedded, so
// nothing needs botocore at run time:
//
//	go generate ./internal/awsmodel
package awsmodel

//go:generate go run ./gen -out iot.json.gz

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
)

//go:embed iot.json.gz
var iotModelGz []byte

// IoTModel returns the IoT control-plane service model (botocore's
// service-2.json format) with Portico's extensions:
// UpdateDomainConfigurationRequest has serverCertificateArns, and the
// ServerCertificateArns list takes up to 4 ARNs.
func IoTModel() ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(iotModelGz))
	if err != nil {
		return nil, fmt.Errorf("awsmodel: embedded iot model: %w", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("awsmodel: embedded iot model: %w", err)
	}
	return b, nil
}

// IoTModelSource names what the embedded IoT model was generated from
// ("botocore 1.43.11 iot 2015-05-28 with Portico extensions").
func IoTModelSource() string {
	zr, err := gzip.NewReader(bytes.NewReader(iotModelGz))
	if err != nil {
		return ""
	}
	return zr.Comment
}
