package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/arbor-ota/arbor/internal/crash"
	"github.com/arbor-ota/arbor/objects"
)

// PruneOptions says what prune keeps besides what refs reach.
type PruneOptions struct {
	// KeepYoungerThan keeps commits (and what they reach) whose timestamp
	// is within this duration of now, even if no ref reaches them.
	KeepYoungerThan time.Duration
	// HistoryLimit, when positive, is how many commits of each ref's
	// history are kept: 1 keeps only the commit it points at, N keeps it
	// and N-1 ancestors. Zero keeps the whole history.
	HistoryLimit int
	// DryRun reports what would be removed without removing it.
	DryRun bool
}

// PruneStats reports what prune removed (or would remove).
type PruneStats struct {
	Objects int   `json:"objects_removed"`
	Bytes   int64 `json:"bytes_freed"`
	Kept    int   `json:"objects_kept"`
}

// Prune removes every object that no ref reaches (through its history, as
// far as HistoryLimit allows) and that no kept commit reaches. It holds the writer
// lock throughout, so it never races a commit or a pull. Commits marked
// partial keep what they have, so an interrupted pull can resume.
func (r *Repo) Prune(ctx context.Context, opts PruneOptions) (PruneStats, error) {
	var stats PruneStats
	err := r.Update(ctx, func(tx *Tx) error {
		keep := &Walker{R: r}
		keep.Missing = func(objects.Kind, objects.ID, string, error) {} // keep what is there
		refs, err := r.Refs()
		if err != nil {
			return err
		}
		for _, ref := range refs {
			id := ref.Commit
			for n := 1; opts.HistoryLimit <= 0 || n <= opts.HistoryLimit; n++ {
				if err := keep.Commit(ctx, id, "ref "+ref.Name); err != nil {
					return err
				}
				c, err := objects.ReadCommit(ctx, r, id)
				if err != nil || c.Parent == nil {
					break
				}
				id = *c.Parent
			}
		}
		partial, err := r.PartialCommits()
		if err != nil {
			return err
		}
		for id := range partial {
			if err := keep.Commit(ctx, id, ""); err != nil {
				return err
			}
		}
		var commits []objects.ID
		var all []storedObject
		if err := r.scan(func(o storedObject) {
			all = append(all, o)
			if o.kind == objects.KindCommit {
				commits = append(commits, o.id)
			}
		}, func(string) {}); err != nil {
			return err
		}
		if opts.KeepYoungerThan > 0 {
			cutoff := r.now().Add(-opts.KeepYoungerThan).Unix()
			for _, id := range commits {
				if c, err := objects.ReadCommit(ctx, r, id); err == nil && c.Timestamp >= cutoff {
					if err := keep.Commit(ctx, id, ""); err != nil {
						return err
					}
				}
			}
		}
		all = deletionOrder(ctx, r, all, keep)
		var gone, kept []objects.ID // bare files removed and kept, for the chunk index
		var remove []storedObject
		for _, o := range all {
			if keep.Seen(o.kind, o.id) {
				stats.Kept++
				if o.kind == objects.KindFile && !o.content && r.mode == Bare {
					kept = append(kept, o.id)
				}
				continue
			}
			stats.Objects++
			stats.Bytes += o.size
			if o.kind == objects.KindFile && !o.content && r.mode == Bare {
				gone = append(gone, o.id)
			}
			remove = append(remove, o)
		}
		if opts.DryRun {
			return nil
		}
		// Point the chunk index away from the files that go before any of
		// them goes: a crash halfway must not leave entries naming removed
		// files while kept files hold the same chunks.
		if len(gone) > 0 {
			if err := r.dropChunkIndex(ctx, gone, kept); err != nil {
				return err
			}
		}
		for _, o := range remove {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := r.objectPath(o.kind, o.id)
			if o.content {
				p = r.contentPath(o.id)
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("prune %s: %w", p, err)
			}
			crash.Point("prune.removed")
		}
		return nil
	})
	return stats, err
}

// dropChunkIndex removes chunk index entries that point into removed
// files, and points them at a kept file that holds the same chunk, if any.
func (r *Repo) dropChunkIndex(ctx context.Context, files, kept []objects.ID) error {
	gone := make(map[objects.ID]bool, len(files))
	for _, id := range files {
		gone[id] = true
	}
	db, err := r.index()
	if err != nil {
		return err
	}
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		lost := map[objects.ID]bool{}
		err := b.ForEach(func(k, v []byte) error {
			if loc, ok := decodeChunkLoc(v); ok && gone[loc.file] {
				var id objects.ID
				copy(id[:], k)
				lost[id] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		for id := range lost {
			if err := b.Delete(id[:]); err != nil {
				return err
			}
		}
		for _, fid := range kept {
			if len(lost) == 0 {
				break
			}
			f, err := objects.ReadFile(ctx, r, fid)
			if err != nil {
				continue
			}
			var off int64
			for _, c := range f.Chunks {
				if lost[c.ID] {
					if err := b.Put(c.ID[:], chunkLoc{file: fid, offset: off, size: c.Size}.encode()); err != nil {
						return err
					}
					delete(lost, c.ID)
				}
				off += int64(c.Size)
			}
		}
		return nil
	})
}

// deletionOrder sorts objects so that removing them in order keeps the
// invariant "a stored object's children are stored" at every moment: a
// crash halfway through a prune leaves no dirtree without its subtree and
// no bare file object without its content. Commits go first, then dirtrees
// parents before children, then files, dirmetas, and chunks and bare
// content last.
func deletionOrder(ctx context.Context, r *Repo, all []storedObject, keep *Walker) []storedObject {
	rank := func(o storedObject) int {
		switch {
		case o.content:
			return 5
		case o.kind == objects.KindCommit:
			return 0
		case o.kind == objects.KindDirTree:
			return 1
		case o.kind == objects.KindFile:
			return 2
		case o.kind == objects.KindDirMeta:
			return 3
		}
		return 4
	}
	slices.SortStableFunc(all, func(a, b storedObject) int { return rank(a) - rank(b) })
	// Among unreachable dirtrees, parents before children: reverse post-order
	// of a depth-first walk over the dirtree edges between them.
	gone := map[objects.ID]bool{}
	var trees []objects.ID
	for _, o := range all {
		if o.kind == objects.KindDirTree && !keep.Seen(o.kind, o.id) {
			gone[o.id] = true
			trees = append(trees, o.id)
		}
	}
	if len(trees) < 2 {
		return all
	}
	children := map[objects.ID][]objects.ID{}
	for _, id := range trees {
		t, err := objects.ReadDirTree(ctx, r, id)
		if err != nil {
			continue // damaged: no edges known; it goes wherever it falls
		}
		for _, e := range t.Entries {
			if e.IsDir() && gone[e.Tree] {
				children[id] = append(children[id], e.Tree)
			}
		}
	}
	visited := map[objects.ID]bool{}
	var post []objects.ID
	var visit func(id objects.ID)
	visit = func(id objects.ID) {
		if visited[id] {
			return
		}
		visited[id] = true
		for _, c := range children[id] {
			visit(c)
		}
		post = append(post, id)
	}
	for _, id := range trees {
		visit(id)
	}
	pos := make(map[objects.ID]int, len(post))
	for i, id := range post {
		pos[id] = len(post) - i // parents (finished last) first
	}
	slices.SortStableFunc(all, func(a, b storedObject) int {
		if ra, rb := rank(a), rank(b); ra != rb || ra != 1 {
			return ra - rb
		}
		return pos[a.id] - pos[b.id]
	})
	return all
}
