package repo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// fsckTree has a file of several chunks, a subdirectory, a symlink and
// xattrs, so that every kind of object can be damaged.
func fsckTree() repotest.Tree {
	big := make([]byte, 700<<10)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	return repotest.Tree{
		"":             repotest.Dir(0o755),
		"big":          repotest.File(0o644, string(big)).WithXattr("user.k", "v"),
		"sub":          repotest.Dir(0o750).Owned(1, 2),
		"sub/small":    repotest.File(0o4755, "small file\n").Owned(3, 4),
		"sub/link":     repotest.Symlink("../big").Owned(5, 6),
		"sub/deep/too": repotest.File(0o600, "deeper\n"),
	}
}

// fsckFixture is a repository holding fsckTree on "main", and the IDs of
// its objects.
type fsckFixture struct {
	r                  *repo.Repo
	commit             objects.ID
	root, rootMeta     objects.ID
	sub, subMeta       objects.ID
	big, small, link   objects.ID
	bigChunks          []objects.ChunkRef
	deepTree, deepMeta objects.ID
	deepFile           objects.ID
}

func newFsckFixture(t *testing.T, mode repo.Mode) *fsckFixture {
	t.Helper()
	repotest.RequireRoot(t)
	r := repotest.NewUnchecked(t, mode)
	f := &fsckFixture{r: r, commit: repotest.CommitFS(t, r, "main", fsckTree())}
	ctx := t.Context()
	c := readCommit(t, r, f.commit)
	f.root, f.rootMeta = c.Tree, c.Meta
	look := func(p string) repo.Node {
		n, err := repo.Lookup(ctx, r, c, p)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.sub, f.subMeta = look("sub").Tree, look("sub").Meta
	f.deepTree, f.deepMeta = look("sub/deep").Tree, look("sub/deep").Meta
	f.big, f.small, f.link, f.deepFile = look("big").File, look("sub/small").File, look("sub/link").File, look("sub/deep/too").File
	bf, err := objects.ReadFile(ctx, r, f.big)
	if err != nil {
		t.Fatal(err)
	}
	if f.bigChunks = bf.Chunks; len(f.bigChunks) < 3 {
		t.Fatalf("big file has %d chunks, want several", len(f.bigChunks))
	}
	return f
}

func (f *fsckFixture) path(kind objects.Kind, id objects.ID) string {
	return repotest.ObjectPath(f.r, kind, id)
}

func (f *fsckFixture) content(t *testing.T, id objects.ID) string {
	p, ok := f.r.LocalPath(id)
	if !ok {
		t.Fatal("no local path in a bare repository")
	}
	return p
}

// flipByte changes one byte in the middle of a file.
func flipByte(t *testing.T, p string, at int64) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	if at < 0 {
		at = fi.Size() / 2
	}
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := fh.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func truncateHalf(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

type damage struct {
	name  string
	do    func(t *testing.T, f *fsckFixture)
	id    func(f *fsckFixture) objects.ID // the object fsck must name
	where bool                            // the problem must say which ref reaches it
}

var commonDamages = []damage{
	{"flip a byte of the root dirtree", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindDirTree, f.root), -1) },
		func(f *fsckFixture) objects.ID { return f.root }, false},
	{"flip a byte of a deep dirtree", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindDirTree, f.deepTree), -1) },
		func(f *fsckFixture) objects.ID { return f.deepTree }, false},
	{"flip a byte of a file object", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindFile, f.small), -1) },
		func(f *fsckFixture) objects.ID { return f.small }, false},
	{"flip a byte of a symlink's file object", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindFile, f.link), -1) },
		func(f *fsckFixture) objects.ID { return f.link }, false},
	{"flip a byte of a dirmeta", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindDirMeta, f.subMeta), -1) },
		func(f *fsckFixture) objects.ID { return f.subMeta }, false},
	{"flip a byte of the commit", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindCommit, f.commit), -1) },
		func(f *fsckFixture) objects.ID { return f.commit }, false},
	{"truncate a dirtree", func(t *testing.T, f *fsckFixture) { truncateHalf(t, f.path(objects.KindDirTree, f.sub)) },
		func(f *fsckFixture) objects.ID { return f.sub }, false},
	{"truncate a file object", func(t *testing.T, f *fsckFixture) { truncateHalf(t, f.path(objects.KindFile, f.big)) },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"empty a commit", func(t *testing.T, f *fsckFixture) { os.Truncate(f.path(objects.KindCommit, f.commit), 0) },
		func(f *fsckFixture) objects.ID { return f.commit }, false},
	{"append to a dirmeta", func(t *testing.T, f *fsckFixture) { appendByte(t, f.path(objects.KindDirMeta, f.rootMeta)) },
		func(f *fsckFixture) objects.ID { return f.rootMeta }, false},
	{"delete a deep dirtree", func(t *testing.T, f *fsckFixture) { remove(t, f.path(objects.KindDirTree, f.deepTree)) },
		func(f *fsckFixture) objects.ID { return f.deepTree }, true},
	{"delete a dirmeta", func(t *testing.T, f *fsckFixture) { remove(t, f.path(objects.KindDirMeta, f.deepMeta)) },
		func(f *fsckFixture) objects.ID { return f.deepMeta }, true},
	{"delete a file object", func(t *testing.T, f *fsckFixture) { remove(t, f.path(objects.KindFile, f.deepFile)) },
		func(f *fsckFixture) objects.ID { return f.deepFile }, true},
	{"delete the commit", func(t *testing.T, f *fsckFixture) { remove(t, f.path(objects.KindCommit, f.commit)) },
		func(f *fsckFixture) objects.ID { return f.commit }, true},
	{"an object that hashes right but does not decode", func(t *testing.T, f *fsckFixture) {
		os.WriteFile(f.path(objects.KindDirTree, objects.Sum([]byte("not cbor"))), []byte("not cbor"), 0o644)
	}, func(f *fsckFixture) objects.ID { return objects.Sum([]byte("not cbor")) }, false},
	{"a commit that hashes right but is not canonical", func(t *testing.T, f *fsckFixture) {
		b, err := os.ReadFile(f.path(objects.KindCommit, f.commit))
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, 0) // trailing bytes: no longer the one encoding of anything
		os.WriteFile(f.path(objects.KindCommit, objects.Sum(b)), b, 0o644)
	}, func(f *fsckFixture) objects.ID {
		b, _ := os.ReadFile(f.path(objects.KindCommit, f.commit))
		return objects.Sum(append(b, 0))
	}, false},
	{"a partial commit under a ref", func(t *testing.T, f *fsckFixture) {
		if err := f.r.Update(t.Context(), func(tx *repo.Tx) error { tx.MarkPartial(f.commit); return nil }); err != nil {
			t.Fatal(err)
		}
	}, func(f *fsckFixture) objects.ID { return f.commit }, true},
}

var archiveDamages = []damage{
	{"flip a byte of a chunk", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindChunk, f.bigChunks[1].ID), -1) },
		func(f *fsckFixture) objects.ID { return f.bigChunks[1].ID }, false},
	{"flip the first byte of a chunk", func(t *testing.T, f *fsckFixture) { flipByte(t, f.path(objects.KindChunk, f.bigChunks[0].ID), 0) },
		func(f *fsckFixture) objects.ID { return f.bigChunks[0].ID }, false},
	{"truncate a chunk", func(t *testing.T, f *fsckFixture) { truncateHalf(t, f.path(objects.KindChunk, f.bigChunks[2].ID)) },
		func(f *fsckFixture) objects.ID { return f.bigChunks[2].ID }, false},
	{"delete a chunk", func(t *testing.T, f *fsckFixture) { remove(t, f.path(objects.KindChunk, f.bigChunks[0].ID)) },
		func(f *fsckFixture) objects.ID { return f.bigChunks[0].ID }, true},
}

var bareDamages = []damage{
	{"flip a byte of a file's content (a chunk)", func(t *testing.T, f *fsckFixture) { flipByte(t, f.content(t, f.big), 300<<10) },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"flip the last byte of a file's content", func(t *testing.T, f *fsckFixture) { flipByte(t, f.content(t, f.small), 10) },
		func(f *fsckFixture) objects.ID { return f.small }, false},
	{"truncate a file's content", func(t *testing.T, f *fsckFixture) { truncateHalf(t, f.content(t, f.big)) },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"grow a file's content", func(t *testing.T, f *fsckFixture) { appendByte(t, f.content(t, f.small)) },
		func(f *fsckFixture) objects.ID { return f.small }, false},
	{"chmod a file's content", func(t *testing.T, f *fsckFixture) { os.Chmod(f.content(t, f.big), 0o666) },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"clear the setuid bit of a file's content", func(t *testing.T, f *fsckFixture) { os.Chmod(f.content(t, f.small), 0o755) },
		func(f *fsckFixture) objects.ID { return f.small }, false},
	{"chown a file's content", func(t *testing.T, f *fsckFixture) { os.Chown(f.content(t, f.big), 1000, 0) },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"chgrp a file's content", func(t *testing.T, f *fsckFixture) { os.Lchown(f.content(t, f.small), 3, 5) },
		func(f *fsckFixture) objects.ID { return f.small }, false},
	{"chown a symlink's content", func(t *testing.T, f *fsckFixture) { os.Lchown(f.content(t, f.link), 0, 0) },
		func(f *fsckFixture) objects.ID { return f.link }, false},
	{"change a content's xattr", func(t *testing.T, f *fsckFixture) { unix.Setxattr(f.content(t, f.big), "user.k", []byte("w"), 0) },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"add an xattr to a content", func(t *testing.T, f *fsckFixture) { unix.Setxattr(f.content(t, f.small), "user.new", []byte("1"), 0) },
		func(f *fsckFixture) objects.ID { return f.small }, false},
	{"remove a content's xattr", func(t *testing.T, f *fsckFixture) { unix.Removexattr(f.content(t, f.big), "user.k") },
		func(f *fsckFixture) objects.ID { return f.big }, false},
	{"retarget a symlink's content", func(t *testing.T, f *fsckFixture) {
		p := f.content(t, f.link)
		remove(t, p)
		os.Symlink("elsewhere", p)
		os.Lchown(p, 5, 6)
	}, func(f *fsckFixture) objects.ID { return f.link }, false},
	{"delete a file's content", func(t *testing.T, f *fsckFixture) { remove(t, f.content(t, f.deepFile)) },
		func(f *fsckFixture) objects.ID { return f.deepFile }, false},
}

func appendByte(t *testing.T, p string) {
	t.Helper()
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte{0})
	fh.Close()
}

// TestFsckFindsDamage: each kind of damage is reported, naming the
// damaged object's ID; a clean repository reports nothing.
func TestFsckFindsDamage(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		damages := append(append([]damage{}, commonDamages...), archiveDamages...)
		if mode == repo.Bare {
			damages = append(append([]damage{}, commonDamages...), bareDamages...)
		}
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			f := newFsckFixture(t, mode)
			rep, err := f.r.Fsck(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 0 || rep.Commits != 1 {
				t.Fatalf("clean repository: %d commits checked, problems %v", rep.Commits, rep.Problems)
			}
			objectFiles := len(repotest.Snapshot(t, f.r).Objects)
			if rep.Objects != objectFiles {
				t.Errorf("fsck counted %d objects, the repository has %d object files", rep.Objects, objectFiles)
			}
			// Each damage on a copy of the clean repository.
			pristine := f.r.Path()
			f.r.Close()
			for _, d := range damages {
				t.Run(strings.ReplaceAll(d.name, " ", "_"), func(t *testing.T) {
					r := copyRepo(t, pristine)
					df := *f
					df.r = r
					d.do(t, &df)
					checkFsckNames(t, r, d.id(&df), d.where)
				})
			}
		})
	}
}

// checkFsckNames runs fsck and requires a problem naming id (and, if
// where, the ref that reaches it).
func checkFsckNames(t *testing.T, r *repo.Repo, id objects.ID, where bool) {
	t.Helper()
	rep, err := r.Fsck(context.Background())
	if err != nil {
		t.Fatalf("fsck: %v", err)
	}
	found := false
	for _, p := range rep.Problems {
		if p.ID == id && strings.Contains(p.String(), id.String()) {
			found = true
			if where && !strings.Contains(p.Where, "ref main") {
				t.Errorf("problem %q does not say which ref reaches the object", p)
			}
		}
	}
	if !found {
		t.Errorf("fsck does not name %s; it reports %d problems:\n  %s", id.Short(), len(rep.Problems), problems(rep))
	}
}

func problems(rep *repo.FsckReport) string {
	var s []string
	for _, p := range rep.Problems {
		s = append(s, p.String())
	}
	return strings.Join(s, "\n  ")
}

// copyRepo copies a repository, owners, modes, xattrs and all, and opens it.
func copyRepo(t *testing.T, src string) *repo.Repo {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if out, err := runCmd("cp", "-a", "--", src, dst); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	r, err := repo.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestFsckStrayAndOrphans: a file in objects/ that is not an object name
// is reported by path; an unreferenced object and, in a bare repository,
// content whose object is gone (what an interrupted prune leaves) are not
// damage.
func TestFsckStrayAndOrphans(t *testing.T) {
	f := newFsckFixture(t, repo.Bare)
	stray := filepath.Join(f.r.Path(), "objects", "ab", "not-an-object")
	os.WriteFile(stray, []byte("x"), 0o644)
	rep, err := f.r.Fsck(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Path != stray {
		t.Errorf("stray file: problems %v", rep.Problems)
	}
	os.Remove(stray)
	// An orphaned content file and an unreferenced commit.
	remove(t, f.path(objects.KindFile, f.deepFile))
	if err := f.r.Update(t.Context(), func(tx *repo.Tx) error { return tx.DeleteRef("main") }); err != nil {
		t.Fatal(err)
	}
	rep, err = f.r.Fsck(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Commits != 0 {
		t.Errorf("orphans reported as damage: %s", problems(rep))
	}
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
