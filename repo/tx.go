package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/internal/crash"
	"github.com/arbor-ota/arbor/internal/fsmeta"
	"github.com/arbor-ota/arbor/objects"
)

// Tx is a write transaction. Objects put in it are staged in a private
// directory and become visible in the repository, all together and children
// before parents, only when the transaction commits; refs move after that.
// A Tx is safe for concurrent Puts.
type Tx struct {
	r   *Repo
	ctx context.Context
	dir string

	mu      sync.Mutex
	staged  map[stageKey]struct{}
	order   []stageKey             // staging order: children before parents
	refs    map[string]*objects.ID // nil value: delete
	chunks  map[objects.ID]chunkLoc
	partial map[objects.ID]bool // true: mark partial; false: clear the mark
	sources []objects.Reader    // where chunks may also be read from
}

type stageKey struct {
	kind objects.Kind
	id   objects.ID
}

var _ objects.Store = (*Tx)(nil)

// Update runs fn in a write transaction holding the repository's writer
// lock. If fn returns nil the transaction commits: its objects become
// visible, then its ref changes are applied. If fn returns an error or
// panics, nothing it wrote becomes visible.
func (r *Repo) Update(ctx context.Context, fn func(tx *Tx) error) (err error) {
	unlock, err := r.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	r.cleanStaging()
	dir, err := os.MkdirTemp(filepath.Join(r.path, "tmp"), "tx-")
	if err != nil {
		return fmt.Errorf("start transaction in %s: %w", r.path, err)
	}
	tx := &Tx{r: r, ctx: ctx, dir: dir, staged: map[stageKey]struct{}{}, refs: map[string]*objects.ID{},
		chunks: map[objects.ID]chunkLoc{}, partial: map[objects.ID]bool{}}
	defer os.RemoveAll(dir)
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return tx.commit()
}

// cleanStaging removes what transactions killed earlier left behind. The
// caller holds the writer lock, so no staging directory is in use.
func (r *Repo) cleanStaging() {
	ents, _ := os.ReadDir(filepath.Join(r.path, "tmp"))
	for _, e := range ents {
		os.RemoveAll(filepath.Join(r.path, "tmp", e.Name()))
	}
}

// Repo returns the repository the transaction writes to.
func (tx *Tx) Repo() *Repo { return tx.r }

func (tx *Tx) stagePath(kind objects.Kind, id objects.ID) string {
	return filepath.Join(tx.dir, id.String()+"."+kind.String())
}

func (tx *Tx) stagedHas(kind objects.Kind, id objects.ID) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	_, ok := tx.staged[stageKey{kind, id}]
	return ok
}

// AddSource makes chunks readable from src while assembling files: a
// file object may be Put when each of its chunks is in the repository,
// staged, or in a source (a pull's journal). Chunks read from a source are
// verified; in an archive repository they are copied in.
func (tx *Tx) AddSource(src objects.Reader) {
	tx.mu.Lock()
	tx.sources = append(tx.sources, src)
	tx.mu.Unlock()
}

func (tx *Tx) sourceFor(ctx context.Context, kind objects.Kind, id objects.ID) (objects.Reader, error) {
	if kind != objects.KindChunk {
		return nil, nil
	}
	tx.mu.Lock()
	srcs := tx.sources
	tx.mu.Unlock()
	for _, s := range srcs {
		ok, err := s.Has(ctx, kind, id)
		if err != nil {
			return nil, err
		}
		if ok {
			return s, nil
		}
	}
	return nil, nil
}

// Has reports whether the object is in the repository or staged in tx
// (or, for a chunk, in one of its sources).
func (tx *Tx) Has(ctx context.Context, kind objects.Kind, id objects.ID) (bool, error) {
	ok, err := tx.has(ctx, kind, id)
	if ok || err != nil {
		return ok, err
	}
	src, err := tx.sourceFor(ctx, kind, id)
	return src != nil, err
}

func (tx *Tx) has(ctx context.Context, kind objects.Kind, id objects.ID) (bool, error) {
	if tx.stagedHas(kind, id) {
		return true, nil
	}
	if kind == objects.KindChunk && tx.r.mode == Bare {
		tx.mu.Lock()
		_, ok := tx.chunks[id]
		tx.mu.Unlock()
		if ok {
			return true, nil
		}
	}
	return tx.r.Has(ctx, kind, id)
}

// Open reads an object from tx's staging area or from the repository.
func (tx *Tx) Open(ctx context.Context, kind objects.Kind, id objects.ID) (io.ReadCloser, error) {
	if tx.stagedHas(kind, id) {
		if kind == objects.KindChunk && tx.r.mode == Archive {
			b, err := os.ReadFile(tx.stagePath(kind, id))
			if err != nil {
				return nil, err
			}
			raw, err := decompressChunk(b)
			if err != nil {
				return nil, err
			}
			return io.NopCloser(bytes.NewReader(raw)), nil
		}
		return os.Open(tx.stagePath(kind, id))
	}
	if kind == objects.KindChunk && tx.r.mode == Bare {
		tx.mu.Lock()
		loc, ok := tx.chunks[id]
		tx.mu.Unlock()
		if ok {
			f, err := os.Open(tx.stagePath(objects.KindFile, loc.file) + ".content")
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{io.NewSectionReader(f, loc.offset, int64(loc.size)), f}, nil
		}
	}
	rc, err := tx.r.Open(ctx, kind, id)
	if errors.Is(err, objects.ErrNotFound) {
		if src, serr := tx.sourceFor(ctx, kind, id); serr != nil {
			return nil, serr
		} else if src != nil {
			return src.Open(ctx, kind, id)
		}
	}
	return rc, err
}

// Put verifies and stages an object. See objects.Writer. Metadata objects
// are decoded (so that only valid objects enter the repository) and their
// children must already be present: chunks before files, files and
// subtrees before dirtrees, trees before commits.
func (tx *Tx) Put(ctx context.Context, kind objects.Kind, id objects.ID, r io.Reader) error {
	if !kind.Valid() {
		return fmt.Errorf("put: invalid kind %d", kind)
	}
	if ok, err := tx.has(ctx, kind, id); err != nil || ok {
		return err
	}
	b, err := io.ReadAll(objects.Verify(r, kind, id, -1))
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id.Short(), err)
	}
	return tx.putVerified(ctx, kind, id, b)
}

// PutBytes stages an object given its exact bytes and returns its ID.
func (tx *Tx) PutBytes(ctx context.Context, kind objects.Kind, b []byte) (objects.ID, error) {
	id := objects.Sum(b)
	if len(b) > kind.MaxSize() {
		return id, &objects.CorruptError{Kind: kind, Want: id, Reason: "over the size limit"}
	}
	if ok, err := tx.has(ctx, kind, id); err != nil || ok {
		return id, err
	}
	return id, tx.putVerified(ctx, kind, id, b)
}

func (tx *Tx) putVerified(ctx context.Context, kind objects.Kind, id objects.ID, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch kind {
	case objects.KindChunk:
		data := b
		if tx.r.mode == Archive {
			data = zenc.EncodeAll(b, make([]byte, 0, len(b)/2))
		}
		crash.Point("tx.stage-chunk")
		return tx.stage(kind, id, data)
	case objects.KindFile:
		f, err := objects.DecodeFile(b)
		if err != nil {
			return fmt.Errorf("put file %s: %w", id.Short(), err)
		}
		for _, c := range f.Chunks {
			if err := tx.requireChild(ctx, objects.KindFile, id, objects.KindChunk, c.ID); err != nil {
				return err
			}
			if tx.r.mode == Archive {
				if err := tx.copyFromSource(ctx, c.ID); err != nil {
					return err
				}
			}
		}
		if tx.r.mode == Bare {
			if err := tx.assemble(ctx, id, f); err != nil {
				return fmt.Errorf("put file %s: %w", id.Short(), err)
			}
		}
		return tx.stage(kind, id, b)
	case objects.KindDirMeta:
		if _, err := objects.DecodeDirMeta(b); err != nil {
			return fmt.Errorf("put dirmeta %s: %w", id.Short(), err)
		}
	case objects.KindDirTree:
		t, err := objects.DecodeDirTree(b)
		if err != nil {
			return fmt.Errorf("put dirtree %s: %w", id.Short(), err)
		}
		for _, e := range t.Entries {
			if e.IsDir() {
				if err := tx.requireChild(ctx, kind, id, objects.KindDirTree, e.Tree); err != nil {
					return err
				}
				if err := tx.requireChild(ctx, kind, id, objects.KindDirMeta, e.Meta); err != nil {
					return err
				}
			} else if err := tx.requireChild(ctx, kind, id, objects.KindFile, e.File); err != nil {
				return err
			}
		}
	case objects.KindCommit:
		c, err := objects.DecodeCommit(b)
		if err != nil {
			return fmt.Errorf("put commit %s: %w", id.Short(), err)
		}
		if err := tx.requireChild(ctx, kind, id, objects.KindDirTree, c.Tree); err != nil {
			return err
		}
		if err := tx.requireChild(ctx, kind, id, objects.KindDirMeta, c.Meta); err != nil {
			return err
		}
	}
	return tx.stage(kind, id, b)
}

// copyFromSource stores a chunk that only a source holds (archive mode).
func (tx *Tx) copyFromSource(ctx context.Context, id objects.ID) error {
	if ok, err := tx.has(ctx, objects.KindChunk, id); err != nil || ok {
		return err
	}
	src, err := tx.sourceFor(ctx, objects.KindChunk, id)
	if err != nil || src == nil {
		return err
	}
	b, err := objects.ReadRaw(ctx, src, objects.KindChunk, id)
	if err != nil {
		return err
	}
	return tx.putVerified(ctx, objects.KindChunk, id, b)
}

func (tx *Tx) requireChild(ctx context.Context, kind objects.Kind, id objects.ID, ckind objects.Kind, cid objects.ID) error {
	ok, err := tx.Has(ctx, ckind, cid)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("put %s %s: its %w (children must be stored before parents)", kind, id.Short(),
			&objects.NotFoundError{Kind: ckind, ID: cid})
	}
	return nil
}

// stage writes data to the staging directory under the object's name.
func (tx *Tx) stage(kind objects.Kind, id objects.ID, data []byte) error {
	final := tx.stagePath(kind, id)
	f, err := os.CreateTemp(tx.dir, ".w-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // objects are not secret; readers need not be root
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("stage %s %s: %w", kind, id.Short(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return err
	}
	tx.mu.Lock()
	if _, dup := tx.staged[stageKey{kind, id}]; !dup {
		tx.staged[stageKey{kind, id}] = struct{}{}
		tx.order = append(tx.order, stageKey{kind, id})
	}
	tx.mu.Unlock()
	return nil
}

// assemble writes a bare repository's file: its content from its chunks,
// with mode, owner and xattrs, mtime 0, staged as <id>.file.content.
func (tx *Tx) assemble(ctx context.Context, id objects.ID, f *objects.File) error {
	final := tx.stagePath(objects.KindFile, id) + ".content"
	// A private directory per assembly: two workers may Put the same file
	// at once (identical files in a tree), and must not share a temporary.
	adir, err := os.MkdirTemp(tx.dir, ".a-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(adir)
	tmp := filepath.Join(adir, id.String())
	if f.IsSymlink() {
		if err := os.Symlink(f.Target, tmp); err != nil {
			return err
		}
		if err := os.Lchown(tmp, int(f.UID), int(f.GID)); err != nil {
			return ownerErr(err)
		}
		if err := fsmeta.SetXattrsPath(tmp, f.Xattrs); err != nil && !errors.Is(err, fsmeta.ErrXattrsUnsupported) {
			return err
		}
	} else {
		out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		in := objects.OpenContent(ctx, tx, f)
		_, err = io.Copy(out, in)
		in.Close()
		if err == nil {
			err = fsmeta.ApplyFd(out, f.Mode, f.UID, f.GID, f.Xattrs)
			if errors.Is(err, fsmeta.ErrXattrsUnsupported) {
				err = nil
			}
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return ownerErr(err)
		}
	}
	if err := fsmeta.ZeroTimes(unix.AT_FDCWD, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	var off int64
	tx.mu.Lock()
	for _, c := range f.Chunks {
		tx.chunks[c.ID] = chunkLoc{file: id, offset: off, size: c.Size}
		off += int64(c.Size)
	}
	tx.mu.Unlock()
	return nil
}

func ownerErr(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: a bare repository keeps file owners; run as root (%v)", ErrNeedsRoot, err)
	}
	return err
}

// SetRef makes the ref point at commit when the transaction commits. The
// commit must be in the repository or staged.
func (tx *Tx) SetRef(name string, commit objects.ID) error {
	if err := CheckRefName(name); err != nil {
		return err
	}
	ok, err := tx.Has(tx.ctx, objects.KindCommit, commit)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("set ref %s: %w", name, &objects.NotFoundError{Kind: objects.KindCommit, ID: commit})
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	c := commit
	tx.refs[name] = &c
	return nil
}

// DeleteRef removes the ref when the transaction commits.
func (tx *Tx) DeleteRef(name string) error {
	if err := CheckRefName(name); err != nil {
		return err
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.refs[name] = nil
	return nil
}

// MarkPartial records that commit's closure is not complete yet (a pull
// in progress); ClearPartial removes the mark. Applied when tx commits.
func (tx *Tx) MarkPartial(commit objects.ID) {
	tx.mu.Lock()
	tx.partial[commit] = true
	tx.mu.Unlock()
}

// ClearPartial removes the partial mark of commit when tx commits.
func (tx *Tx) ClearPartial(commit objects.ID) {
	tx.mu.Lock()
	tx.partial[commit] = false
	tx.mu.Unlock()
}

// commit makes the staged objects visible, then applies index and ref changes.
func (tx *Tx) commit() error {
	r := tx.r
	if len(tx.staged) > 0 {
		// 1. Make every staged byte durable before any object becomes visible.
		if err := syncfs(tx.dir); err != nil {
			return err
		}
		crash.Point("tx.synced")
		// 2. Index the chunks of new bare files before the files become
		// visible: once a file is visible nothing would index it again, and
		// its chunks must stay findable. Lookups ignore an entry whose file
		// a crash kept from appearing.
		if len(tx.chunks) > 0 {
			if err := tx.indexChunks(); err != nil {
				return err
			}
			crash.Point("tx.indexed")
		}
		// 3. Move objects into place in the order they were staged: Put
		// refuses a parent before its children, so this is children first,
		// and a crash between two renames leaves no object without its
		// children.
		for _, k := range tx.order {
			if k.kind == objects.KindChunk && r.mode == Bare {
				continue // bare repositories keep chunks only inside files
			}
			if k.kind == objects.KindFile && r.mode == Bare {
				if err := os.Rename(tx.stagePath(k.kind, k.id)+".content", r.contentPath(k.id)); err != nil {
					return fmt.Errorf("commit transaction: %w", err)
				}
			}
			if err := os.Rename(tx.stagePath(k.kind, k.id), r.objectPath(k.kind, k.id)); err != nil {
				return fmt.Errorf("commit transaction: %w", err)
			}
			crash.Point("tx.rename")
		}
		// 4. Make the renames durable before anything points at them.
		if err := syncfs(filepath.Join(r.path, "objects")); err != nil {
			return err
		}
		crash.Point("tx.visible")
	}
	// 5. Partial marks change only once the objects are visible: a commit
	// must not lose its mark before its closure is there.
	if len(tx.partial) > 0 {
		if err := tx.markPartial(); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(tx.refs))
	for n := range tx.refs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := r.writeRef(name, tx.refs[name]); err != nil {
			return err
		}
		crash.Point("tx.ref")
	}
	return nil
}

// indexChunks records where the chunks of the transaction's bare files are.
func (tx *Tx) indexChunks() error {
	r := tx.r
	return r.updateIndex(func(btx *bolt.Tx) error {
		cb := btx.Bucket(bucketChunks)
		for id, loc := range tx.chunks {
			// Keep an entry that names a file already there: this
			// transaction's files are not visible yet.
			if old, ok := decodeChunkLoc(cb.Get(id[:])); ok {
				if _, err := os.Lstat(r.contentPath(old.file)); err == nil {
					continue
				}
			}
			if err := cb.Put(id[:], loc.encode()); err != nil {
				return err
			}
		}
		return nil
	})
}

// markPartial applies the transaction's MarkPartial and ClearPartial calls.
func (tx *Tx) markPartial() error {
	return tx.r.updateIndex(func(btx *bolt.Tx) error {
		pb := btx.Bucket(bucketPartial)
		for id, mark := range tx.partial {
			var err error
			if mark {
				err = pb.Put(id[:], nil)
			} else {
				err = pb.Delete(id[:])
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (r *Repo) updateIndex(fn func(btx *bolt.Tx) error) error {
	db, err := r.index()
	if err != nil {
		return err
	}
	if err := db.Update(fn); err != nil {
		return fmt.Errorf("update index of %s: %w", r.path, err)
	}
	return nil
}

func syncfs(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", path, err)
	}
	return nil
}

var _ = atomicfile.Write
