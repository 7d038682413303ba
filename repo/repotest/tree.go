package repotest

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/objects"
)

// Entry is one entry of a literal Tree: a regular file, a directory, a
// symlink, or a hard link to another regular file of the tree.
//
// Mode is a Unix mode: type bits (objects.ModeRegular, ModeDir,
// ModeSymlink; none means a regular file) plus permission bits, setuid,
// setgid and sticky included. A symlink's permission bits are ignored
// (Linux gives every symlink 0777).
type Entry struct {
	Mode     uint32
	UID, GID uint32
	Content  string            // a regular file's content
	Target   string            // a symlink's target
	Link     string            // a hard link: the tree path of the regular file it shares an inode with
	Xattrs   map[string]string // extended attributes, name to value
}

// Tree is a literal filesystem tree: slash-separated relative paths to
// entries. "" is the root directory. Directories that hold entries but are
// not listed are implied: 0755, owned by 0:0, no xattrs (what an import
// gives a directory a tar archive implies, see repo.DefaultDirMeta).
//
// Unlike testing/fstest.MapFS, a Tree expresses owners, xattrs, symlinks,
// hard links and setuid/setgid/sticky bits, and Write makes it real.
type Tree map[string]Entry

// File returns a regular file entry owned by 0:0.
func File(perm uint32, content string) Entry {
	return Entry{Mode: objects.ModeRegular | perm, Content: content}
}

// Dir returns a directory entry owned by 0:0.
func Dir(perm uint32) Entry { return Entry{Mode: objects.ModeDir | perm} }

// Symlink returns a symlink entry owned by 0:0.
func Symlink(target string) Entry { return Entry{Mode: objects.ModeSymlink | 0o777, Target: target} }

// HardLink returns an entry that is a hard link to the regular file at target.
func HardLink(target string) Entry { return Entry{Link: target} }

// Owned returns e with the given owner.
func (e Entry) Owned(uid, gid uint32) Entry { e.UID, e.GID = uid, gid; return e }

// WithXattr returns e with one more extended attribute.
func (e Entry) WithXattr(name, value string) Entry {
	xs := maps.Clone(e.Xattrs)
	if xs == nil {
		xs = map[string]string{}
	}
	xs[name] = value
	e.Xattrs = xs
	return e
}

// Type returns the entry's type bits (objects.ModeRegular for a hard link).
func (e Entry) Type() uint32 {
	if e.Link != "" || e.Mode&objects.ModeTypeMask == 0 {
		return objects.ModeRegular
	}
	return e.Mode & objects.ModeTypeMask
}

// IsDir reports whether the entry is a directory.
func (e Entry) IsDir() bool { return e.Type() == objects.ModeDir }

// implied is the entry of a directory a tree implies.
var implied = Entry{Mode: objects.ModeDir | 0o755}

// Normalize returns the tree as it is on disk: the root and implied
// directories listed, type bits set, symlinks 0777, hard links replaced by
// the entry they link to, empty xattr maps nil. It fails on a tree that
// cannot exist: an entry under a non-directory, a hard link to something
// that is not a regular file of the tree, an invalid name.
func (t Tree) Normalize() (Tree, error) {
	out := Tree{}
	for p, e := range t {
		if p != "" {
			for _, seg := range strings.Split(p, "/") {
				if !objects.ValidName(seg) {
					return nil, fmt.Errorf("path %q: bad segment %q", p, seg)
				}
			}
		}
		if e.Link != "" {
			tgt, ok := t[e.Link]
			if !ok || tgt.Link != "" || tgt.Type() != objects.ModeRegular {
				return nil, fmt.Errorf("%s: hard link to %q, which is not a regular file of the tree", p, e.Link)
			}
			e = tgt
		}
		e.Mode = e.Type() | e.Mode&objects.ModePermMask
		if e.Type() == objects.ModeSymlink {
			e.Mode = objects.ModeSymlink | 0o777
		}
		if len(e.Xattrs) == 0 {
			e.Xattrs = nil
		}
		out[p] = e
	}
	if _, ok := out[""]; !ok {
		out[""] = implied
	}
	for p := range t {
		for d := path.Dir(p); p != "" && d != "."; d = path.Dir(d) {
			if _, ok := out[d]; !ok {
				out[d] = implied
			}
		}
	}
	for p := range out {
		if p == "" {
			continue
		}
		parent := path.Dir(p)
		if parent == "." {
			parent = ""
		}
		if !out[parent].IsDir() {
			return nil, fmt.Errorf("%s: parent %q is not a directory", p, parent)
		}
	}
	return out, nil
}

// Paths returns the tree's paths in sorted order (parents before children).
func (t Tree) Paths() []string {
	return slices.Sorted(maps.Keys(t))
}

// Write creates the tree in dir, which must exist and be empty; the root
// entry's metadata is applied to dir itself. Owners other than the current
// user need root: without it the test is skipped.
func Write(t testing.TB, dir string, tree Tree) {
	t.Helper()
	n, err := tree.Normalize()
	if err != nil {
		t.Fatalf("repotest.Write: %v", err)
	}
	if os.Geteuid() != 0 {
		for p, e := range n {
			if int(e.UID) != os.Geteuid() || int(e.GID) != os.Getegid() {
				t.Skipf("repotest.Write: %q is owned by %d:%d; writing it needs root", p, e.UID, e.GID)
			}
		}
	}
	full := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	paths := n.Paths()
	// Create everything but hard links, with private modes.
	for _, p := range paths {
		if p == "" || tree[p].Link != "" {
			continue
		}
		e := n[p]
		var err error
		switch e.Type() {
		case objects.ModeDir:
			err = os.Mkdir(full(p), 0o700)
		case objects.ModeSymlink:
			err = os.Symlink(e.Target, full(p))
		default:
			err = os.WriteFile(full(p), []byte(e.Content), 0o600)
		}
		if err != nil {
			t.Fatalf("repotest.Write: %v", err)
		}
	}
	for _, p := range paths {
		if l := tree[p].Link; l != "" {
			if err := os.Link(full(l), full(p)); err != nil {
				t.Fatalf("repotest.Write: %v", err)
			}
		}
	}
	// Metadata: owner first (chown clears setuid and setgid), then mode,
	// then xattrs; directories last and deepest first.
	apply := func(p string) {
		e := n[p]
		fp := full(p)
		if err := os.Lchown(fp, int(e.UID), int(e.GID)); err != nil {
			t.Fatalf("repotest.Write: %v", err)
		}
		if e.Type() != objects.ModeSymlink {
			if err := unix.Chmod(fp, e.Mode&objects.ModePermMask); err != nil {
				t.Fatalf("repotest.Write: %v", err)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(e.Xattrs)) {
			if err := unix.Lsetxattr(fp, name, []byte(e.Xattrs[name]), 0); err != nil {
				t.Fatalf("repotest.Write: set xattr %s on %s: %v", name, p, err)
			}
		}
	}
	for _, p := range paths {
		if !n[p].IsDir() && tree[p].Link == "" {
			apply(p)
		}
	}
	for i := len(paths) - 1; i >= 0; i-- {
		if n[paths[i]].IsDir() {
			apply(paths[i])
		}
	}
}

// Scan reads the tree in dir back, root included. Hard links come back as
// separate entries with the same content and metadata (see Inodes).
func Scan(t testing.TB, dir string) Tree {
	t.Helper()
	out := Tree{}
	err := filepath.WalkDir(dir, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, fp)
		if err != nil {
			return err
		}
		p := filepath.ToSlash(rel)
		if p == "." {
			p = ""
		}
		var st unix.Stat_t
		if err := unix.Lstat(fp, &st); err != nil {
			return err
		}
		e := Entry{Mode: st.Mode, UID: st.Uid, GID: st.Gid}
		switch st.Mode & objects.ModeTypeMask {
		case objects.ModeRegular:
			b, err := os.ReadFile(fp)
			if err != nil {
				return err
			}
			e.Content = string(b)
		case objects.ModeSymlink:
			if e.Target, err = os.Readlink(fp); err != nil {
				return err
			}
		case objects.ModeDir:
		default:
			return fmt.Errorf("%s: unexpected file type %o", fp, st.Mode&objects.ModeTypeMask)
		}
		if e.Xattrs, err = listXattrs(fp); err != nil {
			return err
		}
		out[p] = e
		return nil
	})
	if err != nil {
		t.Fatalf("repotest.Scan %s: %v", dir, err)
	}
	return out
}

func listXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	buf := make([]byte, size)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	var out map[string]string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		vsize, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, p, err)
		}
		val := make([]byte, vsize)
		vn, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			return nil, fmt.Errorf("get xattr %s of %s: %w", name, p, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = string(val[:vn])
	}
	return out, nil
}

// Inode is what Inodes reports about one path.
type Inode struct {
	Dev, Ino, Nlink uint64
	Mtime           time.Time
}

// Inodes returns the inode, link count and mtime of every path under dir,
// root included ("").
func Inodes(t testing.TB, dir string) map[string]Inode {
	t.Helper()
	out := map[string]Inode{}
	err := filepath.WalkDir(dir, func(fp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, fp)
		p := filepath.ToSlash(rel)
		if p == "." {
			p = ""
		}
		out[p] = StatInode(t, fp)
		return nil
	})
	if err != nil {
		t.Fatalf("repotest.Inodes %s: %v", dir, err)
	}
	return out
}

// StatInode returns one path's Inode, without following a final symlink.
func StatInode(t testing.TB, fp string) Inode {
	t.Helper()
	fi, err := os.Lstat(fp)
	if err != nil {
		t.Fatalf("repotest: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return Inode{Dev: uint64(st.Dev), Ino: st.Ino, Nlink: uint64(st.Nlink), Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec)}
}

// Compare lists every difference between two trees (normalized first),
// one line each; nil means they are equal.
func Compare(want, got Tree) []string {
	w, err := want.Normalize()
	if err != nil {
		return []string{"want: " + err.Error()}
	}
	g, err := got.Normalize()
	if err != nil {
		return []string{"got: " + err.Error()}
	}
	var diffs []string
	all := map[string]bool{}
	for p := range w {
		all[p] = true
	}
	for p := range g {
		all[p] = true
	}
	for _, p := range slices.Sorted(maps.Keys(all)) {
		name := "/" + p
		we, wok := w[p]
		ge, gok := g[p]
		switch {
		case !gok:
			diffs = append(diffs, fmt.Sprintf("%s: missing (want %s)", name, objects.ModeString(we.Mode)))
			continue
		case !wok:
			diffs = append(diffs, fmt.Sprintf("%s: unexpected %s", name, objects.ModeString(ge.Mode)))
			continue
		}
		if we.Mode != ge.Mode {
			diffs = append(diffs, fmt.Sprintf("%s: mode %s (%o), want %s (%o)", name,
				objects.ModeString(ge.Mode), ge.Mode, objects.ModeString(we.Mode), we.Mode))
		}
		if we.UID != ge.UID || we.GID != ge.GID {
			diffs = append(diffs, fmt.Sprintf("%s: owner %d:%d, want %d:%d", name, ge.UID, ge.GID, we.UID, we.GID))
		}
		if we.Content != ge.Content {
			i := 0
			for i < len(we.Content) && i < len(ge.Content) && we.Content[i] == ge.Content[i] {
				i++
			}
			diffs = append(diffs, fmt.Sprintf("%s: content of %d bytes differs from the wanted %d bytes at offset %d",
				name, len(ge.Content), len(we.Content), i))
		}
		if we.Target != ge.Target {
			diffs = append(diffs, fmt.Sprintf("%s: symlink target %q, want %q", name, ge.Target, we.Target))
		}
		if !maps.Equal(we.Xattrs, ge.Xattrs) {
			diffs = append(diffs, fmt.Sprintf("%s: xattrs %q, want %q", name, ge.Xattrs, we.Xattrs))
		}
	}
	return diffs
}

// AssertTree fails the test unless the directory holds exactly the tree.
func AssertTree(t testing.TB, want Tree, dir string) {
	t.Helper()
	if diffs := Compare(want, Scan(t, dir)); len(diffs) > 0 {
		if len(diffs) > 20 {
			diffs = append(diffs[:20], fmt.Sprintf("... and %d more", len(diffs)-20))
		}
		t.Fatalf("%s differs from the wanted tree:\n  %s", dir, strings.Join(diffs, "\n  "))
	}
}

// Compression names a tar stream's compression for Tar.
type Compression string

// Compressions Tar can write.
const (
	Plain Compression = ""
	Gzip  Compression = "gzip"
	Zstd  Compression = "zstd"
)

// Tar returns the tree as a PAX tar stream: directories ("name/"), files,
// symlinks, then hard links (TypeLink members naming an earlier member),
// each with its mode, owner and xattrs (SCHILY.xattr.*), in sorted order.
// The root is written as "./" only when the tree lists it; implied
// directories are not written. Modification times are set to arbitrary
// values, which importers must ignore.
func Tar(t testing.TB, tree Tree, c Compression) []byte {
	t.Helper()
	b, err := TarBytes(tree, c)
	if err != nil {
		t.Fatalf("repotest.Tar: %v", err)
	}
	return b
}

// TarBytes is Tar without a testing.TB, for fuzz corpora and benchmarks.
func TarBytes(tree Tree, c Compression) ([]byte, error) {
	n, err := tree.Normalize()
	if err != nil {
		return nil, err
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	write := func(p string, e Entry, link string) error {
		h := &tar.Header{Name: p, Mode: int64(e.Mode & objects.ModePermMask), Uid: int(e.UID), Gid: int(e.GID),
			ModTime: time.Unix(1234567890+int64(len(p)), 0), Format: tar.FormatPAX}
		switch {
		case link != "":
			h.Typeflag, h.Linkname = tar.TypeLink, link
		case e.IsDir():
			h.Typeflag = tar.TypeDir
			h.Name += "/"
			if p == "" {
				h.Name = "./"
			}
		case e.Type() == objects.ModeSymlink:
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Target, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Content))
		}
		if len(e.Xattrs) > 0 && link == "" {
			h.PAXRecords = map[string]string{}
			for k, v := range e.Xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Content)); err != nil {
				return err
			}
		}
		return nil
	}
	var links []string
	for _, p := range n.Paths() {
		if _, listed := tree[p]; !listed {
			continue // implied
		}
		if tree[p].Link != "" {
			links = append(links, p)
			continue
		}
		if err := write(p, n[p], ""); err != nil {
			return nil, err
		}
	}
	sort.Strings(links)
	for _, p := range links {
		if err := write(p, n[p], tree[p].Link); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return Compress(tarBuf.Bytes(), c)
}

// Compress compresses b with gzip or zstd (Plain returns b).
func Compress(b []byte, c Compression) ([]byte, error) {
	var out bytes.Buffer
	switch c {
	case Plain:
		return b, nil
	case Gzip:
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write(b); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case Zstd:
		zw, err := zstd.NewWriter(&out)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(b); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown compression %q", c)
	}
	return out.Bytes(), nil
}
