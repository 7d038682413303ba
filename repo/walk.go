package repo

import (
	"context"
	"fmt"
	"path"

	"github.com/arbor-ota/arbor/objects"
)

// Walker visits the closure of commits: every object a commit reaches, each
// once, parents before children. It remembers what it has visited across
// calls, so walking many commits that share subtrees costs only what differs.
type Walker struct {
	R objects.Reader
	// Visit is called once per object reached, with the path where it was
	// first seen; returning false skips an object's children.
	Visit func(kind objects.Kind, id objects.ID, where string) bool
	// Missing is called for an object that cannot be read (missing,
	// corrupt, invalid); the walk goes on. If nil, the walk stops with the error.
	Missing func(kind objects.Kind, id objects.ID, where string, err error)

	seen map[stageKey]struct{}
}

func (w *Walker) mark(kind objects.Kind, id objects.ID) bool {
	if w.seen == nil {
		w.seen = map[stageKey]struct{}{}
	}
	k := stageKey{kind, id}
	if _, ok := w.seen[k]; ok {
		return false
	}
	w.seen[k] = struct{}{}
	return true
}

// Seen reports whether the object was reached by an earlier walk.
func (w *Walker) Seen(kind objects.Kind, id objects.ID) bool {
	_, ok := w.seen[stageKey{kind, id}]
	return ok
}

func (w *Walker) fail(kind objects.Kind, id objects.ID, where string, err error) error {
	if w.Missing != nil {
		w.Missing(kind, id, where, err)
		return nil
	}
	return fmt.Errorf("%s: %w", where, err)
}

// Commit walks one commit's tree (not its parents).
func (w *Walker) Commit(ctx context.Context, id objects.ID, name string) error {
	if !w.mark(objects.KindCommit, id) {
		return nil
	}
	where := "commit " + id.Short()
	if name != "" {
		where = name
	}
	if w.Visit != nil && !w.Visit(objects.KindCommit, id, where) {
		return nil
	}
	c, err := objects.ReadCommit(ctx, w.R, id)
	if err != nil {
		return w.fail(objects.KindCommit, id, where, err)
	}
	if err := w.meta(ctx, c.Meta, where+":/"); err != nil {
		return err
	}
	return w.tree(ctx, c.Tree, where+":", "/")
}

func (w *Walker) meta(ctx context.Context, id objects.ID, where string) error {
	if !w.mark(objects.KindDirMeta, id) {
		return nil
	}
	if w.Visit != nil && !w.Visit(objects.KindDirMeta, id, where) {
		return nil
	}
	if _, err := objects.ReadDirMeta(ctx, w.R, id); err != nil {
		return w.fail(objects.KindDirMeta, id, where, err)
	}
	return nil
}

func (w *Walker) tree(ctx context.Context, id objects.ID, prefix, p string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !w.mark(objects.KindDirTree, id) {
		return nil
	}
	if w.Visit != nil && !w.Visit(objects.KindDirTree, id, prefix+p) {
		return nil
	}
	t, err := objects.ReadDirTree(ctx, w.R, id)
	if err != nil {
		return w.fail(objects.KindDirTree, id, prefix+p, err)
	}
	for _, e := range t.Entries {
		cp := path.Join(p, e.Name)
		if e.IsDir() {
			if err := w.meta(ctx, e.Meta, prefix+cp); err != nil {
				return err
			}
			if err := w.tree(ctx, e.Tree, prefix, cp); err != nil {
				return err
			}
			continue
		}
		if err := w.file(ctx, e.File, prefix+cp); err != nil {
			return err
		}
	}
	return nil
}

func (w *Walker) file(ctx context.Context, id objects.ID, where string) error {
	if !w.mark(objects.KindFile, id) {
		return nil
	}
	if w.Visit != nil && !w.Visit(objects.KindFile, id, where) {
		return nil
	}
	f, err := objects.ReadFile(ctx, w.R, id)
	if err != nil {
		return w.fail(objects.KindFile, id, where, err)
	}
	for _, c := range f.Chunks {
		if !w.mark(objects.KindChunk, c.ID) {
			continue
		}
		if w.Visit != nil && !w.Visit(objects.KindChunk, c.ID, where) {
			continue
		}
	}
	return nil
}
