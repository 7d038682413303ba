package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCleanupCommand(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove what no deployment needs",
		Long: `Remove boot entries whose tries ran out (unless booted or pinned), deployments
and kernels no boot entry names, what killed commands left behind, and
repository objects that no deployment or ref needs (only the commits refs
point at are kept, not their history).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Cleanup(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, st)
			}
			fmt.Fprintf(g.stdout, "removed %d bad boot entries, %d deployments, %d kernels, %d objects (%s)\n",
				len(st.Entries), len(st.Deployments), len(st.Kernels), st.Repo.Objects, humanBytes(st.Repo.Bytes))
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}
