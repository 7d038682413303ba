package repo_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/internal/sample"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

var crashAll = flag.Bool("crash.all", false, "crash at every rename of a commit, not a sample of them")

// arbor runs the arbor binary on repository dir with extra environment
// and returns its stdout and how it ended.
func arbor(t *testing.T, env []string, dir string, args ...string) (string, *os.ProcessState, error) {
	t.Helper()
	cmd := exec.Command(arborBinary(t), append([]string{"--repo", dir}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARBOR_CRASH_AT=") && !strings.HasPrefix(kv, "ARBOR_REPO=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("run arbor: %v", err)
	}
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), cmd.ProcessState, err
}

func commitArgs(tarPath string) []string {
	return []string{"commit", "--branch", "main", "--timestamp", "1700000000", tarPath}
}

// crashScenario is one kind of commit to interrupt: into an archive or a
// bare repository, the first commit of a branch or one on top of another.
type crashScenario struct {
	mode   repo.Mode
	second bool
	base   string     // a repository to start from (copied for each crash)
	tar    string     // the archive the crashing commit commits
	old    objects.ID // main before the commit (zero for a first commit)
	new    objects.ID // main after it, as an uninterrupted commit makes it
	want   repotest.Tree
	renams int // objects the commit makes visible: one tx.rename each
}

func (s *crashScenario) name() string {
	if s.second {
		return string(s.mode) + "/second-commit"
	}
	return string(s.mode) + "/first-commit"
}

// TestCrash kills 'arbor commit' with SIGKILL at each named crash point
// (internal/crash), as a power cut would, and checks that the repository
// is still sound: fsck finds nothing, every visible object's children are
// visible, main is either where it was or at the complete new commit
// (whose closure walks and checks out), and a new commit succeeds and
// gives exactly what an uninterrupted one gives.
func TestCrash(t *testing.T) {
	repotest.RequireRoot(t)
	arborBinary(t)
	tars := t.TempDir()
	t1, t2 := filepath.Join(tars, "release1.tar"), filepath.Join(tars, "release2.tar")
	os.WriteFile(t1, sample.Tar(1), 0o644)
	os.WriteFile(t2, sample.Tar(2), 0o644)
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		for _, second := range []bool{false, true} {
			s := &crashScenario{mode: mode, second: second, tar: t1}
			t.Run(s.name(), func(t *testing.T) {
				t.Parallel()
				s.prepare(t, t2)
				for _, pt := range s.points() {
					t.Run(pt, func(t *testing.T) {
						t.Parallel()
						s.crashAt(t, pt)
					})
				}
			})
		}
	}
}

// prepare makes the base repository and, by an uninterrupted run on a
// copy, learns what the commit produces.
func (s *crashScenario) prepare(t *testing.T, t2 string) {
	t.Helper()
	s.base = filepath.Join(t.TempDir(), "base")
	if _, _, err := arbor(t, nil, s.base, "init", "--mode", string(s.mode)); err != nil {
		t.Fatal(err)
	}
	if s.second {
		out, _, err := arbor(t, nil, s.base, commitArgs(s.tar)...)
		if err != nil {
			t.Fatal(err)
		}
		s.old = objects.MustParseID(out)
		s.tar = t2
	}
	ref := copyRepo(t, s.base)
	before := repotest.Snapshot(t, ref)
	ref.Close()
	out, _, err := arbor(t, nil, ref.Path(), commitArgs(s.tar)...)
	if err != nil {
		t.Fatal(err)
	}
	s.new = objects.MustParseID(out)
	for _, p := range before.Diff(repotest.Snapshot(t, ref)) {
		if strings.HasPrefix(p, "object added: ") && !strings.HasSuffix(p, ".content") &&
			!(s.mode == repo.Bare && strings.HasSuffix(p, ".chunk")) {
			s.renams++
		}
	}
	dir := filepath.Join(t.TempDir(), "want")
	if _, err := checkout.Commit(t.Context(), ref, s.new, dir, checkout.Options{}); err != nil {
		t.Fatal(err)
	}
	s.want = repotest.Scan(t, dir)
	ref.Close()
	if s.renams < 5 {
		t.Fatalf("the commit makes only %d objects visible", s.renams)
	}
}

// points lists the crash points to try, with :N for the N-th time the
// point is reached.
func (s *crashScenario) points() []string {
	pts := []string{"tx.stage-chunk:2", "tx.synced", "tx.visible", "tx.ref"}
	if s.mode == repo.Bare {
		pts = append(pts, "tx.indexed")
	}
	n := s.renams
	var ns []int
	switch {
	case *crashAll:
		for i := 1; i <= n; i++ {
			ns = append(ns, i)
		}
	case testing.Short():
		pts = pts[:1]
		ns = []int{n / 2}
	default:
		// The first object, one among the files and one among the
		// dirtrees (staging order: chunks, files, then trees bottom-up),
		// and the commit itself, last.
		ns = []int{1, n / 2, n - 2, n}
	}
	slices.Sort(ns)
	for _, i := range slices.Compact(ns) {
		pts = append(pts, fmt.Sprintf("tx.rename:%d", i))
	}
	return pts
}

func (s *crashScenario) crashAt(t *testing.T, point string) {
	dir := filepath.Join(t.TempDir(), "repo")
	if out, err := runCmd("cp", "-a", "--", s.base, dir); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	_, state, err := arbor(t, []string{"ARBOR_CRASH_AT=" + point}, dir, commitArgs(s.tar)...)
	ws, _ := state.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("arbor commit with ARBOR_CRASH_AT=%s did not die by SIGKILL: %v (%v)", point, state, err)
	}

	// After the crash.
	r, err := repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkFsckClean(t, r, "after the crash")
	checkVisibleClosed(t, r)
	head, err := r.Ref("main")
	switch {
	case errors.Is(err, repo.ErrRefNotFound) && s.old.IsZero():
	case err != nil:
		t.Fatalf("main after the crash: %v", err)
	case head == s.old:
		s.checkCommit(t, r, head, nil)
	case head == s.new:
		s.checkCommit(t, r, head, s.want)
	default:
		t.Fatalf("main is %s after the crash: neither the old %s nor the new %s", head.Short(), s.old.Short(), s.new.Short())
	}
	r.Close()

	// A new commit succeeds and gives what an uninterrupted one gives.
	out, _, err := arbor(t, nil, dir, commitArgs(s.tar)...)
	if err != nil {
		t.Fatalf("commit after the crash: %v", err)
	}
	id := objects.MustParseID(out)
	r, err = repo.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if head == s.new {
		// The crashed commit completed: the next one goes on top of it.
		if c := readCommit(t, r, id); c.Parent == nil || *c.Parent != s.new || c.Tree != readCommit(t, r, s.new).Tree {
			t.Fatalf("commit after the completed one: %s, want a child of %s with the same tree", id.Short(), s.new.Short())
		}
	} else if id != s.new {
		t.Fatalf("commit after the crash made %s, an uninterrupted commit makes %s", id.Short(), s.new.Short())
	}
	checkFsckClean(t, r, "after the next commit")
	s.checkCommit(t, r, id, s.want)
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) > 0 {
		t.Errorf("tmp/ holds %d entries after the next commit", len(ents))
	}
}

func checkFsckClean(t *testing.T, r *repo.Repo, when string) {
	t.Helper()
	rep, err := r.Fsck(t.Context())
	if err != nil {
		t.Fatalf("fsck %s: %v", when, err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("fsck %s:\n  %s", when, problems(rep))
	}
}

// checkCommit walks the commit's closure (every object must be there and
// sound, chunks readable, through the chunk index in a bare repository)
// and checks it out, copying (which reads every chunk; fsck has checked
// what a hard-linking checkout would link); if want is set the checkout
// must equal it.
func (s *crashScenario) checkCommit(t *testing.T, r *repo.Repo, id objects.ID, want repotest.Tree) {
	t.Helper()
	ctx := t.Context()
	var chunks []objects.ID
	w := &repo.Walker{R: r, Visit: func(kind objects.Kind, id objects.ID, where string) bool {
		if kind == objects.KindChunk {
			chunks = append(chunks, id)
		}
		return true
	}}
	if err := w.Commit(ctx, id, "main"); err != nil {
		t.Fatalf("closure of %s: %v", id.Short(), err)
	}
	for _, c := range chunks {
		if _, err := objects.ReadRaw(ctx, r, objects.KindChunk, c); err != nil {
			t.Errorf("chunk %s of %s: %v", c.Short(), id.Short(), err)
		}
	}
	dir := filepath.Join(t.TempDir(), "co")
	if _, err := checkout.Commit(ctx, r, id, dir, checkout.Options{Copy: true}); err != nil {
		t.Fatalf("checkout %s: %v", id.Short(), err)
	}
	if want != nil {
		if d := repotest.Compare(want, repotest.Scan(t, dir)); len(d) > 0 {
			t.Errorf("checkout %s differs:\n  %s", id.Short(), strings.Join(d, "\n  "))
		}
	}
}

// checkVisibleClosed checks the invariant that makes "I have dirtree X"
// mean "I have its whole subtree": every object in the repository has its
// children (a dirtree its entries, a file its chunks or, in a bare
// repository, its content, a commit its tree and meta).
func checkVisibleClosed(t *testing.T, r *repo.Repo) {
	t.Helper()
	ctx := t.Context()
	st := repotest.Snapshot(t, r)
	has := func(kind objects.Kind, id objects.ID) bool {
		ok, err := r.Has(ctx, kind, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for p := range st.Objects {
		name := strings.Replace(p, "/", "", 1)
		hexID, ext, _ := strings.Cut(name, ".")
		id, err := objects.ParseID(hexID)
		if err != nil || ext == "content" {
			continue
		}
		kind, err := objects.ParseKind(ext)
		if err != nil {
			continue
		}
		var missing []string
		need := func(k objects.Kind, c objects.ID) {
			if !has(k, c) {
				missing = append(missing, k.String()+" "+c.Short())
			}
		}
		switch kind {
		case objects.KindCommit:
			c, err := objects.ReadCommit(ctx, r, id)
			if err != nil {
				t.Fatal(err)
			}
			need(objects.KindDirTree, c.Tree)
			need(objects.KindDirMeta, c.Meta)
		case objects.KindDirTree:
			dt, err := objects.ReadDirTree(ctx, r, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range dt.Entries {
				if e.IsDir() {
					need(objects.KindDirTree, e.Tree)
					need(objects.KindDirMeta, e.Meta)
				} else {
					need(objects.KindFile, e.File)
				}
			}
		case objects.KindFile:
			f, err := objects.ReadFile(ctx, r, id)
			if err != nil {
				t.Fatal(err)
			}
			if lp, ok := r.LocalPath(id); ok {
				// A bare file's chunks are its content; that they can be
				// found through the index matters for reachable files and
				// is checked with them (checkCommit).
				if _, err := os.Lstat(lp); err != nil {
					missing = append(missing, "content")
				}
				break
			}
			for _, c := range f.Chunks {
				need(objects.KindChunk, c.ID)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s %s is visible without its children %v", kind, id.Short(), missing)
		}
	}
}

// TestCrashDuringPrune kills 'arbor prune' with SIGKILL after each removal
// (prune.removed:N) in a bare repository where the pruned file is the one
// the chunk index names for chunks a kept file shares. Whatever the
// moment, fsck stays clean, every visible object keeps its children, and
// every chunk of the kept commit stays readable (a copying checkout reads
// them all through the index), then and after a complete prune.
func TestCrashDuringPrune(t *testing.T) {
	repotest.RequireRoot(t)
	arborBinary(t)
	base := filepath.Join(t.TempDir(), "base")
	r, err := repo.Init(base, repo.Bare)
	if err != nil {
		t.Fatal(err)
	}
	head := strings.Repeat("shared head of both files ", 20000)
	repotest.CommitFS(t, r, "old", repotest.Tree{"f": repotest.File(0o644, head), "only-old": repotest.File(0o644, "old")})
	kept := repotest.CommitFS(t, r, "new", repotest.Tree{"g": repotest.File(0o600, head+"and a tail")})
	update(t, r, func(tx *repo.Tx) error { return tx.DeleteRef("old") })
	st, err := r.Prune(t.Context(), repo.PruneOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	var ns []int
	for i := 1; i <= st.Objects; i++ {
		ns = append(ns, i)
	}
	if testing.Short() {
		ns = []int{st.Objects}
	}
	for _, n := range ns {
		t.Run(fmt.Sprintf("prune.removed:%d", n), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "repo")
			if out, err := runCmd("cp", "-a", "--", base, dir); err != nil {
				t.Fatalf("cp -a: %v\n%s", err, out)
			}
			point := fmt.Sprintf("prune.removed:%d", n)
			_, state, err := arbor(t, []string{"ARBOR_CRASH_AT=" + point}, dir, "prune")
			ws, _ := state.Sys().(syscall.WaitStatus)
			if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("arbor prune with ARBOR_CRASH_AT=%s did not die by SIGKILL: %v (%v)", point, state, err)
			}
			check := func(when string) {
				r, err := repo.Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				checkFsckClean(t, r, when)
				checkVisibleClosed(t, r)
				s := &crashScenario{}
				s.checkCommit(t, r, kept, nil)
			}
			check("after the crash")
			if _, _, err := arbor(t, nil, dir, "prune"); err != nil {
				t.Fatal(err)
			}
			check("after the next prune")
		})
	}
}
