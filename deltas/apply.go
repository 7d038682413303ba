package deltas

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/arbor-ota/arbor/objects"
)

// LocalPather is an optional upgrade of the store given to Apply: it gives
// the path of a file object's content (a bare repository), which the
// applier then reads at offsets instead of chunk by chunk.
type LocalPather interface {
	LocalPath(id objects.ID) (path string, ok bool)
}

// ApplyOptions controls Apply. The zero value works.
type ApplyOptions struct {
	// Window is the largest zstd window, and old plus new content of a zstd
	// patch, the applier accepts (default DefaultWindow). A delta that needs
	// more fails with ErrTooLarge before it produces anything.
	Window int64
	// Local, if set, gives old contents as files (see LocalPather).
	Local LocalPather
	// TempDir holds the new directory objects until their children are
	// stored (default: the system's temporary directory).
	TempDir string
	// Progress, if set, is called with the bytes of content produced so far
	// and the total.
	Progress func(done, total int64)
}

// OpenPart opens part i of a delta for reading at offsets. Apply calls the
// closer when it is done with the part.
type OpenPart func(i int) (io.ReaderAt, io.Closer, error)

// Apply produces the new commit of a delta into st: every object the new
// commit has and the old one lacks, then the commit. st must hold the old
// commit's closure (an error matching ErrMissingSource otherwise). Each part
// is hashed before anything in it is decompressed; each object produced is
// verified before it is put (a file object rebuilt from its content must
// hash to the ID its directory names). Apply reads old contents at offsets
// and keeps at most a window of content in memory. On any error, objects
// may already have been put into st: give Apply a transaction, and drop it.
func Apply(ctx context.Context, st objects.Store, sb *Superblock, open OpenPart, opts ApplyOptions) (err error) {
	if opts.Window == 0 {
		opts.Window = DefaultWindow
	}
	if _, err := sb.Encode(); err != nil {
		return err
	}
	if sb.Window > opts.Window {
		return fmt.Errorf("%w: the delta uses a %d MiB window, this device allows %d MiB", ErrTooLarge, sb.Window>>20, opts.Window>>20)
	}
	a := &applier{ctx: ctx, st: st, sb: sb, opts: opts, dirs: map[objects.ID]*objects.DirTree{}}
	defer func() {
		if a.spill != nil {
			a.spill.Close()
			os.Remove(a.spill.Name())
		}
	}()
	from, err := objects.ReadCommit(ctx, st, sb.From)
	if err != nil {
		return fmt.Errorf("delta from %s: %w", sb.From.Short(), sourceErr(err))
	}
	a.from = from
	to, err := objects.DecodeCommit(sb.Commit)
	if err != nil {
		return invalidf("commit: %v", err)
	}
	for i, info := range sb.Parts {
		if err := a.part(i, info, open, to); err != nil {
			return fmt.Errorf("delta part %d: %w", i, err)
		}
	}
	if a.next != len(a.targets) {
		return invalidf("%d of %d file contents produced", a.next, len(a.targets))
	}
	// Directories, children before parents: the reverse of the walk.
	for i := len(a.trees) - 1; i >= 0; i-- {
		t := a.trees[i]
		b := make([]byte, t.n)
		if _, err := a.spill.ReadAt(b, t.off); err != nil {
			return err
		}
		if err := st.Put(ctx, objects.KindDirTree, t.id, bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return st.Put(ctx, objects.KindCommit, sb.To, bytes.NewReader(sb.Commit))
}

func sourceErr(err error) error {
	if errors.Is(err, objects.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrMissingSource, err)
	}
	return err
}

type applier struct {
	ctx  context.Context
	st   objects.Store
	sb   *Superblock
	opts ApplyOptions
	from *objects.Commit

	targets []applyTarget
	next    int // the next target to produce
	trees   []spilled
	spill   *os.File
	spillAt int64
	dirs    map[objects.ID]*objects.DirTree // old directories read to find sources
	done    int64                           // content bytes produced
}

type applyTarget struct {
	id   objects.ID
	path string
	same objects.ID    // the old file at the same path, if any
	obj  *objects.File // the file object, when it was sent whole
}

type spilled struct {
	id     objects.ID
	off, n int64
}

// part verifies and applies one part.
func (a *applier) part(i int, info PartInfo, open OpenPart, to *objects.Commit) error {
	ra, closer, err := open(i)
	if err != nil {
		return err
	}
	defer closer.Close()
	h := blake3.New()
	n, err := io.Copy(h, io.NewSectionReader(ra, 0, info.Size+1))
	if err != nil {
		return err
	}
	var got objects.ID
	h.Sum(got[:0])
	if n != info.Size || got != info.Hash {
		return &objects.CorruptError{Want: info.Hash, Got: got, Reason: fmt.Sprintf("delta part (%d bytes, %d expected)", n, info.Size)}
	}
	pr, err := openPart(ra, info.Size, a.sb.Window)
	if err != nil {
		return err
	}
	defer pr.close()
	ncand, err := pr.uvarint(1<<40, "candidates")
	if err != nil {
		return err
	}
	if i == 0 {
		if err := a.tree(pr, ncand, to); err != nil {
			return err
		}
	} else if ncand != 0 {
		return invalidf("tree section outside the first part")
	}
	nops, err := pr.uvarint(uint64(len(a.targets)-a.next), "operations")
	if err != nil {
		return err
	}
	for k := uint64(0); k < nops; k++ {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		t := &a.targets[a.next]
		a.next++
		if err := a.op(pr, t); err != nil {
			return fmt.Errorf("%s: %w", displayPath(t.path), err)
		}
	}
	return pr.finish()
}

func displayPath(p string) string { return "/" + p }

// tree applies the tree section: it walks the new tree, reading one flag
// per candidate.
func (a *applier) tree(pr *partReader, ncand uint64, to *objects.Commit) error {
	var used uint64
	visit := func(c candidate) (*objects.DirTree, error) {
		if used == ncand {
			return nil, invalidf("tree section ends before the walk does")
		}
		used++
		flag, err := pr.tag(numFlags, "candidate flag")
		if err != nil {
			return nil, err
		}
		var raw []byte
		switch flag {
		case flagKnown:
			ok, err := a.st.Has(a.ctx, c.kind, c.id)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("%w: %s %s at %s", ErrMissingSource, c.kind, c.id.Short(), displayPath(c.path))
			}
			return nil, nil
		case flagRecipe:
			if c.kind != objects.KindFile {
				return nil, invalidf("%s %s at %s as a file recipe", c.kind, c.id.Short(), displayPath(c.path))
			}
			a.targets = append(a.targets, applyTarget{id: c.id, path: c.path, same: c.counterpart})
			return nil, nil
		case flagRaw:
			if raw, err = pr.bytes(uint64(c.kind.MaxSize()), "object"); err != nil {
				return nil, err
			}
		case flagPatch:
			if raw, err = a.patchObject(pr, c); err != nil {
				return nil, err
			}
		}
		if got := objects.Sum(raw); got != c.id {
			return nil, &objects.CorruptError{Kind: c.kind, Want: c.id, Got: got, Reason: "in the delta at " + displayPath(c.path)}
		}
		switch c.kind {
		case objects.KindDirTree:
			t, err := objects.DecodeDirTree(raw)
			if err != nil {
				return nil, err
			}
			return t, a.spillTree(c.id, raw)
		case objects.KindFile:
			f, err := objects.DecodeFile(raw)
			if err != nil {
				return nil, err
			}
			if !f.IsSymlink() && len(f.Chunks) > 0 {
				a.targets = append(a.targets, applyTarget{id: c.id, path: c.path, same: c.counterpart, obj: f})
				return nil, nil
			}
		}
		return nil, a.st.Put(a.ctx, c.kind, c.id, bytes.NewReader(raw))
	}
	if err := walkTrees(a.ctx, a.st, to.Meta, to.Tree, a.from.Meta, a.from.Tree, visit); err != nil {
		return err
	}
	if used != ncand {
		return invalidf("tree section has %d candidates, the walk %d", ncand, used)
	}
	return nil
}

// patchObject decodes an object sent as a zstd frame with the old object at
// the same path as prefix.
func (a *applier) patchObject(pr *partReader, c candidate) ([]byte, error) {
	frame, err := pr.bytes(uint64(2*c.kind.MaxSize()), "object patch")
	if err != nil {
		return nil, err
	}
	if c.counterpart.IsZero() {
		return nil, invalidf("object patch at %s without an old object there", displayPath(c.path))
	}
	old, err := objects.ReadRaw(a.ctx, a.st, c.kind, c.counterpart)
	if err != nil {
		return nil, sourceErr(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderDictRaw(0, old),
		zstd.WithDecoderMaxMemory(uint64(c.kind.MaxSize())), zstd.WithDecoderMaxWindow(uint64(a.sb.Window)))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(frame, nil)
	if err != nil {
		return nil, invalidf("object patch at %s: %v", displayPath(c.path), err)
	}
	return raw, nil
}

func (a *applier) spillTree(id objects.ID, raw []byte) error {
	if a.spill == nil {
		f, err := os.CreateTemp(a.opts.TempDir, "arbor-delta-trees-*")
		if err != nil {
			return err
		}
		a.spill = f
	}
	if _, err := a.spill.WriteAt(raw, a.spillAt); err != nil {
		return err
	}
	a.trees = append(a.trees, spilled{id: id, off: a.spillAt, n: int64(len(raw))})
	a.spillAt += int64(len(raw))
	return nil
}

// op applies one operation: it produces target t's content and stores its
// file object.
func (a *applier) op(pr *partReader, t *applyTarget) error {
	tag, err := pr.tag(numOps, "operation")
	if err != nil {
		return err
	}
	if tag == 0 {
		return invalidf("operation 0")
	}
	// The source: an old file, or an earlier target.
	var srcID objects.ID
	var src *objects.File
	switch tag {
	case opCopyNew:
		j, err := pr.uvarint(uint64(a.next-1), "earlier target")
		if err != nil {
			return err
		}
		if int(j) >= a.next-1 {
			return invalidf("copy from target %d, not produced yet", j)
		}
		srcID = a.targets[j].id
		if src, err = objects.ReadFile(a.ctx, a.st, srcID); err != nil {
			return err
		}
	case opBsdiff, opZstd, opCopyOld:
		if srcID, src, err = a.source(pr, t); err != nil {
			return err
		}
	}
	// The file object's metadata.
	var f objects.File
	mk, err := pr.tag(3, "metadata recipe")
	if err != nil {
		return err
	}
	switch mk {
	case metaSame:
		if src == nil || t.obj != nil {
			return invalidf("metadata of a source that is not there")
		}
		f = objects.File{Mode: src.Mode, UID: src.UID, GID: src.GID, Xattrs: src.Xattrs}
	case metaExplicit:
		if t.obj != nil {
			return invalidf("metadata recipe for a file object sent whole")
		}
		if err := a.readMeta(pr, &f); err != nil {
			return err
		}
	case metaObject:
		if t.obj == nil {
			return invalidf("file object %s was not sent", t.id.Short())
		}
		f = *t.obj
	}
	if f.Mode&objects.ModeTypeMask != objects.ModeRegular {
		return invalidf("file contents for mode %o", f.Mode)
	}
	if tag == opCopyOld || tag == opCopyNew {
		return a.copyContent(t, &f, src)
	}
	var newLen uint64
	if newLen, err = pr.uvarint(maxContent, "content length"); err != nil {
		return err
	}
	sink, err := a.newSink(t)
	if err != nil {
		return err
	}
	switch tag {
	case opLiteral:
		err = copyExact(sink, pr.r[streamData], int64(newLen), "data")
	case opBsdiff:
		err = a.bsdiff(pr, sink, srcID, src, int64(newLen))
	case opZstd:
		err = a.zstdPatch(pr, sink, srcID, src, int64(newLen))
	}
	if err != nil {
		return err
	}
	if sink.n != int64(newLen) {
		return invalidf("produced %d bytes of %d", sink.n, newLen)
	}
	chunks, err := sink.finish()
	if err != nil {
		return err
	}
	if t.obj == nil {
		f.Chunks = chunks
	}
	return a.putFile(t, &f)
}

// putFile encodes and verifies a file object, then stores it.
func (a *applier) putFile(t *applyTarget, f *objects.File) error {
	raw, err := f.Encode()
	if err != nil {
		return invalidf("file object: %v", err)
	}
	if got := objects.Sum(raw); got != t.id {
		return &objects.CorruptError{Kind: objects.KindFile, Want: t.id, Got: got, Reason: "rebuilt from the delta"}
	}
	return a.st.Put(a.ctx, objects.KindFile, t.id, bytes.NewReader(raw))
}

// copyContent stores a file whose content is a source's, chunk for chunk.
func (a *applier) copyContent(t *applyTarget, f *objects.File, src *objects.File) error {
	if len(src.Chunks) == 0 {
		return invalidf("copy of an empty content")
	}
	if t.obj != nil {
		if len(t.obj.Chunks) != len(src.Chunks) {
			return invalidf("copy of a content with other chunks")
		}
		for i := range src.Chunks {
			if src.Chunks[i] != t.obj.Chunks[i] {
				return invalidf("copy of a content with other chunks")
			}
		}
	}
	f.Chunks = src.Chunks
	return a.putFile(t, f)
}

// source reads an operation's source and returns the old file object.
func (a *applier) source(pr *partReader, t *applyTarget) (objects.ID, *objects.File, error) {
	kind, err := pr.tag(2, "source")
	if err != nil {
		return objects.ID{}, nil, err
	}
	var id objects.ID
	if kind == srcSamePath {
		if t.same.IsZero() {
			return id, nil, invalidf("no old file at the same path")
		}
		id = t.same
	} else {
		b, err := pr.bytes(maxPathLen, "source path")
		if err != nil {
			return id, nil, err
		}
		if id, err = a.lookupOld(string(b)); err != nil {
			return id, nil, err
		}
	}
	f, err := objects.ReadFile(a.ctx, a.st, id)
	if err != nil {
		return id, nil, sourceErr(err)
	}
	if f.IsSymlink() {
		return id, nil, invalidf("source is a symlink")
	}
	return id, f, nil
}

// lookupOld finds the file at p in the old tree.
func (a *applier) lookupOld(p string) (objects.ID, error) {
	if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.HasPrefix(p, "../") || p == ".." {
		return objects.ID{}, invalidf("source path %q is not clean", p)
	}
	tree := a.from.Tree
	parts := strings.Split(p, "/")
	for i, name := range parts {
		t, ok := a.dirs[tree]
		if !ok {
			var err error
			if t, err = objects.ReadDirTree(a.ctx, a.st, tree); err != nil {
				return objects.ID{}, sourceErr(err)
			}
			if len(a.dirs) > 4096 {
				clear(a.dirs)
			}
			a.dirs[tree] = t
		}
		e, ok := t.Lookup(name)
		if !ok {
			return objects.ID{}, invalidf("source %s is not in the old tree", displayPath(p))
		}
		if i == len(parts)-1 {
			if e.IsDir() {
				return objects.ID{}, invalidf("source %s is a directory", displayPath(p))
			}
			return e.File, nil
		}
		if !e.IsDir() {
			return objects.ID{}, invalidf("source %s is not in the old tree", displayPath(p))
		}
		tree = e.Tree
	}
	return objects.ID{}, invalidf("source path %q", p)
}

// readMeta reads an explicit metadata recipe.
func (a *applier) readMeta(pr *partReader, f *objects.File) error {
	var v [4]uint64
	for i, what := range []string{"mode", "uid", "gid", "xattrs"} {
		max := uint64(1<<32 - 1)
		if i == 3 {
			max = objects.MaxXattrs
		}
		n, err := pr.uvarint(max, what)
		if err != nil {
			return err
		}
		v[i] = n
	}
	f.Mode, f.UID, f.GID = uint32(v[0]), uint32(v[1]), uint32(v[2])
	for i := uint64(0); i < v[3]; i++ {
		name, err := pr.bytes(objects.MaxXattrNameLen, "xattr name")
		if err != nil {
			return err
		}
		val, err := pr.bytes(objects.MaxXattrValueLen, "xattr value")
		if err != nil {
			return err
		}
		if len(val) == 0 {
			val = nil
		}
		f.Xattrs = append(f.Xattrs, objects.Xattr{Name: string(name), Value: val})
	}
	return nil
}

// bsdiff applies a bsdiff patch, reading the source at offsets.
func (a *applier) bsdiff(pr *partReader, sink *contentSink, srcID objects.ID, src *objects.File, newLen int64) error {
	nctrl, err := pr.uvarint(uint64(newLen), "control entries")
	if err != nil {
		return err
	}
	old, closeOld, err := a.openOld(srcID, src)
	if err != nil {
		return err
	}
	defer closeOld()
	oldSize := src.Size()
	ctrlR, diffR, dataR := pr.r[streamCtrl], pr.r[streamDiff], pr.r[streamData]
	rle := &rleReader{r: diffR}
	const piece = 64 << 10
	ob := make([]byte, piece)
	db := make([]byte, piece)
	var end, produced int64
	for k := uint64(0); k < nctrl; k++ {
		add, err1 := readUvarint(ctrlR, uint64(newLen-produced), "add")
		cp, err2 := readUvarint(ctrlR, uint64(newLen-produced-int64(add)), "copy")
		seek, err3 := readUvarint(ctrlR, math.MaxUint64, "seek")
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		d := unzigzag(seek)
		// pos = end + d, in range [0, oldSize-add], without overflow.
		if d < -end || d > oldSize-int64(add)-end {
			return invalidf("bsdiff entry reads old bytes out of range")
		}
		pos := end + d
		for left := int64(add); left > 0; {
			n := min(left, piece)
			if err := rle.read(db[:n], newLen-produced); err != nil {
				return err
			}
			if _, err := old.ReadAt(ob[:n], pos); err != nil {
				return fmt.Errorf("read old content: %w", err)
			}
			for i := range n {
				db[i] += ob[i]
			}
			if _, err := sink.Write(db[:n]); err != nil {
				return err
			}
			pos += n
			left -= n
			produced += n
		}
		end = pos
		if err := copyExact(sink, dataR, int64(cp), "data"); err != nil {
			return err
		}
		produced += int64(cp)
		if err := a.ctx.Err(); err != nil {
			return err
		}
	}
	if produced != newLen {
		return invalidf("bsdiff patch produces %d bytes, %d declared", produced, newLen)
	}
	if rle.zeros != 0 || rle.lit != 0 {
		return invalidf("difference run spans two patches")
	}
	return nil
}

// zstdPatch applies a zstd frame whose prefix is the source's content.
func (a *applier) zstdPatch(pr *partReader, sink *contentSink, srcID objects.ID, src *objects.File, newLen int64) error {
	csize, err := pr.uvarint(MaxPartSize, "patch frame size")
	if err != nil {
		return err
	}
	frame, err := pr.nextFrame(int64(csize))
	if err != nil {
		return err
	}
	oldSize := src.Size()
	if oldSize > a.sb.Window || newLen > a.sb.Window-oldSize {
		return invalidf("zstd patch of %d bytes from %d is larger than the window", newLen, oldSize)
	}
	old, closeOld, err := a.openOld(srcID, src)
	if err != nil {
		return err
	}
	prefix := make([]byte, oldSize)
	_, err = old.ReadAt(prefix, 0)
	closeOld()
	if err != nil {
		return fmt.Errorf("read old content: %w", err)
	}
	dec, err := zstd.NewReader(frame, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderDictRaw(0, prefix), zstd.WithDecoderMaxWindow(uint64(a.sb.Window)))
	if err != nil {
		return err
	}
	defer dec.Close()
	if err := copyExact(sink, dec, newLen, "zstd patch"); err != nil {
		return err
	}
	var one [1]byte
	if n, err := dec.Read(one[:]); n > 0 || err != io.EOF {
		return invalidf("zstd patch produces more than %d bytes (%v)", newLen, err)
	}
	return nil
}

// openOld opens an old file's content for reading at offsets.
func (a *applier) openOld(id objects.ID, f *objects.File) (io.ReaderAt, func(), error) {
	if a.opts.Local != nil {
		if p, ok := a.opts.Local.LocalPath(id); ok {
			fh, err := os.Open(p)
			if err == nil {
				fi, err := fh.Stat()
				if err == nil && fi.Mode().IsRegular() && fi.Size() == f.Size() {
					return fh, func() { fh.Close() }, nil
				}
				fh.Close()
			}
		}
	}
	return newChunkReaderAt(a.ctx, a.st, f), func() {}, nil
}

// copyExact copies exactly n bytes from r to w.
func copyExact(w io.Writer, r io.Reader, n int64, what string) error {
	m, err := io.CopyN(w, r, n)
	if err != nil {
		if errors.Is(err, ErrInvalid) || errors.Is(err, objects.ErrCorrupt) || errors.Is(err, context.Canceled) {
			return err
		}
		return invalidf("%s: %d of %d bytes: %v", what, m, n, eofIsTruncated(err))
	}
	return nil
}

func readUvarint(r io.ByteReader, max uint64, what string) (uint64, error) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, invalidf("%s: %v", what, eofIsTruncated(err))
	}
	if v > max {
		return 0, invalidf("%s %d over the limit of %d", what, v, max)
	}
	return v, nil
}

// rleReader decodes run-length encoded difference bytes.
type rleReader struct {
	r          *bufio.Reader
	zeros, lit uint64
}

// read fills p; no run may reach further than limit bytes.
func (x *rleReader) read(p []byte, limit int64) error {
	for len(p) > 0 {
		switch {
		case x.zeros > 0:
			n := min(uint64(len(p)), x.zeros)
			clear(p[:n])
			p = p[n:]
			x.zeros -= n
			limit -= int64(n)
		case x.lit > 0:
			n := min(uint64(len(p)), x.lit)
			if _, err := io.ReadFull(x.r, p[:n]); err != nil {
				return invalidf("difference bytes: %v", eofIsTruncated(err))
			}
			p = p[n:]
			x.lit -= n
			limit -= int64(n)
		default:
			z, err1 := readUvarint(x.r, uint64(max(limit, 0)), "zero run")
			l, err2 := readUvarint(x.r, uint64(max(limit, 0)), "difference run")
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if z+l == 0 || z+l > uint64(max(limit, 0)) {
				return invalidf("difference run of %d bytes", z+l)
			}
			x.zeros, x.lit = z, l
		}
	}
	return nil
}

// chunkReaderAt reads a file's content at offsets, chunk by chunk, each
// chunk verified. It keeps the last chunk read.
type chunkReaderAt struct {
	ctx    context.Context
	r      objects.Reader
	chunks []objects.ChunkRef
	starts []int64
	cur    int
	data   []byte
}

func newChunkReaderAt(ctx context.Context, r objects.Reader, f *objects.File) *chunkReaderAt {
	c := &chunkReaderAt{ctx: ctx, r: r, chunks: f.Chunks, cur: -1}
	var off int64
	for _, ch := range f.Chunks {
		c.starts = append(c.starts, off)
		off += int64(ch.Size)
	}
	c.starts = append(c.starts, off)
	return c
}

func (c *chunkReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for len(p) > 0 {
		if off >= c.starts[len(c.starts)-1] {
			return n, io.EOF
		}
		i := c.find(off)
		if i != c.cur {
			b, err := objects.ReadRaw(c.ctx, c.r, objects.KindChunk, c.chunks[i].ID)
			if err != nil {
				return n, sourceErr(err)
			}
			if len(b) != int(c.chunks[i].Size) {
				return n, &objects.CorruptError{Kind: objects.KindChunk, Want: c.chunks[i].ID, Reason: "size differs from the file's chunk list"}
			}
			c.cur, c.data = i, b
		}
		m := copy(p, c.data[off-c.starts[i]:])
		p = p[m:]
		n += m
		off += int64(m)
	}
	return n, nil
}

// find returns the chunk holding offset off.
func (c *chunkReaderAt) find(off int64) int {
	lo, hi := 0, len(c.chunks)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if c.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
