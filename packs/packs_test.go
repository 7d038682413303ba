package packs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/arbor-ota/arbor/objects"
)

type unit struct {
	kind objects.Kind
	id   objects.ID
	data []byte
}

func randomUnits(t *testing.T, seed uint64, nMeta, nChunks int) []unit {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var out []unit
	for i := 0; i < nMeta+nChunks; i++ {
		kind := objects.KindChunk
		size := 1 + r.IntN(100<<10)
		if i < nMeta {
			kind = []objects.Kind{objects.KindFile, objects.KindDirTree, objects.KindDirMeta}[i%3]
			size = 1 + r.IntN(2000)
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.IntN(16)) // compressible
		}
		out = append(out, unit{kind, objects.Sum(b), b})
	}
	return out
}

func writePack(t *testing.T, units []unit, opts WriterOptions) ([]byte, *Index) {
	t.Helper()
	var buf bytes.Buffer
	pw, err := NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if err := pw.Add(u.kind, u.id, u.data); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ix
}

func TestRoundTrip(t *testing.T) {
	units := randomUnits(t, 1, 30, 40)
	pack, ix := writePack(t, units, WriterOptions{Seq: 7})
	if ix.Pack != objects.Sum(pack) || ix.PackSize != int64(len(pack)) || ix.Seq != 7 {
		t.Fatalf("index header wrong: %+v", ix)
	}
	enc, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	ix2, err := DecodeIndex(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix2.Entries) != len(units) || len(ix2.Blocks) != len(ix.Blocks) || ix2.MetaBlocks != ix.MetaBlocks {
		t.Fatalf("decoded index differs")
	}
	for _, u := range units {
		e, ok := ix2.Lookup(u.id)
		if !ok {
			t.Fatalf("unit %s missing", u.id.Short())
		}
		b := ix2.Blocks[e.Block]
		block, err := DecodeBlock(pack[b.Offset:b.End()], b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unit(block, e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, u.data) {
			t.Fatalf("unit %s differs", u.id.Short())
		}
		if (e.Block < ix2.MetaBlocks) != (u.kind != objects.KindChunk) {
			t.Fatalf("unit %s in the wrong region", u.id.Short())
		}
	}
	// Metadata region is a prefix.
	off, n := ix2.MetaRange()
	if off != 0 || n != ix2.Blocks[ix2.MetaBlocks-1].End() {
		t.Fatalf("meta range %d+%d", off, n)
	}
}

func TestBlocksBounded(t *testing.T) {
	units := randomUnits(t, 2, 0, 60)
	_, ix := writePack(t, units, WriterOptions{BlockSize: 128 << 10})
	for i, b := range ix.Blocks {
		if b.USize > 128<<10+100<<10 {
			t.Errorf("block %d holds %d bytes", i, b.USize)
		}
	}
	if len(ix.Blocks) < 10 {
		t.Errorf("only %d blocks for 60 units of up to 100 KiB", len(ix.Blocks))
	}
}

func TestWriterRefusesMetadataAfterChunk(t *testing.T) {
	pw, _ := NewWriter(&bytes.Buffer{}, WriterOptions{})
	c := []byte("chunk")
	if err := pw.Add(objects.KindChunk, objects.Sum(c), c); err != nil {
		t.Fatal(err)
	}
	m := []byte("meta")
	if err := pw.Add(objects.KindFile, objects.Sum(m), m); err == nil {
		t.Fatal("metadata after chunk accepted")
	}
	if err := pw.Add(objects.KindCommit, objects.Sum(m), m); err == nil {
		t.Fatal("commit unit accepted")
	}
}

func TestDecodeBlockRefusesBadBytes(t *testing.T) {
	units := randomUnits(t, 3, 0, 3)
	pack, ix := writePack(t, units, WriterOptions{})
	b := ix.Blocks[0]
	good := pack[b.Offset:b.End()]
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	if _, err := DecodeBlock(flipped, b); !errors.Is(err, ErrBadBlock) {
		t.Errorf("flipped byte: %v", err)
	}
	if _, err := DecodeBlock(good[:len(good)-1], b); !errors.Is(err, ErrBadBlock) {
		t.Errorf("truncated: %v", err)
	}
	// A frame that expands past its declared size, correctly hashed.
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, 3<<20), nil)
	declared := Block{CSize: uint32(len(bomb)), USize: 1024, Hash: objects.Sum(bomb)}
	if _, err := DecodeBlock(bomb, declared); !errors.Is(err, ErrBadBlock) {
		t.Errorf("bomb: %v", err)
	}
	over := enc.EncodeAll(make([]byte, MaxBlockSize+1), nil)
	if _, err := DecodeBlock(over, Block{CSize: uint32(len(over)), USize: MaxBlockSize, Hash: objects.Sum(over)}); !errors.Is(err, ErrBadBlock) {
		t.Errorf("over max: %v", err)
	}
	// A unit whose bytes do not match its ID.
	block, _ := DecodeBlock(good, b)
	e := ix.Entries[0]
	e.ID[0] ^= 1
	if _, err := Unit(block, e); !errors.Is(err, objects.ErrCorrupt) {
		t.Errorf("unit mismatch: %v", err)
	}
	e = ix.Entries[0]
	e.Offset = uint32(len(block))
	if _, err := Unit(block, e); !errors.Is(err, ErrBadBlock) {
		t.Errorf("unit past end: %v", err)
	}
}

func TestDecodeIndexRefuses(t *testing.T) {
	units := randomUnits(t, 4, 5, 5)
	_, ix := writePack(t, units, WriterOptions{})
	mutate := map[string]func(ix *Index){
		"unsorted":       func(ix *Index) { ix.Entries[0], ix.Entries[1] = ix.Entries[1], ix.Entries[0] },
		"block gap":      func(ix *Index) { ix.Blocks[len(ix.Blocks)-1].Offset++ },
		"pack size":      func(ix *Index) { ix.PackSize++ },
		"unit past end":  func(ix *Index) { ix.Entries[0].Offset = ix.Blocks[ix.Entries[0].Block].USize },
		"bad block":      func(ix *Index) { ix.Entries[0].Block = uint32(len(ix.Blocks)) },
		"bad kind":       func(ix *Index) { ix.Entries[0].Kind = objects.KindCommit },
		"region":         func(ix *Index) { ix.MetaBlocks = 0 },
		"meta too large": func(ix *Index) { ix.MetaBlocks = uint32(len(ix.Blocks) + 1) },
	}
	for name, m := range mutate {
		c := *ix
		c.Entries = append([]Entry(nil), ix.Entries...)
		c.Blocks = append([]Block(nil), ix.Blocks...)
		m(&c)
		if _, err := c.Encode(); !errors.Is(err, ErrInvalidIndex) {
			t.Errorf("%s: Encode accepted it: %v", name, err)
		}
		raw := encodeUnchecked(&c)
		if _, err := DecodeIndex(raw); !errors.Is(err, ErrInvalidIndex) {
			t.Errorf("%s: DecodeIndex accepted it: %v", name, err)
		}
	}
	if _, err := DecodeIndex([]byte("not zstd")); !errors.Is(err, ErrInvalidIndex) {
		t.Errorf("garbage: %v", err)
	}
}

// encodeUnchecked encodes without validating, to build hostile indexes.
func encodeUnchecked(ix *Index) []byte {
	saved := validateHook
	validateHook = func(*Index) error { return nil }
	defer func() { validateHook = saved }()
	b, err := ix.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzDecodeIndex(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 3} {
		var buf bytes.Buffer
		pw, _ := NewWriter(&buf, WriterOptions{})
		for i := 0; i < n; i++ {
			b := []byte{byte(r.IntN(256)), byte(i)}
			pw.Add(objects.KindChunk, objects.Sum(b), b)
		}
		ix, _ := pw.Close()
		enc, _ := ix.Encode()
		f.Add(enc)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := DecodeIndex(b)
		if err != nil {
			return
		}
		again, err := ix.Encode()
		if err != nil {
			t.Fatalf("decoded index does not re-encode: %v", err)
		}
		ix2, err := DecodeIndex(again)
		if err != nil || len(ix2.Entries) != len(ix.Entries) || len(ix2.Blocks) != len(ix.Blocks) {
			t.Fatalf("round trip differs: %v", err)
		}
	})
}

func FuzzDecodeBlock(f *testing.F) {
	enc, _ := zstd.NewWriter(nil)
	f.Add(enc.EncodeAll([]byte("hello hello hello"), nil), uint32(17))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0}, uint32(10))
	f.Fuzz(func(t *testing.T, b []byte, usize uint32) {
		if usize == 0 || usize > MaxBlockSize {
			return
		}
		out, err := DecodeBlock(b, Block{CSize: uint32(len(b)), USize: usize, Hash: objects.Sum(b)})
		if err == nil && len(out) != int(usize) {
			t.Fatalf("got %d bytes, declared %d", len(out), usize)
		}
	})
}
