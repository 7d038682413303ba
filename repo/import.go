package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/arbor-ota/arbor/objects"
)

// ImportOptions controls how a tree is read into objects.
type ImportOptions struct {
	// OwnerUID and OwnerGID, when set, replace every owner in the tree.
	OwnerUID, OwnerGID *uint32
	// SkipSpecial skips device nodes, FIFOs and sockets with a warning
	// instead of refusing the tree.
	SkipSpecial bool
	// Warn receives warnings (skipped entries). Nil discards them.
	Warn func(msg string)
	// Chunker cuts file content; the zero value uses the defaults.
	Chunker objects.Chunker
	// Workers is how many files are read and stored at once; zero means
	// twice the number of CPUs.
	Workers int
	// Progress receives "import" events (one per file, with its bytes).
	Progress Progress
}

// ImportStats counts what an import read.
type ImportStats struct {
	Files, Dirs, Symlinks int64
	Bytes                 int64 // content bytes read
}

// SpecialFileError refuses a device node, FIFO or socket.
type SpecialFileError struct {
	Path string
	Type string
}

func (e *SpecialFileError) Error() string {
	return fmt.Sprintf("%s: cannot commit a %s (use --skip-special to leave it out)", e.Path, e.Type)
}

// InvalidPathError refuses a name that cannot be stored, or a tar member
// that would escape the tree.
type InvalidPathError struct {
	Path   string
	Reason string
}

func (e *InvalidPathError) Error() string {
	return fmt.Sprintf("%q: %s", e.Path, e.Reason)
}

// DefaultDirMeta is the metadata of a directory that a tar archive implies
// but does not list: 0755, owned by root.
var DefaultDirMeta = objects.DirMeta{Mode: objects.ModeDir | 0o755}

// bytesPutter is implemented by stores that take bytes directly, hashing
// them once (Tx does).
type bytesPutter interface {
	PutBytes(ctx context.Context, kind objects.Kind, b []byte) (objects.ID, error)
}

func putBytes(ctx context.Context, w objects.Store, kind objects.Kind, b []byte) (objects.ID, error) {
	if bp, ok := w.(bytesPutter); ok {
		return bp.PutBytes(ctx, kind, b)
	}
	id := objects.Sum(b)
	if ok, err := w.Has(ctx, kind, id); err != nil || ok {
		return id, err
	}
	return id, w.Put(ctx, kind, id, bytes.NewReader(b))
}

// fileFuture is a file object being stored by a worker.
type fileFuture struct {
	done chan struct{}
	id   objects.ID
	err  error
}

func resolved(id objects.ID) *fileFuture {
	f := &fileFuture{done: make(chan struct{}), id: id}
	close(f.done)
	return f
}

func (f *fileFuture) wait() (objects.ID, error) {
	<-f.done
	return f.id, f.err
}

type dirNode struct {
	meta  *objects.DirMeta
	dirs  map[string]*dirNode
	files map[string]*fileFuture
}

func newDirNode() *dirNode {
	return &dirNode{dirs: map[string]*dirNode{}, files: map[string]*fileFuture{}}
}

// treeBuilder collects a tree's entries in any order, stores file objects
// with a pool of workers, and writes dirtrees bottom-up at the end.
type treeBuilder struct {
	ctx   context.Context
	w     objects.Store
	opts  ImportOptions
	root  *dirNode
	stats ImportStats

	jobs    chan func()
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
	failed  atomic.Bool
}

func newTreeBuilder(ctx context.Context, w objects.Store, opts ImportOptions) *treeBuilder {
	n := opts.Workers
	if n <= 0 {
		n = 2 * runtime.NumCPU()
	}
	b := &treeBuilder{ctx: ctx, w: w, opts: opts, root: newDirNode(), jobs: make(chan func(), n)}
	for i := 0; i < n; i++ {
		go func() {
			for job := range b.jobs {
				job()
			}
		}()
	}
	return b
}

func (b *treeBuilder) fail(err error) {
	b.errOnce.Do(func() { b.err = err; b.failed.Store(true) })
}

func (b *treeBuilder) warn(format string, args ...any) {
	if b.opts.Warn != nil {
		b.opts.Warn(fmt.Sprintf(format, args...))
	}
}

func (b *treeBuilder) owner(uid, gid uint32) (uint32, uint32) {
	if b.opts.OwnerUID != nil {
		uid = *b.opts.OwnerUID
	}
	if b.opts.OwnerGID != nil {
		gid = *b.opts.OwnerGID
	}
	return uid, gid
}

// dir returns the node for a slash-separated relative path, creating
// missing parents with default metadata.
func (b *treeBuilder) dir(p string) (*dirNode, error) {
	n := b.root
	if p == "" {
		return n, nil
	}
	for _, name := range strings.Split(p, "/") {
		if _, isFile := n.files[name]; isFile {
			return nil, &InvalidPathError{Path: p, Reason: fmt.Sprintf("%q is a file, not a directory", name)}
		}
		c := n.dirs[name]
		if c == nil {
			c = newDirNode()
			n.dirs[name] = c
		}
		n = c
	}
	return n, nil
}

// setDirMeta sets the metadata of the directory at p ("" for the root).
func (b *treeBuilder) setDirMeta(p string, m objects.DirMeta) error {
	m.UID, m.GID = b.owner(m.UID, m.GID)
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%s: %w", displayPath(p), err)
	}
	n, err := b.dir(p)
	if err != nil {
		return err
	}
	n.meta = &m
	atomic.AddInt64(&b.stats.Dirs, 1)
	return nil
}

// addFile records a file entry whose object is (being) stored.
func (b *treeBuilder) addFile(p string, f *fileFuture) error {
	parent, name := path.Split(p)
	n, err := b.dir(strings.TrimSuffix(parent, "/"))
	if err != nil {
		return err
	}
	if _, isDir := n.dirs[name]; isDir {
		return &InvalidPathError{Path: p, Reason: "is a directory in the tree and a file too"}
	}
	n.files[name] = f
	return nil
}

// storeFile stores one file object: content (chunked) then metadata.
func (b *treeBuilder) storeFile(meta objects.File, content io.Reader) (objects.ID, error) {
	meta.UID, meta.GID = b.owner(meta.UID, meta.GID)
	var size int64
	if !meta.IsSymlink() {
		err := b.opts.Chunker.Split(content, func(chunk []byte) error {
			if b.failed.Load() {
				return errAborted
			}
			id, err := putBytes(b.ctx, b.w, objects.KindChunk, chunk)
			if err != nil {
				return err
			}
			meta.Chunks = append(meta.Chunks, objects.ChunkRef{ID: id, Size: uint32(len(chunk))})
			size += int64(len(chunk))
			return nil
		})
		if err != nil {
			return objects.ID{}, err
		}
	}
	enc, err := meta.Encode()
	if err != nil {
		return objects.ID{}, err
	}
	id, err := putBytes(b.ctx, b.w, objects.KindFile, enc)
	if err != nil {
		return id, err
	}
	if meta.IsSymlink() {
		atomic.AddInt64(&b.stats.Symlinks, 1)
	} else {
		atomic.AddInt64(&b.stats.Files, 1)
		atomic.AddInt64(&b.stats.Bytes, size)
	}
	if b.opts.Progress != nil {
		b.opts.Progress.Event("import", 1, size)
	}
	return id, nil
}

var errAborted = errors.New("aborted")

// async stores a file on a worker; open is called on the worker, may
// complete the metadata, and returns the content and a function to release it.
func (b *treeBuilder) async(p string, meta objects.File, open func(*objects.File) (io.Reader, func(), error)) *fileFuture {
	f := &fileFuture{done: make(chan struct{})}
	b.wg.Add(1)
	job := func() {
		defer b.wg.Done()
		defer close(f.done)
		if b.failed.Load() {
			f.err = errAborted
			return
		}
		r, release, err := open(&meta)
		if err == nil {
			f.id, err = b.storeFile(meta, r)
			release()
		}
		if err != nil && !errors.Is(err, errAborted) {
			f.err = fmt.Errorf("%s: %w", displayPath(p), err)
			b.fail(f.err)
		} else if err != nil {
			f.err = err
		}
	}
	select {
	case b.jobs <- job:
	case <-b.ctx.Done():
		b.wg.Done()
		f.err = b.ctx.Err()
		close(f.done)
		b.fail(f.err)
	}
	return f
}

// finish waits for the workers, then writes dirmetas and dirtrees bottom-up
// and returns the root's.
func (b *treeBuilder) finish() (tree, meta objects.ID, err error) {
	b.wg.Wait()
	close(b.jobs)
	if b.err != nil {
		return tree, meta, b.err
	}
	if err := b.ctx.Err(); err != nil {
		return tree, meta, err
	}
	return b.writeDir("", b.root)
}

func (b *treeBuilder) writeDir(p string, n *dirNode) (tree, meta objects.ID, err error) {
	m := n.meta
	if m == nil {
		d := DefaultDirMeta
		d.UID, d.GID = b.owner(d.UID, d.GID)
		m = &d
	}
	enc, err := m.Encode()
	if err != nil {
		return tree, meta, fmt.Errorf("%s: %w", displayPath(p), err)
	}
	if meta, err = putBytes(b.ctx, b.w, objects.KindDirMeta, enc); err != nil {
		return tree, meta, err
	}
	names := make([]string, 0, len(n.dirs)+len(n.files))
	for name := range n.dirs {
		names = append(names, name)
	}
	for name := range n.files {
		names = append(names, name)
	}
	sort.Strings(names)
	var tb objects.DirTreeBuilder
	for _, name := range names {
		cp := path.Join(p, name)
		if d, ok := n.dirs[name]; ok {
			t, m, err := b.writeDir(cp, d)
			if err != nil {
				return tree, meta, err
			}
			if err := tb.AddDir(name, t, m); err != nil {
				return tree, meta, fmt.Errorf("%s: %w", displayPath(cp), err)
			}
			continue
		}
		id, err := n.files[name].wait()
		if err != nil {
			return tree, meta, err
		}
		if err := tb.AddFile(name, id); err != nil {
			return tree, meta, fmt.Errorf("%s: %w", displayPath(cp), err)
		}
	}
	enc, err = tb.Tree().Encode()
	if err != nil {
		return tree, meta, fmt.Errorf("%s: %w", displayPath(p), err)
	}
	tree, err = putBytes(b.ctx, b.w, objects.KindDirTree, enc)
	return tree, meta, err
}

func displayPath(p string) string { return "/" + p }

// WriteCommit encodes c and stores it, returning its ID.
func WriteCommit(ctx context.Context, w objects.Store, c *objects.Commit) (objects.ID, error) {
	enc, err := c.Encode()
	if err != nil {
		return objects.ID{}, err
	}
	return putBytes(ctx, w, objects.KindCommit, enc)
}
