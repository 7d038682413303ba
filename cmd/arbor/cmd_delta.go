package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/deltas"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

func newDeltaCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delta",
		Short: "Generate, list and show static deltas",
		Long: `A static delta takes a device from one commit to another in a few
downloads: a superblock and parts holding the new objects, with each changed
file sent as a patch of its old version (bsdiff or zstd, the smaller) and new
files compressed together. Deltas live in the repository under deltas/;
'arbor publish' publishes those that end at a published commit, and devices
holding the start commit pick them when they cost less than the other ways.`,
	}
	cmd.AddCommand(newDeltaGenerateCommand(g), newDeltaListCommand(g), newDeltaShowCommand(g), newDeltaRmCommand(g))
	return cmd
}

func deltaDir(r *repo.Repo) deltas.Dir { return deltas.Dir{Path: filepath.Join(r.Path(), "deltas")} }

type deltaJSON struct {
	From       objects.ID   `json:"from"`
	To         objects.ID   `json:"to"`
	Superblock objects.ID   `json:"superblock"`
	Size       int64        `json:"superblock_size"`
	Total      int64        `json:"total"`
	Window     int64        `json:"window"`
	Parts      []partJSON   `json:"parts"`
	Stats      deltas.Stats `json:"stats"`
	Seconds    float64      `json:"seconds,omitempty"`
	Path       string       `json:"path"`
}

type partJSON struct {
	Hash  objects.ID `json:"hash"`
	Size  int64      `json:"size"`
	USize int64      `json:"usize"`
}

func toDeltaJSON(s *deltas.Stored) deltaJSON {
	sb := s.Superblock
	d := deltaJSON{From: sb.From, To: sb.To, Superblock: objects.Sum(s.Raw), Size: int64(len(s.Raw)), Total: int64(len(s.Raw)),
		Window: sb.Window, Stats: sb.Stats, Path: s.Dir}
	for _, p := range sb.Parts {
		d.Parts = append(d.Parts, partJSON{Hash: p.Hash, Size: p.Size, USize: p.USize})
		d.Total += p.Size
	}
	return d
}

func newDeltaGenerateCommand(g *globals) *cobra.Command {
	var from, to, window string
	var fromEach, level, workers int
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "generate --to COMMIT (--from COMMIT | --from-each N)",
		Short: "Generate the static delta between two commits",
		Long: `Generate the static delta from --from to --to (or from each of the
--from-each N commits before --to, following parents) and store it in the
repository, replacing one generated before. --window bounds the memory a device
needs to apply it: the zstd window of its streams and the most old plus new
content one zstd patch covers (larger files are patched with bsdiff, searched
window by window).`,
		Example: `  arbor --repo R delta generate --from os/stable^ --to os/stable
  arbor --repo R delta generate --to os/stable --from-each 3 --window 16M`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if to == "" || (from == "") == (fromEach == 0) {
				return usagef("delta generate needs --to and one of --from or --from-each")
			}
			opts := deltas.Options{Level: level, Workers: workers}
			if window != "" {
				n, err := parseSize(window)
				if err != nil {
					return usagef("--window %q: %v", window, err)
				}
				opts.Window = n
			}
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			toID, err := r.Resolve(ctx, to)
			if err != nil {
				return err
			}
			var froms []objects.ID
			if from != "" {
				id, err := r.Resolve(ctx, from)
				if err != nil {
					return err
				}
				froms = append(froms, id)
			} else {
				if froms, err = ancestors(ctx, r, toID, fromEach); err != nil {
					return err
				}
				if len(froms) == 0 {
					return fmt.Errorf("commit %s has no parent to generate a delta from", toID.Short())
				}
			}
			var out []deltaJSON
			for _, f := range froms {
				start := time.Now()
				s, err := deltaDir(r).Generate(ctx, r, f, toID, opts)
				if err != nil {
					return err
				}
				d := toDeltaJSON(s)
				d.Seconds = time.Since(start).Seconds()
				out = append(out, d)
				if !jsonOut {
					printDeltaLine(g.stdout, d)
				}
			}
			if jsonOut {
				return writeJSON(g.stdout, out)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "commit the devices have")
	fl.StringVar(&to, "to", "", "commit to go to")
	fl.IntVar(&fromEach, "from-each", 0, "generate from each of the N commits before --to")
	fl.StringVar(&window, "window", "", "patch window (default 32M)")
	fl.IntVar(&level, "level", 0, "zstd level (default 19)")
	fl.IntVar(&workers, "workers", 0, "files patched at once (default: the number of CPUs)")
	fl.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}

// ancestors returns up to n ancestors of id, nearest first.
func ancestors(ctx context.Context, r *repo.Repo, id objects.ID, n int) ([]objects.ID, error) {
	var out []objects.ID
	for len(out) < n {
		c, err := objects.ReadCommit(ctx, r, id)
		if err != nil {
			return nil, err
		}
		if c.Parent == nil {
			break
		}
		id = *c.Parent
		out = append(out, id)
	}
	return out, nil
}

func printDeltaLine(w io.Writer, d deltaJSON) {
	s := d.Stats
	fmt.Fprintf(w, "%s-%s  %10s in %d part(s)  %d files: %d bsdiff, %d zstd, %d copied, %d whole",
		d.From.Short(), d.To.Short(), humanBytes(d.Total), len(d.Parts), s.Files, s.Bsdiff, s.Zstd, s.Copied, s.Literal)
	if d.Seconds > 0 {
		fmt.Fprintf(w, "  (%.1fs)", d.Seconds)
	}
	fmt.Fprintln(w)
}

func newDeltaListCommand(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stored deltas",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			list, err := deltaDir(r).List()
			if err != nil {
				return err
			}
			out := []deltaJSON{}
			for _, s := range list {
				out = append(out, toDeltaJSON(s))
			}
			if jsonOut {
				return writeJSON(g.stdout, out)
			}
			if len(out) == 0 {
				fmt.Fprintln(g.stderr, "no deltas (generate one with 'arbor delta generate')")
			}
			for _, d := range out {
				printDeltaLine(g.stdout, d)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

// resolvePair resolves "FROM-TO", where either side may be any commit name
// (refs may themselves hold '-': every split is tried).
func resolvePair(ctx context.Context, r *repo.Repo, spec string) (objects.ID, objects.ID, error) {
	var found [][2]objects.ID
	for i := 0; i < len(spec); i++ {
		if spec[i] != '-' {
			continue
		}
		a, errA := r.Resolve(ctx, spec[:i])
		b, errB := r.Resolve(ctx, spec[i+1:])
		if errA == nil && errB == nil {
			found = append(found, [2]objects.ID{a, b})
		}
	}
	switch len(found) {
	case 0:
		return objects.ID{}, objects.ID{}, fmt.Errorf("%q: want FROM-TO, two commits: %w", spec, repo.ErrCommitNotSet)
	case 1:
		return found[0][0], found[0][1], nil
	}
	return objects.ID{}, objects.ID{}, usagef("%q splits into two commits in more than one way; use full IDs", spec)
}

func newDeltaShowCommand(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show FROM-TO",
		Short: "Show a stored delta: its sizes, parts and what it covers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			from, to, err := resolvePair(ctx, r, args[0])
			if err != nil {
				return err
			}
			s, err := deltaDir(r).Get(from, to)
			if err != nil {
				return notFound(err)
			}
			d := toDeltaJSON(s)
			if jsonOut {
				return writeJSON(g.stdout, d)
			}
			w := g.stdout
			fmt.Fprintf(w, "delta %s\n", deltas.Name(from, to))
			for _, side := range []struct {
				name string
				id   objects.ID
			}{{"from", from}, {"to", to}} {
				fmt.Fprintf(w, "%-5s %s", side.name, side.id.Short())
				if c, err := objects.ReadCommit(ctx, r, side.id); err == nil {
					fmt.Fprintf(w, "  release %d %s  %s", c.Release(), c.Version(), c.Subject)
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "total      %s (superblock %s, %s)\n", humanBytes(d.Total), humanBytes(d.Size), d.Superblock.Short())
			fmt.Fprintf(w, "window     %s\n", humanBytes(d.Window))
			st := d.Stats
			fmt.Fprintf(w, "produces   %d file contents (%s), %d other objects sent whole or patched\n", st.Files, humanBytes(st.ContentBytes), st.Objects)
			fmt.Fprintf(w, "contents   %d bsdiff, %d zstd patches, %d copies of a content the device has, %d sent whole\n", st.Bsdiff, st.Zstd, st.Copied, st.Literal)
			for i, p := range d.Parts {
				fmt.Fprintf(w, "part %-4d  %10s  (%s uncompressed)  %s\n", i, humanBytes(p.Size), humanBytes(p.USize), p.Hash)
			}
			fmt.Fprintf(w, "stored in  %s\n", s.Dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func newDeltaRmCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm FROM-TO",
		Short: "Remove a stored delta (a published one stays on the site until it is republished)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			from, to, err := resolvePair(ctx, r, args[0])
			if err != nil {
				return err
			}
			return notFound(deltaDir(r).Remove(from, to))
		},
	}
}

// notFound makes a missing delta exit as "not found".
func notFound(err error) error {
	if errors.Is(err, deltas.ErrNoDelta) {
		return fmt.Errorf("%w (%w)", err, objects.ErrNotFound)
	}
	return err
}
