package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-iot/portico/internal/config"
)

func caCommand() *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "Portico's own certificate authorities"}
	var dataDir string
	var device, chain bool
	export := &cobra.Command{
		Use:   "export",
		Short: "Print the root certificate devices trust for Portico's own endpoint names (or, with --device, the device CA)",
		Long: `Print the root certificate devices trust for Portico's own endpoint names (or, with
--device, the device CA's root). Each CA is a root and an intermediate that issues every
leaf; trust the root only. With --chain, print the intermediate followed by the root: the
chain of a leaf, for example for
  openssl verify -CAfile root.pem -untrusted chain.pem leaf.pem`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.ApplyEnv(cmd.Flags()); err != nil {
				return err
			}
			name := serverCAName
			if device {
				name = deviceCAName
			}
			authority, err := openCA(dataDir, name)
			if err != nil {
				return err
			}
			out := authority.PEM()
			if chain {
				out = authority.ChainPEM()
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(out))
			return err
		},
	}
	export.Flags().StringVar(&dataDir, "data-dir", "./portico-data", "Portico's data directory")
	export.Flags().BoolVar(&device, "device", false, "print the device CA instead of the server CA")
	export.Flags().BoolVar(&chain, "chain", false, "print the intermediate followed by the root instead of the root alone")
	ca.AddCommand(export)
	return ca
}
