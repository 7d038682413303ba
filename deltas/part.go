package deltas

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// A part is a header and zstd frames:
//
//	"ARBORDPT" version(1)
//	4 × { uvarint(csize) uvarint(usize) }   table, control, diff, data streams
//	the four streams' frames, in that order (a stream with usize 0 has no frame)
//	the zstd patches' frames, in the order of their operations
//
// Nothing follows the last frame. The streams are read side by side, each
// from the front: the table (tree section, then operations), the control
// entries of bsdiff patches, their difference bytes, and the data stream
// (contents sent whole and the bytes bsdiff patches copy in).
const (
	streamTable = iota
	streamCtrl
	streamDiff
	streamData
	numStreams
)

var streamNames = [numStreams]string{"table", "control", "diff", "data"}

// Candidate flags of the tree section.
const (
	flagKnown  = 0 // the repository holds it already
	flagRaw    = 1 // its bytes follow in the table
	flagPatch  = 2 // a zstd frame follows, with the old object at the same path as prefix
	flagRecipe = 3 // a file object built from its content and a metadata recipe
	numFlags   = 4
)

// Operation tags. Each operation produces the content of the next target.
const (
	opLiteral = 1 // content from the data stream
	opBsdiff  = 2 // bsdiff patch of a source's content
	opZstd    = 3 // zstd frame with the source's content as prefix
	opCopyOld = 4 // content identical to a source's
	opCopyNew = 5 // content identical to an earlier target's
	numOps    = 6
)

// Source kinds: where old content comes from.
const (
	srcSamePath = 0 // the old file at the target's path
	srcPath     = 1 // the old file at a given path
)

// Metadata recipe kinds.
const (
	metaSame     = 0 // mode, owner and xattrs of the source
	metaExplicit = 1 // given
	metaObject   = 2 // the target's file object was sent whole
)

// partBuilder accumulates one part's streams before compression.
type partBuilder struct {
	streams [numStreams][]byte
	zframes [][]byte
	ops     int
	tree    []byte // tree section (part 0 only), written before the ops
	ncand   int
}

// finish compresses the streams and returns the part's bytes and the
// uncompressed size of its streams.
func (pb *partBuilder) finish(level int, window int64) ([]byte, int64, error) {
	table := binary.AppendUvarint(nil, uint64(pb.ncand))
	table = append(table, pb.tree...)
	table = binary.AppendUvarint(table, uint64(pb.ops))
	table = append(table, pb.streams[streamTable]...)
	raw := pb.streams
	raw[streamTable] = table
	var frames [numStreams][]byte
	var usize int64
	for i, s := range raw {
		if len(s) == 0 {
			continue
		}
		wl := windowLog(int64(len(s)), maxTableWindow)
		if i == streamData {
			wl = windowLog(int64(len(s)), window)
		}
		c, err := compress(s, nil, level, wl)
		if err != nil {
			return nil, 0, fmt.Errorf("compress %s stream: %w", streamNames[i], err)
		}
		frames[i] = c
		usize += int64(len(s))
	}
	out := append([]byte(nil), partMagic...)
	out = append(out, formatVersion)
	for i := range frames {
		out = binary.AppendUvarint(out, uint64(len(frames[i])))
		out = binary.AppendUvarint(out, uint64(len(raw[i])))
	}
	for _, f := range frames {
		out = append(out, f...)
	}
	for _, f := range pb.zframes {
		out = append(out, f...)
	}
	return out, usize, nil
}

// windowLog returns the smallest window log covering n bytes, at most
// limit's and at least 10 (zstd's minimum window, 1 KiB).
func windowLog(n, limit int64) int {
	wl := 10
	for int64(1)<<wl < n && int64(1)<<(wl+1) <= limit {
		wl++
	}
	return wl
}

// partReader reads one part's streams. The part's bytes were verified
// against their hash before it is opened.
type partReader struct {
	ra      io.ReaderAt
	size    int64
	window  int64
	streams [numStreams]*streamReader
	r       [numStreams]*bufio.Reader // buffered readers of the streams
	zoff    int64                     // offset of the next zstd patch frame
	table   *bufio.Reader             // r[streamTable]
}

// openPart parses a part's header and opens its streams.
func openPart(ra io.ReaderAt, size, window int64) (*partReader, error) {
	hdr := make([]byte, min(size, int64(len(partMagic)+1+numStreams*2*binary.MaxVarintLen64)))
	if _, err := ra.ReadAt(hdr, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	d := &decoder{b: hdr}
	if string(d.bytes(len(partMagic))) != partMagic {
		return nil, invalidf("not a delta part")
	}
	if v := d.byte(); v != formatVersion {
		return nil, invalidf("part version %d is not supported", v)
	}
	var cs, us [numStreams]int64
	for i := range cs {
		cs[i] = int64(d.count(MaxPartSize))
		us[i] = int64(d.count(maxContent))
		if d.err == nil && (cs[i] == 0) != (us[i] == 0) {
			d.err = invalidf("part: %s stream sizes %d/%d", streamNames[i], cs[i], us[i])
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if us[streamTable] == 0 {
		return nil, invalidf("part has no table")
	}
	off := int64(len(hdr) - len(d.b))
	pr := &partReader{ra: ra, size: size, window: window}
	for i := range cs {
		if cs[i] > size-off {
			return nil, invalidf("part: %s stream runs past the end", streamNames[i])
		}
		limit := window
		if i != streamData {
			limit = maxTableWindow
		}
		sr, err := newStreamReader(io.NewSectionReader(ra, off, cs[i]), us[i], limit, streamNames[i])
		if err != nil {
			return nil, err
		}
		pr.streams[i] = sr
		off += cs[i]
	}
	pr.zoff = off
	for i, s := range pr.streams {
		pr.r[i] = bufio.NewReaderSize(s, 32<<10)
	}
	pr.table = pr.r[streamTable]
	return pr, nil
}

// close releases the decoders.
func (pr *partReader) close() {
	for _, s := range pr.streams {
		if s != nil {
			s.close()
		}
	}
}

// finish checks that every stream and frame was read to its end.
func (pr *partReader) finish() error {
	for i, r := range pr.r {
		if _, err := r.ReadByte(); err != io.EOF {
			if err == nil || errors.Is(err, ErrInvalid) {
				return invalidf("part: bytes left in the %s stream", streamNames[i])
			}
			return err
		}
	}
	if pr.zoff != pr.size {
		return invalidf("part: %d bytes after the last frame", pr.size-pr.zoff)
	}
	return nil
}

// nextFrame returns the next zstd patch frame of csize bytes.
func (pr *partReader) nextFrame(csize int64) (*io.SectionReader, error) {
	if csize <= 0 || csize > pr.size-pr.zoff {
		return nil, invalidf("part: patch frame of %d bytes runs past the end", csize)
	}
	sr := io.NewSectionReader(pr.ra, pr.zoff, csize)
	pr.zoff += csize
	return sr, nil
}

// Table reading.

func (pr *partReader) uvarint(max uint64, what string) (uint64, error) {
	v, err := binary.ReadUvarint(pr.table)
	if err != nil {
		return 0, invalidf("part table: %s: %v", what, eofIsTruncated(err))
	}
	if v > max {
		return 0, invalidf("part table: %s %d over the limit of %d", what, v, max)
	}
	return v, nil
}

func (pr *partReader) tag(n int, what string) (int, error) {
	b, err := pr.table.ReadByte()
	if err != nil {
		return 0, invalidf("part table: %s: %v", what, eofIsTruncated(err))
	}
	if int(b) >= n {
		return 0, invalidf("part table: unknown %s %d", what, b)
	}
	return int(b), nil
}

// bytes reads a length-prefixed byte string of at most max bytes.
func (pr *partReader) bytes(max uint64, what string) ([]byte, error) {
	n, err := pr.uvarint(max, what+" length")
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(pr.table, b); err != nil {
		return nil, invalidf("part table: %s: %v", what, eofIsTruncated(err))
	}
	return b, nil
}

func eofIsTruncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated")
	}
	return err
}

// streamReader decompresses one stream, which must yield exactly its
// declared size.
type streamReader struct {
	name string
	dec  *zstd.Decoder
	left int64
}

func newStreamReader(r io.Reader, usize, window int64, name string) (*streamReader, error) {
	s := &streamReader{name: name, left: usize}
	if usize == 0 {
		return s, nil
	}
	dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(uint64(max(window, zstd.MinWindowSize))), zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, err
	}
	s.dec = dec
	return s, nil
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		if s.dec != nil {
			// The frame must end here.
			var one [1]byte
			if n, err := s.dec.Read(one[:]); n > 0 || (err != nil && err != io.EOF) {
				if err != nil && err != io.EOF {
					return 0, invalidf("%s stream: %v", s.name, err)
				}
				return 0, invalidf("%s stream is longer than declared", s.name)
			}
			s.dec.Close()
			s.dec = nil
		}
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.dec.Read(p)
	s.left -= int64(n)
	if err == io.EOF {
		if s.left > 0 {
			return n, invalidf("%s stream is shorter than declared", s.name)
		}
		err = nil
	} else if err != nil {
		return n, invalidf("%s stream: %v", s.name, err)
	}
	return n, err
}

// readFull reads exactly len(p) bytes of the stream.
func (s *streamReader) readFull(p []byte) error {
	if int64(len(p)) > s.left {
		return invalidf("%s stream: %d bytes wanted, %d left", s.name, len(p), s.left)
	}
	_, err := io.ReadFull(s, p)
	if err != nil {
		return invalidf("%s stream: %v", s.name, eofIsTruncated(err))
	}
	return nil
}

func (s *streamReader) close() {
	if s.dec != nil {
		s.dec.Close()
		s.dec = nil
	}
}

// zigzag encodes a signed integer for a uvarint.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }
