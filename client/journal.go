package client

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/packs"
)

// journal keeps verified blocks on disk, named by their hash, until the
// pull that needs them has assembled its commit. A pull killed at any
// moment finds them on its next run and does not fetch them again.
type journal struct {
	dir string
}

func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	// Temporary files of a write that was killed are garbage.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if len(e.Name()) > 0 && e.Name()[0] == '.' {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &journal{dir: dir}, nil
}

func (j *journal) path(hash objects.ID) string { return filepath.Join(j.dir, hash.String()) }

func (j *journal) has(b packs.Block) bool {
	fi, err := os.Stat(j.path(b.Hash))
	return err == nil && fi.Size() == int64(b.CSize)
}

// put stores a block whose bytes the caller verified: temporary file, fsync,
// rename, so that a block in the journal is whole.
func (j *journal) put(b packs.Block, data []byte) error {
	return atomicfile.Write(j.path(b.Hash), data, 0o600)
}

// read returns a block's compressed bytes, verified again: the journal is
// on the device's storage, which may have been damaged since.
func (j *journal) read(b packs.Block) ([]byte, error) {
	data, err := os.ReadFile(j.path(b.Hash))
	if err != nil {
		return nil, err
	}
	if objects.Sum(data) != b.Hash || len(data) != int(b.CSize) {
		os.Remove(j.path(b.Hash))
		return nil, fmt.Errorf("journaled block %s is damaged (removed; pull again)", b.Hash.Short())
	}
	return data, nil
}

func (j *journal) remove(hashes []objects.ID) {
	for _, h := range hashes {
		os.Remove(j.path(h))
	}
	atomicfile.SyncDir(j.dir)
}

// keepOnly removes journaled blocks whose hash is not in keep: blocks of
// an earlier pull that the current one will not use.
func (j *journal) keepOnly(keep map[objects.ID]bool) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		id, err := objects.ParseID(e.Name())
		if err == nil && !keep[id] {
			os.Remove(filepath.Join(j.dir, e.Name()))
		}
	}
}

// size returns the bytes held.
func (j *journal) size() int64 {
	var n int64
	filepath.WalkDir(j.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// blockCache keeps a few decompressed blocks, so that reading the units of
// one block in a row decompresses it once. It bounds memory to a few blocks.
type blockCache struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // of *cachedBlock, front = newest
	index map[objects.ID]*list.Element
}

type cachedBlock struct {
	hash objects.ID
	data []byte
}

func newBlockCache(n int) *blockCache {
	return &blockCache{max: n, lru: list.New(), index: map[objects.ID]*list.Element{}}
}

func (c *blockCache) get(b packs.Block, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.index[b.Hash]; ok {
		c.lru.MoveToFront(e)
		data := e.Value.(*cachedBlock).data
		c.mu.Unlock()
		return data, nil
	}
	c.mu.Unlock()
	comp, err := load()
	if err != nil {
		return nil, err
	}
	data, err := packs.DecodeBlock(comp, b)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[b.Hash]; !ok {
		c.index[b.Hash] = c.lru.PushFront(&cachedBlock{hash: b.Hash, data: data})
		for c.lru.Len() > c.max {
			old := c.lru.Remove(c.lru.Back()).(*cachedBlock)
			delete(c.index, old.hash)
		}
	}
	return data, nil
}

// journalReader serves located units from journaled blocks, as an
// objects.Reader for assembly.
type journalReader struct {
	p *puller
}

var _ objects.Reader = journalReader{}

func (jr journalReader) Has(ctx context.Context, kind objects.Kind, id objects.ID) (bool, error) {
	l, ok := jr.p.loc[id]
	return ok && l.entry.Kind == kind && jr.p.j.has(l.block()), nil
}

func (jr journalReader) Open(ctx context.Context, kind objects.Kind, id objects.ID) (io.ReadCloser, error) {
	l, ok := jr.p.loc[id]
	if !ok || l.entry.Kind != kind {
		return nil, &objects.NotFoundError{Kind: kind, ID: id}
	}
	b, err := jr.p.unit(l)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

var errNotJournaled = errors.New("block not journaled")
