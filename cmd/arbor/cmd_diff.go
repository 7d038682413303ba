package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

type diffEntry struct {
	Type string `json:"type"` // "added", "removed", "modified"
	Path string `json:"path"`
}

func newDiffCommand(g *globals) *cobra.Command {
	var stat, jsonOut bool
	cmd := &cobra.Command{
		Use:   "diff FROM TO",
		Short: "List paths added, removed or modified between two commits",
		Long: `Compare two commits' trees by a Merkle walk: unchanged subtrees are skipped
without being read. Each line is A (added), D (removed) or M (modified: content,
mode, owner, xattrs or link target) and a path; an added or removed directory is
one line. --stat prints counts and the change in content size.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			_, a, err := resolveCommit(ctx, r, args[0])
			if err != nil {
				return err
			}
			_, b, err := resolveCommit(ctx, r, args[1])
			if err != nil {
				return err
			}
			names := map[repo.ChangeType]string{repo.Added: "added", repo.Removed: "removed", repo.Modified: "modified"}
			counts := map[repo.ChangeType]int{}
			list := []diffEntry{}
			var sizeDelta int64
			size := func(e objects.DirEntry) int64 {
				if e.IsDir() || e.File.IsZero() {
					return 0
				}
				f, err := objects.ReadFile(ctx, r, e.File)
				if err != nil {
					return 0
				}
				return f.Size()
			}
			err = repo.Diff(ctx, r, objects.DirEntry{Tree: a.Tree, Meta: a.Meta}, objects.DirEntry{Tree: b.Tree, Meta: b.Meta},
				func(c repo.Change) error {
					counts[c.Type]++
					if stat {
						if c.Type != repo.Added {
							sizeDelta -= size(c.Old)
						}
						if c.Type != repo.Removed {
							sizeDelta += size(c.New)
						}
						return nil
					}
					if jsonOut {
						list = append(list, diffEntry{Type: names[c.Type], Path: c.Path})
						return nil
					}
					_, err := fmt.Fprintf(g.stdout, "%c %s\n", c.Type, c.Path)
					return err
				})
			if err != nil {
				return err
			}
			switch {
			case stat && jsonOut:
				return writeJSON(g.stdout, map[string]any{"added": counts[repo.Added], "removed": counts[repo.Removed],
					"modified": counts[repo.Modified], "size_delta": sizeDelta})
			case stat:
				fmt.Fprintf(g.stdout, "%d added, %d removed, %d modified; file content %+d bytes (top-level changes only for whole directories)\n",
					counts[repo.Added], counts[repo.Removed], counts[repo.Modified], sizeDelta)
			case jsonOut:
				return writeJSON(g.stdout, list)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&stat, "stat", false, "print counts only")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}
