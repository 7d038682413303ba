package checkout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (owners, bare repositories); CI runs as root")
	}
}

// node describes an entry of a tree to put into a store. Type bits in mode
// say what it is; none means a regular file.
type node struct {
	mode     uint32
	uid, gid uint32
	xattrs   []objects.Xattr // any order
	content  []byte
	target   string
	children map[string]node
}

func file(perm uint32, content string) node {
	return node{mode: objects.ModeRegular | perm, content: []byte(content)}
}

func dir(perm uint32, children map[string]node) node {
	return node{mode: objects.ModeDir | perm, children: children}
}

func symlink(target string) node { return node{mode: objects.ModeSymlink | 0o777, target: target} }

func (n node) owned(uid, gid uint32) node { n.uid, n.gid = uid, gid; return n }

func (n node) xattr(name, value string) node {
	n.xattrs = append(slices.Clone(n.xattrs), objects.Xattr{Name: name, Value: []byte(value)})
	return n
}

func sortedXattrs(xs []objects.Xattr) []objects.Xattr {
	xs = slices.Clone(xs)
	sort.Slice(xs, func(i, j int) bool { return xs[i].Name < xs[j].Name })
	return xs
}

func put(t testing.TB, s objects.Writer, kind objects.Kind, b []byte) objects.ID {
	t.Helper()
	id, err := objtest.PutBytes(context.Background(), s, kind, b)
	if err != nil {
		t.Fatalf("put %s: %v", kind, err)
	}
	return id
}

func encode(t testing.TB, v interface{ Encode() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.Encode()
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return b
}

// putFile stores a file or symlink node and returns its file object's ID.
// Content is cut with small chunks so that most files have several.
func putFile(t testing.TB, s objects.Writer, n node) objects.ID {
	t.Helper()
	f := &objects.File{Mode: n.mode, UID: n.uid, GID: n.gid, Xattrs: sortedXattrs(n.xattrs), Target: n.target}
	if n.mode&objects.ModeTypeMask == objects.ModeRegular {
		err := objects.Chunker{Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10}.Split(bytes.NewReader(n.content), func(c []byte) error {
			f.Chunks = append(f.Chunks, objects.ChunkRef{ID: put(t, s, objects.KindChunk, c), Size: uint32(len(c))})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return put(t, s, objects.KindFile, encode(t, f))
}

// putTree stores a directory node and everything under it.
func putTree(t testing.TB, s objects.Writer, n node) (tree, meta objects.ID) {
	t.Helper()
	var b objects.DirTreeBuilder
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c := n.children[name]
		var err error
		if c.mode&objects.ModeTypeMask == objects.ModeDir {
			ct, cm := putTree(t, s, c)
			err = b.AddDir(name, ct, cm)
		} else {
			err = b.AddFile(name, putFile(t, s, c))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	m := &objects.DirMeta{Mode: n.mode, UID: n.uid, GID: n.gid, Xattrs: sortedXattrs(n.xattrs)}
	return put(t, s, objects.KindDirTree, encode(t, b.Tree())), put(t, s, objects.KindDirMeta, encode(t, m))
}

// memTree puts the tree into a new MemStore.
func memTree(t testing.TB, root node) (*objtest.MemStore, objects.ID, objects.ID) {
	t.Helper()
	s := &objtest.MemStore{}
	tree, meta := putTree(t, s, root)
	return s, tree, meta
}

// expect says how a checkout should look besides what the objects say.
type expect struct {
	noOwners bool            // owners are the current user's
	linker   checkout.Linker // where the store's own copies are, for linked and copied
	linked   bool            // every file and symlink is a hard link to linker's copy
	copied   bool            // none is
	// noXattrs lists namespaces ("user.") the target filesystem refused.
	noXattrs []string
}

// checkedXattrs are the namespaces compared; the kernel or an LSM may add
// others (security.selinux) on its own.
func checkedXattr(name string) bool {
	return strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "trusted.") || name == "security.capability"
}

// verify compares the checkout in dir with the tree in src: the same names,
// types, content, symlink targets, modes, owners, xattrs, and mtime 0 on
// everything.
func verify(t testing.TB, src objects.Reader, tree, meta objects.ID, dir string, e expect) {
	t.Helper()
	v := &verifier{t: t, src: src, e: e}
	v.dir("", dir, tree, meta)
}

type verifier struct {
	t   testing.TB
	src objects.Reader
	e   expect
}

func (v *verifier) errorf(p, format string, args ...any) {
	v.t.Helper()
	v.t.Errorf("/%s: %s", p, fmt.Sprintf(format, args...))
}

func (v *verifier) dir(p, full string, tree, meta objects.ID) {
	t := v.t
	t.Helper()
	ctx := context.Background()
	dt, err := objects.ReadDirTree(ctx, v.src, tree)
	if err != nil {
		t.Fatal(err)
	}
	m, err := objects.ReadDirMeta(ctx, v.src, meta)
	if err != nil {
		t.Fatal(err)
	}
	st := v.lstat(p, full)
	if st == nil {
		return
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		v.errorf(p, "mode %o, want a directory", st.Mode)
		return
	}
	v.meta(p, full, st, m.Mode, m.UID, m.GID, m.Xattrs)
	ents, err := os.ReadDir(full)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	for _, e := range dt.Entries {
		want = append(want, e.Name)
	}
	if !slices.Equal(got, want) {
		v.errorf(p, "entries %q, want %q", got, want)
	}
	for _, e := range dt.Entries {
		cp, cfull := filepath.Join(p, e.Name), filepath.Join(full, e.Name)
		if e.IsDir() {
			v.dir(cp, cfull, e.Tree, e.Meta)
		} else {
			v.file(cp, cfull, e.File)
		}
	}
}

func (v *verifier) lstat(p, full string) *unix.Stat_t {
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		v.errorf(p, "%v", err)
		return nil
	}
	return &st
}

func (v *verifier) file(p, full string, id objects.ID) {
	t := v.t
	t.Helper()
	ctx := context.Background()
	f, err := objects.ReadFile(ctx, v.src, id)
	if err != nil {
		t.Fatal(err)
	}
	st := v.lstat(p, full)
	if st == nil {
		return
	}
	if st.Mode&unix.S_IFMT != f.Mode&objects.ModeTypeMask {
		v.errorf(p, "type %o, want %o", st.Mode&unix.S_IFMT, f.Mode&objects.ModeTypeMask)
		return
	}
	v.meta(p, full, st, f.Mode, f.UID, f.GID, f.Xattrs)
	if v.e.linker != nil {
		if src, ok := v.e.linker.LocalPath(id); ok {
			var sst unix.Stat_t
			if err := unix.Lstat(src, &sst); err != nil {
				t.Fatal(err)
			}
			same := sst.Dev == st.Dev && sst.Ino == st.Ino
			if v.e.linked && !same {
				v.errorf(p, "not a hard link to %s", src)
			}
			if v.e.copied && same {
				v.errorf(p, "a hard link to %s, want a copy", src)
			}
		} else if v.e.linked {
			v.errorf(p, "the store gives no local path for file %s", id.Short())
		}
	}
	if f.IsSymlink() {
		target, err := os.Readlink(full)
		if err != nil {
			v.errorf(p, "%v", err)
		} else if target != f.Target {
			v.errorf(p, "symlink to %q, want %q", target, f.Target)
		}
		return
	}
	got, err := os.ReadFile(full)
	if errors.Is(err, os.ErrPermission) && st.Mode&0o400 == 0 {
		// Not root: let the owner read it for a moment (chmod leaves mtime).
		if err = os.Chmod(full, 0o400); err == nil {
			got, err = os.ReadFile(full)
			os.Chmod(full, fs.FileMode(st.Mode&0o777))
		}
	}
	if err != nil {
		v.errorf(p, "%v", err)
		return
	}
	rc := objects.OpenContent(ctx, v.src, f)
	want, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		v.errorf(p, "content of %d bytes differs from the %d expected", len(got), len(want))
	}
}

func (v *verifier) meta(p, full string, st *unix.Stat_t, mode, uid, gid uint32, xs []objects.Xattr) {
	v.t.Helper()
	if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&objects.ModePermMask != mode&objects.ModePermMask {
		v.errorf(p, "mode %s, want %s", objects.ModeString(st.Mode), objects.ModeString(mode))
	}
	wantUID, wantGID := uid, gid
	if v.e.noOwners {
		wantUID, wantGID = uint32(os.Geteuid()), uint32(os.Getegid())
	}
	if st.Uid != wantUID || st.Gid != wantGID {
		v.errorf(p, "owner %d:%d, want %d:%d", st.Uid, st.Gid, wantUID, wantGID)
	}
	if st.Mtim.Sec != 0 || st.Mtim.Nsec != 0 {
		v.errorf(p, "mtime %d.%09d, want 0", st.Mtim.Sec, st.Mtim.Nsec)
	}
	got, err := listXattrs(full)
	if err != nil {
		v.errorf(p, "%v", err)
		return
	}
	var want []string
	for _, x := range xs {
		if !slices.ContainsFunc(v.e.noXattrs, func(ns string) bool { return strings.HasPrefix(x.Name, ns) }) {
			want = append(want, x.Name+"="+string(x.Value))
		}
	}
	if !slices.Equal(got, want) {
		v.errorf(p, "xattrs %q, want %q", got, want)
	}
}

// listXattrs returns the checked xattrs of a path as sorted "name=value".
func listXattrs(p string) ([]string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || !checkedXattr(name) {
			continue
		}
		val := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			return nil, err
		}
		out = append(out, name+"="+string(val[:m]))
	}
	sort.Strings(out)
	return out, nil
}

// sentinel is a directory outside the checkout that no test may touch.
type sentinel struct {
	dir  string
	want string
}

// newSentinel makes a directory with a few entries next to where the
// checkout goes, and records its state.
func newSentinel(t testing.TB, parent string) *sentinel {
	t.Helper()
	d := filepath.Join(parent, "sentinel")
	for _, sub := range []string{"", "sub", "etc"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"keep", "sub/keep", "etc/passwd"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte("sentinel "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &sentinel{dir: d}
	s.want = s.state(t)
	return s
}

// state describes every entry under the sentinel, with mode, owner,
// times, content and xattrs.
func (s *sentinel) state(t testing.TB) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		xs, _ := listXattrs(p)
		fmt.Fprintf(&sb, "%s mode=%o owner=%d:%d mtime=%d.%d ctime=%d.%d nlink=%d xattrs=%q", p, st.Mode, st.Uid, st.Gid,
			st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Nlink, xs)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sb, " content=%q", b)
		}
		sb.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// check fails the test if anything under the sentinel changed.
func (s *sentinel) check(t testing.TB) {
	t.Helper()
	if got := s.state(t); got != s.want {
		t.Errorf("the sentinel outside the checkout changed:\nbefore:\n%s\nafter:\n%s", s.want, got)
	}
}

// arena is a temporary directory with a sentinel and a checkout target
// that does not exist yet. Its cleanup makes every directory writable again,
// so that a non-root test can remove read-only directories.
type arena struct {
	base, co string
	s        *sentinel
}

func newArena(t testing.TB) *arena {
	t.Helper()
	base := t.TempDir()
	t.Cleanup(func() { makeWritable(base) })
	return &arena{base: base, co: filepath.Join(base, "co"), s: newSentinel(t, base)}
}

// check fails the test if the sentinel changed or anything but it and the
// checkout appeared beside it.
func (a *arena) check(t testing.TB) {
	t.Helper()
	a.s.check(t)
	ents, err := os.ReadDir(a.base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "sentinel" && e.Name() != "co" && e.Name() != "real" {
			t.Errorf("%s appeared beside the checkout", filepath.Join(a.base, e.Name()))
		}
	}
}

func makeWritable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}

// warnings collects warnings safely.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, m)
}

func (w *warnings) count(substr string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

// xattrsSupported reports whether the filesystem holding dir takes xattrs
// with the given name.
func xattrsSupported(t testing.TB, dir, name string) bool {
	t.Helper()
	f, err := os.CreateTemp(dir, "xattr-probe-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return unix.Fsetxattr(int(f.Fd()), name, []byte("probe"), 0) == nil
}

func devOf(t testing.TB, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Dev
}
