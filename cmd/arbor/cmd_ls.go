package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

type lsEntry struct {
	Path   string     `json:"path"`
	Type   string     `json:"type"` // "dir", "file", "symlink"
	Mode   string     `json:"mode"` // octal st_mode
	UID    uint32     `json:"uid"`
	GID    uint32     `json:"gid"`
	Size   int64      `json:"size"`
	Target string     `json:"target,omitempty"`
	ID     objects.ID `json:"id"` // file object, or dirtree for a directory
	Xattrs []string   `json:"xattrs,omitempty"`
}

func entryInfo(ctx context.Context, r objects.Reader, n repo.Node) (lsEntry, error) {
	e := lsEntry{Path: n.Path}
	if n.IsDir() {
		m, err := objects.ReadDirMeta(ctx, r, n.Meta)
		if err != nil {
			return e, err
		}
		e.Type, e.Mode, e.UID, e.GID, e.ID = "dir", fmt.Sprintf("%o", m.Mode), m.UID, m.GID, n.Tree
		for _, x := range m.Xattrs {
			e.Xattrs = append(e.Xattrs, x.Name)
		}
		return e, nil
	}
	f, err := objects.ReadFile(ctx, r, n.File)
	if err != nil {
		return e, err
	}
	e.Type, e.Mode, e.UID, e.GID, e.ID, e.Size, e.Target = "file", fmt.Sprintf("%o", f.Mode), f.UID, f.GID, n.File, f.Size(), f.Target
	if f.IsSymlink() {
		e.Type = "symlink"
	}
	for _, x := range f.Xattrs {
		e.Xattrs = append(e.Xattrs, x.Name)
	}
	return e, nil
}

func formatLong(e lsEntry) string {
	var mode uint32
	fmt.Sscanf(e.Mode, "%o", &mode)
	s := fmt.Sprintf("%s %5d %5d %10d %s", objects.ModeString(mode), e.UID, e.GID, e.Size, e.Path)
	if e.Target != "" {
		s += " -> " + e.Target
	}
	return s
}

func newLsCommand(g *globals) *cobra.Command {
	var long, recursive, jsonOut bool
	cmd := &cobra.Command{
		Use:   "ls COMMIT [PATH]",
		Short: "List a directory of a commit's tree",
		Long: `List the entries of PATH (default "/") in COMMIT's tree. With -l, show mode,
owner, size and symlink target; with -R, list the whole subtree.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			_, c, err := resolveCommit(ctx, r, args[0])
			if err != nil {
				return err
			}
			p := "/"
			if len(args) == 2 {
				p = args[1]
			}
			n, err := repo.Lookup(ctx, r, c, p)
			if err != nil {
				return fmt.Errorf("%w: %v", errPathNotFound, err)
			}
			var out []lsEntry
			emit := func(e lsEntry) {
				switch {
				case jsonOut:
					out = append(out, e)
				case long:
					fmt.Fprintln(g.stdout, formatLong(e))
				default:
					name := e.Path
					if e.Type == "dir" && name != "/" {
						name += "/"
					}
					fmt.Fprintln(g.stdout, name)
				}
			}
			if !n.IsDir() {
				e, err := entryInfo(ctx, r, n)
				if err != nil {
					return err
				}
				emit(e)
			} else if err := listDir(ctx, r, n, recursive, emit); err != nil {
				return err
			}
			if jsonOut {
				if out == nil {
					out = []lsEntry{}
				}
				return writeJSON(g.stdout, out)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "long listing: mode, owner, size, link target")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list subdirectories too")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func listDir(ctx context.Context, r objects.Reader, n repo.Node, recursive bool, emit func(lsEntry)) error {
	t, err := objects.ReadDirTree(ctx, r, n.Tree)
	if err != nil {
		return err
	}
	for _, de := range t.Entries {
		child := repo.Node{Path: path.Join(n.Path, de.Name), DirEntry: de}
		e, err := entryInfo(ctx, r, child)
		if err != nil {
			return err
		}
		emit(e)
		if recursive && de.IsDir() {
			if err := listDir(ctx, r, child, true, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

func newCatCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cat COMMIT PATH",
		Short: "Write a file's content from a commit's tree to standard output",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			_, c, err := resolveCommit(ctx, r, args[0])
			if err != nil {
				return err
			}
			n, err := repo.Lookup(ctx, r, c, args[1])
			if err != nil {
				return fmt.Errorf("%w: %v", errPathNotFound, err)
			}
			if n.IsDir() {
				return fmt.Errorf("%s is a directory (use 'arbor ls')", n.Path)
			}
			f, err := objects.ReadFile(ctx, r, n.File)
			if err != nil {
				return err
			}
			if f.IsSymlink() {
				return fmt.Errorf("%s is a symlink to %s", n.Path, f.Target)
			}
			rc := objects.OpenContent(ctx, r, f)
			defer rc.Close()
			_, err = io.Copy(g.stdout, rc)
			if err != nil && !errors.Is(err, objects.ErrCorrupt) && strings.Contains(err.Error(), "broken pipe") {
				return nil
			}
			return err
		},
	}
}
