package repo_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// TestRoundTripRandomTrees is the property test of the repository: a random
// tree committed into an archive and a bare repository and checked out
// again (copied, and hard-linked from the bare one) comes back exactly:
// types, content, modes, owners, xattrs, symlink targets, mtime 0; both
// repositories give it the same tree ID, as does committing it twice; and
// the archive stores each distinct chunk and file object once.
func TestRoundTripRandomTrees(t *testing.T) {
	repotest.RequireRoot(t)
	seed := repotest.Seed(t, *seedFlag)
	opts := repotest.RandomOptions{EmptyXattrValues: true, SymlinkXattrs: symlinkXattrsWork(t)}
	for i := 0; i < iters(); i++ {
		s := seed + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Parallel()
			tree := repotest.RandomTree(repotest.Rand(s), opts)
			src := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(src, 0o700); err != nil {
				t.Fatal(err)
			}
			repotest.Write(t, src, tree)
			repotest.AssertTree(t, tree, src) // the kit wrote what the tree says
			want := repotest.Scan(t, src)

			archive := repotest.New(t, repo.Archive)
			bare := repotest.New(t, repo.Bare)
			ida := repotest.CommitDir(t, archive, "main", src)
			idb := repotest.CommitDir(t, bare, "main", src)
			ca := readCommit(t, archive, ida)
			cb := readCommit(t, bare, idb)
			if ca.Tree != cb.Tree || ca.Meta != cb.Meta {
				t.Errorf("archive and bare repositories give different roots: %s/%s and %s/%s",
					ca.Tree.Short(), ca.Meta.Short(), cb.Tree.Short(), cb.Meta.Short())
			}

			// Deduplication: each distinct chunk and file object stored once.
			exp := repotest.Expect(t, tree)
			st := repotest.Snapshot(t, archive)
			if got := len(st.ObjectFiles(".chunk")); got != len(exp.Chunks) {
				t.Errorf("archive holds %d chunks, want %d distinct ones", got, len(exp.Chunks))
			}
			for id := range exp.Chunks {
				if ok, err := archive.Has(t.Context(), objects.KindChunk, id); err != nil || !ok {
					t.Errorf("chunk %s of the tree: Has = %v, %v", id.Short(), ok, err)
				}
			}
			if got := len(st.ObjectFiles(".file")); got != exp.Files {
				t.Errorf("archive holds %d file objects, want %d distinct ones", got, exp.Files)
			}
			bst := repotest.Snapshot(t, bare)
			if got := len(bst.ObjectFiles(".content")); got != exp.Files {
				t.Errorf("bare repository holds %d content files, want %d", got, exp.Files)
			}
			if got := len(bst.ObjectFiles(".chunk")); got != 0 {
				t.Errorf("bare repository holds %d chunk objects, want none (chunks live in files)", got)
			}

			// Committing the same tree again stores nothing but the commit.
			again := repotest.CommitDir(t, archive, "again", src)
			if c := readCommit(t, archive, again); c.Tree != ca.Tree || c.Meta != ca.Meta {
				t.Errorf("same tree committed twice: roots %s and %s", ca.Tree.Short(), c.Tree.Short())
			}
			if d := st.Diff(repotest.Snapshot(t, archive)); len(d) != 2 ||
				!strings.HasPrefix(d[0], "ref again added") || !strings.HasSuffix(d[1], again.String()[2:]+".commit") {
				t.Errorf("committing the same tree again changed more than a ref and a commit:\n  %s", strings.Join(d, "\n  "))
			}

			checkoutAndCompare(t, archive, ida, checkout.Options{}, want, false)
			checkoutAndCompare(t, bare, idb, checkout.Options{}, want, true)
			checkoutAndCompare(t, bare, idb, checkout.Options{Copy: true}, want, false)
		})
	}
}

func readCommit(t testing.TB, r objects.Reader, id objects.ID) *objects.Commit {
	t.Helper()
	c, err := objects.ReadCommit(t.Context(), r, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkoutAndCompare checks the commit out into a new directory and
// compares it with want exactly, mtimes included. linked says whether
// files must be hard links to the repository's content files.
func checkoutAndCompare(t *testing.T, r *repo.Repo, id objects.ID, opts checkout.Options, want repotest.Tree, linked bool) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "checkout")
	stats, err := checkout.Commit(t.Context(), r, id, dir, opts)
	if err != nil {
		t.Fatalf("checkout %s (%s, %+v): %v", id.Short(), r.Mode(), opts, err)
	}
	repotest.AssertTree(t, want, dir)
	c := readCommit(t, r, id)
	var nonDirs int64
	for p, ino := range repotest.Inodes(t, dir) {
		if !ino.Mtime.Equal(time.Unix(0, 0)) {
			t.Errorf("/%s: mtime %v, want 0", p, ino.Mtime)
		}
		if p == "" || want[p].IsDir() {
			continue
		}
		nonDirs++
		n, err := repo.Lookup(t.Context(), r, c, p)
		if err != nil {
			t.Fatal(err)
		}
		lp, ok := r.LocalPath(n.File)
		if !ok {
			if linked {
				t.Fatalf("%s repository gives no local path for /%s", r.Mode(), p)
			}
			continue
		}
		same := repotest.StatInode(t, lp).Ino == ino.Ino
		if same != linked {
			t.Errorf("/%s: shares the inode of %s: %v, want %v", p, lp, same, linked)
		}
	}
	if linked && stats.Links != nonDirs {
		t.Errorf("checkout stats: %d links, want %d (%+v)", stats.Links, nonDirs, stats)
	}
	if !linked && (stats.Links != 0 || stats.Files+stats.Symlinks != nonDirs) {
		t.Errorf("checkout stats: %+v, want %d copies and no links", stats, nonDirs)
	}
}

// symlinkXattrsWork reports whether trusted.* xattrs can be set on a
// symlink here (root with CAP_SYS_ADMIN, a filesystem that keeps them).
func symlinkXattrsWork(t *testing.T) bool {
	p := filepath.Join(t.TempDir(), "probe")
	if err := os.Symlink("x", p); err != nil {
		t.Fatal(err)
	}
	err := unix.Lsetxattr(p, "trusted.arbor-probe", []byte("1"), 0)
	if err != nil {
		t.Logf("no xattrs on symlinks here (%v): random trees leave them out", err)
	}
	return err == nil
}
