// Package repotest is a test kit for code that uses repositories: it makes
// a repository per test and checks it with Fsck when the test ends,
// commits literal trees (with owners, modes, xattrs, symlinks and hard
// links, which testing/fstest.MapFS cannot express), writes and reads real
// directories and tar archives of such trees, generates seeded random
// trees, and snapshots a repository to prove an operation changed nothing.
//
// Only tests import it; a test in this package enforces that.
package repotest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

// RequireRoot skips the test unless it runs as root (owners, bare
// repositories and special files need it; CI runs as root).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, bare repositories); CI runs as root")
	}
}

// New creates a repository of the given mode in a temporary directory.
// When the test ends, Fsck must find no problem and tmp/ must be empty, or
// the test fails. A bare repository needs root: without it the test is skipped.
func New(t testing.TB, mode repo.Mode) *repo.Repo {
	t.Helper()
	r := NewUnchecked(t, mode)
	t.Cleanup(func() {
		CheckClean(t, r)
	})
	return r
}

// NewUnchecked is New without the final check, for tests that damage the
// repository on purpose. The repository is closed when the test ends.
func NewUnchecked(t testing.TB, mode repo.Mode) *repo.Repo {
	t.Helper()
	if mode == repo.Bare {
		RequireRoot(t)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	r, err := repo.Init(dir, mode)
	if err != nil {
		t.Fatalf("repotest.New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// CheckClean fails the test if Fsck reports any problem or if a
// transaction left anything in tmp/.
func CheckClean(t testing.TB, r *repo.Repo) {
	t.Helper()
	rep, err := r.Fsck(context.Background())
	if err != nil {
		t.Errorf("fsck %s: %v", r.Path(), err)
		return
	}
	for _, p := range rep.Problems {
		t.Errorf("fsck %s: %s", r.Path(), p)
	}
	ents, err := os.ReadDir(filepath.Join(r.Path(), "tmp"))
	if err != nil {
		t.Errorf("read tmp/ of %s: %v", r.Path(), err)
	}
	for _, e := range ents {
		t.Errorf("%s/tmp holds %s after the transactions ended", r.Path(), e.Name())
	}
}

// CommitFS writes tree into a temporary directory and commits it onto
// branch with CommitDir.
func CommitFS(t testing.TB, r *repo.Repo, branch string, tree Tree) objects.ID {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	Write(t, dir, tree)
	return CommitDir(t, r, branch, dir)
}

// CommitDir commits the directory onto branch: repo.ImportDir in one
// r.Update, then repo.WriteCommit and tx.SetRef. The commit's parent is the
// branch's current commit, its release the parent's plus one, its
// timestamp r.Clock's, and it binds branch.
func CommitDir(t testing.TB, r *repo.Repo, branch, dir string) objects.ID {
	t.Helper()
	id, err := TryCommitDir(t.Context(), r, branch, dir, repo.ImportOptions{})
	if err != nil {
		t.Fatalf("repotest.CommitDir %s onto %s: %v", dir, branch, err)
	}
	return id
}

// TryCommitDir is CommitDir returning the error, for tests of refusals.
func TryCommitDir(ctx context.Context, r *repo.Repo, branch, dir string, opts repo.ImportOptions) (objects.ID, error) {
	var id objects.ID
	err := r.Update(ctx, func(tx *repo.Tx) error {
		tree, meta, _, err := repo.ImportDir(ctx, tx, dir, opts)
		if err != nil {
			return err
		}
		id, err = WriteCommit(ctx, tx, branch, tree, meta)
		return err
	})
	return id, err
}

// WriteCommit writes a commit of the tree onto branch inside a
// transaction and sets the ref, as CommitDir does.
func WriteCommit(ctx context.Context, tx *repo.Tx, branch string, tree, meta objects.ID) (objects.ID, error) {
	r := tx.Repo()
	c := &objects.Commit{Tree: tree, Meta: meta, Timestamp: now(r).Unix(), Subject: "repotest commit",
		Metadata: objects.Metadata{objects.MetaRefBinding: []string{branch}, objects.MetaRelease: int64(1)}}
	head, err := r.Ref(branch)
	switch {
	case err == nil:
		pc, err := objects.ReadCommit(ctx, tx, head)
		if err != nil {
			return objects.ID{}, err
		}
		c.Parent = &head
		c.Metadata[objects.MetaRelease] = pc.Release() + 1
	case !errors.Is(err, repo.ErrRefNotFound):
		return objects.ID{}, err
	}
	id, err := repo.WriteCommit(ctx, tx, c)
	if err != nil {
		return id, err
	}
	return id, tx.SetRef(branch, id)
}

func now(r *repo.Repo) time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// State is what a repository holds, as files: refs and object files with
// their sizes. Two equal States mean nothing visible changed.
type State struct {
	Refs    map[string]objects.ID
	Objects map[string]int64 // path under objects/ -> size
}

// Snapshot records the repository's refs and object files.
func Snapshot(t testing.TB, r *repo.Repo) State {
	t.Helper()
	s := State{Refs: map[string]objects.ID{}, Objects: map[string]int64{}}
	refs, err := r.Refs()
	if err != nil {
		t.Fatalf("repotest.Snapshot: %v", err)
	}
	for _, e := range refs {
		s.Refs[e.Name] = e.Commit
	}
	base := filepath.Join(r.Path(), "objects")
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		s.Objects[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatalf("repotest.Snapshot: %v", err)
	}
	return s
}

// Diff lists how b differs from a, one line each.
func (a State) Diff(b State) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(a.Refs)) {
		if id, ok := b.Refs[name]; !ok {
			out = append(out, fmt.Sprintf("ref %s removed (was %s)", name, a.Refs[name].Short()))
		} else if id != a.Refs[name] {
			out = append(out, fmt.Sprintf("ref %s moved from %s to %s", name, a.Refs[name].Short(), id.Short()))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.Refs)) {
		if _, ok := a.Refs[name]; !ok {
			out = append(out, fmt.Sprintf("ref %s added (%s)", name, b.Refs[name].Short()))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(a.Objects)) {
		if size, ok := b.Objects[p]; !ok {
			out = append(out, "object removed: "+p)
		} else if size != a.Objects[p] {
			out = append(out, fmt.Sprintf("object %s changed size from %d to %d", p, a.Objects[p], size))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(b.Objects)) {
		if _, ok := a.Objects[p]; !ok {
			out = append(out, "object added: "+p)
		}
	}
	return out
}

// AssertUnchanged fails the test if the repository's refs or object files
// differ from the snapshot.
func AssertUnchanged(t testing.TB, r *repo.Repo, before State) {
	t.Helper()
	if d := before.Diff(Snapshot(t, r)); len(d) > 0 {
		t.Errorf("repository changed:\n  %s", strings.Join(d, "\n  "))
	}
}

// ObjectFiles returns the paths (relative to objects/) of the object files
// with the given suffix (".chunk", ".file", ".content", ...); "" for all.
func (s State) ObjectFiles(suffix string) []string {
	var out []string
	for p := range s.Objects {
		if strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// ObjectPath returns where the repository keeps an object's file, for
// tests that damage it (a bare repository's file content is the same path
// with the suffix ".content": see LocalPath).
func ObjectPath(r *repo.Repo, kind objects.Kind, id objects.ID) string {
	s := id.String()
	return filepath.Join(r.Path(), "objects", s[:2], s[2:]+"."+kind.String())
}
