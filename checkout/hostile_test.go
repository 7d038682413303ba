package checkout_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

// The tests in this file play a hostile store: objects are injected as raw
// bytes under their true ID, bypassing the builders, so that only the
// decoders and the checkout stand between the tree and the filesystem.

var rawEnc = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// inject stores b under its own ID without any check and returns the ID.
func inject(t testing.TB, s *objtest.MemStore, kind objects.Kind, b []byte) objects.ID {
	t.Helper()
	id := objects.Sum(b)
	s.Corrupt(kind, id, b)
	return id
}

// rawDirTree encodes a dirtree the way the format does, whatever the
// entries hold: each entry is {name, file} or {name, tree, meta}.
func rawDirTree(t testing.TB, entries ...[]any) []byte {
	t.Helper()
	if entries == nil {
		entries = [][]any{}
	}
	b, err := rawEnc.Marshal([]any{uint8(objects.KindDirTree), uint8(objects.FormatVersion), entries})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileEntry(name string, id objects.ID) []any { return []any{name, id[:]} }

func dirEntry(name string, tree, meta objects.ID) []any { return []any{name, tree[:], meta[:]} }

// rawFile encodes a file object field by field.
func rawFile(t testing.TB, mode, uid, gid uint32, chunks []objects.ChunkRef, target string) []byte {
	t.Helper()
	if chunks == nil {
		chunks = []objects.ChunkRef{}
	}
	b, err := rawEnc.Marshal([]any{uint8(objects.KindFile), uint8(objects.FormatVersion), mode, uid, gid,
		[]objects.Xattr{}, chunks, target})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rawDirMeta(t testing.TB, mode uint32) []byte {
	t.Helper()
	b, err := rawEnc.Marshal([]any{uint8(objects.KindDirMeta), uint8(objects.FormatVersion), mode, uint32(0), uint32(0), []objects.Xattr{}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileBase is a store with a few honest objects to point at: a file
// that would land in the sentinel if a name could escape, a symlink to the
// sentinel, a subtree.
type hostileBase struct {
	s                    *objtest.MemStore
	pwned, link          objects.ID // file objects
	subTree, subMeta     objects.ID
	emptyTree, dirMeta   objects.ID
	okTree, okMeta       objects.ID // a valid root holding "ok"
	sentinelDir, outside string
}

func newHostileBase(t *testing.T, a *arena) *hostileBase {
	s := &objtest.MemStore{}
	h := &hostileBase{s: s, sentinelDir: a.s.dir}
	h.pwned = putFile(t, s, file(0o4777, "pwned"))
	h.link = putFile(t, s, symlink(a.s.dir))
	h.subTree, h.subMeta = putTree(t, s, dir(0o755, map[string]node{"pwned": file(0o644, "pwned")}))
	h.emptyTree, h.dirMeta = putTree(t, s, dir(0o755, nil))
	h.okTree, h.okMeta = putTree(t, s, dir(0o755, map[string]node{"ok": file(0o644, "fine")}))
	return h
}

// escapes are names that would reach the sentinel if they were used as
// paths.
func escapes(sentinel string) []string {
	return []string{"..", ".", "", "../sentinel", "../sentinel/pwned", "../../../../../../../" + strings.TrimPrefix(sentinel, "/") + "/pwned",
		sentinel + "/pwned", "/", "a/b", "x\x00y", "\x00", "bad\xffutf8", strings.Repeat("n", objects.MaxNameLen+1)}
}

func TestHostileDirTrees(t *testing.T) {
	type tc struct {
		name    string
		entries func(h *hostileBase) [][]any
	}
	var cases []tc
	for _, bad := range escapes("/SENTINEL") {
		cases = append(cases,
			tc{fmt.Sprintf("file named %q", bad), func(h *hostileBase) [][]any {
				return [][]any{fileEntry(strings.ReplaceAll(bad, "/SENTINEL", h.sentinelDir), h.pwned)}
			}},
			tc{fmt.Sprintf("dir named %q", bad), func(h *hostileBase) [][]any {
				return [][]any{dirEntry(strings.ReplaceAll(bad, "/SENTINEL", h.sentinelDir), h.subTree, h.subMeta)}
			}},
		)
	}
	cases = append(cases,
		tc{"duplicate files", func(h *hostileBase) [][]any {
			return [][]any{fileEntry("a", h.pwned), fileEntry("a", h.pwned)}
		}},
		tc{"symlink then directory of the same name", func(h *hostileBase) [][]any {
			return [][]any{fileEntry("a", h.link), dirEntry("a", h.subTree, h.subMeta)}
		}},
		tc{"directory then symlink of the same name", func(h *hostileBase) [][]any {
			return [][]any{dirEntry("a", h.subTree, h.subMeta), fileEntry("a", h.link)}
		}},
		tc{"unsorted", func(h *hostileBase) [][]any {
			return [][]any{fileEntry("b", h.pwned), fileEntry("a", h.link)}
		}},
		tc{"unsorted: symlink sorted after the directory it shadows", func(h *hostileBase) [][]any {
			return [][]any{dirEntry("z", h.subTree, h.subMeta), fileEntry("a", h.link), dirEntry("a0", h.subTree, h.subMeta)}
		}},
		tc{"directory with a zero meta", func(h *hostileBase) [][]any {
			return [][]any{dirEntry("d", h.subTree, objects.ID{})}
		}},
		tc{"file with a zero ID", func(h *hostileBase) [][]any {
			return [][]any{fileEntry("f", objects.ID{})}
		}},
		tc{"entry with four fields", func(h *hostileBase) [][]any {
			return [][]any{{"f", h.pwned[:], h.subTree[:], h.subMeta[:]}}
		}},
		tc{"short ID", func(h *hostileBase) [][]any {
			return [][]any{{"f", h.pwned[:16]}}
		}},
	)
	for _, c := range cases {
		for _, where := range []string{"root", "subdirectory"} {
			t.Run(c.name+" in "+where, func(t *testing.T) {
				a := newArena(t)
				h := newHostileBase(t, a)
				bad := inject(t, h.s, objects.KindDirTree, rawDirTree(t, c.entries(h)...))
				tree, meta := bad, h.dirMeta
				if where == "subdirectory" {
					// Valid entries before and after, so that the checkout
					// has written something when it meets the bad tree.
					tree = inject(t, h.s, objects.KindDirTree, rawDirTree(t,
						dirEntry("a", h.okTree, h.okMeta), dirEntry("m", bad, h.dirMeta), dirEntry("z", h.okTree, h.okMeta)))
				}
				_, err := checkout.Tree(t.Context(), h.s, tree, meta, a.co, checkout.Options{NoOwners: true, Workers: 2})
				t.Logf("error: %v", err)
				if !errors.Is(err, objects.ErrInvalid) {
					t.Fatalf("got %v, want an error matching objects.ErrInvalid", err)
				}
				if where == "subdirectory" && !strings.Contains(err.Error(), "/m:") {
					t.Errorf("error %q does not name /m", err)
				}
				a.check(t)
				assertRemovable(t, a.co)
			})
		}
	}
}

// TestHostileControl makes sure the raw encoders above write what the real
// encoder writes, so that the hostile cases fail for their content and not
// for a framing mistake.
func TestHostileControl(t *testing.T) {
	a := newArena(t)
	h := newHostileBase(t, a)
	b := rawDirTree(t, fileEntry("a", h.pwned), dirEntry("b", h.subTree, h.subMeta), fileEntry("c", h.link))
	var want objects.DirTreeBuilder
	want.AddFile("a", h.pwned)
	want.AddDir("b", h.subTree, h.subMeta)
	want.AddFile("c", h.link)
	if wb := encode(t, want.Tree()); string(wb) != string(b) {
		t.Fatalf("raw dirtree encoding differs from the real one")
	}
	fb := rawFile(t, objects.ModeSymlink|0o777, 0, 0, nil, a.s.dir)
	if fb2 := encode(t, &objects.File{Mode: objects.ModeSymlink | 0o777, Target: a.s.dir}); string(fb) != string(fb2) {
		t.Fatalf("raw file encoding differs from the real one")
	}
	if mb := encode(t, &objects.DirMeta{Mode: objects.ModeDir | 0o755}); string(mb) != string(rawDirMeta(t, objects.ModeDir|0o755)) {
		t.Fatalf("raw dirmeta encoding differs from the real one")
	}
	tree := inject(t, h.s, objects.KindDirTree, b)
	if _, err := checkout.Tree(t.Context(), h.s, tree, h.dirMeta, a.co, checkout.Options{NoOwners: true}); err != nil {
		t.Fatal(err)
	}
	a.check(t)
}

func TestHostileObjects(t *testing.T) {
	cases := []struct {
		name string
		// build returns a root tree and meta.
		build func(t *testing.T, h *hostileBase) (objects.ID, objects.ID)
	}{
		{"symlink target with NUL", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			f := inject(t, h.s, objects.KindFile, rawFile(t, objects.ModeSymlink|0o777, 0, 0, nil, h.sentinelDir+"\x00/etc"))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, fileEntry("l", f))), h.dirMeta
		}},
		{"empty symlink target", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			f := inject(t, h.s, objects.KindFile, rawFile(t, objects.ModeSymlink|0o777, 0, 0, nil, ""))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, fileEntry("l", f))), h.dirMeta
		}},
		{"character device", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			f := inject(t, h.s, objects.KindFile, rawFile(t, 0o020666, 0, 0, nil, ""))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, fileEntry("null", f))), h.dirMeta
		}},
		{"file object with a directory mode", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			f := inject(t, h.s, objects.KindFile, rawFile(t, objects.ModeDir|0o755, 0, 0, nil, ""))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, fileEntry("d", f))), h.dirMeta
		}},
		{"regular file with a target", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			f := inject(t, h.s, objects.KindFile, rawFile(t, objects.ModeRegular|0o644, 0, 0, nil, h.sentinelDir))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, fileEntry("f", f))), h.dirMeta
		}},
		{"mode with unknown bits", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			f := inject(t, h.s, objects.KindFile, rawFile(t, objects.ModeRegular|0o10644|1<<20, 0, 0, nil, ""))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, fileEntry("f", f))), h.dirMeta
		}},
		{"dirmeta of a regular file", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			m := inject(t, h.s, objects.KindDirMeta, rawDirMeta(t, objects.ModeRegular|0o644))
			return inject(t, h.s, objects.KindDirTree, rawDirTree(t, dirEntry("d", h.subTree, m))), h.dirMeta
		}},
		{"root dirmeta of a symlink", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			return h.okTree, inject(t, h.s, objects.KindDirMeta, rawDirMeta(t, objects.ModeSymlink|0o777))
		}},
		{"dirtree that is not CBOR", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			return inject(t, h.s, objects.KindDirTree, []byte("../../etc/passwd")), h.dirMeta
		}},
		{"dirtree of the wrong kind", func(t *testing.T, h *hostileBase) (objects.ID, objects.ID) {
			fb, _ := h.s.Open(t.Context(), objects.KindFile, h.pwned)
			defer fb.Close()
			b := make([]byte, 4096)
			n, _ := fb.Read(b)
			return inject(t, h.s, objects.KindDirTree, b[:n]), h.dirMeta
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newArena(t)
			h := newHostileBase(t, a)
			tree, meta := c.build(t, h)
			_, err := checkout.Tree(t.Context(), h.s, tree, meta, a.co, checkout.Options{NoOwners: true})
			t.Logf("error: %v", err)
			if !errors.Is(err, objects.ErrInvalid) {
				t.Fatalf("got %v, want an error matching objects.ErrInvalid", err)
			}
			a.check(t)
			assertRemovable(t, a.co)
		})
	}
}

// TestCorruptContent damages objects behind valid IDs: each failure matches
// objects.ErrCorrupt or ErrNotFound and names the path.
func TestCorruptContent(t *testing.T) {
	big := pseudoRandom(9, 100<<10)
	root := dir(0o755, map[string]node{
		"a":  file(0o644, "before"),
		"ro": dir(0o555, map[string]node{"usr": dir(0o555, map[string]node{"big": file(0o644, big)})}),
		"z":  file(0o644, "after"),
	})
	type damage func(t *testing.T, s *objtest.MemStore, big *objects.File, bigID, subTree objects.ID)
	cases := []struct {
		name, path string
		want       error
		damage     damage
	}{
		{"chunk with other bytes of the same length", "/ro/usr/big", objects.ErrCorrupt,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, _, _ objects.ID) {
				c := f.Chunks[len(f.Chunks)/2]
				s.Corrupt(objects.KindChunk, c.ID, make([]byte, c.Size))
			}},
		{"truncated chunk", "/ro/usr/big", objects.ErrCorrupt,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, _, _ objects.ID) {
				c := f.Chunks[0]
				s.Corrupt(objects.KindChunk, c.ID, []byte(big[:c.Size-1]))
			}},
		{"chunk one byte too long", "/ro/usr/big", objects.ErrCorrupt,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, _, _ objects.ID) {
				c := f.Chunks[len(f.Chunks)-1]
				s.Corrupt(objects.KindChunk, c.ID, append([]byte(big[len(big)-int(c.Size):]), 0))
			}},
		{"missing chunk", "/ro/usr/big", objects.ErrNotFound,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, _, _ objects.ID) {
				s.Delete(objects.KindChunk, f.Chunks[1].ID)
			}},
		{"corrupt file object", "/ro/usr/big", objects.ErrCorrupt,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, bigID, _ objects.ID) {
				s.Corrupt(objects.KindFile, bigID, []byte("garbage"))
			}},
		{"missing file object", "/ro/usr/big", objects.ErrNotFound,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, bigID, _ objects.ID) {
				s.Delete(objects.KindFile, bigID)
			}},
		{"corrupt dirtree", "/ro/usr", objects.ErrCorrupt,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, _, sub objects.ID) {
				s.Corrupt(objects.KindDirTree, sub, rawDirTree(t))
			}},
		{"missing dirtree", "/ro/usr", objects.ErrNotFound,
			func(t *testing.T, s *objtest.MemStore, f *objects.File, _, sub objects.ID) {
				s.Delete(objects.KindDirTree, sub)
			}},
	}
	for _, c := range cases {
		for _, workers := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", c.name, workers), func(t *testing.T) {
				s, tree, meta := memTree(t, root)
				bigID := putFile(t, s, file(0o644, big))
				f, err := objects.ReadFile(t.Context(), s, bigID)
				if err != nil {
					t.Fatal(err)
				}
				if len(f.Chunks) < 3 {
					t.Fatalf("want several chunks, got %d", len(f.Chunks))
				}
				subTree, _ := putTree(t, s, root.children["ro"].children["usr"])
				c.damage(t, s, f, bigID, subTree)
				a := newArena(t)
				_, err = checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true, Workers: workers})
				t.Logf("error: %v", err)
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want an error matching %v", err, c.want)
				}
				if !strings.HasPrefix(err.Error(), c.path+":") {
					t.Errorf("error %q does not start with the path %s", err, c.path)
				}
				a.check(t)
				assertRemovable(t, a.co)
			})
		}
	}
}

// TestTooDeep: a chain of directories deeper than MaxDepth is refused
// cleanly instead of exhausting descriptors or stack.
func TestTooDeep(t *testing.T) {
	if testing.Short() {
		t.Skip("creates thousands of nested directories")
	}
	s := &objtest.MemStore{}
	tree, meta := putTree(t, s, dir(0o755, nil))
	for range checkout.MaxDepth + 1 {
		var b objects.DirTreeBuilder
		if err := b.AddDir("d", tree, meta); err != nil {
			t.Fatal(err)
		}
		tree = put(t, s, objects.KindDirTree, encode(t, b.Tree()))
	}
	a := newArena(t)
	_, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true})
	if err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Fatalf("got %v, want a refusal of the depth", err)
	}
	a.check(t)
	if err := os.RemoveAll(a.co); err != nil {
		t.Fatal(err)
	}
}

// TestChunkSizeMismatch: a valid file object that lists a real chunk with
// the wrong size fails as corrupt, naming the file.
func TestChunkSizeMismatch(t *testing.T) {
	for _, delta := range []int{-1, 1} {
		t.Run(fmt.Sprint(delta), func(t *testing.T) {
			s := &objtest.MemStore{}
			content := pseudoRandom(4, 10<<10)
			chunk := put(t, s, objects.KindChunk, []byte(content))
			f := &objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: chunk, Size: uint32(len(content) + delta)}}}
			fid := put(t, s, objects.KindFile, encode(t, f))
			var b objects.DirTreeBuilder
			b.AddFile("f", fid)
			tree := put(t, s, objects.KindDirTree, encode(t, b.Tree()))
			meta := put(t, s, objects.KindDirMeta, encode(t, &objects.DirMeta{Mode: objects.ModeDir | 0o755}))
			a := newArena(t)
			_, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true})
			if !errors.Is(err, objects.ErrCorrupt) || !strings.HasPrefix(err.Error(), "/f:") {
				t.Fatalf("got %v, want an error matching objects.ErrCorrupt naming /f", err)
			}
			a.check(t)
		})
	}
}
