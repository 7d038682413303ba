package objects_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
)

// The fuzz targets check, for every decoder, that it never panics, that it
// fails only with ErrInvalid, and that whatever it accepts re-encodes to the
// identical bytes: one object, one encoding. Seeds come from the golden
// vectors and from testdata/fuzz/<FuzzName>.

// addSeeds adds every golden vector (of every kind: the others make good
// near misses) and the given extra inputs.
func addSeeds(f *testing.F, extra ...[]byte) {
	var golden []goldenVector
	readJSON(f, filepath.Join(goldenDir, "vectors.json"), &golden)
	for _, g := range golden {
		b, err := hex.DecodeString(g.Hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, b := range extra {
		f.Add(b)
	}
}

// checkDecoded is the common property of all decoders.
func checkDecoded(t *testing.T, b []byte, v any, err error, decodeAgain func([]byte) (any, error)) {
	if err != nil {
		if !errors.Is(err, objects.ErrInvalid) {
			t.Fatalf("error %v does not match ErrInvalid", err)
		}
		if !reflect.ValueOf(v).IsNil() {
			t.Fatalf("error %v with a non-nil value", err)
		}
		return
	}
	again := encodeValue(t, v)
	if !bytes.Equal(again, b) {
		t.Fatalf("decoded %x\nre-encodes to %x", b, again)
	}
	v2, err := decodeAgain(again)
	if err != nil || !reflect.DeepEqual(v, v2) {
		t.Fatalf("second decode: %v, %#v vs %#v", err, v, v2)
	}
}

func FuzzDecodeFile(f *testing.F) {
	addSeeds(f, validFile, validSymlink)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := objects.DecodeFile(b)
		checkDecoded(t, b, v, err, func(b []byte) (any, error) { return objects.DecodeFile(b) })
		if err == nil {
			if err := v.Validate(); err != nil {
				t.Fatalf("decoded an invalid file: %v", err)
			}
			if v.IsSymlink() && (v.Size() != 0 || v.Target == "") {
				t.Fatalf("symlink with content or without target: %+v", v)
			}
		}
	})
}

func FuzzDecodeDirMeta(f *testing.F) {
	addSeeds(f, validDirMeta)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := objects.DecodeDirMeta(b)
		checkDecoded(t, b, v, err, func(b []byte) (any, error) { return objects.DecodeDirMeta(b) })
		if err == nil && !objects.UnixMode(v.Mode).IsDir() {
			t.Fatalf("dirmeta mode %o is not a directory", v.Mode)
		}
	})
}

func FuzzDecodeDirTree(f *testing.F) {
	addSeeds(f, validTree, treeObj())
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := objects.DecodeDirTree(b)
		checkDecoded(t, b, v, err, func(b []byte) (any, error) { return objects.DecodeDirTree(b) })
		if err != nil {
			return
		}
		// Every entry is valid, sorted, and found by Lookup.
		var bld objects.DirTreeBuilder
		for _, e := range v.Entries {
			var err error
			if e.IsDir() {
				err = bld.AddDir(e.Name, e.Tree, e.Meta)
			} else {
				err = bld.AddFile(e.Name, e.File)
			}
			if err != nil {
				t.Fatalf("decoded tree holds an entry the builder refuses: %v", err)
			}
			if got, ok := v.Lookup(e.Name); !ok || got != e {
				t.Fatalf("Lookup(%q) = %+v, %v", e.Name, got, ok)
			}
		}
	})
}

func FuzzDecodeCommit(f *testing.F) {
	addSeeds(f, validCommit, commitWith(func(c *commitFields) { c.parent = cborNull }))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := objects.DecodeCommit(b)
		checkDecoded(t, b, v, err, func(b []byte) (any, error) { return objects.DecodeCommit(b) })
		if err == nil && (len(v.RefBinding()) == 0 || v.Tree.IsZero() || v.Meta.IsZero()) {
			t.Fatalf("decoded commit lacks required fields: %+v", v)
		}
	})
}

func FuzzParseID(f *testing.F) {
	f.Add(objects.Sum(nil).String())
	f.Add(strings.ToUpper(objects.Sum(nil).String()))
	f.Add("")
	f.Add(strings.Repeat("0", 64))
	f.Add(strings.Repeat("g", 64))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := objects.ParseID(s)
		lowerHex := len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
		if err != nil {
			if lowerHex {
				t.Fatalf("ParseID(%q) refused lowercase hex: %v", s, err)
			}
			if !id.IsZero() {
				t.Fatalf("ParseID(%q) failed but returned %s", s, id)
			}
			return
		}
		if !lowerHex || id.String() != s {
			t.Fatalf("ParseID(%q) = %s", s, id)
		}
		var id2 objects.ID
		if err := id2.UnmarshalText([]byte(s)); err != nil || id2 != id {
			t.Fatalf("UnmarshalText(%q) = %s, %v", s, id2, err)
		}
	})
}

// FuzzChunker checks that Split and CutPoints agree on any input, with
// small sizes so that inputs from the fuzzer make several chunks.
func FuzzChunker(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add(randomBytes(5000, 30), uint8(1))
	f.Add(bytes.Repeat([]byte("abc"), 1000), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, sizes uint8) {
		c := objects.Chunker{Min: 64 + int(sizes&0x3f), Avg: 256 << (sizes >> 6 & 1), Max: 1024 << (sizes >> 7)}
		lengths, err := c.CutPoints(b)
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		if err := c.Split(&oddReader{r: bytes.NewReader(b)}, func(chunk []byte) error {
			if len(lengths) == 0 || len(chunk) != lengths[0] || !bytes.Equal(chunk, b[off:off+len(chunk)]) {
				t.Fatalf("Split gave a %d-byte chunk at %d; CutPoints %v", len(chunk), off, lengths)
			}
			if len(chunk) > c.Max || len(chunk) <= c.Min && off+len(chunk) != len(b) {
				t.Fatalf("chunk of %d bytes at %d", len(chunk), off)
			}
			lengths = lengths[1:]
			off += len(chunk)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if off != len(b) || len(lengths) != 0 {
			t.Fatalf("Split covered %d of %d bytes, %d cut points left", off, len(b), len(lengths))
		}
	})
}

// fuzzSeeds lists the seed corpus committed in testdata/fuzz/<FuzzName>:
// the golden vectors of each decoder's kind and a few near misses. go test
// -update rewrites the files named seed-*; crashers found by fuzzing are
// added beside them under the fuzzer's own names and never rewritten.
func fuzzSeeds(t *testing.T) map[string]map[string]string {
	corpus := func(b []byte) string { return "go test fuzz v1\n[]byte(" + quote(b) + ")\n" }
	seeds := map[string]map[string]string{
		"FuzzDecodeFile": {
			"seed-hand-built":          corpus(validFile),
			"seed-mode-in-4-bytes":     corpus(arr(uint_(2), uint_(1), []byte{0x1a, 0, 0, 0x81, 0xa4}, uint_(0), uint_(0), arr(), arr(), tstr(""))),
			"seed-symlink-with-chunks": corpus(fileObj(0o120777, arr(), arr(chunkRef(1, 5)), tstr("t"))),
			"seed-xattrs-null":         corpus(fileObj(0o100644, cborNull, arr(), tstr(""))),
			"seed-indefinite-xattrs":   corpus(fileObj(0o100644, indefArr(xattr("user.a", "1")), arr(), tstr(""))),
			"seed-chunk-id-31-bytes":   corpus(fileObj(0o100644, arr(), arr(arr(bstr(id32(1)[:31]), uint_(5))), tstr(""))),
			"seed-regular-with-target": corpus(fileObj(0o100644, arr(), arr(), tstr("t"))),
			"seed-symlink-hand-built":  corpus(validSymlink),
		},
		"FuzzDecodeDirMeta": {
			"seed-hand-built":      corpus(validDirMeta),
			"seed-xattrs-unsorted": corpus(dirMetaObj(0o40755, arr(xattr("user.b", ""), xattr("user.a", "")))),
			"seed-file-mode":       corpus(dirMetaObj(0o100644, arr())),
		},
		"FuzzDecodeDirTree": {
			"seed-hand-built":    corpus(validTree),
			"seed-empty":         corpus(treeObj()),
			"seed-unsorted":      corpus(treeObj(fileEnt("b", 1), fileEnt("a", 1))),
			"seed-dotdot":        corpus(treeObj(dirEnt("..", 1, 2))),
			"seed-entry-4-items": corpus(treeObj(arr(tstr("a"), bstr(id32(1)), bstr(id32(2)), bstr(id32(3))))),
		},
		"FuzzDecodeCommit": {
			"seed-hand-built": corpus(validCommit),
			"seed-keys-out-of-order": corpus(commitMD(
				tstr(objects.MetaRefBinding), strs("stable"), tstr(objects.MetaRelease), uint_(7))),
			"seed-duplicate-key": corpus(commitMD(
				tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("stable"))),
			"seed-float-value": corpus(commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), []byte{0xf9, 0x3c, 0x00}) })),
			"seed-map-value":   corpus(commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), mapSorted(tstr("a"), uint_(1))) })),
		},
		"FuzzParseID": {
			"seed-valid":     "go test fuzz v1\nstring(" + quote([]byte(objects.Sum(nil).String())) + ")\n",
			"seed-uppercase": "go test fuzz v1\nstring(" + quote([]byte(strings.ToUpper(objects.Sum(nil).String()))) + ")\n",
			"seed-short":     "go test fuzz v1\nstring(\"af1349b9\")\n",
		},
		"FuzzChunker": {
			"seed-text": "go test fuzz v1\n[]byte(" + quote(bytes.Repeat([]byte("arbor "), 300)) + ")\nbyte('\\x81')\n",
		},
	}
	var golden []goldenVector
	readJSON(t, filepath.Join(goldenDir, "vectors.json"), &golden)
	fuzzer := map[string]string{"file": "FuzzDecodeFile", "dirmeta": "FuzzDecodeDirMeta", "dirtree": "FuzzDecodeDirTree", "commit": "FuzzDecodeCommit"}
	for _, g := range golden {
		if name, ok := fuzzer[g.Kind]; ok {
			b, _ := hex.DecodeString(g.Hex)
			seeds[name]["seed-"+g.Name] = corpus(b)
		}
	}
	return seeds
}

// quote formats b as a Go string literal, as the fuzzing engine does.
func quote(b []byte) string { return strconv.Quote(string(b)) }

func TestFuzzCorpus(t *testing.T) {
	for fuzzer, files := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		for name, want := range files {
			path := filepath.Join(dir, name)
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (go test ./objects -update writes it)", err)
			} else if string(got) != want {
				t.Errorf("%s is out of date (go test ./objects -update rewrites it)", path)
			}
		}
	}
}
