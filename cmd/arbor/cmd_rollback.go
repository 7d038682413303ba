package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRollbackCommand(g *globals) *cobra.Command {
	var reboot bool
	var rebootCmd string
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Make the previous deployment the next boot",
		Long: `Make the previous deployment the next boot: while a deployment waits for a
reboot, the booted one (the pending one stays, second); otherwise the first
deployment after the current one that is not bad. It gets a new boot entry,
first in order and not counted; its old entry goes after. --reboot reboots
afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.Rollback(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "next boot: %s (boot entry %s); %s is second\n", res.To, res.Entry, res.From)
			if reboot {
				return g.reboot(cmd.Context(), rebootCmd)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&reboot, "reboot", false, "reboot afterwards")
	cmd.Flags().StringVar(&rebootCmd, "reboot-command", "", "command that reboots (default $ARBOR_REBOOT_COMMAND, else 'systemctl reboot' or 'reboot -f')")
	return cmd
}
