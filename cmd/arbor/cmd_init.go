package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/repo"
)

func newInitCommand(g *globals) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a repository",
		Long: `Create an empty repository at --repo.

Modes:
  archive  chunks stored zstd-compressed; for build machines and publishing (default)
  bare     files stored whole with owner, mode and xattrs, so checkouts are hard
           links; for devices (needs root to keep owners)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.repo == "" {
				return usagef("no repository: give --repo PATH")
			}
			m, err := repo.ParseMode(mode)
			if err != nil {
				return usagef("%v", err)
			}
			r, err := repo.Init(g.repo, m)
			if err != nil {
				return err
			}
			defer r.Close()
			fmt.Fprintf(g.stdout, "initialized %s repository in %s\n", m, g.repo)
			return nil
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "archive", "repository mode: archive or bare")
	return cmd
}
