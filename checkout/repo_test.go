package checkout_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/internal/sample"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// The tests in this file check out of real repositories, archive and bare,
// made with repotest.New: the repository must pass fsck when the test ends,
// so a checkout that changed a hard-linked file in place would fail it.

var _ checkout.Linker = (*repo.Repo)(nil)

// commitTar commits a tar stream onto branch "test" as cmd/arbor's commit
// does, and returns the commit and its root tree and meta.
func commitTar(t testing.TB, r *repo.Repo, tarball []byte) (id objects.ID, c *objects.Commit) {
	t.Helper()
	ctx := context.Background()
	err := r.Update(ctx, func(tx *repo.Tx) error {
		tree, meta, _, err := repo.ImportTar(ctx, tx, bytes.NewReader(tarball), repo.ImportOptions{})
		if err != nil {
			return err
		}
		c = &objects.Commit{Tree: tree, Meta: meta, Timestamp: 1, Subject: "test",
			Metadata: objects.Metadata{objects.MetaRefBinding: []string{"test"}, objects.MetaRelease: int64(1)}}
		if id, err = repo.WriteCommit(ctx, tx, c); err != nil {
			return err
		}
		return tx.SetRef("test", id)
	})
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	return id, c
}

func TestRepoSample(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		for _, copyFiles := range []bool{false, true} {
			name := string(mode)
			if copyFiles {
				name += "/copy"
			}
			t.Run(name, func(t *testing.T) {
				requireRoot(t) // the sample tree has owners
				r := repotest.New(t, mode)
				id, c := commitTar(t, r, sample.Tar(1))
				a := newArena(t)
				var w warnings
				st, err := checkout.Commit(t.Context(), r, id, a.co, checkout.Options{Copy: copyFiles, Warn: w.add})
				if err != nil {
					t.Fatal(err)
				}
				linked := mode == repo.Bare && !copyFiles
				verify(t, r, c.Tree, c.Meta, a.co, expect{linker: r, linked: linked, copied: !linked})
				if w.String() != "" {
					t.Errorf("warnings: %s", w.String())
				}
				// 10 regular files (a hard link is a second entry), 3 symlinks, 13 directories.
				want := checkout.Stats{Files: 10, Symlinks: 3, Dirs: 13, Bytes: st.Bytes}
				if linked {
					want = checkout.Stats{Links: 13, Dirs: 13}
				}
				if st != want {
					t.Errorf("stats %+v, want %+v", st, want)
				}
				// The tar's hard link: the same file object, so one inode in a
				// hard-link checkout and two in a copy.
				same := os.SameFile(lstat(t, filepath.Join(a.co, "usr/bin/hello")), lstat(t, filepath.Join(a.co, "usr/bin/hello-again")))
				if same != linked {
					t.Errorf("usr/bin/hello and hello-again share an inode: %v, want %v", same, linked)
				}
				for p, want := range map[string]os.FileMode{"usr/bin/su-demo": os.ModeSetuid | 0o755, "tmp": os.ModeDir | os.ModeSticky | 0o777,
					"var/empty": os.ModeDir | 0o700, "etc/shadow": 0o640} {
					if got := lstat(t, filepath.Join(a.co, p)).Mode(); got != want {
						t.Errorf("/%s: mode %v, want %v", p, got, want)
					}
				}
				a.check(t)
			})
		}
	}
}

func lstat(t testing.TB, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestRepoRandomTrees round-trips random trees (owners, setuid, xattrs,
// hard links, symlinks, empty and read-only directories) through both
// repository modes and compares the checkout with the tree that was
// committed.
func TestRepoRandomTrees(t *testing.T) {
	requireRoot(t)
	seed := repotest.Seed(t, 0)
	rng := repotest.Rand(seed)
	for i := range 2 {
		tree := repotest.RandomTree(rng, repotest.RandomOptions{Entries: 50, MaxFileSize: 400 << 10})
		if _, err := tree.Normalize(); err != nil {
			// Not a tree checkout can be blamed for; draw another.
			t.Logf("tree %d: the generator made an impossible tree, skipped: %v", i, err)
			continue
		}
		for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
			r := repotest.New(t, mode)
			id := repotest.CommitFS(t, r, "test", tree)
			c, err := objects.ReadCommit(t.Context(), r, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 4} {
				a := newArena(t)
				if _, err := checkout.Commit(t.Context(), r, id, a.co, checkout.Options{Workers: workers}); err != nil {
					t.Fatalf("tree %d, %s, %d workers: %v", i, mode, workers, err)
				}
				repotest.AssertTree(t, tree, a.co)
				verify(t, r, c.Tree, c.Meta, a.co, expect{linker: r, linked: mode == repo.Bare, copied: mode == repo.Archive})
				a.check(t)
			}
		}
	}
}

// otherFilesystem returns a directory on another filesystem than dir:
// /dev/shm if it is one, else a tmpfs mounted for the test (root only).
func otherFilesystem(t *testing.T, dir string) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() && devOf(t, "/dev/shm") != devOf(t, dir) {
		d, err := os.MkdirTemp("/dev/shm", "arbor-checkout-test-")
		if err == nil {
			t.Cleanup(func() { makeWritable(d); os.RemoveAll(d) })
			return d
		}
	}
	requireRoot(t)
	d := t.TempDir()
	if err := unix.Mount("tmpfs", d, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("no other filesystem: /dev/shm unusable and mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(d, unix.MNT_DETACH) })
	if devOf(t, d) == devOf(t, dir) {
		t.Skip("no other filesystem")
	}
	return d
}

// TestBareAcrossFilesystems: hard links cannot cross filesystems; the
// checkout copies instead and warns once.
func TestBareAcrossFilesystems(t *testing.T) {
	requireRoot(t)
	r := repotest.New(t, repo.Bare)
	id, c := commitTar(t, r, sample.Tar(1))
	other := otherFilesystem(t, r.Path())
	co := filepath.Join(other, "co")
	for _, workers := range []int{1, 4} {
		os.RemoveAll(co)
		var w warnings
		st, err := checkout.Commit(t.Context(), r, id, co, checkout.Options{Warn: w.add, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		var noXattrs []string
		if !xattrsSupported(t, other, "user.probe") {
			noXattrs = []string{"user."}
		}
		verify(t, r, c.Tree, c.Meta, co, expect{linker: r, copied: true, noXattrs: noXattrs})
		if n := w.count("another filesystem"); n != 1 {
			t.Errorf("%d warnings about the other filesystem, want 1:\n%s", n, w.String())
		}
		if st.Links != 0 || st.Files != 10 || st.Symlinks != 3 {
			t.Errorf("stats %+v, want 10 files and 3 symlinks copied, no links", st)
		}
	}
}

// linkStore is a MemStore whose files also exist whole in a directory,
// like a bare repository's, found by LocalPath.
type linkStore struct {
	objects.Reader
	paths map[objects.ID]string
}

func (s *linkStore) LocalPath(id objects.ID) (string, bool) {
	p, ok := s.paths[id]
	return p, ok
}

// newLinkStore checks the tree out (copies) into a directory and returns a
// store that offers those files for hard-linking.
func newLinkStore(t *testing.T, src objects.Reader, tree, meta objects.ID, noOwners bool) *linkStore {
	t.Helper()
	base := filepath.Join(t.TempDir(), "store")
	t.Cleanup(func() { makeWritable(base) })
	if _, err := checkout.Tree(t.Context(), src, tree, meta, base, checkout.Options{NoOwners: noOwners}); err != nil {
		t.Fatal(err)
	}
	s := &linkStore{Reader: src, paths: map[objects.ID]string{}}
	var walk func(dir string, tree objects.ID)
	walk = func(dir string, tree objects.ID) {
		dt, err := objects.ReadDirTree(t.Context(), src, tree)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range dt.Entries {
			if e.IsDir() {
				walk(filepath.Join(dir, e.Name), e.Tree)
			} else {
				s.paths[e.File] = filepath.Join(dir, e.Name)
			}
		}
	}
	walk(base, tree)
	return s
}

// TestLinker covers the hard-link path without a bare repository (and
// without root).
func TestLinker(t *testing.T) {
	noOwners := os.Geteuid() != 0
	m, tree, meta := memTree(t, richTree())
	s := newLinkStore(t, m, tree, meta, noOwners)
	for _, workers := range []int{1, 4} {
		a := newArena(t)
		st, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: noOwners, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		verify(t, m, tree, meta, a.co, expect{noOwners: noOwners, linker: s, linked: true})
		if st.Files != 0 || st.Symlinks != 0 || st.Links != int64(len(s.paths)) {
			t.Errorf("stats %+v, want only links", st)
		}
		a.check(t)
	}

	t.Run("copy", func(t *testing.T) {
		a := newArena(t)
		if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: noOwners, Copy: true}); err != nil {
			t.Fatal(err)
		}
		verify(t, m, tree, meta, a.co, expect{noOwners: noOwners, linker: s, copied: true})
	})

	t.Run("local path not found", func(t *testing.T) {
		broken := &linkStore{Reader: m, paths: map[objects.ID]string{}}
		for id, p := range s.paths {
			broken.paths[id] = p
			if strings.HasSuffix(p, "/exec") {
				broken.paths[id] = p + ".missing"
			}
		}
		a := newArena(t)
		_, err := checkout.Tree(t.Context(), broken, tree, meta, a.co, checkout.Options{NoOwners: noOwners})
		if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "/exec: hard link") {
			t.Fatalf("got %v, want ENOENT naming /exec", err)
		}
		a.check(t)
	})

	t.Run("store without local paths", func(t *testing.T) {
		none := &linkStore{Reader: m}
		a := newArena(t)
		st, err := checkout.Tree(t.Context(), none, tree, meta, a.co, checkout.Options{NoOwners: noOwners})
		if err != nil {
			t.Fatal(err)
		}
		if st.Links != 0 {
			t.Errorf("%d links without local paths", st.Links)
		}
		verify(t, m, tree, meta, a.co, expect{noOwners: noOwners})
	})
}
