package deltas

import (
	"context"

	"github.com/arbor-ota/arbor/objects"
)

// The tree section of a delta is a walk of the new commit's tree beside the
// old one, the same on both sides, so that neither has to name the objects
// it is about: the generator writes one flag (and maybe bytes) per
// candidate, and the applier reads them in the same order, knowing each
// candidate's ID from its parent, already verified.
//
// The walk, from the roots of both commits (path ""):
//
//	walk(path, new meta M, new tree T, old meta m, old tree t):
//	    if M != m: candidate(dirmeta M, counterpart m)
//	    if T != t: candidate(dirtree T, counterpart t); if it was sent, for
//	        each entry of T in order (o: the entry of the same name in t):
//	        a directory: walk(path/name, its meta, its tree, o's if o is a directory)
//	        a file F:   candidate(file F, counterpart o's file if o is a file) unless F == o's file
//
// A candidate whose kind and ID were met before in the walk is skipped (no
// flag). A dirtree candidate that is known (the repository holds it, so its
// whole subtree) is not descended into. The counterpart is the old object
// at the same path, which a patched object uses as its zstd prefix.

type candidate struct {
	kind        objects.Kind
	id          objects.ID
	path        string
	counterpart objects.ID // zero if none
}

// visitFunc is called for each candidate in walk order. For a dirtree it
// returns the decoded tree to descend into, or nil not to descend.
type visitFunc func(c candidate) (*objects.DirTree, error)

type walkKey struct {
	kind objects.Kind
	id   objects.ID
}

type treeWalk struct {
	ctx   context.Context
	old   objects.Reader
	visit visitFunc
	seen  map[walkKey]bool
}

func (w *treeWalk) cand(kind objects.Kind, id objects.ID, path string, cp objects.ID) (*objects.DirTree, bool, error) {
	k := walkKey{kind, id}
	if w.seen[k] {
		return nil, false, nil
	}
	w.seen[k] = true
	t, err := w.visit(candidate{kind: kind, id: id, path: path, counterpart: cp})
	return t, true, err
}

func walkTrees(ctx context.Context, old objects.Reader, newMeta, newTree, oldMeta, oldTree objects.ID, visit visitFunc) error {
	w := &treeWalk{ctx: ctx, old: old, visit: visit, seen: map[walkKey]bool{}}
	return w.dir("", newMeta, newTree, oldMeta, oldTree)
}

func (w *treeWalk) dir(path string, nm, nt, om, ot objects.ID) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if nm != om {
		if _, _, err := w.cand(objects.KindDirMeta, nm, path, om); err != nil {
			return err
		}
	}
	if nt == ot {
		return nil
	}
	t, _, err := w.cand(objects.KindDirTree, nt, path, ot)
	if err != nil || t == nil {
		return err
	}
	var old *objects.DirTree
	if !ot.IsZero() {
		if old, err = objects.ReadDirTree(w.ctx, w.old, ot); err != nil {
			return sourceErr(err)
		}
	}
	for _, e := range t.Entries {
		var o objects.DirEntry
		var ok bool
		if old != nil {
			o, ok = old.Lookup(e.Name)
		}
		p := e.Name
		if path != "" {
			p = path + "/" + e.Name
		}
		if e.IsDir() {
			var om, ot objects.ID
			if ok && o.IsDir() {
				om, ot = o.Meta, o.Tree
			}
			if err := w.dir(p, e.Meta, e.Tree, om, ot); err != nil {
				return err
			}
			continue
		}
		var of objects.ID
		if ok && !o.IsDir() {
			of = o.File
		}
		if e.File == of {
			continue
		}
		if _, _, err := w.cand(objects.KindFile, e.File, p, of); err != nil {
			return err
		}
	}
	return nil
}
