// Package checkout writes a tree from an object store into a directory.
//
// A checkout recreates the tree exactly: content, modes (setuid, setgid,
// sticky included), owners, extended attributes, symlink targets, and mtime
// 0 on everything. It never writes outside the target directory, whatever
// the tree holds: every path is resolved under an os.Root, entries are
// created with O_EXCL and O_NOFOLLOW relative to directory file descriptors
// it created itself, and names are checked again before use.
//
// When the store can give the local path of a file's content (a bare
// repository), files are hard links to it instead of copies, so two
// checkouts of similar trees share every unchanged file.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/fsmeta"
	"github.com/arbor-ota/arbor/objects"
)

// Linker is implemented by stores that keep a file's content whole on the
// local filesystem, with its metadata, ready to be hard-linked.
type Linker interface {
	LocalPath(id objects.ID) (path string, ok bool)
}

// Options controls a checkout. The zero value hard-links when it can and
// sets owners.
type Options struct {
	// Copy writes copies even when the store could give hard links.
	Copy bool
	// NoOwners leaves owners as the current user (needed when not root).
	NoOwners bool
	// Warn receives warnings (xattrs the filesystem refused). Nil discards them.
	Warn func(msg string)
	// Progress, if set, is called after each file with its size.
	Progress func(files int64, bytes int64)
}

// Stats counts what a checkout wrote.
type Stats struct {
	Files, Dirs, Symlinks, Links int64
	Bytes                        int64 // content bytes copied (not linked)
}

// ErrNotEmpty is returned when the target directory exists and holds entries.
var ErrNotEmpty = errors.New("target directory is not empty")

type checkouter struct {
	ctx     context.Context
	src     objects.Reader
	linker  Linker
	opts    Options
	root    *os.Root
	stats   Stats
	warned  map[string]bool
	noLinks bool // hard links failed across filesystems: copy from then on
}

// Tree checks out the tree (root dirtree and dirmeta) into dir, which must
// not exist or be empty. On error, dir may hold part of the tree; the caller
// removes it.
func Tree(ctx context.Context, src objects.Reader, tree, meta objects.ID, dir string, opts Options) (Stats, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return Stats{}, err
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return Stats{}, err
		}
		if len(ents) > 0 {
			return Stats{}, fmt.Errorf("%s: %w", dir, ErrNotEmpty)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Stats{}, err
	}
	defer root.Close()
	c := &checkouter{ctx: ctx, src: src, opts: opts, root: root, warned: map[string]bool{}}
	if l, ok := src.(Linker); ok && !opts.Copy {
		c.linker = l
	}
	if err := c.dir(".", tree, meta); err != nil {
		return c.stats, err
	}
	return c.stats, nil
}

// Commit checks out a commit's tree.
func Commit(ctx context.Context, src objects.Reader, commit objects.ID, dir string, opts Options) (Stats, error) {
	cm, err := objects.ReadCommit(ctx, src, commit)
	if err != nil {
		return Stats{}, err
	}
	return Tree(ctx, src, cm.Tree, cm.Meta, dir, opts)
}

func (c *checkouter) warn(key, msg string) {
	if c.opts.Warn != nil && !c.warned[key] {
		c.warned[key] = true
		c.opts.Warn(msg)
	}
}

// dir fills the directory rel (already created, empty) and then applies its
// metadata, last, so that a read-only mode does not stop its children.
func (c *checkouter) dir(rel string, tree, meta objects.ID) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	t, err := objects.ReadDirTree(c.ctx, c.src, tree)
	if err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	m, err := objects.ReadDirMeta(c.ctx, c.src, meta)
	if err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	d, err := c.root.OpenFile(rel, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	fd := int(d.Fd())
	for _, e := range t.Entries {
		if !objects.ValidName(e.Name) { // decoders refuse these; be sure anyway
			return fmt.Errorf("/%s: invalid entry name %q", rel, e.Name)
		}
		p := path.Join(rel, e.Name)
		if e.IsDir() {
			if err := unix.Mkdirat(fd, e.Name, 0o700); err != nil {
				return fmt.Errorf("/%s: %w", p, err)
			}
			if err := c.dir(p, e.Tree, e.Meta); err != nil {
				return err
			}
			continue
		}
		if err := c.file(fd, p, e.Name, e.File); err != nil {
			return fmt.Errorf("/%s: %w", p, err)
		}
	}
	if !c.opts.NoOwners {
		if err := d.Chown(int(m.UID), int(m.GID)); err != nil {
			return fmt.Errorf("/%s: %w", rel, err)
		}
	}
	if err := unix.Fchmod(fd, m.Mode&objects.ModePermMask); err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	if err := c.xattrsFd(d, p0(rel), m.Xattrs); err != nil {
		return err
	}
	if err := unix.UtimesNanoAt(fd, ".", make([]unix.Timespec, 2), 0); err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	c.stats.Dirs++
	return nil
}

func p0(rel string) string { return "/" + rel }

func (c *checkouter) xattrsFd(f *os.File, where string, xs []objects.Xattr) error {
	err := fsmeta.SetXattrsFd(f, xs)
	return c.xattrErr(where, err)
}

func (c *checkouter) xattrErr(where string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fsmeta.ErrXattrsUnsupported) || (c.opts.NoOwners && errors.Is(err, os.ErrPermission)) {
		c.warn("xattr", fmt.Sprintf("extended attributes not kept (first at %s): %v", where, err))
		return nil
	}
	return fmt.Errorf("%s: %w", where, err)
}

func (c *checkouter) file(dirfd int, p, name string, id objects.ID) error {
	if c.linker != nil && !c.noLinks {
		if src, ok := c.linker.LocalPath(id); ok {
			err := unix.Linkat(unix.AT_FDCWD, src, dirfd, name, 0)
			if err == nil {
				c.stats.Links++
				if c.opts.Progress != nil {
					c.opts.Progress(1, 0)
				}
				return nil
			}
			switch {
			case errors.Is(err, unix.EXDEV):
				c.noLinks = true
				c.warn("exdev", "the repository is on another filesystem: copying files instead of hard-linking")
			case errors.Is(err, unix.EMLINK):
				// too many links to this inode: this one gets a copy
			default:
				return fmt.Errorf("hard link from repository: %w", err)
			}
		}
	}
	f, err := objects.ReadFile(c.ctx, c.src, id)
	if err != nil {
		return err
	}
	if f.IsSymlink() {
		if err := unix.Symlinkat(f.Target, dirfd, name); err != nil {
			return err
		}
		if !c.opts.NoOwners {
			if err := unix.Fchownat(dirfd, name, int(f.UID), int(f.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if len(f.Xattrs) > 0 {
			// No fsetxattrat: go through the directory's descriptor, whose
			// path the kernel resolves without following anything in DIR.
			lp := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
			if err := c.xattrErr("/"+p, fsmeta.SetXattrsPath(lp, f.Xattrs)); err != nil {
				return err
			}
		}
		if err := fsmeta.ZeroTimes(dirfd, name); err != nil {
			return err
		}
		c.stats.Symlinks++
		return nil
	}
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	out := os.NewFile(uintptr(fd), "/"+p)
	defer out.Close()
	in := objects.OpenContent(c.ctx, c.src, f)
	n, err := io.Copy(out, in)
	in.Close()
	if err != nil {
		return err
	}
	if !c.opts.NoOwners {
		if err := out.Chown(int(f.UID), int(f.GID)); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(fd, f.Mode&objects.ModePermMask); err != nil {
		return err
	}
	if err := c.xattrsFd(out, "/"+p, f.Xattrs); err != nil {
		return err
	}
	if err := unix.UtimesNanoAt(dirfd, name, make([]unix.Timespec, 2), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	c.stats.Files++
	c.stats.Bytes += n
	if c.opts.Progress != nil {
		c.opts.Progress(1, n)
	}
	return out.Close()
}
