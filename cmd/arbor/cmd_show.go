package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

// commitJSON is how show and log print a commit.
type commitJSON struct {
	ID        objects.ID     `json:"id"`
	Tree      objects.ID     `json:"tree"`
	Meta      objects.ID     `json:"meta"`
	Parent    *objects.ID    `json:"parent"`
	Timestamp int64          `json:"timestamp"`
	Subject   string         `json:"subject"`
	Body      string         `json:"body"`
	Metadata  map[string]any `json:"metadata"`
}

func toCommitJSON(id objects.ID, c *objects.Commit) commitJSON {
	md := map[string]any{}
	for k, v := range c.Metadata {
		md[k] = v
	}
	return commitJSON{ID: id, Tree: c.Tree, Meta: c.Meta, Parent: c.Parent, Timestamp: c.Timestamp,
		Subject: c.Subject, Body: c.Body, Metadata: md}
}

func printCommit(w io.Writer, id objects.ID, c *objects.Commit) {
	fmt.Fprintf(w, "commit %s\n", id)
	if c.Parent != nil {
		fmt.Fprintf(w, "parent %s\n", c.Parent)
	}
	fmt.Fprintf(w, "date   %s\n", time.Unix(c.Timestamp, 0).UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "release %d", c.Release())
	if v := c.Version(); v != "" {
		fmt.Fprintf(w, "  version %s", v)
	}
	fmt.Fprintln(w)
	for _, k := range c.Metadata.Keys() {
		if k == objects.MetaRelease || k == objects.MetaVersion {
			continue
		}
		v := c.Metadata[k]
		if l, ok := v.([]string); ok {
			v = strings.Join(l, ", ")
		}
		fmt.Fprintf(w, "  %s: %s\n", k, objects.FormatMetaValue(v))
	}
	fmt.Fprintf(w, "\n    %s\n", c.Subject)
	if c.Body != "" {
		for _, line := range strings.Split(c.Body, "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

func resolveCommit(ctx context.Context, r *repo.Repo, spec string) (objects.ID, *objects.Commit, error) {
	id, err := r.Resolve(ctx, spec)
	if err != nil {
		return id, nil, err
	}
	c, err := objects.ReadCommit(ctx, r, id)
	return id, c, err
}

func newShowCommand(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show COMMIT",
		Short: "Show a commit: tree, parent, time, subject, metadata",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			id, c, err := resolveCommit(cmd.Context(), r, args[0])
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, toCommitJSON(id, c))
			}
			printCommit(g.stdout, id, c)
			fmt.Fprintf(g.stdout, "\ntree %s\nmeta %s\n", c.Tree, c.Meta)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newLogCommand(g *globals) *cobra.Command {
	var jsonOut bool
	var max int
	cmd := &cobra.Command{
		Use:   "log COMMIT",
		Short: "Show history along parents",
		Args:  cobra.ExactArgs(1),
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
			var list []commitJSON
			for n := 0; max <= 0 || n < max; n++ {
				if jsonOut {
					list = append(list, toCommitJSON(id, c))
				} else {
					if n > 0 {
						fmt.Fprintln(g.stdout)
					}
					printCommit(g.stdout, id, c)
				}
				if c.Parent == nil {
					break
				}
				id = *c.Parent
				if c, err = objects.ReadCommit(ctx, r, id); err != nil {
					if !jsonOut {
						fmt.Fprintf(g.stdout, "\n(history continues at %s, which is not in this repository)\n", id.Short())
					}
					break
				}
			}
			if jsonOut {
				return writeJSON(g.stdout, list)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().IntVarP(&max, "max-count", "n", 0, "show at most N commits")
	return cmd
}
