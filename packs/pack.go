package packs

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/arbor-ota/arbor/objects"
)

// DefaultBlockSize is the uncompressed size at which a block is closed.
const DefaultBlockSize = 256 << 10

// WriterOptions controls a pack writer. The zero value uses the defaults.
type WriterOptions struct {
	// BlockSize is the uncompressed size at which a block is closed.
	BlockSize int
	// Level is the zstd level, 1 to 22 (default 17: publishing happens
	// once, decompressing on every device, and levels above 17 gain little
	// on 256 KiB blocks).
	Level int
	// Workers compress blocks in parallel (default: the number of CPUs).
	Workers int
	// Seq is the publish sequence number recorded in the index.
	Seq uint64
}

// Writer builds a pack: metadata units first, then chunks.
type Writer struct {
	w       io.Writer
	h       *blake3.Hasher
	level   int
	workers int
	pending []pendingBlock // closed blocks waiting to be compressed
	target  int
	ix      Index
	off     int64
	buf     []byte
	units   []Entry // of the open block
	meta    bool    // still in the metadata region
	seen    map[objects.ID]bool
	err     error
}

// NewWriter starts a pack written to w.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	if opts.BlockSize <= 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if opts.BlockSize > MaxBlockSize/2 {
		return nil, fmt.Errorf("block size %d over the limit of %d", opts.BlockSize, MaxBlockSize/2)
	}
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	if opts.Level < 1 || opts.Level > 22 {
		return nil, fmt.Errorf("zstd level %d: want 1 to 22", opts.Level)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	return &Writer{w: w, h: blake3.New(), level: opts.Level, workers: opts.Workers, target: opts.BlockSize, meta: true,
		ix: Index{Seq: opts.Seq}, seen: map[objects.ID]bool{}}, nil
}

// DefaultLevel is the zstd level packs are compressed at.
const DefaultLevel = 17

type pendingBlock struct {
	raw   []byte
	units []Entry
}

func windowFor(n int) int {
	w := zstd.MinWindowSize
	for w < n+objects.MaxChunkSize && w < zstd.MaxWindowSize {
		w <<= 1
	}
	return w
}

// Add appends a unit. All metadata units (dirtree, dirmeta, file) must come
// before the first chunk. Adding a unit twice is a no-op. The caller has
// verified that data hashes to id.
func (pw *Writer) Add(kind objects.Kind, id objects.ID, data []byte) error {
	if pw.err != nil {
		return pw.err
	}
	if !kind.Valid() || kind == objects.KindCommit {
		return fmt.Errorf("pack: cannot hold a %s unit", kind)
	}
	if len(data) == 0 || len(data) > kind.MaxSize() {
		return fmt.Errorf("pack: %s %s has %d bytes", kind, id.Short(), len(data))
	}
	if pw.seen[id] {
		return nil
	}
	isMeta := kind != objects.KindChunk
	if isMeta && !pw.meta {
		return errors.New("pack: metadata unit added after a chunk")
	}
	if !isMeta && pw.meta {
		if err := pw.flush(); err != nil {
			return err
		}
		if err := pw.drain(); err != nil {
			return err
		}
		pw.meta = false
		pw.ix.MetaBlocks = uint32(len(pw.ix.Blocks))
	}
	if len(pw.buf) > 0 && len(pw.buf)+len(data) > pw.target {
		if err := pw.flush(); err != nil {
			return err
		}
	}
	pw.seen[id] = true
	pw.units = append(pw.units, Entry{ID: id, Kind: kind, Offset: uint32(len(pw.buf)), Size: uint32(len(data))})
	pw.buf = append(pw.buf, data...)
	return nil
}

// flush closes the open block; blocks are compressed a batch at a time.
func (pw *Writer) flush() error {
	if len(pw.buf) == 0 {
		return nil
	}
	pw.pending = append(pw.pending, pendingBlock{raw: pw.buf, units: pw.units})
	pw.buf, pw.units = nil, nil
	if len(pw.pending) >= 2*pw.workers {
		return pw.drain()
	}
	return nil
}

// drain compresses the pending blocks in parallel and writes them in order.
func (pw *Writer) drain() error {
	if pw.err != nil {
		return pw.err
	}
	out := make([][]byte, len(pw.pending))
	errs := make([]error, len(pw.pending))
	var wg sync.WaitGroup
	sem := make(chan struct{}, pw.workers)
	for i, pb := range pw.pending {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			out[i], errs[i] = compressBlock(pb.raw, pw.level)
			<-sem
		}()
	}
	wg.Wait()
	for i, pb := range pw.pending {
		c, err := out[i], errs[i]
		if err == nil && len(c) > MaxBlockSize {
			err = fmt.Errorf("pack: block compresses to %d bytes", len(c))
		}
		if err == nil {
			_, err = pw.w.Write(c)
		}
		if err != nil {
			pw.err = err
			return err
		}
		pw.h.Write(c)
		block := uint32(len(pw.ix.Blocks))
		pw.ix.Blocks = append(pw.ix.Blocks, Block{Offset: pw.off, CSize: uint32(len(c)), USize: uint32(len(pb.raw)), Hash: objects.Sum(c)})
		pw.off += int64(len(c))
		for _, u := range pb.units {
			u.Block = block
			pw.ix.Entries = append(pw.ix.Entries, u)
		}
	}
	pw.pending = pw.pending[:0]
	return nil
}

// Len returns the number of units added.
func (pw *Writer) Len() int { return len(pw.seen) }

// Close flushes the last block and returns the pack's index.
func (pw *Writer) Close() (*Index, error) {
	if err := pw.flush(); err != nil {
		return nil, err
	}
	if err := pw.drain(); err != nil {
		return nil, err
	}
	if pw.meta {
		pw.ix.MetaBlocks = uint32(len(pw.ix.Blocks))
	}
	pw.h.Sum(pw.ix.Pack[:0])
	pw.ix.PackSize = pw.off
	slices.SortFunc(pw.ix.Entries, func(a, b Entry) int { return a.ID.Compare(b.ID) })
	ix := pw.ix
	return &ix, ix.validate()
}

var blockDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxBlockSize), zstd.WithDecoderMaxWindow(zstd.MaxWindowSize))

// ErrBadBlock matches every error DecodeBlock returns for bad bytes.
var ErrBadBlock = errors.New("bad pack block")

// DecodeBlock verifies a block's compressed bytes against its hash, then
// decompresses them, refusing a frame that expands past the declared size.
func DecodeBlock(compressed []byte, b Block) ([]byte, error) {
	if len(compressed) != int(b.CSize) {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadBlock, len(compressed), b.CSize)
	}
	if got := objects.Sum(compressed); got != b.Hash {
		return nil, fmt.Errorf("%w: hash %s, want %s", ErrBadBlock, got.Short(), b.Hash.Short())
	}
	return decompress(compressed, b.USize)
}

func decompress(compressed []byte, usize uint32) ([]byte, error) {
	// The shared decoder refuses output past MaxBlockSize, so a hostile
	// frame costs at most that much memory before it is refused.
	out, err := blockDec.DecodeAll(compressed, make([]byte, 0, usize))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress: %v", ErrBadBlock, err)
	}
	if len(out) != int(usize) {
		return nil, fmt.Errorf("%w: expands to %d bytes, declared %d", ErrBadBlock, len(out), usize)
	}
	return out, nil
}

// Unit extracts a unit from its decompressed block and verifies it.
func Unit(block []byte, e Entry) ([]byte, error) {
	end := uint64(e.Offset) + uint64(e.Size)
	if end > uint64(len(block)) {
		return nil, fmt.Errorf("%w: unit %s past the end of its block", ErrBadBlock, e.ID.Short())
	}
	data := block[e.Offset:end]
	if got := objects.Sum(data); got != e.ID {
		return nil, &objects.CorruptError{Kind: e.Kind, Want: e.ID, Got: got, Reason: "unit bytes in pack"}
	}
	return data, nil
}
