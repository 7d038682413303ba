package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/arbor-ota/arbor/objects"
)

// chunkLevel is the zstd level of an archive repository's chunks (see
// compressChunk, with cgo and without).
const chunkLevel = 6

// zdec decodes every repository's chunks, whichever library wrote them:
// DecodeAll is safe for concurrent use.
var zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(objects.MaxChunkSize), zstd.WithDecoderMaxWindow(objects.MaxChunkSize))

// Has reports whether the repository holds the object. In a bare repository
// chunks are not stored on their own: a chunk is held when a stored file
// contains it (the chunk index says where).
func (r *Repo) Has(ctx context.Context, kind objects.Kind, id objects.ID) (bool, error) {
	if kind == objects.KindChunk && r.mode == Bare {
		loc, ok, err := r.lookupChunk(id)
		if err != nil || !ok {
			return false, err
		}
		// The index is written before the files it names become visible,
		// and a prune may remove a file before its entries: the chunk is
		// held only if the file's content is there.
		if _, err := os.Lstat(r.contentPath(loc.file)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	}
	_, err := os.Lstat(r.objectPath(kind, id))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// Open returns the object's exact bytes: a chunk's raw content (decompressed
// in an archive repository, read out of its file in a bare one), or a
// metadata object's encoding. They are not verified; see objects.Verify.
func (r *Repo) Open(ctx context.Context, kind objects.Kind, id objects.ID) (io.ReadCloser, error) {
	if kind == objects.KindChunk {
		return r.openChunk(id)
	}
	f, err := os.Open(r.objectPath(kind, id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &objects.NotFoundError{Kind: kind, ID: id}
	}
	return f, err
}

func (r *Repo) openChunk(id objects.ID) (io.ReadCloser, error) {
	if r.mode == Bare {
		loc, ok, err := r.lookupChunk(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &objects.NotFoundError{Kind: objects.KindChunk, ID: id}
		}
		f, err := os.Open(r.contentPath(loc.file))
		if errors.Is(err, os.ErrNotExist) {
			return nil, &objects.NotFoundError{Kind: objects.KindChunk, ID: id}
		}
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{io.NewSectionReader(f, loc.offset, int64(loc.size)), f}, nil
	}
	b, err := os.ReadFile(r.objectPath(objects.KindChunk, id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &objects.NotFoundError{Kind: objects.KindChunk, ID: id}
	}
	if err != nil {
		return nil, err
	}
	raw, err := decompressChunk(b)
	if err != nil {
		return nil, &objects.CorruptError{Kind: objects.KindChunk, Want: id, Reason: err.Error()}
	}
	return io.NopCloser(bytes.NewReader(raw)), nil
}

func decompressChunk(b []byte) ([]byte, error) {
	raw, err := zdec.DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %v", err)
	}
	if len(raw) > objects.MaxChunkSize {
		return nil, fmt.Errorf("decompresses to %d bytes, over the chunk limit", len(raw))
	}
	return raw, nil
}

// LocalPath returns the path of a file object's content in a bare
// repository, for hard-linking. ok is false in an archive repository.
func (r *Repo) LocalPath(id objects.ID) (path string, ok bool) {
	if r.mode != Bare {
		return "", false
	}
	return r.contentPath(id), true
}

// The index database: bbolt, holding only what can be rebuilt from the objects.
var (
	bucketChunks  = []byte("chunks")  // chunk ID -> file ID, offset, size (bare repositories)
	bucketPartial = []byte("partial") // commit ID -> "" while a pull's closure is incomplete
)

type chunkLoc struct {
	file   objects.ID
	offset int64
	size   uint32
}

func (l chunkLoc) encode() []byte {
	b := make([]byte, 32+8+4)
	copy(b, l.file[:])
	binary.BigEndian.PutUint64(b[32:], uint64(l.offset))
	binary.BigEndian.PutUint32(b[40:], l.size)
	return b
}

func decodeChunkLoc(b []byte) (chunkLoc, bool) {
	if len(b) != 44 {
		return chunkLoc{}, false
	}
	var l chunkLoc
	copy(l.file[:], b)
	l.offset = int64(binary.BigEndian.Uint64(b[32:]))
	l.size = binary.BigEndian.Uint32(b[40:])
	return l, true
}

type indexDB struct {
	mu sync.Mutex
	db *bolt.DB
}

// index opens the index database on first use and keeps it open until Close.
func (r *Repo) index() (*bolt.DB, error) {
	r.idx.mu.Lock()
	defer r.idx.mu.Unlock()
	if r.idx.db != nil {
		return r.idx.db, nil
	}
	db, err := bolt.Open(r.indexPath(), 0o644, &bolt.Options{Timeout: r.lockTimeout()})
	if errors.Is(err, bolterrors.ErrTimeout) {
		// Another Repo (in this process or another) has the index open.
		return nil, fmt.Errorf("open index of %s: %w (its index is held open by another process)", r.path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open index of %s: %w", r.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketChunks, bucketPartial} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	r.idx.db = db
	return db, nil
}

// Close releases the index database. The Repo must not be used afterwards.
func (r *Repo) Close() error {
	r.idx.mu.Lock()
	defer r.idx.mu.Unlock()
	if r.idx.db != nil {
		err := r.idx.db.Close()
		r.idx.db = nil
		return err
	}
	return nil
}

func (r *Repo) lookupChunk(id objects.ID) (chunkLoc, bool, error) {
	db, err := r.index()
	if err != nil {
		return chunkLoc{}, false, err
	}
	var loc chunkLoc
	var ok bool
	err = db.View(func(tx *bolt.Tx) error {
		loc, ok = decodeChunkLoc(tx.Bucket(bucketChunks).Get(id[:]))
		return nil
	})
	return loc, ok, err
}
