package checkout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/fsmeta"
	"github.com/arbor-ota/arbor/objects"
)

// Linker is implemented by stores that keep a file's content whole on the
// local filesystem, with its metadata, ready to be hard-linked (a bare
// repository). LocalPath returns where the file object's content lives; ok
// is false when the store cannot give one, and the file is copied instead.
// It must be safe for concurrent use.
type Linker interface {
	LocalPath(id objects.ID) (path string, ok bool)
}

// Options controls a checkout. The zero value hard-links when it can, sets
// owners, and uses DefaultWorkers workers.
type Options struct {
	// Copy writes copies even when the store could give hard links.
	Copy bool
	// NoOwners leaves owners as the current user (needed when not root);
	// extended attributes the kernel then refuses are skipped with a warning.
	NoOwners bool
	// Workers is how many directories are written at once; zero means
	// DefaultWorkers().
	Workers int
	// Warn receives warnings (xattrs the filesystem refused, copies instead
	// of hard links), each kind once. Nil discards them. Calls never overlap.
	Warn func(msg string)
	// Progress, if set, is called after each file or symlink with 1 and the
	// bytes copied (0 for a hard link). Calls never overlap.
	Progress func(files int64, bytes int64)
}

// DefaultWorkers is the number of workers when Options.Workers is zero:
// twice the CPUs Go may use, between 2 and 8. A checkout is mostly system
// calls, some of which wait (a directory block, the journal), so a few more
// workers than CPUs keep the CPUs busy.
func DefaultWorkers() int { return min(max(2*runtime.GOMAXPROCS(0), 2), 8) }

// Stats counts what a checkout wrote.
type Stats struct {
	Files    int64 // regular files copied
	Dirs     int64 // directories, the root included
	Symlinks int64 // symlinks created (not linked)
	Links    int64 // files and symlinks hard-linked from the store
	Bytes    int64 // content bytes copied (not linked)
}

// ErrNotEmpty is returned when the target directory exists and holds entries.
var ErrNotEmpty = errors.New("target directory is not empty")

// MaxDepth is how deep a tree may nest directories. Deeper trees are
// refused: no path could name their files anyway (PATH_MAX is 4096 bytes).
const MaxDepth = 2048

// linkFunc is linkat(2); tests replace it to make links fail.
type linkFunc func(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error

// Tree checks out the tree (root dirtree and dirmeta) into dir, which must
// not exist or be an empty directory (ErrNotEmpty otherwise); dir gets the
// root dirmeta's mode, owner and xattrs. A missing object fails with an
// error matching objects.ErrNotFound, a damaged one objects.ErrCorrupt, an
// undecodable one objects.ErrInvalid; each names the path. On error or
// cancellation dir may hold part of the tree, with every directory still
// writable by its owner; the caller removes it.
func Tree(ctx context.Context, src objects.Reader, tree, meta objects.ID, dir string, opts Options) (Stats, error) {
	return checkoutTree(ctx, src, tree, meta, dir, opts, unix.Linkat)
}

// Commit checks out a commit's tree, as Tree does.
func Commit(ctx context.Context, src objects.Reader, commit objects.ID, dir string, opts Options) (Stats, error) {
	cm, err := objects.ReadCommit(ctx, src, commit)
	if err != nil {
		return Stats{}, err
	}
	return Tree(ctx, src, cm.Tree, cm.Meta, dir, opts)
}

type checkouter struct {
	ctx    context.Context // canceled with the first error as its cause
	cancel context.CancelCauseFunc
	src    objects.Reader
	linker Linker // nil: copy
	opts   Options
	linkat linkFunc

	tokens chan struct{} // one per worker besides the caller's goroutine
	wg     sync.WaitGroup

	noLinks                           atomic.Bool // EXDEV seen: copy from then on
	files, dirs, symlinks, links, nby atomic.Int64

	mu     sync.Mutex // serializes Warn and Progress, guards warned
	warned map[string]bool

	metaMu sync.Mutex
	metas  map[objects.ID]*objects.DirMeta
}

func checkoutTree(ctx context.Context, src objects.Reader, tree, meta objects.ID, dir string, opts Options, linkat linkFunc) (Stats, error) {
	rootfd, err := openTarget(dir)
	if err != nil {
		return Stats{}, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &checkouter{ctx: cctx, cancel: cancel, src: src, opts: opts, linkat: linkat,
		tokens: make(chan struct{}, workers-1), warned: map[string]bool{},
		metas: map[objects.ID]*objects.DirMeta{}}
	if l, ok := src.(Linker); ok && !opts.Copy {
		c.linker = l
	}

	root := &dirNode{fd: rootfd}
	c.dir(root, tree, meta)
	c.wg.Wait()
	st := Stats{Files: c.files.Load(), Dirs: c.dirs.Load(), Symlinks: c.symlinks.Load(),
		Links: c.links.Load(), Bytes: c.nby.Load()}
	if err := context.Cause(cctx); err != nil {
		return st, err
	}
	return st, nil
}

// openTarget creates dir if needed and opens it, refusing a non-empty one.
func openTarget(dir string) (int, error) {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return -1, err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	buf := make([]byte, 4096)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "readdir", Path: dir, Err: err}
		}
		if n <= 0 {
			return fd, nil
		}
		if _, count, _ := unix.ParseDirent(buf[:n], 1, nil); count > 0 {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: %w", dir, ErrNotEmpty)
		}
	}
}

// fail records the first error and stops the checkout.
func (c *checkouter) fail(err error) { c.cancel(err) }

func (c *checkouter) warn(key, msg string) {
	if c.opts.Warn == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.warned[key] {
		c.warned[key] = true
		c.opts.Warn(msg)
	}
}

func (c *checkouter) progress(bytes int64) {
	if c.opts.Progress == nil {
		return
	}
	c.mu.Lock()
	c.opts.Progress(1, bytes)
	c.mu.Unlock()
}

// dirNode is a directory being written. pending counts the node itself while
// its entries are written, plus each subdirectory not finished yet; the
// last to finish applies the metadata, closes fd and tells the parent.
type dirNode struct {
	parent  *dirNode
	fd      int
	rel     string // "" for the root, else "usr/bin"
	depth   int
	meta    *objects.DirMeta // nil if it could not be read
	pending atomic.Int32
}

func where(rel string) string { return "/" + rel }

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// dir writes the entries of n (already created, empty, open) and then
// finishes it. It hands subdirectories to idle workers or goes down into
// them itself.
func (c *checkouter) dir(n *dirNode, tree, meta objects.ID) {
	n.pending.Store(1)
	defer c.finish(n)
	if err := c.ctx.Err(); err != nil {
		return
	}
	if n.depth > MaxDepth {
		c.fail(fmt.Errorf("%s: tree deeper than %d directories", where(n.rel), MaxDepth))
		return
	}
	t, err := objects.ReadDirTree(c.ctx, c.src, tree)
	if err != nil {
		c.fail(fmt.Errorf("%s: %w", where(n.rel), err))
		return
	}
	if n.meta, err = c.dirMeta(meta); err != nil {
		c.fail(fmt.Errorf("%s: %w", where(n.rel), err))
		return
	}
	for _, e := range t.Entries {
		if c.ctx.Err() != nil {
			return
		}
		if !objects.ValidName(e.Name) { // the decoder refuses these; be sure anyway
			c.fail(fmt.Errorf("%s: %w", where(n.rel), &objects.InvalidError{Kind: objects.KindDirTree,
				Reason: fmt.Sprintf("invalid entry name %q", e.Name)}))
			return
		}
		if !e.IsDir() {
			if err := c.file(n.fd, n.rel, e.Name, e.File); err != nil {
				c.fail(fmt.Errorf("%s: %w", where(join(n.rel, e.Name)), err))
				return
			}
			continue
		}
		p := join(n.rel, e.Name)
		if err := unix.Mkdirat(n.fd, e.Name, 0o700); err != nil {
			c.fail(fmt.Errorf("%s: mkdir: %w", where(p), err))
			return
		}
		fd, err := unix.Openat(n.fd, e.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			c.fail(fmt.Errorf("%s: open: %w", where(p), err))
			return
		}
		sub := &dirNode{parent: n, fd: fd, rel: p, depth: n.depth + 1}
		n.pending.Add(1)
		select {
		case c.tokens <- struct{}{}:
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer func() { <-c.tokens }()
				c.dir(sub, e.Tree, e.Meta)
			}()
		default:
			c.dir(sub, e.Tree, e.Meta)
		}
	}
}

// finish drops one pending count of n; the last one applies n's metadata
// (unless the checkout failed), closes it and finishes its parent.
func (c *checkouter) finish(n *dirNode) {
	for ; n != nil; n = n.parent {
		if n.pending.Add(-1) != 0 {
			return
		}
		if c.ctx.Err() == nil && n.meta != nil {
			if err := c.applyDirMeta(n); err != nil {
				c.fail(fmt.Errorf("%s: %w", where(n.rel), err))
			} else {
				c.dirs.Add(1)
			}
		}
		unix.Close(n.fd)
	}
}

// dirMeta reads a dirmeta once per checkout; trees share a few of them.
func (c *checkouter) dirMeta(id objects.ID) (*objects.DirMeta, error) {
	c.metaMu.Lock()
	m, ok := c.metas[id]
	c.metaMu.Unlock()
	if ok {
		return m, nil
	}
	m, err := objects.ReadDirMeta(c.ctx, c.src, id)
	if err != nil {
		return nil, err
	}
	c.metaMu.Lock()
	c.metas[id] = m
	c.metaMu.Unlock()
	return m, nil
}

var zeroTimes = make([]unix.Timespec, 2)

func (c *checkouter) applyDirMeta(n *dirNode) error {
	m := n.meta
	if !c.opts.NoOwners {
		if err := unix.Fchown(n.fd, int(m.UID), int(m.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := c.xattrErr(where(n.rel), setXattrsFd(n.fd, m.Xattrs)); err != nil {
		return err
	}
	if err := unix.Fchmod(n.fd, m.Mode&objects.ModePermMask); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := unix.UtimesNanoAt(n.fd, ".", zeroTimes, 0); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func setXattrsFd(fd int, xs []objects.Xattr) error {
	for _, x := range xs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("set xattr %s: %w", x.Name, fsmeta.ErrXattrsUnsupported)
			}
			return fmt.Errorf("set xattr %s: %w", x.Name, err)
		}
	}
	return nil
}

// xattrErr turns a refusal the checkout can live with into a warning.
func (c *checkouter) xattrErr(where string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, fsmeta.ErrXattrsUnsupported) || (c.opts.NoOwners && errors.Is(err, os.ErrPermission)) {
		c.warn("xattr", fmt.Sprintf("extended attributes not kept (first at %s): %v", where, err))
		return nil
	}
	return err
}

// file writes one file or symlink, name in the directory rel (open as
// dirfd): a hard link when the store can give one, else a copy. Errors do
// not name the path; the caller adds it.
func (c *checkouter) file(dirfd int, rel, name string, id objects.ID) error {
	if c.linker != nil && !c.noLinks.Load() {
		if src, ok := c.linker.LocalPath(id); ok {
			err := c.linkat(unix.AT_FDCWD, src, dirfd, name, 0)
			switch {
			case err == nil:
				c.links.Add(1)
				c.progress(0)
				return nil
			case errors.Is(err, unix.EXDEV):
				if !c.noLinks.Swap(true) {
					c.warn("exdev", "the repository is on another filesystem: copying files instead of hard-linking")
				}
			case errors.Is(err, unix.EMLINK):
				c.warn("emlink", fmt.Sprintf("a repository file has the most hard links its filesystem allows: copying it (first at %s)", where(join(rel, name))))
			default:
				return fmt.Errorf("hard link from repository: %w", err)
			}
		}
	}
	if err := c.ctx.Err(); err != nil {
		return err
	}
	f, err := objects.ReadFile(c.ctx, c.src, id)
	if err != nil {
		return err
	}
	if f.IsSymlink() {
		return c.symlink(dirfd, join(rel, name), name, f)
	}
	return c.copyFile(dirfd, join(rel, name), name, f)
}

func (c *checkouter) symlink(dirfd int, p, name string, f *objects.File) error {
	if err := unix.Symlinkat(f.Target, dirfd, name); err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	if !c.opts.NoOwners {
		if err := unix.Fchownat(dirfd, name, int(f.UID), int(f.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if len(f.Xattrs) > 0 {
		// There is no fsetxattr for a symlink: go through the directory's
		// descriptor, which the kernel resolves without following anything
		// in DIR, and do not follow the final symlink.
		lp := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
		if err := c.xattrErr(where(p), fsmeta.SetXattrsPath(lp, f.Xattrs)); err != nil {
			return err
		}
	}
	if err := unix.UtimesNanoAt(dirfd, name, zeroTimes, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	c.symlinks.Add(1)
	c.progress(0)
	return nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly hides os.File's ReadFrom so that io.CopyBuffer uses the buffer.
type writerOnly struct{ io.Writer }

func (c *checkouter) copyFile(dirfd int, p, name string, f *objects.File) (err error) {
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	out := os.NewFile(uintptr(fd), where(p))
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	in := objects.OpenContent(c.ctx, c.src, f)
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(writerOnly{out}, in, *buf)
	copyBufs.Put(buf)
	in.Close()
	if err != nil {
		return err
	}
	// Owner, then xattrs, then mode: chown clears setuid, setgid and
	// security.capability; a read-only mode would stop a user's xattrs.
	if !c.opts.NoOwners {
		if err := unix.Fchown(fd, int(f.UID), int(f.GID)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if err := c.xattrErr(where(p), setXattrsFd(fd, f.Xattrs)); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, f.Mode&objects.ModePermMask); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err := unix.UtimesNanoAt(dirfd, name, zeroTimes, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	c.files.Add(1)
	c.nby.Add(n)
	c.progress(n)
	return nil
}
