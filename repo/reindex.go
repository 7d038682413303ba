package repo

import (
	"context"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/arbor-ota/arbor/objects"
)

// RebuildIndex rebuilds the chunk index of a bare repository from its file
// objects: every chunk of every stored file is located in that file's
// content. It holds the writer lock. It returns how many chunks are indexed.
// In an archive repository there is nothing to rebuild.
func (r *Repo) RebuildIndex(ctx context.Context) (int, error) {
	if r.mode != Bare {
		return 0, nil
	}
	n := 0
	err := r.Update(ctx, func(*Tx) error {
		var files []objects.ID
		if err := r.scan(func(o storedObject) {
			if o.kind == objects.KindFile && !o.content {
				files = append(files, o.id)
			}
		}, func(string) {}); err != nil {
			return err
		}
		locs := map[objects.ID]chunkLoc{}
		for _, id := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			if _, err := os.Lstat(r.contentPath(id)); err != nil {
				continue
			}
			f, err := objects.ReadFile(ctx, r, id)
			if err != nil {
				continue // damaged: fsck reports it
			}
			var off int64
			for _, c := range f.Chunks {
				if _, ok := locs[c.ID]; !ok {
					locs[c.ID] = chunkLoc{file: id, offset: off, size: c.Size}
				}
				off += int64(c.Size)
			}
		}
		db, err := r.index()
		if err != nil {
			return err
		}
		return db.Update(func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket(bucketChunks); err != nil && err != bolt.ErrBucketNotFound {
				return err
			}
			b, err := tx.CreateBucket(bucketChunks)
			if err != nil {
				return err
			}
			for id, loc := range locs {
				if err := b.Put(id[:], loc.encode()); err != nil {
					return err
				}
			}
			n = len(locs)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("rebuild index of %s: %w", r.path, err)
	}
	return n, nil
}
