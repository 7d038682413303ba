package objects

import (
	"context"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
)

// Reader gives access to stored objects.
//
// Implementations are safe for concurrent use. Open returns an error matching
// ErrNotFound when the object is absent. The bytes Open yields are the
// object's exact bytes (a chunk's raw content, a metadata object's encoding),
// not yet verified: read through Verify, or with ReadRaw, to check them.
type Reader interface {
	Has(ctx context.Context, kind Kind, id ID) (bool, error)
	Open(ctx context.Context, kind Kind, id ID) (io.ReadCloser, error)
}

// Writer stores objects.
//
// Put reads the object's exact bytes from r, checks that they hash to id and
// fit the kind's size cap (an error matching ErrCorrupt otherwise, and nothing
// is stored), and stores them. Putting an object that is already stored is
// not an error. For a file object, every chunk it lists must already be
// readable from the same store (stores that keep file content whole, such as
// a bare repository, assemble it then).
type Writer interface {
	Put(ctx context.Context, kind Kind, id ID, r io.Reader) error
}

// Store reads and writes objects.
type Store interface {
	Reader
	Writer
}

// Verify wraps r so that reading it checks the bytes against id: a read that
// reaches EOF returns a *CorruptError if the hash differs, and reading past
// max bytes fails at once. A negative max means the kind's cap.
func Verify(r io.Reader, kind Kind, id ID, max int64) io.Reader {
	if max < 0 {
		max = int64(kind.MaxSize())
	}
	return &verifier{r: r, kind: kind, id: id, left: max, h: blake3.New()}
}

type verifier struct {
	r    io.Reader
	kind Kind
	id   ID
	left int64
	h    *blake3.Hasher
	err  error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	// Ask for at most one byte past the limit: enough to see that the
	// object is too long. (Written so that a limit near MaxInt64 cannot
	// overflow.)
	if int64(len(p))-1 > v.left {
		p = p[:v.left+1]
	}
	n, err := v.r.Read(p)
	if int64(n) > v.left {
		v.err = &CorruptError{Kind: v.kind, Want: v.id, Reason: "longer than expected"}
		return 0, v.err
	}
	v.left -= int64(n)
	v.h.Write(p[:n])
	if err == io.EOF {
		var got ID
		v.h.Sum(got[:0])
		if got != v.id {
			v.err = &CorruptError{Kind: v.kind, Want: v.id, Got: got, Reason: "hash mismatch"}
			return n, v.err
		}
		v.err = io.EOF
	} else if err != nil {
		v.err = err
	}
	return n, err
}

// ReadRaw reads and verifies an object's exact bytes.
func ReadRaw(ctx context.Context, r Reader, kind Kind, id ID) ([]byte, error) {
	rc, err := r.Open(ctx, kind, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(Verify(rc, kind, id, -1))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// ReadFile reads, verifies and decodes a file object.
func ReadFile(ctx context.Context, r Reader, id ID) (*File, error) {
	b, err := ReadRaw(ctx, r, KindFile, id)
	if err != nil {
		return nil, err
	}
	return wrapDecode(DecodeFile(b))(KindFile, id)
}

// ReadDirTree reads, verifies and decodes a dirtree object.
func ReadDirTree(ctx context.Context, r Reader, id ID) (*DirTree, error) {
	b, err := ReadRaw(ctx, r, KindDirTree, id)
	if err != nil {
		return nil, err
	}
	return wrapDecode(DecodeDirTree(b))(KindDirTree, id)
}

// ReadDirMeta reads, verifies and decodes a dirmeta object.
func ReadDirMeta(ctx context.Context, r Reader, id ID) (*DirMeta, error) {
	b, err := ReadRaw(ctx, r, KindDirMeta, id)
	if err != nil {
		return nil, err
	}
	return wrapDecode(DecodeDirMeta(b))(KindDirMeta, id)
}

// ReadCommit reads, verifies and decodes a commit object.
func ReadCommit(ctx context.Context, r Reader, id ID) (*Commit, error) {
	b, err := ReadRaw(ctx, r, KindCommit, id)
	if err != nil {
		return nil, err
	}
	return wrapDecode(DecodeCommit(b))(KindCommit, id)
}

func wrapDecode[T any](v T, err error) func(Kind, ID) (T, error) {
	return func(k Kind, id ID) (T, error) {
		if err != nil {
			return v, fmt.Errorf("%s %s: %w", k, id.Short(), err)
		}
		return v, nil
	}
}

// OpenContent returns a reader of a regular file's content: its chunks in
// order, each verified against its ID and size. A chunk that is missing
// fails the read with an error matching ErrNotFound; one whose bytes do not
// hash to its ID, or whose length differs from the size in f's chunk list,
// with an error matching ErrCorrupt (bytes of that chunk may already have
// been returned: a caller must not use the content unless it reads to EOF).
// The context is checked before each chunk is opened.
func OpenContent(ctx context.Context, r Reader, f *File) io.ReadCloser {
	return &contentReader{ctx: ctx, r: r, chunks: f.Chunks}
}

type contentReader struct {
	ctx    context.Context
	r      Reader
	chunks []ChunkRef
	cur    io.ReadCloser
	curV   io.Reader
	err    error
}

func (c *contentReader) Read(p []byte) (int, error) {
	if len(p) == 0 && c.err == nil {
		// An empty read would make no progress in the loop below.
		return 0, nil
	}
	for c.err == nil {
		if c.cur == nil {
			if len(c.chunks) == 0 {
				c.err = io.EOF
				break
			}
			if err := c.ctx.Err(); err != nil {
				c.err = err
				break
			}
			ch := c.chunks[0]
			c.chunks = c.chunks[1:]
			rc, err := c.r.Open(c.ctx, KindChunk, ch.ID)
			if err != nil {
				c.err = err
				break
			}
			c.cur = rc
			c.curV = &exactLen{r: Verify(rc, KindChunk, ch.ID, int64(ch.Size)), left: int64(ch.Size), id: ch.ID}
		}
		n, err := c.curV.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			err = nil
		}
		if err != nil {
			c.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, c.err
}

func (c *contentReader) Close() error {
	if c.cur != nil {
		c.cur.Close()
		c.cur = nil
	}
	if c.err == nil {
		c.err = io.ErrClosedPipe
	}
	return nil
}

// exactLen fails at EOF when fewer than the expected bytes came.
type exactLen struct {
	r    io.Reader
	left int64
	id   ID
}

func (e *exactLen) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left != 0 {
		return n, &CorruptError{Kind: KindChunk, Want: e.id, Reason: "size differs from the file's chunk list"}
	}
	return n, err
}
