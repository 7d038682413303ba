// Package fsmeta reads and applies the metadata arbor keeps for files:
// mode (with setuid, setgid, sticky), owner and extended attributes.
package fsmeta

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/objects"
)

// ListXattrs reads every extended attribute of path without following a
// final symlink, sorted by name. A filesystem without xattr support gives none.
func ListXattrs(path string) ([]objects.Xattr, error) {
	return listXattrs(path, unix.Llistxattr, unix.Lgetxattr)
}

// ListXattrsFd is ListXattrs on an open file.
func ListXattrsFd(fd int) ([]objects.Xattr, error) {
	list := func(_ string, b []byte) (int, error) { return unix.Flistxattr(fd, b) }
	get := func(_ string, name string, b []byte) (int, error) { return unix.Fgetxattr(fd, name, b) }
	return listXattrs("", list, get)
}

func listXattrs(path string, list func(string, []byte) (int, error), get func(string, string, []byte) (int, error)) ([]objects.Xattr, error) {
	var buf []byte
	for size := 256; ; size *= 4 {
		buf = make([]byte, size)
		n, err := list(path, buf)
		if errors.Is(err, unix.ERANGE) && size < 1<<20 {
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
		}
		buf = buf[:n]
		break
	}
	var out []objects.Xattr
	for _, name := range strings.Split(string(buf), "\x00") {
		if name == "" {
			continue
		}
		var val []byte
		for size := 256; ; size *= 4 {
			val = make([]byte, size)
			n, err := get(path, name, val)
			if errors.Is(err, unix.ERANGE) && size < objects.MaxXattrValueLen*4 {
				continue
			}
			if errors.Is(err, unix.ENODATA) {
				val = nil
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read xattr %s of %s: %w", name, path, err)
			}
			val = val[:n]
			break
		}
		if val != nil {
			out = append(out, objects.Xattr{Name: name, Value: val})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ErrXattrsUnsupported is returned (wrapped) when the filesystem refuses xattrs.
var ErrXattrsUnsupported = errors.New("filesystem does not support extended attributes")

// SetXattrsPath sets xattrs on path without following a final symlink.
func SetXattrsPath(path string, xs []objects.Xattr) error {
	for _, x := range xs {
		if err := unix.Lsetxattr(path, x.Name, x.Value, 0); err != nil {
			return xattrErr(path, x.Name, err)
		}
	}
	return nil
}

// SetXattrsFd sets xattrs on an open file.
func SetXattrsFd(f *os.File, xs []objects.Xattr) error {
	for _, x := range xs {
		if err := unix.Fsetxattr(int(f.Fd()), x.Name, x.Value, 0); err != nil {
			return xattrErr(f.Name(), x.Name, err)
		}
	}
	return nil
}

func xattrErr(path, name string, err error) error {
	if errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("set xattr %s on %s: %w", name, path, ErrXattrsUnsupported)
	}
	return fmt.Errorf("set xattr %s on %s: %w", name, path, err)
}

// ApplyFd sets owner, then mode (chown clears setuid and setgid, so mode
// comes second), then xattrs on an open regular file or directory.
func ApplyFd(f *os.File, mode, uid, gid uint32, xs []objects.Xattr) error {
	if err := f.Chown(int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown %s: %w", f.Name(), err)
	}
	if err := unix.Fchmod(int(f.Fd()), mode&objects.ModePermMask); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	return SetXattrsFd(f, xs)
}

// ZeroTimes sets a file's access and modification times to the epoch,
// without following a final symlink.
func ZeroTimes(dirfd int, name string) error {
	ts := []unix.Timespec{{}, {}}
	return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// FromStat returns mode, uid, gid of a Lstat result.
func FromStat(fi os.FileInfo) (mode, uid, gid uint32, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, false
	}
	return st.Mode, st.Uid, st.Gid, true
}
