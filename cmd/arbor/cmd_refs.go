package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newRefsCommand(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "refs",
		Short: "List refs and the commits they point at",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			refs, err := r.Refs()
			if err != nil {
				return err
			}
			if jsonOut {
				if refs == nil {
					return writeJSON(g.stdout, []any{})
				}
				return writeJSON(g.stdout, refs)
			}
			for _, ref := range refs {
				fmt.Fprintf(g.stdout, "%s %s\n", ref.Commit, ref.Name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
