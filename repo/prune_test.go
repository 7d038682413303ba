package repo_test

import (
	"errors"
	"maps"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// closure returns the object files (paths under objects/) that a commit's
// tree reaches, the commit's own included, its parents not.
func closure(t *testing.T, r *repo.Repo, commits ...objects.ID) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	w := &repo.Walker{R: r, Visit: func(kind objects.Kind, id objects.ID, where string) bool {
		rel := func(suffix string) string {
			s := id.String()
			return s[:2] + "/" + s[2:] + suffix
		}
		switch {
		case kind == objects.KindChunk && r.Mode() == repo.Bare:
			// kept inside files
		case kind == objects.KindFile && r.Mode() == repo.Bare:
			out[rel(".file")], out[rel(".content")] = true, true
		default:
			out[rel("."+kind.String())] = true
		}
		return true
	}}
	for _, c := range commits {
		if err := w.Commit(t.Context(), c, ""); err != nil {
			t.Fatalf("walk %s: %v", c.Short(), err)
		}
	}
	return out
}

func minus(a map[string]bool, bs ...map[string]bool) map[string]bool {
	out := maps.Clone(a)
	for _, b := range bs {
		for k := range b {
			delete(out, k)
		}
	}
	return out
}

// assertPruned checks that exactly the given object files went away.
func assertPruned(t *testing.T, r *repo.Repo, before repotest.State, gone map[string]bool, st repo.PruneStats) {
	t.Helper()
	after := repotest.Snapshot(t, r)
	var removed []string
	for p := range before.Objects {
		if _, ok := after.Objects[p]; !ok {
			removed = append(removed, p)
		}
	}
	slices.Sort(removed)
	want := slices.Sorted(maps.Keys(gone))
	if !slices.Equal(removed, want) {
		t.Errorf("prune removed %d object files, want %d:\n removed %v\n    want %v", len(removed), len(want), removed, want)
	}
	if st.Objects != len(want) {
		t.Errorf("prune stats say %d objects removed, want %d", st.Objects, len(want))
	}
	if st.Kept != len(after.Objects) {
		t.Errorf("prune stats say %d objects kept, %d remain", st.Kept, len(after.Objects))
	}
	var bytes int64
	for _, p := range want {
		bytes += before.Objects[p]
	}
	if st.Bytes != bytes {
		t.Errorf("prune stats say %d bytes freed, the removed files held %d", st.Bytes, bytes)
	}
}

func prune(t *testing.T, r *repo.Repo, opts repo.PruneOptions) repo.PruneStats {
	t.Helper()
	st, err := r.Prune(t.Context(), opts)
	if err != nil {
		t.Fatalf("prune %+v: %v", opts, err)
	}
	return st
}

// TestPrune: prune removes exactly what no ref reaches (history included
// unless HistoryLimit says otherwise, young commits kept if asked), never
// anything a ref reaches; a dry run removes nothing; what remains checks
// out and passes fsck (repotest.New checks it at the end).
func TestPrune(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			repotest.RequireRoot(t)
			r := repotest.New(t, mode)
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			r.Clock = func() time.Time { return now }
			shared := repotest.File(0o644, strings.Repeat("shared content ", 30000))
			a := repotest.CommitFS(t, r, "main", repotest.Tree{"shared": shared, "only-a": repotest.File(0o644, "A"), "d/x": repotest.File(0o600, "x in a")})
			now = now.Add(time.Hour)
			b := repotest.CommitFS(t, r, "main", repotest.Tree{"shared": shared, "only-b": repotest.File(0o644, "B"), "d/x": repotest.File(0o600, "x in b")})
			c := repotest.CommitFS(t, r, "os/other", repotest.Tree{"shared": shared, "only-c": repotest.File(0o755, "C")})
			if readCommit(t, r, b).Parent == nil || *readCommit(t, r, b).Parent != a {
				t.Fatal("b's parent is not a")
			}
			ca, cb, cc := closure(t, r, a), closure(t, r, b), closure(t, r, c)

			// Everything is reachable through refs and history.
			before := repotest.Snapshot(t, r)
			assertPruned(t, r, before, nil, prune(t, r, repo.PruneOptions{}))

			// A dry run of depth 0 counts a's own objects and removes nothing.
			st := prune(t, r, repo.PruneOptions{HistoryLimit: 1, DryRun: true})
			repotest.AssertUnchanged(t, r, before)
			if want := len(minus(ca, cb, cc)); st.Objects != want || want == 0 {
				t.Errorf("dry run would remove %d objects, want %d", st.Objects, want)
			}

			// HistoryLimit 1 drops history: a's own objects go, b's and c's stay.
			assertPruned(t, r, before, minus(ca, cb, cc), prune(t, r, repo.PruneOptions{HistoryLimit: 1}))
			if ok, _ := r.Has(t.Context(), objects.KindCommit, a); ok {
				t.Errorf("commit a still stored after pruning history")
			}
			if id, err := r.Resolve(t.Context(), "main^"); err == nil {
				// Resolve names the parent without reading it; reading fails.
				if _, err := objects.ReadCommit(t.Context(), r, id); !errors.Is(err, objects.ErrNotFound) {
					t.Errorf("main^ after pruning history: %v, want not found", err)
				}
			}
			closure(t, r, b, c) // complete: the walk fails on anything missing
			checkoutOK(t, r, b)

			// Deleting a ref frees what only it reached.
			before = repotest.Snapshot(t, r)
			update(t, r, func(tx *repo.Tx) error { return tx.DeleteRef("os/other") })
			assertPruned(t, r, before, minus(cc, cb), prune(t, r, repo.PruneOptions{}))

			// Moving a ref frees what only the old commit reached.
			now = now.Add(time.Hour)
			d := repotest.CommitFS(t, r, "next", repotest.Tree{"shared": shared, "only-d": repotest.File(0o644, "D")})
			update(t, r, func(tx *repo.Tx) error {
				if err := tx.SetRef("main", d); err != nil {
					return err
				}
				return tx.DeleteRef("next")
			})
			before = repotest.Snapshot(t, r)
			cd := closure(t, r, d)
			assertPruned(t, r, before, minus(cb, cd), prune(t, r, repo.PruneOptions{}))
			checkoutOK(t, r, d)

			// Young commits without a ref are kept when asked, by the
			// injected clock, not the wall clock.
			now = now.Add(24 * time.Hour)
			e := repotest.CommitFS(t, r, "young", repotest.Tree{"only-e": repotest.File(0o644, "E")})
			ce := closure(t, r, e)
			update(t, r, func(tx *repo.Tx) error { return tx.DeleteRef("young") })
			now = now.Add(time.Hour)
			before = repotest.Snapshot(t, r)
			assertPruned(t, r, before, nil, prune(t, r, repo.PruneOptions{KeepYoungerThan: 2 * time.Hour}))
			closure(t, r, e)
			assertPruned(t, r, before, minus(ce, cd), prune(t, r, repo.PruneOptions{KeepYoungerThan: 30 * time.Minute}))

			// A commit marked partial (a pull in progress) keeps what it has.
			now = now.Add(time.Hour)
			f := repotest.CommitFS(t, r, "pulling", repotest.Tree{"only-f": repotest.File(0o644, "F")})
			update(t, r, func(tx *repo.Tx) error { tx.MarkPartial(f); return tx.DeleteRef("pulling") })
			before = repotest.Snapshot(t, r)
			assertPruned(t, r, before, nil, prune(t, r, repo.PruneOptions{HistoryLimit: 1}))
			update(t, r, func(tx *repo.Tx) error { tx.ClearPartial(f); return nil })
			assertPruned(t, r, before, minus(closure(t, r, f), cd), prune(t, r, repo.PruneOptions{HistoryLimit: 1}))
		})
	}
}

func update(t *testing.T, r *repo.Repo, fn func(tx *repo.Tx) error) {
	t.Helper()
	if err := r.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// checkoutOK checks the commit out, copying (which reads every chunk, in a
// bare repository through the chunk index) and, from a bare repository,
// hard-linking.
func checkoutOK(t *testing.T, r *repo.Repo, id objects.ID) {
	t.Helper()
	for _, cp := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "co")
		if _, err := checkout.Commit(t.Context(), r, id, dir, checkout.Options{Copy: cp}); err != nil {
			t.Fatalf("checkout %s (copy %v): %v", id.Short(), cp, err)
		}
	}
}

// TestPruneKeepsSharedChunksReadable: in a bare repository chunks live
// inside files, found through the chunk index. Pruning a file whose content
// the index points at must leave every chunk a kept file holds readable,
// whichever of the two files goes.
func TestPruneKeepsSharedChunksReadable(t *testing.T) {
	repotest.RequireRoot(t)
	rng := rand.New(rand.NewPCG(1, 2))
	head := make([]byte, 600<<10)
	tail := make([]byte, 300<<10)
	for _, b := range [][]byte{head, tail} {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	for _, drop := range []string{"first", "second"} {
		t.Run("drop "+drop, func(t *testing.T) {
			r := repotest.New(t, repo.Bare)
			ctx := t.Context()
			// Two different file objects sharing the head's chunks; the
			// second also has chunks of its own.
			first := repotest.CommitFS(t, r, "first", repotest.Tree{"f": repotest.File(0o644, string(head))})
			second := repotest.CommitFS(t, r, "second", repotest.Tree{"g": repotest.File(0o600, string(head)+string(tail))})
			chunksOf := func(c objects.ID, p string) []objects.ChunkRef {
				n, err := repo.Lookup(ctx, r, readCommit(t, r, c), p)
				if err != nil {
					t.Fatal(err)
				}
				f, err := objects.ReadFile(ctx, r, n.File)
				if err != nil {
					t.Fatal(err)
				}
				return f.Chunks
			}
			fc, gc := chunksOf(first, "f"), chunksOf(second, "g")
			keepC, keepID, dropChunks := fc, first, gc
			if drop == "first" {
				keepC, keepID, dropChunks = gc, second, fc
			}
			update(t, r, func(tx *repo.Tx) error { return tx.DeleteRef(drop) })
			if st := prune(t, r, repo.PruneOptions{}); st.Objects == 0 {
				t.Fatal("prune removed nothing")
			}
			kept := map[objects.ID]bool{}
			for _, c := range keepC {
				kept[c.ID] = true
				b, err := objects.ReadRaw(ctx, r, objects.KindChunk, c.ID)
				if err != nil {
					t.Errorf("chunk %s of the kept file: %v", c.ID.Short(), err)
				} else if len(b) != int(c.Size) {
					t.Errorf("chunk %s: %d bytes, want %d", c.ID.Short(), len(b), c.Size)
				}
			}
			for _, c := range dropChunks {
				if kept[c.ID] {
					continue
				}
				if ok, err := r.Has(ctx, objects.KindChunk, c.ID); ok || err != nil {
					t.Errorf("chunk %s only the pruned file held: Has = %v, %v", c.ID.Short(), ok, err)
				}
			}
			checkoutOK(t, r, keepID)
			// A new file made of the shared chunks assembles from them.
			again := repotest.CommitFS(t, r, "again", repotest.Tree{"h": repotest.File(0o640, string(head))})
			checkoutOK(t, r, again)
		})
	}
}

// TestPruneCLIKeepsHistory: 'arbor prune' without --depth keeps every
// ancestor of every ref; --depth 0 drops them.
func TestPruneCLIKeepsHistory(t *testing.T) {
	repotest.RequireRoot(t)
	bin := arborBinary(t)
	r := repotest.New(t, repo.Archive)
	a := repotest.CommitFS(t, r, "main", repotest.Tree{"v": repotest.File(0o644, "1")})
	repotest.CommitFS(t, r, "main", repotest.Tree{"v": repotest.File(0o644, "2")})
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"--repo", r.Path()}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("arbor %v: %v\n%s", args, err, out)
		}
	}
	run("prune")
	if ok, _ := r.Has(t.Context(), objects.KindCommit, a); !ok {
		t.Fatal("arbor prune removed the parent of main")
	}
	closure(t, r, a)
	run("prune", "--depth", "0")
	if ok, _ := r.Has(t.Context(), objects.KindCommit, a); ok {
		t.Fatal("arbor prune --depth 0 kept the parent of main")
	}
}
