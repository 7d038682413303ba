package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUndeployCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "undeploy N",
		Short: "Remove a deployment",
		Long: `Remove the deployment at index N of 'arbor status' (or named COMMIT.SERIAL, or a
unique prefix of it): its boot entries, then its files, then what no other
deployment needs. The booted deployment, a pinned one and the only bootable
one are refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			name, err := s.Undeploy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "undeployed %s\n", name)
			return nil
		},
	}
}
