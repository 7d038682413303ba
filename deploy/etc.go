package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/fsmeta"
	"github.com/arbor-ota/arbor/objects"
)

// fileInfo is what the /etc merge compares about one path.
type fileInfo struct {
	root, rel string
	fi        fs.FileInfo
}

func (f *fileInfo) full() string { return filepath.Join(f.root, f.rel) }

// scanDir lists every path under root (relative, slash-separated, root
// itself excluded). A missing root is empty.
func scanDir(root string) (map[string]*fileInfo, error) {
	out := map[string]*fileInfo{}
	if root == "" {
		return out, nil
	}
	if _, err := os.Lstat(root); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = &fileInfo{root: root, rel: rel, fi: fi}
		return nil
	})
	return out, err
}

// sameFile reports whether two paths hold the same thing: type, mode,
// owner, xattrs and content (or link target). Either may be nil (absent).
func sameFile(a, b *fileInfo) (bool, error) {
	if a == nil || b == nil {
		return a == nil && b == nil, nil
	}
	if a.fi.Mode().Type() != b.fi.Mode().Type() {
		return false, nil
	}
	sa, oka := a.fi.Sys().(*syscall.Stat_t)
	sb, okb := b.fi.Sys().(*syscall.Stat_t)
	if oka && okb {
		if sa.Dev == sb.Dev && sa.Ino == sb.Ino {
			return true, nil // one inode: hard links into the repository
		}
		if sa.Mode != sb.Mode || sa.Uid != sb.Uid || sa.Gid != sb.Gid {
			return false, nil
		}
	}
	xa, err := fsmeta.ListXattrs(a.full())
	if err != nil {
		return false, err
	}
	xb, err := fsmeta.ListXattrs(b.full())
	if err != nil {
		return false, err
	}
	if !slices.EqualFunc(xa, xb, func(x, y objects.Xattr) bool { return x.Name == y.Name && bytes.Equal(x.Value, y.Value) }) {
		return false, nil
	}
	switch {
	case a.fi.Mode()&fs.ModeSymlink != 0:
		ta, err1 := os.Readlink(a.full())
		tb, err2 := os.Readlink(b.full())
		return ta == tb, errors.Join(err1, err2)
	case a.fi.Mode().IsRegular():
		if a.fi.Size() != b.fi.Size() {
			return false, nil
		}
		return sameContent(a.full(), b.full())
	}
	return true, nil // directories and others: metadata only
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// mergeEtc writes the new /etc into out from three trees, path by path:
// oldDefaults (the running deployment's usr/etc), device (its /etc, as the
// device changed it) and newDefaults (the new deployment's usr/etc).
//
//   - a path the device left as its old default takes the new default
//     (new files arrive, changed defaults replace old ones, and a default
//     removed in the new tree goes away);
//   - a path the device changed, added or deleted keeps the device's
//     version when the defaults did not change it, or changed it the same way;
//   - a path both changed differently is a conflict: the device's version
//     is kept (a deletion stays deleted) and the conflict is returned.
//
// Files are copies (reflinks where the file system can), never hard links:
// /etc is writable. A first deployment has no old trees: out is a copy of
// newDefaults.
func mergeEtc(oldDefaults, device, newDefaults, out string) ([]Conflict, error) {
	o, err := scanDir(oldDefaults)
	if err != nil {
		return nil, err
	}
	d, err := scanDir(device)
	if err != nil {
		return nil, err
	}
	n, err := scanDir(newDefaults)
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for _, m := range []map[string]*fileInfo{o, d, n} {
		for p := range m {
			all[p] = true
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents before children
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	var conflicts []Conflict
	c := &copier{}
	chosen := map[string]*fileInfo{}
	for _, p := range paths {
		parent := filepath.ToSlash(filepath.Dir(p))
		src, why, err := choose(o[p], d[p], n[p])
		if err != nil {
			return nil, fmt.Errorf("merge /etc/%s: %w", p, err)
		}
		if why != "" {
			conflicts = append(conflicts, Conflict{Path: "/etc/" + p, Reason: why})
		}
		if src == nil {
			continue
		}
		if parent != "." {
			if pc := chosen[parent]; pc == nil || !pc.fi.IsDir() {
				if src == n[p] && why == "" {
					same, _ := sameFile(o[p], n[p])
					if !same {
						conflicts = append(conflicts, Conflict{Path: "/etc/" + p,
							Reason: "new default not installed: the device removed or replaced its directory"})
					}
				}
				continue
			}
		}
		chosen[p] = src
		if err := c.copyEntry(src.full(), filepath.Join(out, filepath.FromSlash(p)), src.fi); err != nil {
			return nil, err
		}
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return conflicts, nil
}

// choose decides one path of the merge: the source to copy (nil: absent)
// and, for a conflict, why.
func choose(o, d, n *fileInfo) (*fileInfo, string, error) {
	kept, err := sameFile(d, o)
	if err != nil {
		return nil, "", err
	}
	if kept {
		return n, "", nil // the device did not touch it: the new default
	}
	defaultsSame, err := sameFile(o, n)
	if err != nil {
		return nil, "", err
	}
	if defaultsSame {
		return d, "", nil // only the device changed it
	}
	bothSame, err := sameFile(d, n)
	if err != nil {
		return nil, "", err
	}
	if bothSame {
		return d, "", nil
	}
	why := "changed on the device and in the new defaults; the device's version was kept"
	switch {
	case d == nil:
		why = "deleted on the device and changed in the new defaults; it stays deleted"
	case o == nil:
		why = "added on the device and in the new defaults; the device's version was kept"
	case n == nil:
		why = "changed on the device and removed from the new defaults; the device's version was kept"
	}
	return d, why, nil
}

// copier copies files, symlinks and directories with their metadata;
// directories get their mode and times last (finish), so a read-only
// directory still receives its children.
type copier struct {
	dirs []dirMeta
}

type dirMeta struct {
	path string
	fi   fs.FileInfo
}

// copyTree copies everything under src into dst, which must exist.
func copyTree(src, dst string) error {
	c := &copier{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		return c.copyEntry(p, filepath.Join(dst, rel), fi)
	})
	if err != nil {
		return err
	}
	return c.finish()
}

func (c *copier) copyEntry(src, dst string, fi fs.FileInfo) error {
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.IsDir():
		if err := os.Mkdir(dst, 0o700); err != nil {
			return err
		}
		c.dirs = append(c.dirs, dirMeta{dst, fi})
		return copyXattrs(src, dst)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		if st != nil {
			if err := lchown(dst, st); err != nil {
				return err
			}
		}
		return copyXattrs(src, dst)
	case fi.Mode().IsRegular():
		return copyFile(src, dst, fi)
	}
	return fmt.Errorf("%s: %s files are not copied into /etc", src, fi.Mode().Type())
}

func lchown(p string, st *syscall.Stat_t) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(p, int(st.Uid), int(st.Gid))
}

func copyXattrs(src, dst string) error {
	xs, err := fsmeta.ListXattrs(src)
	if err != nil {
		return err
	}
	if err := fsmeta.SetXattrsPath(dst, xs); err != nil && !errors.Is(err, fsmeta.ErrXattrsUnsupported) {
		return err
	}
	return nil
}

// copyFile copies a regular file with its owner, mode, xattrs and times,
// as a reflink when the file system can.
func copyFile(src, dst string, fi fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		if _, err := io.Copy(struct{ io.Writer }{out}, in); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil && os.Geteuid() == 0 {
		if err := out.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	xs, err := fsmeta.ListXattrs(src)
	if err != nil {
		return err
	}
	if err := fsmeta.SetXattrsFd(out, xs); err != nil && !errors.Is(err, fsmeta.ErrXattrsUnsupported) {
		return err
	}
	if err := out.Chmod(fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}

func (c *copier) finish() error {
	for i := len(c.dirs) - 1; i >= 0; i-- {
		d := c.dirs[i]
		if st, ok := d.fi.Sys().(*syscall.Stat_t); ok {
			if err := lchown(d.path, st); err != nil {
				return err
			}
		}
		if err := os.Chmod(d.path, d.fi.Mode().Perm()|d.fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		if err := os.Chtimes(d.path, d.fi.ModTime(), d.fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// isEmptyDir reports whether dir has no entries.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}
