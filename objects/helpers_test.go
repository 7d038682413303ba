package objects_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"sort"
)

// update rewrites the golden files in ../testdata/objects instead of
// comparing against them: go test ./objects -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/objects")

// A tiny hand-rolled CBOR writer, independent of the codec under test, so
// that tests can build both canonical and deliberately broken encodings.

// head encodes a canonical (shortest) CBOR head of the given major type.
func head(major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n <= 0xff:
		return []byte{m | 24, byte(n)}
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{m | 25}, uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{m | 26}, uint32(n))
	default:
		return binary.BigEndian.AppendUint64([]byte{m | 27}, n)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// uint_ is an unsigned integer; nint a negative one; int_ either.
func uint_(n uint64) []byte { return head(0, n) }
func int_(n int64) []byte {
	if n < 0 {
		return head(1, uint64(-1-n))
	}
	return head(0, uint64(n))
}
func bstr(b []byte) []byte { return cat(head(2, uint64(len(b))), b) }
func tstr(s string) []byte { return cat(head(3, uint64(len(s))), []byte(s)) }
func arr(items ...[]byte) []byte {
	return cat(head(4, uint64(len(items))), cat(items...))
}

// mapRaw writes the pairs in the order given.
func mapRaw(pairs ...[]byte) []byte {
	return cat(head(5, uint64(len(pairs)/2)), cat(pairs...))
}

// mapSorted writes the pairs in core deterministic order: bytewise by the
// encoded key.
func mapSorted(pairs ...[]byte) []byte {
	type kv struct{ k, v []byte }
	var kvs []kv
	for i := 0; i < len(pairs); i += 2 {
		kvs = append(kvs, kv{pairs[i], pairs[i+1]})
	}
	sort.Slice(kvs, func(i, j int) bool { return bytes.Compare(kvs[i].k, kvs[j].k) < 0 })
	var out [][]byte
	for _, p := range kvs {
		out = append(out, p.k, p.v)
	}
	return mapRaw(out...)
}

func tag(n uint64, item []byte) []byte { return cat(head(6, n), item) }

var (
	cborFalse = []byte{0xf4}
	cborTrue  = []byte{0xf5}
	cborNull  = []byte{0xf6}
	cborUndef = []byte{0xf7}
	cborBreak = []byte{0xff}
)

// indefArr writes an indefinite-length array.
func indefArr(items ...[]byte) []byte { return cat([]byte{0x9f}, cat(items...), cborBreak) }

// id32 returns a recognisable 32-byte ID: every byte b.
func id32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func strs(ss ...string) []byte {
	var items [][]byte
	for _, s := range ss {
		items = append(items, tstr(s))
	}
	return arr(items...)
}
