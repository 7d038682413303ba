package repo_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

func TestInitOpen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r")
	r, err := repo.Init(p, repo.Archive)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := repo.Init(p, repo.Bare); !errors.Is(err, repo.ErrExists) {
		t.Errorf("Init over a repository: %v, want ErrExists", err)
	}
	r, err = repo.Open(p)
	if err != nil || r.Mode() != repo.Archive || r.Path() != p {
		t.Fatalf("Open: %v, %v", r, err)
	}
	r.Close()

	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	if _, err := repo.Init(full, repo.Archive); err == nil {
		t.Error("Init in a non-empty directory succeeded")
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if r, err := repo.Init(empty, repo.Archive); err != nil {
		t.Errorf("Init in an empty directory: %v", err)
	} else {
		r.Close()
	}
	if _, err := repo.Init(filepath.Join(dir, "m"), repo.Mode("cloud")); err == nil {
		t.Error("Init with an unknown mode succeeded")
	}
	if _, err := repo.Open(filepath.Join(dir, "nothing")); !errors.Is(err, repo.ErrNotRepo) {
		t.Errorf("Open of a missing repository: %v, want ErrNotRepo", err)
	}
	for name, config := range map[string]string{
		"not JSON":       "{",
		"future format":  `{"format": 2, "mode": "archive"}`,
		"unknown mode":   `{"format": 1, "mode": "cloud"}`,
		"missing fields": `{}`,
	} {
		q := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.Mkdir(q, 0o755)
		os.WriteFile(filepath.Join(q, "config"), []byte(config), 0o644)
		if _, err := repo.Open(q); err == nil {
			t.Errorf("Open with a config that is %s succeeded", name)
		}
	}
	for _, s := range []string{"archive", "bare"} {
		if m, err := repo.ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	if _, err := repo.ParseMode("Bare"); err == nil {
		t.Error("ParseMode is not strict")
	}
}

// TestTxReadsItsOwnWrites: within a transaction, staged objects are
// visible through the Tx (chunks as raw bytes, in both modes), and not
// through the repository until it commits.
func TestTxReadsItsOwnWrites(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			r := repotest.New(t, mode)
			ctx := t.Context()
			content := strings.Repeat("compressible ", 10000)
			var file objects.ID
			var chunks []objects.ChunkRef
			update(t, r, func(tx *repo.Tx) error {
				var err error
				if file, err = putFile(ctx, tx, objects.ModeRegular|0o644, content); err != nil {
					return err
				}
				f, err := objects.ReadFile(ctx, tx, file)
				if err != nil {
					return err
				}
				chunks = f.Chunks
				rc := objects.OpenContent(ctx, tx, f)
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(b) != content {
					t.Errorf("content through the Tx: %d bytes, %v", len(b), err)
				}
				for _, c := range f.Chunks {
					if ok, err := tx.Has(ctx, objects.KindChunk, c.ID); !ok || err != nil {
						t.Errorf("Tx.Has(chunk) = %v, %v", ok, err)
					}
					if ok, _ := r.Has(ctx, objects.KindChunk, c.ID); ok {
						t.Errorf("chunk visible in the repository before the commit")
					}
				}
				if ok, _ := r.Has(ctx, objects.KindFile, file); ok {
					t.Errorf("file visible in the repository before the commit")
				}
				tree, meta, err := putTree(ctx, tx, map[string]objects.ID{"f": file})
				if err != nil {
					return err
				}
				_, err = repotest.WriteCommit(ctx, tx, "main", tree, meta)
				return err
			})
			for _, c := range chunks {
				if b, err := objects.ReadRaw(ctx, r, objects.KindChunk, c.ID); err != nil || len(b) != int(c.Size) {
					t.Errorf("chunk %s after the commit: %d bytes, %v", c.ID.Short(), len(b), err)
				}
			}
			if lp, ok := r.LocalPath(file); ok != (mode == repo.Bare) {
				t.Errorf("LocalPath in a %s repository: %q, %v", mode, lp, ok)
			} else if ok {
				if b, err := os.ReadFile(lp); err != nil || string(b) != content {
					t.Errorf("bare content file: %d bytes, %v", len(b), err)
				}
			}
			// Open of what is not there matches ErrNotFound, in every kind.
			for _, k := range objects.Kinds {
				if _, err := r.Open(ctx, k, objects.Sum([]byte("absent"))); !errors.Is(err, objects.ErrNotFound) {
					t.Errorf("Open(%s, absent) = %v, want ErrNotFound", k, err)
				}
			}
		})
	}
}

// TestWalker: each object is visited once across commits that share
// subtrees, parents before children; Visit can prune a subtree; Missing
// collects unreadable objects and the walk goes on, or without it the walk
// stops with an error that says where.
func TestWalker(t *testing.T) {
	s := &objtest.MemStore{}
	ctx := t.Context()
	base := diffBase()
	a := importTree(t, s, base)
	changed := repotest.Tree{}
	for k, v := range base {
		changed[k] = v
	}
	changed["etc/hostname"] = repotest.File(0o644, "other\n")
	b := importTree(t, s, changed)
	commit := func(root objects.DirEntry) objects.ID {
		id, err := repo.WriteCommit(ctx, s, &objects.Commit{Tree: root.Tree, Meta: root.Meta,
			Metadata: objects.Metadata{objects.MetaRefBinding: []string{"main"}, objects.MetaRelease: int64(1)}})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ca, cb := commit(a), commit(b)

	seen := map[objects.ID]int{}
	var order []string
	w := &repo.Walker{R: s, Visit: func(kind objects.Kind, id objects.ID, where string) bool {
		seen[id]++
		order = append(order, kind.String()+" "+where)
		return true
	}}
	if err := w.Commit(ctx, ca, "ref a"); err != nil {
		t.Fatal(err)
	}
	first := len(seen)
	if err := w.Commit(ctx, cb, "ref b"); err != nil {
		t.Fatal(err)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s visited %d times", id.Short(), n)
		}
	}
	// The second commit adds itself, its root and /etc dirtrees and the
	// changed file with its chunk.
	if added := len(seen) - first; added != 5 {
		t.Errorf("second commit added %d objects to the walk, want 5", added)
	}
	if order[0] != "commit ref a" || !w.Seen(objects.KindDirTree, a.Tree) || !w.Seen(objects.KindCommit, cb) {
		t.Errorf("walk order starts %v", order[:3])
	}

	// Visit returning false skips a directory's subtree.
	var files int
	w = &repo.Walker{R: s, Visit: func(kind objects.Kind, id objects.ID, where string) bool {
		if kind == objects.KindFile {
			files++
		}
		return !(kind == objects.KindDirTree && strings.HasSuffix(where, "/usr"))
	}}
	if err := w.Commit(ctx, ca, ""); err != nil {
		t.Fatal(err)
	}
	if files != 4 { // bin, etc/hostname, etc/passwd, opt/app/data
		t.Errorf("walk skipping /usr saw %d files, want 4", files)
	}

	// Missing objects: reported and skipped, or the end of the walk.
	s.Delete(objects.KindDirTree, lookup(t, s, &objects.Commit{Tree: a.Tree, Meta: a.Meta}, "usr/lib").Tree)
	s.Corrupt(objects.KindFile, lookup(t, s, &objects.Commit{Tree: a.Tree, Meta: a.Meta}, "etc/passwd").File, []byte("junk"))
	var missing []string
	w = &repo.Walker{R: s, Missing: func(kind objects.Kind, id objects.ID, where string, err error) {
		missing = append(missing, kind.String()+" "+where)
		if !errors.Is(err, objects.ErrNotFound) && !errors.Is(err, objects.ErrCorrupt) {
			t.Errorf("%s: %v", where, err)
		}
	}}
	if err := w.Commit(ctx, ca, "ref a"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(missing, ", "); got != "file ref a:/etc/passwd, dirtree ref a:/usr/lib" {
		t.Errorf("missing: %s", got)
	}
	err := (&repo.Walker{R: s}).Commit(ctx, ca, "ref a")
	if !errors.Is(err, objects.ErrCorrupt) || !strings.Contains(err.Error(), "ref a:/etc/passwd") {
		t.Errorf("walk without Missing: %v", err)
	}
}
