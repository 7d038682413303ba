package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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
//
// The staging directory (tmp/tx-*) has the same 256 shards as objects/,
// and each object is written there once, under its final name, so that
// committing is one rename per object. The objects/ and staging
// directories are held open and named relative to them.
type Tx struct {
	r     *Repo
	ctx   context.Context
	dir   string
	dirFD int    // dir, open
	objFD int    // the repository's objects/, open
	umask uint32 // the process's umask when tx began

	shards [256]atomic.Bool // dir's shard directories made
	listed [256]shardList   // what objects/xx holds, once listed

	mu      sync.Mutex
	staged  map[stageKey]*stageEntry
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

// stageEntry is an object that a Put of tx claimed: staged, or being staged
// by one goroutine while others that want it wait on done.
type stageEntry struct {
	done chan struct{} // closed when the attempt ends
	ok   bool          // the object is staged (set before done closes)
	// gen orders the renames of commit: 0 for an object without staged
	// children, else one more than the highest gen of its staged children.
	gen int
}

// shardName returns an object's name relative to objects/ (or to a
// staging directory): "xx/<rest>.<kind>".
func shardName(kind objects.Kind, id objects.ID) string {
	s := id.String()
	return s[:2] + "/" + s[2:] + "." + kind.String()
}

// contentName returns a bare file's content name relative to objects/.
func contentName(id objects.ID) string {
	s := id.String()
	return s[:2] + "/" + s[2:] + ".content"
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
	defer os.RemoveAll(dir)
	tx := &Tx{r: r, ctx: ctx, dir: dir, staged: map[stageKey]*stageEntry{}, refs: map[string]*objects.ID{},
		chunks: map[objects.ID]chunkLoc{}, partial: map[objects.ID]bool{}}
	tx.umask = readUmask()
	if tx.dirFD, err = openDir(dir); err != nil {
		return fmt.Errorf("start transaction in %s: %w", r.path, err)
	}
	defer unix.Close(tx.dirFD)
	if tx.objFD, err = openDir(filepath.Join(r.path, "objects")); err != nil {
		return fmt.Errorf("start transaction in %s: %w", r.path, err)
	}
	defer unix.Close(tx.objFD)
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

func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

func (tx *Tx) stagePath(kind objects.Kind, id objects.ID) string {
	return filepath.Join(tx.dir, shardName(kind, id))
}

// stagedHas reports whether the object is staged in tx. If another
// goroutine is staging it, stagedHas waits for the outcome.
func (tx *Tx) stagedHas(kind objects.Kind, id objects.ID) bool {
	_, ok := tx.stagedGen(stageKey{kind, id})
	return ok
}

// stagedGen returns a staged object's rename generation.
func (tx *Tx) stagedGen(k stageKey) (int, bool) {
	for {
		tx.mu.Lock()
		e, ok := tx.staged[k]
		tx.mu.Unlock()
		if !ok {
			return 0, false
		}
		<-e.done
		if e.ok {
			return e.gen, true
		}
		// That attempt failed and dropped its claim: look again.
	}
}

// claim reserves an object for the caller to stage, and returns its entry
// and true. If the object is staged already, or becomes staged while
// claim waits for another goroutine staging it, claim returns false.
func (tx *Tx) claim(k stageKey) (*stageEntry, bool) {
	for {
		tx.mu.Lock()
		e, ok := tx.staged[k]
		if !ok {
			e = &stageEntry{done: make(chan struct{})}
			tx.staged[k] = e
			tx.mu.Unlock()
			return e, true
		}
		tx.mu.Unlock()
		<-e.done
		if e.ok {
			return e, false
		}
	}
}

// settle ends a claim: on success the object joins the staging order,
// otherwise the claim is dropped.
func (tx *Tx) settle(k stageKey, e *stageEntry, gen int, err error) {
	tx.mu.Lock()
	if err == nil {
		e.ok, e.gen = true, gen
		tx.order = append(tx.order, k)
	} else {
		delete(tx.staged, k)
	}
	tx.mu.Unlock()
	close(e.done)
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
		return tx.r.Has(ctx, kind, id)
	}
	return tx.storedHas(kind, id)
}

// storedHas is Repo.Has for an object held as its own file. Nothing but
// this transaction changes objects/ while it holds the writer lock, and it
// renames its objects in only when it commits: so once a shard of
// objects/ is listed, the listing answers for it until then. A shard is
// listed when looking names up one by one has cost about as much as
// reading it whole would; until then (and to confirm a listed name) each
// lookup is an fstatat relative to objects/.
func (tx *Tx) storedHas(kind objects.Kind, id objects.ID) (bool, error) {
	sh := &tx.listed[id[0]]
	if set := sh.set.Load(); set != nil {
		if _, ok := (*set)[listKey(kind, id)]; !ok {
			return false, nil
		}
	} else if n := sh.lookups.Add(1); n == listAfter {
		if err := tx.listShard(id[0]); err != nil {
			return false, err
		}
		return tx.storedHas(kind, id)
	}
	var st unix.Stat_t
	err := unix.Fstatat(tx.objFD, shardName(kind, id), &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return false, &os.PathError{Op: "lstat", Path: tx.r.objectPath(kind, id), Err: err}
}

// listAfter is the number of lookups in a shard of objects/ after which
// the shard is listed. The cost of a listing grows with the shard's size,
// but so does the number of lookups a commit makes there when it is large
// enough to touch every shard many times over.
const listAfter = 8

// shardList is what a transaction knows about one shard of objects/.
type shardList struct {
	lookups atomic.Int32
	set     atomic.Pointer[map[uint64]struct{}] // listed names, once listed
}

// listKey is a listed name's key: the ID's bytes after the shard's and the
// kind. Keys may collide, so a name found is confirmed with fstatat; a
// name not found is certainly absent.
func listKey(kind objects.Kind, id objects.ID) uint64 {
	return binary.BigEndian.Uint64(id[1:9]) ^ uint64(kind)
}

// listShard reads the names in objects/xx into tx.listed.
func (tx *Tx) listShard(b byte) error {
	d := fmt.Sprintf("%02x", b)
	fd, err := unix.Openat(tx.objFD, d, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Join(tx.r.path, "objects", d), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(tx.r.path, "objects", d))
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	set := make(map[uint64]struct{}, len(names))
	for _, name := range names {
		rest, ext, _ := strings.Cut(name, ".")
		kind, err := objects.ParseKind(ext)
		if err != nil {
			continue // a bare file's .content, or a stray name
		}
		id, err := objects.ParseID(d + rest)
		if err != nil {
			continue
		}
		set[listKey(kind, id)] = struct{}{}
	}
	tx.listed[b].set.Store(&set)
	return nil
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
	k := stageKey{kind, id}
	e, mine := tx.claim(k)
	if !mine {
		return nil // staged by another Put
	}
	gen, err := tx.checkAndStage(ctx, kind, id, b)
	tx.settle(k, e, gen, err)
	return err
}

// checkAndStage decodes a metadata object and checks that its children are
// present, then stages the object; it returns its rename generation.
func (tx *Tx) checkAndStage(ctx context.Context, kind objects.Kind, id objects.ID, b []byte) (int, error) {
	gen := 0
	child := func(ckind objects.Kind, cid objects.ID) error {
		g, err := tx.requireChild(ctx, kind, id, ckind, cid)
		if g >= gen {
			gen = g + 1
		}
		return err
	}
	switch kind {
	case objects.KindChunk:
		if tx.r.mode == Archive {
			return 0, tx.stageChunk(id, b)
		}
		crash.Point("tx.stage-chunk")
		return 0, tx.stage(kind, id, b)
	case objects.KindFile:
		f, err := objects.DecodeFile(b)
		if err != nil {
			return 0, fmt.Errorf("put file %s: %w", id.Short(), err)
		}
		for _, c := range f.Chunks {
			if tx.r.mode == Archive {
				if err := tx.copyFromSource(ctx, c.ID); err != nil {
					return 0, err
				}
			}
			if err := child(objects.KindChunk, c.ID); err != nil {
				return 0, err
			}
		}
		if tx.r.mode == Bare {
			if err := tx.assemble(ctx, id, f); err != nil {
				return 0, fmt.Errorf("put file %s: %w", id.Short(), err)
			}
		}
	case objects.KindDirMeta:
		if _, err := objects.DecodeDirMeta(b); err != nil {
			return 0, fmt.Errorf("put dirmeta %s: %w", id.Short(), err)
		}
	case objects.KindDirTree:
		t, err := objects.DecodeDirTree(b)
		if err != nil {
			return 0, fmt.Errorf("put dirtree %s: %w", id.Short(), err)
		}
		for _, e := range t.Entries {
			if e.IsDir() {
				if err := child(objects.KindDirTree, e.Tree); err != nil {
					return 0, err
				}
				if err := child(objects.KindDirMeta, e.Meta); err != nil {
					return 0, err
				}
			} else if err := child(objects.KindFile, e.File); err != nil {
				return 0, err
			}
		}
	case objects.KindCommit:
		c, err := objects.DecodeCommit(b)
		if err != nil {
			return 0, fmt.Errorf("put commit %s: %w", id.Short(), err)
		}
		if err := child(objects.KindDirTree, c.Tree); err != nil {
			return 0, err
		}
		if err := child(objects.KindDirMeta, c.Meta); err != nil {
			return 0, err
		}
	}
	return gen, tx.stage(kind, id, b)
}

// stageChunk compresses and stages a chunk of an archive repository.
func (tx *Tx) stageChunk(id objects.ID, raw []byte) error {
	bp := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(bp)
	data, err := compressChunk((*bp)[:0], raw)
	if err != nil {
		return fmt.Errorf("compress chunk %s: %w", id.Short(), err)
	}
	*bp = data[:0]
	crash.Point("tx.stage-chunk")
	return tx.stage(objects.KindChunk, id, data)
}

// chunkBuffers holds buffers for compressed chunks.
var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, objects.MaxChunkSize/2); return &b }}

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

// requireChild fails unless the child is stored, staged or (a chunk) in a
// source. It returns the child's rename generation, -1 if it is not staged.
func (tx *Tx) requireChild(ctx context.Context, kind objects.Kind, id objects.ID, ckind objects.Kind, cid objects.ID) (int, error) {
	if g, ok := tx.stagedGen(stageKey{ckind, cid}); ok {
		return g, nil
	}
	ok, err := tx.Has(ctx, ckind, cid)
	if err != nil {
		return -1, err
	}
	if !ok {
		return -1, fmt.Errorf("put %s %s: its %w (children must be stored before parents)", kind, id.Short(),
			&objects.NotFoundError{Kind: ckind, ID: cid})
	}
	return -1, nil
}

// stage writes data to the staging directory under the object's name. The
// caller holds the object's claim.
func (tx *Tx) stage(kind objects.Kind, id objects.ID, data []byte) error {
	name := shardName(kind, id)
	if err := tx.mkShard(id); err != nil {
		return err
	}
	fd, err := unix.Openat(tx.dirFD, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("stage %s %s: %w", kind, id.Short(), &os.PathError{Op: "create", Path: tx.stagePath(kind, id), Err: err})
	}
	err = writeAll(fd, data)
	if err == nil && tx.umask&0o644 != 0 {
		err = unix.Fchmod(fd, 0o644) // objects are not secret; readers need not be root
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(tx.dirFD, name, 0)
		return fmt.Errorf("stage %s %s: %w", kind, id.Short(), err)
	}
	return nil
}

// mkShard makes the staging directory's shard for id.
func (tx *Tx) mkShard(id objects.ID) error {
	if tx.shards[id[0]].Load() {
		return nil
	}
	s := id.String()[:2]
	if err := unix.Mkdirat(tx.dirFD, s, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: filepath.Join(tx.dir, s), Err: err}
	}
	tx.shards[id[0]].Store(true)
	return nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b = b[n:]
	}
	return nil
}

// readUmask returns the process's file mode creation mask, from
// /proc/self/status (reading it any other way changes it); if it cannot be
// read it is taken to be 0o777, so that every staged object gets an
// explicit chmod.
func readUmask() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(m)
			}
		}
	}
	return 0o777
}

// assemble writes a bare repository's file: its content from its chunks,
// with mode, owner and xattrs, mtime 0, staged as <id>.file.content. The
// caller holds the file object's claim, so no other goroutine writes the
// same name; on failure the partial content is removed.
func (tx *Tx) assemble(ctx context.Context, id objects.ID, f *objects.File) (err error) {
	if err := tx.mkShard(id); err != nil {
		return err
	}
	final := tx.stagePath(objects.KindFile, id) + ".content"
	defer func() {
		if err != nil {
			os.Remove(final)
		}
	}()
	if f.IsSymlink() {
		if err := os.Symlink(f.Target, final); err != nil {
			return err
		}
		if err := os.Lchown(final, int(f.UID), int(f.GID)); err != nil {
			return ownerErr(err)
		}
		if err := fsmeta.SetXattrsPath(final, f.Xattrs); err != nil && !errors.Is(err, fsmeta.ErrXattrsUnsupported) {
			return err
		}
	} else {
		out, err := os.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
			return ownerErr(err)
		}
	}
	if err := fsmeta.ZeroTimes(unix.AT_FDCWD, final); err != nil {
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
		// 3. Move objects into place, children before parents: Put
		// refuses a parent before its children, so each object's gen is
		// higher than its staged children's, and the renames of one gen
		// start only when every lower gen is in place. A crash between
		// two renames leaves no object without its children.
		if err := tx.publish(); err != nil {
			return fmt.Errorf("commit transaction: %w", err)
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

// publish renames the staged objects into objects/, one gen after the
// other, each gen's renames in parallel (they take different directory
// locks most of the time, and wait for directory blocks on a cold cache).
func (tx *Tx) publish() error {
	byGen := map[int][]stageKey{}
	var gens []int
	for _, k := range tx.order {
		if k.kind == objects.KindChunk && tx.r.mode == Bare {
			continue // bare repositories keep chunks only inside files
		}
		g := tx.staged[k].gen
		if _, ok := byGen[g]; !ok {
			gens = append(gens, g)
		}
		byGen[g] = append(byGen[g], k)
	}
	slices.Sort(gens)
	workers := min(2*runtime.NumCPU(), 8)
	for _, g := range gens {
		keys := byGen[g]
		if len(keys) < 2*workers {
			for _, k := range keys {
				if err := tx.rename(k); err != nil {
					return err
				}
			}
			continue
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(keys) {
						return
					}
					if err := tx.rename(keys[i]); err != nil {
						errs[w] = err
						next.Store(int64(len(keys))) // stop the others
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// rename makes one staged object visible (a bare file's content first).
func (tx *Tx) rename(k stageKey) error {
	name := shardName(k.kind, k.id)
	if k.kind == objects.KindFile && tx.r.mode == Bare {
		if err := unix.Renameat(tx.dirFD, name+".content", tx.objFD, contentName(k.id)); err != nil {
			return &os.LinkError{Op: "rename", Old: tx.stagePath(k.kind, k.id) + ".content", New: tx.r.contentPath(k.id), Err: err}
		}
	}
	if err := unix.Renameat(tx.dirFD, name, tx.objFD, name); err != nil {
		return &os.LinkError{Op: "rename", Old: tx.stagePath(k.kind, k.id), New: tx.r.objectPath(k.kind, k.id), Err: err}
	}
	crash.Point("tx.rename")
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
