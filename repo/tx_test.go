package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// putFile stores content as a file object with the given mode and owner,
// through the transaction's public interface, and returns the file's ID.
func putFile(ctx context.Context, tx *repo.Tx, mode uint32, content string) (objects.ID, error) {
	f := objects.File{Mode: mode}
	if mode&objects.ModeTypeMask == objects.ModeSymlink {
		f.Target = content
	} else {
		err := objects.Chunker{}.Split(strings.NewReader(content), func(c []byte) error {
			id, err := tx.PutBytes(ctx, objects.KindChunk, c)
			f.Chunks = append(f.Chunks, objects.ChunkRef{ID: id, Size: uint32(len(c))})
			return err
		})
		if err != nil {
			return objects.ID{}, err
		}
	}
	enc, err := f.Encode()
	if err != nil {
		return objects.ID{}, err
	}
	return tx.PutBytes(ctx, objects.KindFile, enc)
}

// putTree stores a one-level tree of the given files and returns its root.
func putTree(ctx context.Context, tx *repo.Tx, files map[string]objects.ID) (tree, meta objects.ID, err error) {
	var b objects.DirTreeBuilder
	for _, name := range sortedKeys(files) {
		if err := b.AddFile(name, files[name]); err != nil {
			return tree, meta, err
		}
	}
	enc, err := b.Tree().Encode()
	if err != nil {
		return tree, meta, err
	}
	if tree, err = tx.PutBytes(ctx, objects.KindDirTree, enc); err != nil {
		return tree, meta, err
	}
	m := repo.DefaultDirMeta
	enc, err = m.Encode()
	if err != nil {
		return tree, meta, err
	}
	meta, err = tx.PutBytes(ctx, objects.KindDirMeta, enc)
	return tree, meta, err
}

// TestTxConcurrentPutsOfTheSameFile: a Tx is safe for concurrent Puts, also
// of the same object (two identical files of a tree, stored by two import
// workers at once). In a bare repository each Put assembles the file's
// content; two assemblies of one file must not trip over each other.
func TestTxConcurrentPutsOfTheSameFile(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			r := repotest.New(t, mode)
			ctx := t.Context()
			err := r.Update(ctx, func(tx *repo.Tx) error {
				files := map[string]objects.ID{}
				for i := 0; i < 40; i++ {
					content := fmt.Sprintf("file %d\n", i)
					fmode := uint32(objects.ModeRegular | 0o644)
					if i%4 == 3 {
						fmode = objects.ModeSymlink | 0o777
					}
					var wg sync.WaitGroup
					errs := make([]error, 8)
					ids := make([]objects.ID, 8)
					for w := range errs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							ids[w], errs[w] = putFile(ctx, tx, fmode, content)
						}()
					}
					wg.Wait()
					if err := errors.Join(errs...); err != nil {
						return fmt.Errorf("file %d: %w", i, err)
					}
					files[fmt.Sprint(i)] = ids[0]
				}
				tree, meta, err := putTree(ctx, tx, files)
				if err != nil {
					return err
				}
				c := &objects.Commit{Tree: tree, Meta: meta, Metadata: objects.Metadata{
					objects.MetaRefBinding: []string{"main"}, objects.MetaRelease: int64(1)}}
				id, err := repo.WriteCommit(ctx, tx, c)
				if err != nil {
					return err
				}
				return tx.SetRef("main", id)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUpdateRollsBack: a transaction whose function fails, panics or whose
// context is cancelled leaves nothing visible, and releases the lock.
func TestUpdateRollsBack(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			repotest.RequireRoot(t)
			r := repotest.New(t, mode)
			repotest.CommitFS(t, r, "main", repotest.Tree{"a": repotest.File(0o644, "a")})
			before := repotest.Snapshot(t, r)
			stage := func(ctx context.Context, tx *repo.Tx) error {
				id, err := putFile(ctx, tx, objects.ModeRegular|0o644, "never visible")
				if err != nil {
					return err
				}
				tree, meta, err := putTree(ctx, tx, map[string]objects.ID{"x": id})
				if err != nil {
					return err
				}
				_, err = repotest.WriteCommit(ctx, tx, "main", tree, meta)
				return err
			}
			boom := errors.New("boom")
			err := r.Update(t.Context(), func(tx *repo.Tx) error {
				if err := stage(t.Context(), tx); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("Update returned %v, want the function's error", err)
			}
			repotest.AssertUnchanged(t, r, before)

			func() {
				defer func() {
					if p := recover(); p != "panic in tx" {
						t.Errorf("recovered %v, want the function's panic", p)
					}
				}()
				r.Update(t.Context(), func(tx *repo.Tx) error {
					if err := stage(t.Context(), tx); err != nil {
						return err
					}
					panic("panic in tx")
				})
			}()
			repotest.AssertUnchanged(t, r, before)

			ctx, cancel := context.WithCancel(t.Context())
			err = r.Update(ctx, func(tx *repo.Tx) error {
				err := stage(ctx, tx)
				cancel()
				return err
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Update with a cancelled context returned %v", err)
			}
			repotest.AssertUnchanged(t, r, before)

			// The lock was released each time: a writer with no patience gets it.
			r.LockTimeout = 1
			repotest.CommitFS(t, r, "main", repotest.Tree{"b": repotest.File(0o644, "b")})
		})
	}
}

// TestTxPutRefusesBadObjects: Put verifies bytes against the ID, decodes
// metadata, and requires children first; nothing refused is staged.
func TestTxPutRefusesBadObjects(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	ctx := t.Context()
	before := repotest.Snapshot(t, r)
	missing := objects.Sum([]byte("not stored"))
	file := objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: missing, Size: 10}}}
	fileEnc, _ := file.Encode()
	var tb objects.DirTreeBuilder
	tb.AddFile("x", missing)
	treeEnc, _ := tb.Tree().Encode()
	commit := objects.Commit{Tree: missing, Meta: missing, Metadata: objects.Metadata{
		objects.MetaRefBinding: []string{"main"}, objects.MetaRelease: int64(1)}}
	commitEnc, _ := commit.Encode()
	for _, c := range []struct {
		name string
		put  func(tx *repo.Tx) error
		is   error
	}{
		{"wrong ID", func(tx *repo.Tx) error {
			return tx.Put(ctx, objects.KindChunk, missing, strings.NewReader("other bytes"))
		}, objects.ErrCorrupt},
		{"too long", func(tx *repo.Tx) error {
			return tx.Put(ctx, objects.KindDirMeta, missing, bytes.NewReader(make([]byte, 2<<20)))
		}, objects.ErrCorrupt},
		{"not an object", func(tx *repo.Tx) error {
			_, err := tx.PutBytes(ctx, objects.KindDirTree, []byte("garbage"))
			return err
		}, objects.ErrInvalid},
		{"file before its chunks", func(tx *repo.Tx) error {
			_, err := tx.PutBytes(ctx, objects.KindFile, fileEnc)
			return err
		}, objects.ErrNotFound},
		{"dirtree before its files", func(tx *repo.Tx) error {
			_, err := tx.PutBytes(ctx, objects.KindDirTree, treeEnc)
			return err
		}, objects.ErrNotFound},
		{"commit before its tree", func(tx *repo.Tx) error {
			_, err := tx.PutBytes(ctx, objects.KindCommit, commitEnc)
			return err
		}, objects.ErrNotFound},
		{"ref to a missing commit", func(tx *repo.Tx) error {
			return tx.SetRef("main", missing)
		}, objects.ErrNotFound},
		{"bad ref name", func(tx *repo.Tx) error {
			return tx.DeleteRef("../x")
		}, repo.ErrInvalidRef},
	} {
		var putErr error
		err := r.Update(ctx, func(tx *repo.Tx) error {
			putErr = c.put(tx)
			return nil // commit whatever was staged: it must be nothing
		})
		if err != nil {
			t.Fatalf("%s: Update: %v", c.name, err)
		}
		if !errors.Is(putErr, c.is) {
			t.Errorf("%s: got %v, want an error matching %v", c.name, putErr, c.is)
		}
	}
	repotest.AssertUnchanged(t, r, before)
	if ents, _ := os.ReadDir(filepath.Join(r.Path(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d entries", len(ents))
	}
}
