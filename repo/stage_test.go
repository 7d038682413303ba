package repo_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// TestTxRefusedPutCanBeRetried: a Put that is refused (here a file object
// before its chunk) leaves nothing staged and does not keep the object
// claimed: the same Put succeeds once its chunk is there, in the same
// transaction, and the commit is complete.
func TestTxRefusedPutCanBeRetried(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			repotest.RequireRoot(t)
			r := repotest.New(t, mode)
			ctx := t.Context()
			content := strings.Repeat("retry ", 1000)
			chunk := []byte(content)
			f := objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: objects.Sum(chunk), Size: uint32(len(chunk))}}}
			enc, err := f.Encode()
			if err != nil {
				t.Fatal(err)
			}
			err = r.Update(ctx, func(tx *repo.Tx) error {
				if _, err := tx.PutBytes(ctx, objects.KindFile, enc); !errors.Is(err, objects.ErrNotFound) {
					t.Errorf("file before its chunk: %v, want ErrNotFound", err)
				}
				if ok, err := tx.Has(ctx, objects.KindFile, objects.Sum(enc)); ok || err != nil {
					t.Errorf("refused file: Has = %v, %v", ok, err)
				}
				if _, err := tx.PutBytes(ctx, objects.KindChunk, chunk); err != nil {
					return err
				}
				id, err := tx.PutBytes(ctx, objects.KindFile, enc)
				if err != nil {
					return err
				}
				tree, meta, err := putTree(ctx, tx, map[string]objects.ID{"f": id})
				if err != nil {
					return err
				}
				c, err := repotest.WriteCommit(ctx, tx, "main", tree, meta)
				if err != nil {
					return err
				}
				return tx.SetRef("main", c)
			})
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := r.Has(ctx, objects.KindFile, objects.Sum(enc)); !ok || err != nil {
				t.Errorf("file after the commit: Has = %v, %v", ok, err)
			}
		})
	}
}
