package checkout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

// These tests make hard links fail the way a full inode (EMLINK) or another
// filesystem (EXDEV) makes them fail, through checkoutTree's link function;
// Tree passes unix.Linkat itself.

// flatStore is a MemStore of one directory of small files whose content
// also exists whole in dir, as in a bare repository.
type flatStore struct {
	*objtest.MemStore
	dir        string
	paths      map[objects.ID]string
	tree, meta objects.ID
}

func (s *flatStore) LocalPath(id objects.ID) (string, bool) {
	p, ok := s.paths[id]
	return p, ok
}

func newFlatStore(t *testing.T, names ...string) *flatStore {
	t.Helper()
	ctx := context.Background()
	s := &flatStore{MemStore: &objtest.MemStore{}, dir: t.TempDir(), paths: map[objects.ID]string{}}
	var b objects.DirTreeBuilder
	for _, name := range names {
		content := []byte("content of " + name)
		chunk, err := objtest.PutBytes(ctx, s, objects.KindChunk, content)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := (&objects.File{Mode: objects.ModeRegular | 0o640, UID: uint32(os.Geteuid()), GID: uint32(os.Getegid()),
			Chunks: []objects.ChunkRef{{ID: chunk, Size: uint32(len(content))}}}).Encode()
		if err != nil {
			t.Fatal(err)
		}
		id, err := objtest.PutBytes(ctx, s, objects.KindFile, enc)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(s.dir, id.String())
		if err := os.WriteFile(p, content, 0o640); err != nil {
			t.Fatal(err)
		}
		s.paths[id] = p
		if err := b.AddFile(name, id); err != nil {
			t.Fatal(err)
		}
	}
	enc, _ := b.Tree().Encode()
	var err error
	if s.tree, err = objtest.PutBytes(ctx, s, objects.KindDirTree, enc); err != nil {
		t.Fatal(err)
	}
	enc, _ = (&objects.DirMeta{Mode: objects.ModeDir | 0o755, UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}).Encode()
	if s.meta, err = objtest.PutBytes(ctx, s, objects.KindDirMeta, enc); err != nil {
		t.Fatal(err)
	}
	return s
}

// check compares dir with the store: content and mode of every file, and
// whether it is a hard link to the store's copy.
func (s *flatStore) check(t *testing.T, dir string, linked map[string]bool) {
	t.Helper()
	dt, err := objects.ReadDirTree(context.Background(), s, s.tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dt.Entries {
		p := filepath.Join(dir, e.Name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != 0o640 {
			t.Errorf("%s: mode %v, want 0640", e.Name, fi.Mode())
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, []byte("content of "+e.Name)) {
			t.Errorf("%s: content %q", e.Name, b)
		}
		src, err := os.Lstat(s.paths[e.File])
		if err != nil {
			t.Fatal(err)
		}
		if same := os.SameFile(fi, src); same != linked[e.Name] {
			t.Errorf("%s: a hard link to the store's copy: %v, want %v", e.Name, same, linked[e.Name])
		}
	}
}

type warnLog struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnLog) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }

// failingLink returns a link function that fails with errno for the
// sources fail selects and links the others.
func failingLink(errno error, fail func(n int64, oldpath string) bool) linkFunc {
	var n atomic.Int64
	return func(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
		if fail(n.Add(1), oldpath) {
			return errno
		}
		return unix.Linkat(olddirfd, oldpath, newdirfd, newpath, flags)
	}
}

func TestLinkEMLINK(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e", "f"}
	s := newFlatStore(t, names...)
	var bID objects.ID
	for id, p := range s.paths {
		if b, _ := os.ReadFile(p); string(b) == "content of b" {
			bID = id
		}
	}
	cases := []struct {
		name   string
		fail   func(int64, string) bool
		linked map[string]bool
	}{
		{"one file", func(_ int64, p string) bool { return strings.HasSuffix(p, bID.String()) },
			map[string]bool{"a": true, "c": true, "d": true, "e": true, "f": true}},
		{"every file", func(int64, string) bool { return true }, map[string]bool{}},
	}
	for _, c := range cases {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", c.name, workers), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "co")
				var w warnLog
				st, err := checkoutTree(t.Context(), s, s.tree, s.meta, dir,
					Options{NoOwners: true, Warn: w.add, Workers: workers}, failingLink(unix.EMLINK, c.fail))
				if err != nil {
					t.Fatal(err)
				}
				s.check(t, dir, c.linked)
				links := int64(len(c.linked))
				if st.Links != links || st.Files != int64(len(names))-links {
					t.Errorf("stats %+v, want %d links and %d copies", st, links, int64(len(names))-links)
				}
				if len(w.msgs) != 1 || !strings.Contains(w.msgs[0], "most hard links") {
					t.Errorf("warnings %q, want one about the link limit", w.msgs)
				}
			})
		}
	}
}

// TestLinkEXDEV: after the first EXDEV every file is copied, without
// trying to link again, with one warning.
func TestLinkEXDEV(t *testing.T) {
	s := newFlatStore(t, "a", "b", "c", "d")
	dir := filepath.Join(t.TempDir(), "co")
	var w warnLog
	var tries atomic.Int64
	link := failingLink(unix.EXDEV, func(n int64, _ string) bool { tries.Add(1); return n >= 2 })
	st, err := checkoutTree(t.Context(), s, s.tree, s.meta, dir, Options{NoOwners: true, Warn: w.add, Workers: 1}, link)
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, dir, map[string]bool{"a": true})
	if st.Links != 1 || st.Files != 3 {
		t.Errorf("stats %+v, want 1 link and 3 copies", st)
	}
	if tries.Load() != 2 {
		t.Errorf("%d link attempts, want 2 (none after EXDEV)", tries.Load())
	}
	if len(w.msgs) != 1 || !strings.Contains(w.msgs[0], "another filesystem") {
		t.Errorf("warnings %q, want one about the other filesystem", w.msgs)
	}
}

// TestLinkOtherError: any other link failure fails the checkout, naming the
// file; it does not silently copy.
func TestLinkOtherError(t *testing.T) {
	s := newFlatStore(t, "a", "b")
	dir := filepath.Join(t.TempDir(), "co")
	_, err := checkoutTree(t.Context(), s, s.tree, s.meta, dir, Options{NoOwners: true},
		failingLink(unix.EPERM, func(n int64, _ string) bool { return n == 2 }))
	if !errors.Is(err, unix.EPERM) || !strings.HasPrefix(err.Error(), "/b: hard link from repository") {
		t.Fatalf("got %v, want EPERM naming /b", err)
	}
}

// TestRealEMLINK reaches ext4's limit of 65000 links on one inode and checks
// that Tree, with the real linkat, copies that file.
func TestRealEMLINK(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 65000 hard links")
	}
	s := newFlatStore(t, "a", "full", "z")
	var fs unix.Statfs_t
	if err := unix.Statfs(s.dir, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("the link limit is only reachable quickly on ext4 (filesystem type %#x)", fs.Type)
	}
	var full string
	linked := map[string]bool{"a": true, "z": true}
	for _, p := range s.paths {
		if b, _ := os.ReadFile(p); string(b) == "content of full" {
			full = p
		}
	}
	links := filepath.Join(t.TempDir(), "links")
	if err := os.Mkdir(links, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		err := os.Link(full, filepath.Join(links, fmt.Sprint(i)))
		if errors.Is(err, unix.EMLINK) {
			t.Logf("EMLINK after %d links", i+1)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 70000 {
			t.Skip("no link limit below 70000 here")
		}
	}
	dir := filepath.Join(t.TempDir(), "co")
	var w warnLog
	st, err := Tree(t.Context(), s, s.tree, s.meta, dir, Options{NoOwners: true, Warn: w.add})
	if err != nil {
		t.Fatal(err)
	}
	s.check(t, dir, linked)
	if st.Links != 2 || st.Files != 1 {
		t.Errorf("stats %+v, want 2 links and 1 copy", st)
	}
	if len(w.msgs) != 1 || !strings.Contains(w.msgs[0], "/full") {
		t.Errorf("warnings %q, want one naming /full", w.msgs)
	}
}
