package main

import (
	"github.com/spf13/cobra"

	"github.com/portico-iot/portico/internal/awsmodel"
)

func awsModelCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "aws-model",
		Short: "Print the IoT service model with Portico's extensions, for `aws configure add-model`",
		Long: "Print the AWS IoT service model extended with what Portico accepts beyond AWS\n" +
			"(serverCertificateArns on update-domain-configuration, up to four certificates).\n\n" +
			"  portico aws-model > iot.json\n" +
			"  aws configure add-model --service-model file://iot.json --service-name iot",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			model, err := awsmodel.IoTModel()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(model)
			return err
		},
	}
}
