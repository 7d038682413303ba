package deltas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/arbor-ota/arbor/objects"
)

// Errors. Every error a hostile or damaged delta causes matches ErrInvalid
// (or objects.ErrCorrupt for bytes that do not match a hash).
var (
	// ErrInvalid: the superblock or a part is malformed, refers outside its
	// bounds, or produces something other than what its parent objects name.
	ErrInvalid = errors.New("invalid delta")
	// ErrMissingSource: the delta needs an object of its from commit that the
	// repository lacks (the from commit is not complete here).
	ErrMissingSource = errors.New("delta source object missing")
	// ErrTooLarge: applying the delta needs a zstd window or prefix larger
	// than the applier allows.
	ErrTooLarge = errors.New("delta needs more memory than allowed")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Limits of the format: decoders refuse anything past them.
const (
	// DefaultWindow is the default patch window: the largest zstd window a
	// delta's frames use, and the largest old content a zstd patch uses as
	// its prefix (old and new together).
	DefaultWindow = 32 << 20
	// MaxWindow is the largest window a superblock may declare.
	MaxWindow = 1 << 30
	// MaxSuperblockSize caps a superblock.
	MaxSuperblockSize = 4 << 20
	// MaxParts caps the parts of one delta.
	MaxParts = 1 << 16
	// MaxPartSize caps one part (compressed).
	MaxPartSize = 1 << 30
	// maxTableWindow is the window of a part's table and control frames.
	maxTableWindow = 8 << 20
	// maxPathLen caps a source path.
	maxPathLen = 64 << 10
	// maxContent caps the content one operation produces.
	maxContent = 1 << 40
)

const (
	superMagic    = "ARBORDSB"
	partMagic     = "ARBORDPT"
	formatVersion = 1
)

// PartInfo describes one part: its BLAKE3 hash and size, and the bytes its
// streams decompress to (for reports; the applier enforces each stream's
// declared size).
type PartInfo struct {
	Hash  objects.ID
	Size  int64
	USize int64
}

// Stats says what applying a delta produces.
type Stats struct {
	Objects      int64 // metadata objects sent whole or patched (dirtrees, dirmetas, files)
	Files        int64 // file contents produced (each one file object)
	ContentBytes int64 // bytes of the file contents produced
	Literal      int64 // contents sent whole, compressed together
	Bsdiff       int64 // contents patched with bsdiff
	Zstd         int64 // contents patched with zstd and the old content as prefix
	Copied       int64 // contents identical to an old file or an earlier one
}

// Superblock is a delta's entry point: the commits it goes between, the new
// commit's bytes, the chunker that cuts produced contents, and the parts.
type Superblock struct {
	From, To objects.ID
	Commit   []byte // the new commit object; hashes to To
	Window   int64  // bytes of zstd window (and prefix) the parts need
	Chunker  objects.Chunker
	Stats    Stats
	Parts    []PartInfo
}

// Size returns the bytes of superblock and parts together.
func (sb *Superblock) Size() (int64, error) {
	b, err := sb.Encode()
	if err != nil {
		return 0, err
	}
	n := int64(len(b))
	for _, p := range sb.Parts {
		n += p.Size
	}
	return n, nil
}

// Encode returns the superblock's bytes:
//
//	"ARBORDSB" version(1) from[32] to[32] uvarint(len) commit
//	uvarint(window) uvarint(chunk min, avg, max)
//	uvarint(objects, files, content bytes, literal, bsdiff, zstd, copied)
//	uvarint(nparts) nparts × { hash[32] uvarint(size) uvarint(usize) }
func (sb *Superblock) Encode() ([]byte, error) {
	if err := sb.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 128+len(sb.Commit)+len(sb.Parts)*48)
	b = append(b, superMagic...)
	b = append(b, formatVersion)
	b = append(b, sb.From[:]...)
	b = append(b, sb.To[:]...)
	b = binary.AppendUvarint(b, uint64(len(sb.Commit)))
	b = append(b, sb.Commit...)
	b = binary.AppendUvarint(b, uint64(sb.Window))
	for _, v := range []int{sb.Chunker.Min, sb.Chunker.Avg, sb.Chunker.Max} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	s := sb.Stats
	for _, v := range []int64{s.Objects, s.Files, s.ContentBytes, s.Literal, s.Bsdiff, s.Zstd, s.Copied} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(sb.Parts)))
	for _, p := range sb.Parts {
		b = append(b, p.Hash[:]...)
		b = binary.AppendUvarint(b, uint64(p.Size))
		b = binary.AppendUvarint(b, uint64(p.USize))
	}
	if len(b) > MaxSuperblockSize {
		return nil, invalidf("superblock of %d bytes is over the limit", len(b))
	}
	return b, nil
}

func (sb *Superblock) validate() error {
	if sb.From.IsZero() || sb.To.IsZero() || sb.From == sb.To {
		return invalidf("superblock: bad commit IDs")
	}
	if len(sb.Commit) == 0 || len(sb.Commit) > objects.KindCommit.MaxSize() || objects.Sum(sb.Commit) != sb.To {
		return invalidf("superblock: commit bytes do not hash to %s", sb.To.Short())
	}
	if _, err := objects.DecodeCommit(sb.Commit); err != nil {
		return invalidf("superblock: %v", err)
	}
	if sb.Window < 1<<10 || sb.Window > MaxWindow {
		return invalidf("superblock: window %d out of range", sb.Window)
	}
	c := sb.Chunker
	if c.Min <= 0 || c.Avg <= c.Min || c.Max < c.Avg || c.Max > objects.MaxChunkSize || c.Avg&(c.Avg-1) != 0 {
		return invalidf("superblock: chunker %d/%d/%d", c.Min, c.Avg, c.Max)
	}
	s := sb.Stats
	for _, v := range []int64{s.Objects, s.Files, s.ContentBytes, s.Literal, s.Bsdiff, s.Zstd, s.Copied} {
		if v < 0 || v > maxContent {
			return invalidf("superblock: statistics out of range")
		}
	}
	if len(sb.Parts) == 0 || len(sb.Parts) > MaxParts {
		return invalidf("superblock: %d parts", len(sb.Parts))
	}
	for i, p := range sb.Parts {
		if p.Hash.IsZero() || p.Size <= 0 || p.Size > MaxPartSize || p.USize < 0 || p.USize > maxContent {
			return invalidf("superblock: part %d malformed", i)
		}
	}
	return nil
}

// DecodeSuperblock parses a superblock, refusing anything Encode would not
// write: trailing bytes, non-minimal varints, sizes out of range, a commit
// that does not hash to the To ID.
func DecodeSuperblock(b []byte) (*Superblock, error) {
	if len(b) > MaxSuperblockSize {
		return nil, invalidf("superblock of %d bytes is over the limit", len(b))
	}
	d := &decoder{b: b}
	if string(d.bytes(len(superMagic))) != superMagic {
		return nil, invalidf("not a superblock")
	}
	if v := d.byte(); v != formatVersion {
		return nil, invalidf("superblock version %d is not supported", v)
	}
	sb := &Superblock{}
	copy(sb.From[:], d.bytes(32))
	copy(sb.To[:], d.bytes(32))
	sb.Commit = bytes.Clone(d.bytes(int(d.count(uint64(objects.KindCommit.MaxSize())))))
	sb.Window = int64(d.count(MaxWindow))
	sb.Chunker.Min = int(d.count(objects.MaxChunkSize))
	sb.Chunker.Avg = int(d.count(objects.MaxChunkSize))
	sb.Chunker.Max = int(d.count(objects.MaxChunkSize))
	s := &sb.Stats
	for _, p := range []*int64{&s.Objects, &s.Files, &s.ContentBytes, &s.Literal, &s.Bsdiff, &s.Zstd, &s.Copied} {
		*p = int64(d.count(maxContent))
	}
	n := d.count(MaxParts)
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = invalidf("superblock lists %d parts in %d bytes", n, len(d.b))
	}
	if d.err == nil {
		sb.Parts = make([]PartInfo, n)
		for i := range sb.Parts {
			p := &sb.Parts[i]
			copy(p.Hash[:], d.bytes(32))
			p.Size = int64(d.count(MaxPartSize))
			p.USize = int64(d.count(maxContent))
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, invalidf("superblock: %d trailing bytes", len(d.b))
	}
	again, err := sb.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, invalidf("superblock is not in canonical form")
	}
	return sb, nil
}

// decoder reads a byte slice, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = invalidf("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	v := d.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

// count reads a uvarint that must be at most max.
func (d *decoder) count(max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = invalidf("bad varint")
		return 0
	}
	d.b = d.b[n:]
	if v > max {
		d.err = invalidf("value %d over the limit of %d", v, max)
		return 0
	}
	return v
}
