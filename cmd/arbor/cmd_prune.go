package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/repo"
)

func newPruneCommand(g *globals) *cobra.Command {
	var keep string
	var depth int
	var dryRun, jsonOut bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove objects that no ref reaches",
		Long: `Remove every object that no ref reaches. A ref keeps its commit and, by
default, its whole history; --depth N keeps only N ancestors. Commits younger
than --keep-younger-than (e.g. 30d, 12h) are kept even without a ref. Never
removes anything a ref reaches; waits for other writers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if depth < -1 {
				return usagef("--depth %d: want -1 (all history) or the number of ancestors to keep", depth)
			}
			opts := repo.PruneOptions{HistoryLimit: depth + 1, DryRun: dryRun}
			if keep != "" {
				d, err := parseAge(keep)
				if err != nil {
					return err
				}
				opts.KeepYoungerThan = d
			}
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			st, err := r.Prune(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, st)
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			fmt.Fprintf(g.stdout, "%s %d objects, %s freed; %d objects kept\n", verb, st.Objects, humanBytes(st.Bytes), st.Kept)
			return nil
		},
	}
	cmd.Flags().StringVar(&keep, "keep-younger-than", "", "keep commits younger than this age (30d, 12h, 90m)")
	cmd.Flags().IntVar(&depth, "depth", -1, "ancestors each ref keeps (-1: all)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be removed, remove nothing")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// parseAge accepts Go durations plus a "d" suffix for days.
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err == nil && days >= 0 {
			return time.Duration(days * 24 * float64(time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, usagef("--keep-younger-than %q: want an age such as 30d, 12h or 90m", s)
	}
	return d, nil
}
