package repo

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/arbor-ota/arbor/objects"
)

// Node is an entry found in a tree: a directory (Tree and Meta set) or a
// file (File set).
type Node struct {
	Path string
	objects.DirEntry
}

// Lookup finds the entry at p (slash-separated, "/" for the root) in the
// tree of a commit.
func Lookup(ctx context.Context, r objects.Reader, c *objects.Commit, p string) (Node, error) {
	n := Node{Path: "/", DirEntry: objects.DirEntry{Tree: c.Tree, Meta: c.Meta}}
	p = strings.Trim(path.Clean("/"+p), "/")
	if p == "" {
		return n, nil
	}
	for _, name := range strings.Split(p, "/") {
		if !n.IsDir() {
			return Node{}, fmt.Errorf("%s: not a directory", n.Path)
		}
		t, err := objects.ReadDirTree(ctx, r, n.Tree)
		if err != nil {
			return Node{}, err
		}
		e, ok := t.Lookup(name)
		if !ok {
			return Node{}, fmt.Errorf("%s: no such file or directory", path.Join(n.Path, name))
		}
		n = Node{Path: path.Join(n.Path, name), DirEntry: e}
	}
	return n, nil
}

// ChangeType says how a path differs between two trees.
type ChangeType byte

// Change types, as printed by diff.
const (
	Added    ChangeType = 'A'
	Removed  ChangeType = 'D'
	Modified ChangeType = 'M'
)

// Change is one path that differs between two trees. For a directory that
// was added or removed, only the directory itself is listed.
type Change struct {
	Type ChangeType
	Path string
	Old  objects.DirEntry // zero for Added
	New  objects.DirEntry // zero for Removed
}

// Diff compares two trees by a Merkle walk: subtrees with equal IDs are
// skipped without being read, so the cost grows with what changed. A
// directory whose metadata changed is Modified; a path that changed between
// file and directory is Removed then Added.
func Diff(ctx context.Context, r objects.Reader, a, b objects.DirEntry, fn func(Change) error) error {
	if a.Meta != b.Meta {
		if err := fn(Change{Type: Modified, Path: "/", Old: a, New: b}); err != nil {
			return err
		}
	}
	return diffTrees(ctx, r, "/", a.Tree, b.Tree, fn)
}

func diffTrees(ctx context.Context, r objects.Reader, p string, a, b objects.ID, fn func(Change) error) error {
	if a == b {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ta, err := objects.ReadDirTree(ctx, r, a)
	if err != nil {
		return err
	}
	tb, err := objects.ReadDirTree(ctx, r, b)
	if err != nil {
		return err
	}
	i, j := 0, 0
	for i < len(ta.Entries) || j < len(tb.Entries) {
		var ea, eb *objects.DirEntry
		switch {
		case j == len(tb.Entries) || i < len(ta.Entries) && ta.Entries[i].Name < tb.Entries[j].Name:
			ea = &ta.Entries[i]
			i++
		case i == len(ta.Entries) || tb.Entries[j].Name < ta.Entries[i].Name:
			eb = &tb.Entries[j]
			j++
		default:
			ea, eb = &ta.Entries[i], &tb.Entries[j]
			i++
			j++
		}
		var cp string
		if ea != nil {
			cp = path.Join(p, ea.Name)
		} else {
			cp = path.Join(p, eb.Name)
		}
		switch {
		case eb == nil:
			err = fn(Change{Type: Removed, Path: cp, Old: *ea})
		case ea == nil:
			err = fn(Change{Type: Added, Path: cp, New: *eb})
		case ea.IsDir() != eb.IsDir():
			if err = fn(Change{Type: Removed, Path: cp, Old: *ea}); err == nil {
				err = fn(Change{Type: Added, Path: cp, New: *eb})
			}
		case ea.IsDir():
			if ea.Meta != eb.Meta {
				err = fn(Change{Type: Modified, Path: cp, Old: *ea, New: *eb})
			}
			if err == nil {
				err = diffTrees(ctx, r, cp, ea.Tree, eb.Tree, fn)
			}
		case ea.File != eb.File:
			err = fn(Change{Type: Modified, Path: cp, Old: *ea, New: *eb})
		}
		if err != nil {
			return err
		}
	}
	return nil
}
