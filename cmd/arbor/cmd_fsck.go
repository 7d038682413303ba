package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/repo"
)

func newFsckCommand(g *globals) *cobra.Command {
	var jsonOut, repair bool
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Verify every object and every ref",
		Long: `Verify every stored object (hash, size, encoding; in a bare repository each
file's content, mode, owner and xattrs) and that every ref reaches a complete
tree. Each problem is printed on its own line naming the object and where it is
used. Exits 4 when anything is damaged or missing. --repair first rebuilds
what can be rebuilt from the objects (the chunk index of a bare repository);
it never changes an object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			if repair {
				n, err := r.RebuildIndex(cmd.Context())
				if err != nil {
					return err
				}
				if r.Mode() == repo.Bare {
					fmt.Fprintf(g.stderr, "rebuilt the chunk index: %d chunks\n", n)
				}
			}
			rep, err := r.Fsck(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOut {
				if err := writeJSON(g.stdout, rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(g.stdout, p)
				}
				fmt.Fprintf(g.stderr, "checked %d objects and %d refs: %d problems\n", rep.Objects, rep.Commits, len(rep.Problems))
			}
			if len(rep.Problems) > 0 {
				return &damageError{fmt.Sprintf("fsck found %d problems in %s; restore the objects named above (pull or commit them again)", len(rep.Problems), g.repo)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&repair, "repair", false, "first rebuild the indexes (bare repositories: the chunk index) from the objects")
	return cmd
}
