package packs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/klauspost/compress/zstd"

	"github.com/arbor-ota/arbor/objects"
)

// Limits that bound what DecodeIndex accepts.
const (
	MaxBlockSize  = 4 << 20  // uncompressed or compressed bytes of one block
	MaxIndexUnits = 16 << 20 // units in one index
	maxIndexBytes = 1 << 30  // an index's decoded size
)

// ErrInvalidIndex is returned for an index that is malformed or inconsistent.
var ErrInvalidIndex = errors.New("invalid pack index")

// Block is one zstd frame in a pack.
type Block struct {
	Offset int64      // in the pack
	CSize  uint32     // compressed bytes, as stored
	USize  uint32     // uncompressed bytes
	Hash   objects.ID // BLAKE3 of the compressed bytes
}

// End returns the offset just past the block.
func (b Block) End() int64 { return b.Offset + int64(b.CSize) }

// Entry locates one unit.
type Entry struct {
	ID     objects.ID
	Kind   objects.Kind
	Block  uint32 // index into Index.Blocks
	Offset uint32 // inside the uncompressed block
	Size   uint32
}

// Index describes one pack.
type Index struct {
	Seq        uint64
	Pack       objects.ID
	PackSize   int64
	MetaBlocks uint32
	Blocks     []Block
	Entries    []Entry // sorted by ID
}

const (
	magic       = "ARBORIDX"
	version     = 1
	headerSize  = 8 + 1 + 8 + 32 + 8 + 4 + 4 + 4
	blockRecord = 8 + 4 + 4 + 32
	unitRecord  = 32 + 1 + 4 + 4 + 4
)

var (
	idxEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	idxDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxIndexBytes))
)

// Lookup finds a unit by ID.
func (ix *Index) Lookup(id objects.ID) (Entry, bool) {
	i := sort.Search(len(ix.Entries), func(i int) bool { return ix.Entries[i].ID.Compare(id) >= 0 })
	if i < len(ix.Entries) && ix.Entries[i].ID == id {
		return ix.Entries[i], true
	}
	return Entry{}, false
}

// MetaRange returns the byte range of the pack's metadata blocks.
func (ix *Index) MetaRange() (off, n int64) {
	if ix.MetaBlocks == 0 {
		return 0, 0
	}
	last := ix.Blocks[ix.MetaBlocks-1]
	return 0, last.End()
}

// validateHook checks an index before encoding; tests replace it to build
// hostile indexes.
var validateHook = (*Index).validate

// Encode returns the index file's bytes (compressed).
func (ix *Index) Encode() ([]byte, error) {
	if err := validateHook(ix); err != nil {
		return nil, err
	}
	raw := make([]byte, 0, headerSize+len(ix.Blocks)*blockRecord+len(ix.Entries)*unitRecord)
	raw = append(raw, magic...)
	raw = append(raw, version)
	raw = binary.BigEndian.AppendUint64(raw, ix.Seq)
	raw = append(raw, ix.Pack[:]...)
	raw = binary.BigEndian.AppendUint64(raw, uint64(ix.PackSize))
	raw = binary.BigEndian.AppendUint32(raw, ix.MetaBlocks)
	raw = binary.BigEndian.AppendUint32(raw, uint32(len(ix.Blocks)))
	raw = binary.BigEndian.AppendUint32(raw, uint32(len(ix.Entries)))
	for _, b := range ix.Blocks {
		raw = binary.BigEndian.AppendUint64(raw, uint64(b.Offset))
		raw = binary.BigEndian.AppendUint32(raw, b.CSize)
		raw = binary.BigEndian.AppendUint32(raw, b.USize)
		raw = append(raw, b.Hash[:]...)
	}
	for _, e := range ix.Entries {
		raw = append(raw, e.ID[:]...)
		raw = append(raw, byte(e.Kind))
		raw = binary.BigEndian.AppendUint32(raw, e.Block)
		raw = binary.BigEndian.AppendUint32(raw, e.Offset)
		raw = binary.BigEndian.AppendUint32(raw, e.Size)
	}
	return idxEnc.EncodeAll(raw, nil), nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidIndex, fmt.Sprintf(format, args...))
}

// DecodeIndex parses and checks an index file.
func DecodeIndex(b []byte) (*Index, error) {
	raw, err := idxDec.DecodeAll(b, nil)
	if err != nil {
		return nil, invalid("zstd: %v", err)
	}
	if len(raw) < headerSize || !bytes.Equal(raw[:8], []byte(magic)) {
		return nil, invalid("bad magic or short header")
	}
	if raw[8] != version {
		return nil, invalid("unsupported version %d", raw[8])
	}
	ix := &Index{}
	p := raw[9:]
	ix.Seq = binary.BigEndian.Uint64(p)
	copy(ix.Pack[:], p[8:40])
	ix.PackSize = int64(binary.BigEndian.Uint64(p[40:]))
	ix.MetaBlocks = binary.BigEndian.Uint32(p[48:])
	nb := binary.BigEndian.Uint32(p[52:])
	nu := binary.BigEndian.Uint32(p[56:])
	p = p[60:]
	if nu > MaxIndexUnits || uint64(len(p)) != uint64(nb)*blockRecord+uint64(nu)*unitRecord {
		return nil, invalid("%d blocks and %d units do not fit %d bytes", nb, nu, len(p))
	}
	ix.Blocks = make([]Block, nb)
	for i := range ix.Blocks {
		ix.Blocks[i] = Block{
			Offset: int64(binary.BigEndian.Uint64(p)),
			CSize:  binary.BigEndian.Uint32(p[8:]),
			USize:  binary.BigEndian.Uint32(p[12:]),
		}
		copy(ix.Blocks[i].Hash[:], p[16:48])
		p = p[blockRecord:]
	}
	ix.Entries = make([]Entry, nu)
	for i := range ix.Entries {
		e := &ix.Entries[i]
		copy(e.ID[:], p)
		e.Kind = objects.Kind(p[32])
		e.Block = binary.BigEndian.Uint32(p[33:])
		e.Offset = binary.BigEndian.Uint32(p[37:])
		e.Size = binary.BigEndian.Uint32(p[41:])
		p = p[unitRecord:]
	}
	if err := ix.validate(); err != nil {
		return nil, err
	}
	return ix, nil
}

func (ix *Index) validate() error {
	if ix.PackSize < 0 || ix.MetaBlocks > uint32(len(ix.Blocks)) {
		return invalid("bad header")
	}
	var off int64
	for i, b := range ix.Blocks {
		if b.Offset != off {
			return invalid("block %d at offset %d, want %d", i, b.Offset, off)
		}
		if b.CSize == 0 || b.CSize > MaxBlockSize || b.USize == 0 || b.USize > MaxBlockSize {
			return invalid("block %d has sizes %d/%d", i, b.CSize, b.USize)
		}
		off += int64(b.CSize)
	}
	if off != ix.PackSize {
		return invalid("blocks end at %d, pack is %d bytes", off, ix.PackSize)
	}
	for i, e := range ix.Entries {
		if i > 0 && ix.Entries[i-1].ID.Compare(e.ID) >= 0 {
			return invalid("units not sorted at %d", i)
		}
		if !e.Kind.Valid() || e.Kind == objects.KindCommit {
			return invalid("unit %s has kind %d", e.ID.Short(), e.Kind)
		}
		if int(e.Block) >= len(ix.Blocks) {
			return invalid("unit %s in block %d of %d", e.ID.Short(), e.Block, len(ix.Blocks))
		}
		b := ix.Blocks[e.Block]
		if e.Size == 0 || uint64(e.Offset)+uint64(e.Size) > uint64(b.USize) || int(e.Size) > e.Kind.MaxSize() {
			return invalid("unit %s does not fit its block", e.ID.Short())
		}
		isMeta := e.Kind != objects.KindChunk
		if isMeta != (e.Block < ix.MetaBlocks) {
			return invalid("unit %s (%s) outside its region", e.ID.Short(), e.Kind)
		}
	}
	return nil
}
