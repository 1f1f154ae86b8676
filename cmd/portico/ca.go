package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portico-iot/portico/internal/config"
)

func caCommand() *cobra.Command {
	ca := &cobra.Command{Use: "ca", Short: "Portico's own certificate authorities"}
	var dataDir string
	var device bool
	export := &cobra.Command{
		Use:   "export",
		Short: "Print the root certificate devices trust for Portico's own endpoint names (or, with --device, the device CA)",
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
			_, err = fmt.Fprint(cmd.OutOrStdout(), string(authority.PEM()))
			return err
		},
	}
	export.Flags().StringVar(&dataDir, "data-dir", "./portico-data", "Portico's data directory")
	export.Flags().BoolVar(&device, "device", false, "print the device CA instead of the server CA")
	ca.AddCommand(export)
	return ca
}
