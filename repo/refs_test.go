package repo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

func TestCheckRefName(t *testing.T) {
	valid := []string{
		"main", "os/stable", "a.b", "a_b-c", "A9", "x/y/z", "v1.0", "a..b",
		"origin:os/stable", "o-1:main", strings.Repeat("a", 255),
		strings.Repeat("a/", 127) + "a",
	}
	invalid := []string{
		"", ".hidden", "a/.b", "a//b", "a/", "/a", "a.lock", "a/b.lock", "a b", "a~1", "a^", "a:b:c",
		":main", "main:", "r/x:y", ".r:main", "é", "a\x00b", "a\\b", "*", "a?", "..", "a/../b", "./a",
		strings.Repeat("a", 256), "a\nb", "HEAD@{1}",
	}
	for _, name := range valid {
		if err := repo.CheckRefName(name); err != nil {
			t.Errorf("CheckRefName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range invalid {
		err := repo.CheckRefName(name)
		if !errors.Is(err, repo.ErrInvalidRef) {
			t.Errorf("CheckRefName(%q) = %v, want ErrInvalidRef", name, err)
		}
	}
}

// putCommit stores a commit of an empty tree with the given subject and
// timestamp and optional parent, without a ref.
func putCommit(ctx context.Context, tx *repo.Tx, subject string, ts int64, parent *objects.ID) (objects.ID, error) {
	tree, meta, err := putTree(ctx, tx, nil)
	if err != nil {
		return objects.ID{}, err
	}
	return repo.WriteCommit(ctx, tx, &objects.Commit{Tree: tree, Meta: meta, Parent: parent, Timestamp: ts, Subject: subject,
		Metadata: objects.Metadata{objects.MetaRefBinding: []string{"main"}, objects.MetaRelease: int64(1)}})
}

// chain stores n commits, each the parent of the next, and returns them
// oldest first.
func chain(t *testing.T, r *repo.Repo, n int, subject string) []objects.ID {
	t.Helper()
	var ids []objects.ID
	update(t, r, func(tx *repo.Tx) error {
		var parent *objects.ID
		for i := 0; i < n; i++ {
			id, err := putCommit(t.Context(), tx, fmt.Sprintf("%s %d", subject, i), int64(1000+i), parent)
			if err != nil {
				return err
			}
			ids = append(ids, id)
			parent = &ids[len(ids)-1]
		}
		return nil
	})
	return ids
}

func TestRefs(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	ctx := t.Context()
	ids := chain(t, r, 3, "refs")
	update(t, r, func(tx *repo.Tx) error {
		for name, id := range map[string]objects.ID{"main": ids[2], "os/stable": ids[1], "os/beta/x": ids[0], "origin:os/stable": ids[0]} {
			if err := tx.SetRef(name, id); err != nil {
				return err
			}
		}
		return nil
	})
	refs, err := r.Refs()
	if err != nil {
		t.Fatal(err)
	}
	want := []repo.RefEntry{{"main", ids[2]}, {"origin:os/stable", ids[0]}, {"os/beta/x", ids[0]}, {"os/stable", ids[1]}}
	if fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Errorf("Refs() = %v, want %v", refs, want)
	}
	for _, e := range want {
		if got, err := r.Ref(e.Name); err != nil || got != e.Commit {
			t.Errorf("Ref(%s) = %s, %v", e.Name, got.Short(), err)
		}
	}
	for _, name := range []string{"nope", "os", "os/beta", "main/x", "origin:main", "other:os/stable"} {
		if _, err := r.Ref(name); !errors.Is(err, repo.ErrRefNotFound) {
			t.Errorf("Ref(%q) = %v, want ErrRefNotFound", name, err)
		}
	}
	if _, err := r.Ref("../config"); !errors.Is(err, repo.ErrInvalidRef) {
		t.Errorf("Ref(../config) = %v, want ErrInvalidRef", err)
	}
	// Delete, and delete what does not exist.
	update(t, r, func(tx *repo.Tx) error {
		if err := tx.DeleteRef("os/beta/x"); err != nil {
			return err
		}
		return tx.DeleteRef("never-was")
	})
	if _, err := r.Ref("os/beta/x"); !errors.Is(err, repo.ErrRefNotFound) {
		t.Errorf("deleted ref: %v", err)
	}
	// Invalid names are refused before anything is written.
	update(t, r, func(tx *repo.Tx) error {
		for _, name := range []string{"", "a b", "../../config", "x/.y"} {
			if err := tx.SetRef(name, ids[0]); !errors.Is(err, repo.ErrInvalidRef) {
				t.Errorf("SetRef(%q) = %v, want ErrInvalidRef", name, err)
			}
		}
		return nil
	})
	// A ref that would need another ref to be a directory, or the
	// reverse, fails the transaction and leaves the existing ref alone.
	before := repotest.Snapshot(t, r)
	for _, name := range []string{"main/sub", "os"} {
		err := r.Update(ctx, func(tx *repo.Tx) error { return tx.SetRef(name, ids[0]) })
		if err == nil {
			t.Errorf("SetRef(%q) beside %v succeeded", name, before.Refs)
		}
	}
	repotest.AssertUnchanged(t, r, before)
}

func TestResolve(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	ctx := t.Context()
	ids := chain(t, r, 4, "resolve") // ids[3] is the newest
	update(t, r, func(tx *repo.Tx) error { return tx.SetRef("os/stable", ids[3]) })
	root := readCommit(t, r, ids[0])
	for _, c := range []struct {
		spec string
		want objects.ID
	}{
		{"os/stable", ids[3]},
		{ids[2].String(), ids[2]},
		{ids[1].String()[:4], ids[1]},
		{ids[1].String()[:12], ids[1]},
		{ids[1].String()[:63], ids[1]},
		{"os/stable^", ids[2]},
		{"os/stable^^", ids[1]},
		{"os/stable~2", ids[1]},
		{"os/stable~3", ids[0]},
		{"os/stable~0", ids[3]},
		{"os/stable~1^", ids[1]},
		{"os/stable^~2", ids[0]},
		{ids[3].String() + "~3", ids[0]},
		{ids[2].String()[:8] + "^", ids[1]},
	} {
		got, err := r.Resolve(ctx, c.spec)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) = %s, %v; want %s", c.spec, got.Short(), err, c.want.Short())
		}
	}
	for _, c := range []struct {
		spec string
		is   error
	}{
		{"nope", repo.ErrRefNotFound},
		{"os", repo.ErrRefNotFound},
		{"abc", repo.ErrRefNotFound},                                // too short for a prefix
		{strings.ToUpper(ids[1].String()[:8]), repo.ErrRefNotFound}, // IDs are lowercase
		{root.Tree.String()[:8], repo.ErrRefNotFound},               // a dirtree, not a commit
		{root.Tree.String(), objects.ErrNotFound},
		{objects.Sum([]byte("no such commit")).String(), objects.ErrNotFound},
		{"", repo.ErrCommitNotSet},
		{"nope^", repo.ErrRefNotFound},
	} {
		if _, err := r.Resolve(ctx, c.spec); !errors.Is(err, c.is) {
			t.Errorf("Resolve(%q) = %v, want an error matching %v", c.spec, err, c.is)
		}
	}
	for _, spec := range []string{"os/stable~4", "os/stable^^^^", "os/stable~x", "os/stable~-1", "os/stable~"} {
		if id, err := r.Resolve(ctx, spec); err == nil {
			t.Errorf("Resolve(%q) = %s, want an error", spec, id.Short())
		}
	}
}

// TestResolveAmbiguousPrefix builds two commits whose IDs share their
// first four hex digits (a birthday search over a few hundred encodings),
// and checks that the shared prefix is refused as ambiguous while one more
// digit names each.
func TestResolveAmbiguousPrefix(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	ctx := t.Context()
	var pair [2]objects.ID
	update(t, r, func(tx *repo.Tx) error {
		tree, meta, err := putTree(ctx, tx, nil)
		if err != nil {
			return err
		}
		seen := map[[2]byte]*objects.Commit{}
		for i := 0; ; i++ {
			c := &objects.Commit{Tree: tree, Meta: meta, Timestamp: int64(i), Subject: "collide",
				Metadata: objects.Metadata{objects.MetaRefBinding: []string{"main"}, objects.MetaRelease: int64(1)}}
			enc, err := c.Encode()
			if err != nil {
				return err
			}
			id := objects.Sum(enc)
			k := [2]byte{id[0], id[1]}
			if other, ok := seen[k]; ok {
				a, err := repo.WriteCommit(ctx, tx, other)
				if err != nil {
					return err
				}
				b, err := repo.WriteCommit(ctx, tx, c)
				pair = [2]objects.ID{a, b}
				return err
			}
			seen[k] = c
			if i > 100000 {
				return errors.New("no 4-digit collision in 100000 commits")
			}
		}
	})
	a, b := pair[0].String(), pair[1].String()
	n := 0
	for a[n] == b[n] {
		n++
	}
	t.Logf("%s and %s share %d hex digits", a[:n+1], b[:n+1], n)
	for l := 4; l <= n; l++ {
		if _, err := r.Resolve(ctx, a[:l]); !errors.Is(err, repo.ErrAmbiguous) {
			t.Errorf("Resolve(%q) = %v, want ErrAmbiguous", a[:l], err)
		}
	}
	for i, s := range []string{a, b} {
		if got, err := r.Resolve(ctx, s[:n+1]); err != nil || got != pair[i] {
			t.Errorf("Resolve(%q) = %s, %v; want %s", s[:n+1], got.Short(), err, s[:12])
		}
	}
	// A ref named like the prefix wins over the prefix.
	update(t, r, func(tx *repo.Tx) error { return tx.SetRef(a[:4], pair[1]) })
	if got, err := r.Resolve(ctx, a[:4]); err != nil || got != pair[1] {
		t.Errorf("Resolve(ref %q) = %s, %v; want the ref's commit", a[:4], got.Short(), err)
	}
}
