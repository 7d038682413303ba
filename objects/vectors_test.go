package objects_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/arbor-ota/arbor/objects"
)

// goldenDir holds the known-answer files shared with other implementations.
var goldenDir = filepath.Join("..", "testdata", "objects")

// goldenVector is one entry of testdata/objects/vectors.json.
type goldenVector struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Hex  string `json:"hex"`
	ID   string `json:"id"`
}

// vector is an object built in Go whose encoding is pinned by a golden entry.
type vector struct {
	name  string
	kind  objects.Kind
	value any // []byte for a chunk, else *File, *DirMeta, *DirTree or *Commit
}

func encodeValue(t testing.TB, v any) []byte {
	t.Helper()
	var (
		b   []byte
		err error
	)
	switch v := v.(type) {
	case []byte:
		return v
	case *objects.File:
		b, err = v.Encode()
	case *objects.DirMeta:
		b, err = v.Encode()
	case *objects.DirTree:
		b, err = v.Encode()
	case *objects.Commit:
		b, err = v.Encode()
	default:
		t.Fatalf("unknown value type %T", v)
	}
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return b
}

func decodeKind(kind objects.Kind, b []byte) (any, error) {
	switch kind {
	case objects.KindChunk:
		return b, nil
	case objects.KindFile:
		return objects.DecodeFile(b)
	case objects.KindDirMeta:
		return objects.DecodeDirMeta(b)
	case objects.KindDirTree:
		return objects.DecodeDirTree(b)
	case objects.KindCommit:
		return objects.DecodeCommit(b)
	}
	return nil, fmt.Errorf("no decoder for %v", kind)
}

// vectors builds the fixed set of known-answer objects. Later objects refer
// to earlier ones by ID, as a real tree does.
func vectors(t testing.TB) []vector {
	t.Helper()
	var vs []vector
	ids := map[string]objects.ID{}
	add := func(name string, kind objects.Kind, v any) {
		vs = append(vs, vector{name, kind, v})
		ids[name] = objects.Sum(encodeValue(t, v))
	}

	add("chunk-hello", objects.KindChunk, []byte("hello, "))
	add("chunk-world", objects.KindChunk, []byte("world\n"))
	add("file-regular", objects.KindFile, &objects.File{
		Mode: objects.ModeRegular | 0o4755,
		UID:  1000,
		GID:  100,
		Xattrs: []objects.Xattr{
			{Name: "security.capability", Value: []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00}},
			{Name: "user.comment", Value: []byte("greeting")},
		},
		Chunks: []objects.ChunkRef{
			{ID: ids["chunk-hello"], Size: 7},
			{ID: ids["chunk-world"], Size: 6},
		},
	})
	add("file-empty", objects.KindFile, &objects.File{Mode: objects.ModeRegular | 0o600})
	add("file-symlink", objects.KindFile, &objects.File{
		Mode:   objects.ModeSymlink | 0o777,
		Target: "../lib/libarbor.so.1",
	})
	add("dirmeta-root", objects.KindDirMeta, &objects.DirMeta{Mode: objects.ModeDir | 0o755})
	add("dirmeta-special", objects.KindDirMeta, &objects.DirMeta{
		Mode:   objects.ModeDir | 0o2000 | 0o1000 | 0o775,
		UID:    0,
		GID:    50,
		Xattrs: []objects.Xattr{{Name: "user.arbor.note", Value: []byte("shared")}},
	})
	add("dirtree-empty", objects.KindDirTree, &objects.DirTree{})
	add("dirtree", objects.KindDirTree, &objects.DirTree{Entries: []objects.DirEntry{
		// Bytewise order: uppercase before lowercase.
		{Name: "README", File: ids["file-empty"]},
		{Name: "bin", Tree: ids["dirtree-empty"], Meta: ids["dirmeta-special"]},
		{Name: "hello.txt", File: ids["file-regular"]},
		{Name: "libarbor.so", File: ids["file-symlink"]},
		{Name: "ünïcode.txt", File: ids["file-regular"]}, // 0xc3: after ASCII
	}})
	add("commit-first", objects.KindCommit, &objects.Commit{
		Tree:      ids["dirtree-empty"],
		Meta:      ids["dirmeta-root"],
		Timestamp: 1700000000,
		Subject:   "Initial import",
		Metadata: objects.Metadata{
			objects.MetaRefBinding: []string{"stable"},
			objects.MetaRelease:    int64(1),
		},
	})
	parent := ids["commit-first"]
	add("commit", objects.KindCommit, &objects.Commit{
		Tree:      ids["dirtree"],
		Meta:      ids["dirmeta-root"],
		Parent:    &parent,
		Timestamp: 1735689600,
		Subject:   "Release 1.2.3",
		Body:      "Adds hello.txt.\nSigned-off-by: CI <ci@example.com>\n",
		Metadata: objects.Metadata{
			objects.MetaRefBinding: []string{"stable", "stable/x86_64"},
			objects.MetaRelease:    int64(42),
			objects.MetaVersion:    "1.2.3",
			objects.MetaHWCompat:   []string{"board-a", "board-b"},
			"com.example.build-id": []byte{0xde, 0xad, 0xbe, 0xef},
			"com.example.offset":   int64(-300),
			"com.example.reviewed": true,
		},
	})
	return vs
}

func TestVectors(t *testing.T) {
	path := filepath.Join(goldenDir, "vectors.json")
	vs := vectors(t)
	var got []goldenVector
	for _, v := range vs {
		b := encodeValue(t, v.value)
		got = append(got, goldenVector{Name: v.name, Kind: v.kind.String(), Hex: hex.EncodeToString(b), ID: objects.Sum(b).String()})
	}
	if *update {
		writeJSON(t, path, got)
	}
	var want []goldenVector
	readJSON(t, path, &want)
	if len(want) != len(got) {
		t.Errorf("%s has %d vectors, the test builds %d", path, len(want), len(got))
	}
	byName := map[string]goldenVector{}
	for _, g := range want {
		byName[g.Name] = g
	}
	for i, v := range vs {
		g, ok := byName[v.name]
		if !ok {
			t.Errorf("%s: no golden vector", v.name)
			continue
		}
		if g.Kind != got[i].Kind {
			t.Errorf("%s: kind %s, golden %s", v.name, got[i].Kind, g.Kind)
		}
		if g.Hex != got[i].Hex {
			t.Errorf("%s: encoding changed\n got %s\nwant %s", v.name, got[i].Hex, g.Hex)
		}
		if g.ID != got[i].ID {
			t.Errorf("%s: ID %s, golden %s", v.name, got[i].ID, g.ID)
		}
	}
}

// TestVectorsDecode decodes every golden vector, checks its ID and compares
// the value with the Go value the test builds.
func TestVectorsDecode(t *testing.T) {
	var golden []goldenVector
	readJSON(t, filepath.Join(goldenDir, "vectors.json"), &golden)
	built := map[string]vector{}
	for _, v := range vectors(t) {
		built[v.name] = v
	}
	for _, g := range golden {
		t.Run(g.Name, func(t *testing.T) {
			b, err := hex.DecodeString(g.Hex)
			if err != nil {
				t.Fatal(err)
			}
			if id := objects.Sum(b); id.String() != g.ID {
				t.Errorf("bytes hash to %s, golden ID %s", id, g.ID)
			}
			kind, err := objects.ParseKind(g.Kind)
			if err != nil {
				t.Fatal(err)
			}
			v, err := decodeKind(kind, b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want, ok := built[g.Name]
			if !ok {
				t.Fatalf("golden vector %s is not built by the test", g.Name)
			}
			if want.kind != kind {
				t.Errorf("kind %v, built as %v", kind, want.kind)
			}
			if !reflect.DeepEqual(v, want.value) {
				t.Errorf("decoded value differs\n got %#v\nwant %#v", v, want.value)
			}
			// And encoding the decoded value gives the golden bytes back.
			if again := encodeValue(t, v); !bytes.Equal(again, b) {
				t.Errorf("re-encoding the decoded value gives %x", again)
			}
		})
	}
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./objects -update to create it)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var numberList = regexp.MustCompile(`\[\s*-?[0-9]+(,\s*-?[0-9]+)*\s*\]`)

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	// Lists of numbers go on one line each.
	b = numberList.ReplaceAllFunc(b, func(m []byte) []byte {
		return append(append([]byte("["), bytes.Join(bytes.Fields(bytes.Trim(m, "[]")), []byte(" "))...), ']')
	})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
