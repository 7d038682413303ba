package checkout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
)

func pseudoRandom(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// richTree has every kind of entry and mode a checkout must recreate.
func richTree() node {
	return dir(0o755, map[string]node{
		"empty":  file(0o644, ""),
		"one":    file(0o600, "1"),
		"big":    file(0o644, pseudoRandom(1, 200<<10)), // dozens of chunks
		"noperm": file(0o000, "nobody may read me"),
		"exec":   file(0o755, "#!/bin/sh\n").xattr("user.b", "2").xattr("user.a", "1"),
		"bin": dir(0o755, map[string]node{
			"su":     file(0o4755, "setuid").owned(1000, 2000),
			"sg":     file(0o2755, "setgid").owned(1000, 2000),
			"both":   file(0o6750, "setuid and setgid").owned(0, 42).xattr("user.comment", "privileged"),
			"sticky": file(0o1755, "sticky file"),
			"all":    file(0o7777, "every bit").owned(65534, 65534),
		}),
		"tmp":    dir(0o1777, nil),
		"shared": dir(0o2775, map[string]node{"f": file(0o664, "group file").owned(1000, 2000)}).owned(1000, 2000),
		"ro": dir(0o555, map[string]node{
			"file": file(0o444, "read-only file in a read-only directory"),
			"sub": dir(0o500, map[string]node{
				"inner":     file(0o400, "deeper"),
				"emptydir":  dir(0o555, nil),
				"link":      symlink("inner"),
				"xattr-dir": dir(0o555, nil).xattr("user.dir", "on a read-only directory"),
			}),
		}).xattr("user.ro", "read-only directory"),
		"links": dir(0o755, map[string]node{
			"relative": symlink("../bin/su"),
			"absolute": symlink("/usr/share/zoneinfo/UTC"),
			"dangling": symlink("does/not/exist"),
			"dotdot":   symlink("../../../../../../../../etc/passwd"),
			"owned":    symlink("x").owned(1000, 2000),
		}),
		"var": dir(0o755, map[string]node{
			"empty": dir(0o700, nil).owned(1000, 1000).xattr("user.empty", ""),
		}),
		"names": dir(0o755, map[string]node{
			" space":     file(0o644, "leading space"),
			"ü-日本":       file(0o644, "utf-8"),
			".hidden":    file(0o644, "dot"),
			"...":        file(0o644, "three dots"),
			"-dash":      file(0o644, "dash"),
			"a\nnewline": file(0o644, "newline in a name"),
		}),
	}).xattr("user.root", "the root")
}

// counts returns how many files (regular), symlinks and directories the
// node holds, itself included, and the regular files' bytes.
func counts(n node) (files, symlinks, dirs, size int64) {
	switch n.mode & objects.ModeTypeMask {
	case objects.ModeDir:
		dirs = 1
		for _, c := range n.children {
			f, s, d, b := counts(c)
			files, symlinks, dirs, size = files+f, symlinks+s, dirs+d, size+b
		}
	case objects.ModeSymlink:
		symlinks = 1
	default:
		files, size = 1, int64(len(n.content))
	}
	return
}

func TestCheckoutExact(t *testing.T) {
	root := richTree()
	files, symlinks, dirs, size := counts(root)
	s, tree, meta := memTree(t, root)
	for _, workers := range []int{1, 2, 8} {
		for _, noOwners := range []bool{false, true} {
			t.Run(fmt.Sprintf("workers=%d/noOwners=%v", workers, noOwners), func(t *testing.T) {
				if !noOwners {
					requireRoot(t)
				}
				a := newArena(t)
				var mu sync.Mutex
				var pfiles, pbytes int64
				var w warnings
				opts := checkout.Options{Workers: workers, NoOwners: noOwners, Warn: w.add,
					Progress: func(f, b int64) { mu.Lock(); pfiles += f; pbytes += b; mu.Unlock() }}
				st, err := checkout.Tree(t.Context(), s, tree, meta, a.co, opts)
				if err != nil {
					t.Fatal(err)
				}
				verify(t, s, tree, meta, a.co, expect{noOwners: noOwners})
				want := checkout.Stats{Files: files, Symlinks: symlinks, Dirs: dirs, Bytes: size}
				if st != want {
					t.Errorf("stats %+v, want %+v", st, want)
				}
				if pfiles != files+symlinks || pbytes != size {
					t.Errorf("progress reported %d files, %d bytes; want %d, %d", pfiles, pbytes, files+symlinks, size)
				}
				if w.String() != "" {
					t.Errorf("unexpected warnings: %s", w.String())
				}
				a.check(t)
			})
		}
	}
}

// TestSetuidAfterChown checks the order owner, then mode: chown clears
// setuid and setgid even for root, so a mode applied first would be lost.
func TestSetuidAfterChown(t *testing.T) {
	requireRoot(t)
	s, tree, meta := memTree(t, dir(0o755, map[string]node{
		"su": file(0o4711, "x").owned(1234, 5678),
		"sg": file(0o2711, "x").owned(1234, 5678),
	}))
	a := newArena(t)
	if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"su": fs.ModeSetuid | 0o711, "sg": fs.ModeSetgid | 0o711} {
		fi, err := os.Lstat(filepath.Join(a.co, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
}

// capNetRaw is a version 2 security.capability value: cap_net_raw=ep.
var capNetRaw = string([]byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})

func TestSecurityCapability(t *testing.T) {
	requireRoot(t)
	if !xattrsSupported(t, t.TempDir(), "security.capability") {
		// The probe value is not a valid capability; try a real one.
		f := filepath.Join(t.TempDir(), "probe")
		if err := os.WriteFile(f, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(f, "security.capability", []byte(capNetRaw), 0); err != nil {
			t.Skipf("cannot set security.capability here: %v", err)
		}
	}
	s, tree, meta := memTree(t, dir(0o755, map[string]node{
		"ping": file(0o755, "ELF").owned(0, 0).xattr("security.capability", capNetRaw),
		// chown would clear the capability if it came after the xattr.
		"ping-owned": file(0o4755, "ELF").owned(1000, 1000).xattr("security.capability", capNetRaw).xattr("user.x", "y"),
	}))
	a := newArena(t)
	if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{}); err != nil {
		t.Fatal(err)
	}
	verify(t, s, tree, meta, a.co, expect{})
}

func TestTargetEmptyDirExists(t *testing.T) {
	s, tree, meta := memTree(t, dir(0o751, map[string]node{"f": file(0o644, "x")}))
	a := newArena(t)
	if err := os.Mkdir(a.co, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true}); err != nil {
		t.Fatal(err)
	}
	verify(t, s, tree, meta, a.co, expect{noOwners: true})
	a.check(t)
}

func TestTargetNotEmpty(t *testing.T) {
	s, tree, meta := memTree(t, dir(0o755, map[string]node{"f": file(0o644, "x")}))
	a := newArena(t)
	if err := os.Mkdir(a.co, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.co, ".keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true})
	if !errors.Is(err, checkout.ErrNotEmpty) {
		t.Fatalf("checkout into a non-empty directory: %v, want ErrNotEmpty", err)
	}
	ents, _ := os.ReadDir(a.co)
	if len(ents) != 1 {
		t.Errorf("the target now holds %d entries, want only .keep", len(ents))
	}
	a.check(t)
}

func TestTargetIsFile(t *testing.T) {
	s, tree, meta := memTree(t, dir(0o755, nil))
	a := newArena(t)
	if err := os.WriteFile(a.co, []byte("a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true}); err == nil {
		t.Fatal("checkout onto a regular file succeeded")
	}
	if b, _ := os.ReadFile(a.co); string(b) != "a file" {
		t.Errorf("the file was changed to %q", b)
	}
	a.check(t)
}

// TestTargetSymlink pins the documented choice: DIR itself is resolved
// (the caller chose it), whatever is inside is not.
func TestTargetSymlink(t *testing.T) {
	s, tree, meta := memTree(t, dir(0o755, map[string]node{"f": file(0o644, "x"), "d": dir(0o700, nil)}))
	opts := checkout.Options{NoOwners: true}

	t.Run("to an empty directory", func(t *testing.T) {
		a := newArena(t)
		real := filepath.Join(a.base, "real")
		if err := os.Mkdir(real, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("real", a.co); err != nil {
			t.Fatal(err)
		}
		if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, opts); err != nil {
			t.Fatal(err)
		}
		verify(t, s, tree, meta, real, expect{noOwners: true})
		if fi, err := os.Lstat(a.co); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("DIR is no longer the symlink: %v %v", fi, err)
		}
		a.check(t)
	})
	t.Run("to a non-empty directory", func(t *testing.T) {
		a := newArena(t)
		if err := os.Symlink(a.s.dir, a.co); err != nil {
			t.Fatal(err)
		}
		_, err := checkout.Tree(t.Context(), s, tree, meta, a.co, opts)
		if !errors.Is(err, checkout.ErrNotEmpty) {
			t.Fatalf("got %v, want ErrNotEmpty", err)
		}
		a.check(t)
	})
	t.Run("dangling", func(t *testing.T) {
		a := newArena(t)
		target := filepath.Join(a.s.dir, "created-through-dangling-symlink")
		if err := os.Symlink(target, a.co); err != nil {
			t.Fatal(err)
		}
		if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, opts); err == nil {
			t.Fatal("checkout through a dangling symlink succeeded")
		}
		a.check(t)
	})
}

// TestSymlinkAndFile: a symlink pointing outside and a file beside it are
// separate entries; the file does not go through the symlink.
func TestSymlinkAndFile(t *testing.T) {
	a := newArena(t)
	s, tree, meta := memTree(t, dir(0o755, map[string]node{
		"a": symlink(a.s.dir),
		"b": file(0o644, "b"),
		"c": symlink(filepath.Join(a.s.dir, "etc")),
		"d": dir(0o755, map[string]node{"passwd": file(0o644, "pwned")}),
		"e": symlink(filepath.Join(a.s.dir, "keep")),
		"f": symlink("../sentinel/keep"),
	}))
	st, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if st.Symlinks != 4 || st.Files != 2 {
		t.Errorf("stats %+v", st)
	}
	verify(t, s, tree, meta, a.co, expect{noOwners: true})
	a.check(t)
}

func TestCanceled(t *testing.T) {
	s, tree, meta := memTree(t, richTree())
	t.Run("before", func(t *testing.T) {
		a := newArena(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := checkout.Tree(ctx, s, tree, meta, a.co, checkout.Options{NoOwners: true})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		a.check(t)
	})
	t.Run("during", func(t *testing.T) {
		a := newArena(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		n := 0
		_, err := checkout.Tree(ctx, s, tree, meta, a.co, checkout.Options{NoOwners: true, Workers: 3,
			Progress: func(int64, int64) {
				if n++; n == 3 {
					cancel()
				}
			}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		assertRemovable(t, a.co)
		a.check(t)
	})
}

// assertRemovable checks that a failed checkout left every directory
// writable by its owner (no read-only mode applied) and that it can be
// removed.
func assertRemovable(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		if d.IsDir() {
			fi, err := d.Info()
			if err == nil && fi.Mode().Perm()&0o700 != 0o700 {
				t.Errorf("%s: mode %v after a failed checkout; the caller could not remove it", p, fi.Mode())
			}
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		t.Errorf("remove the failed checkout: %v", err)
	}
}

// wideTree is a tree of many directories, most read-only, for the parallel
// paths: metadata must land after every child, whichever worker wrote it.
func wideTree(rng *rand.Rand, depth, width int) node {
	children := map[string]node{}
	for i := range width {
		name := fmt.Sprintf("d%02d", i)
		if depth > 0 && rng.IntN(3) > 0 {
			children[name] = wideTree(rng, depth-1, width)
			continue
		}
		children[name] = file([]uint32{0o644, 0o4755, 0o400}[rng.IntN(3)], strings.Repeat(name, rng.IntN(100)))
	}
	children["l"] = symlink("d00")
	perm := []uint32{0o555, 0o755, 0o500, 0o1777, 0o2755}[rng.IntN(5)]
	return dir(perm, children).owned(uint32(rng.IntN(3)), uint32(rng.IntN(3)))
}

func TestParallelWideTree(t *testing.T) {
	root := wideTree(rand.New(rand.NewPCG(7, 7)), 3, 5)
	files, symlinks, dirs, size := counts(root)
	s, tree, meta := memTree(t, root)
	noOwners := os.Geteuid() != 0
	for _, workers := range []int{1, 3, 16} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			a := newArena(t)
			st, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{Workers: workers, NoOwners: noOwners})
			if err != nil {
				t.Fatal(err)
			}
			if want := (checkout.Stats{Files: files, Symlinks: symlinks, Dirs: dirs, Bytes: size}); st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			verify(t, s, tree, meta, a.co, expect{noOwners: noOwners})
			a.check(t)
		})
	}
}

func TestCommit(t *testing.T) {
	s, tree, meta := memTree(t, dir(0o755, map[string]node{"f": file(0o644, "x")}))
	c := &objects.Commit{Tree: tree, Meta: meta, Timestamp: 1, Subject: "s",
		Metadata: objects.Metadata{objects.MetaRefBinding: []string{"r"}, objects.MetaRelease: int64(1)}}
	id := put(t, s, objects.KindCommit, encode(t, c))
	a := newArena(t)
	if _, err := checkout.Commit(t.Context(), s, id, a.co, checkout.Options{NoOwners: true}); err != nil {
		t.Fatal(err)
	}
	verify(t, s, tree, meta, a.co, expect{noOwners: true})

	_, err := checkout.Commit(t.Context(), s, objects.Sum([]byte("no such commit")), filepath.Join(a.base, "real"), checkout.Options{})
	if !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("missing commit: %v, want ErrNotFound", err)
	}
}

// TestXattrsRefusedAsUser: without owners, xattrs the kernel refuses
// (trusted.* needs root) are skipped with one warning.
func TestXattrsRefusedWithNoOwners(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may set trusted.* xattrs")
	}
	s, tree, meta := memTree(t, dir(0o755, map[string]node{
		"a": file(0o644, "a").xattr("trusted.x", "1"),
		"b": file(0o644, "b").xattr("trusted.y", "2"),
	}))
	a := newArena(t)
	var w warnings
	if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true, Warn: w.add}); err != nil {
		t.Fatal(err)
	}
	if w.count("extended attributes not kept") != 1 {
		t.Errorf("warnings %q, want one about xattrs", w.String())
	}
}

func TestContentVerified(t *testing.T) {
	content := pseudoRandom(3, 50<<10)
	s, tree, meta := memTree(t, dir(0o755, map[string]node{"f": file(0o644, content)}))
	a := newArena(t)
	if _, err := checkout.Tree(t.Context(), s, tree, meta, a.co, checkout.Options{NoOwners: true}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(a.co, "f"))
	if err != nil || !bytes.Equal(got, []byte(content)) {
		t.Fatalf("content differs (%v)", err)
	}
}
