package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/checkout"
)

func newCheckoutCommand(g *globals) *cobra.Command {
	var copyFiles bool
	cmd := &cobra.Command{
		Use:   "checkout COMMIT DIR",
		Short: "Write a commit's tree into a new directory",
		Long: `Write COMMIT's tree into DIR, which must not exist or be empty: content,
modes, owners (when run as root), xattrs (where the filesystem allows),
symlinks, and mtime 0 everywhere. Nothing is ever written outside DIR.

From a bare repository files are hard links into the repository (do not modify
them in place: that would change the repository); --copy writes copies.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			id, c, err := resolveCommit(ctx, r, args[0])
			if err != nil {
				return err
			}
			prog := newProgress(g.stderr, "checking out", -1, false)
			opts := checkout.Options{
				Copy:     copyFiles,
				NoOwners: os.Geteuid() != 0,
				Warn:     func(m string) { fmt.Fprintln(g.stderr, "arbor: warning:", m) },
				Progress: func(files, _ int64) { prog.add(files) },
			}
			start := time.Now()
			st, err := checkout.Tree(ctx, r, c.Tree, c.Meta, args[1], opts)
			prog.done()
			if err != nil {
				return fmt.Errorf("checkout %s into %s: %w", id.Short(), args[1], err)
			}
			fmt.Fprintf(g.stderr, "checked out %s into %s: %d files (%d hard-linked, %d copied: %s), %d symlinks, %d directories in %.2fs\n",
				id.Short(), args[1], st.Links+st.Files, st.Links, st.Files, humanBytes(st.Bytes), st.Symlinks, st.Dirs, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().BoolVar(&copyFiles, "copy", false, "copy files even from a bare repository")
	return cmd
}
