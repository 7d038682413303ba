package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPinCommand(g *globals) *cobra.Command {
	var unpin bool
	cmd := &cobra.Command{
		Use:   "pin N",
		Short: "Keep a deployment through deploys and cleanups",
		Long: `Pin the deployment at index N of 'arbor status' (or named COMMIT.SERIAL, or a
unique prefix of it): deploy and cleanup keep it and its boot entry. --unpin
lets them remove it again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			name, err := s.Pin(cmd.Context(), args[0], !unpin)
			if err != nil {
				return err
			}
			if unpin {
				fmt.Fprintf(g.stdout, "unpinned %s\n", name)
			} else {
				fmt.Fprintf(g.stdout, "pinned %s\n", name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&unpin, "unpin", false, "unpin instead")
	return cmd
}
