package objects_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
)

func idOf(b byte) objects.ID {
	var id objects.ID
	copy(id[:], id32(b))
	return id
}

func validCommitValue() *objects.Commit {
	return &objects.Commit{
		Tree: idOf(1), Meta: idOf(2),
		Metadata: objects.Metadata{objects.MetaRefBinding: []string{"stable"}, objects.MetaRelease: int64(1)},
	}
}

// TestEncodeRejects checks that Encode refuses every value its decoder
// would refuse, so that nothing written can fail to read back.
func TestEncodeRejects(t *testing.T) {
	manyXattrs := func(n, valueLen int) []objects.Xattr {
		var xs []objects.Xattr
		for i := 0; i < n; i++ {
			xs = append(xs, objects.Xattr{Name: "user." + strings.Repeat("x", 3) + string(rune('a'+i/26/26%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%26)), Value: make([]byte, valueLen)})
		}
		return xs
	}
	commit := func(f func(c *objects.Commit)) *objects.Commit {
		c := validCommitValue()
		f(c)
		return c
	}
	parentZero := objects.ID{}
	for _, tc := range []struct {
		name string
		v    interface{ Encode() ([]byte, error) }
	}{
		{"file no type", &objects.File{Mode: 0o644}},
		{"file dir mode", &objects.File{Mode: objects.ModeDir | 0o755}},
		{"file unknown mode bits", &objects.File{Mode: objects.ModeRegular | 0o10000}},
		{"regular with target", &objects.File{Mode: objects.ModeRegular | 0o644, Target: "x"}},
		{"chunk size 0", &objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: idOf(1)}}}},
		{"chunk too big", &objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: idOf(1), Size: objects.MaxChunkSize + 1}}}},
		{"chunk zero ID", &objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{Size: 1}}}},
		{"symlink mode 0755", &objects.File{Mode: objects.ModeSymlink | 0o755, Target: "x"}},
		{"symlink no target", &objects.File{Mode: objects.ModeSymlink | 0o777}},
		{"symlink target NUL", &objects.File{Mode: objects.ModeSymlink | 0o777, Target: "a\x00"}},
		{"symlink target invalid UTF-8", &objects.File{Mode: objects.ModeSymlink | 0o777, Target: "caf\xe9"}},
		{"symlink target too long", &objects.File{Mode: objects.ModeSymlink | 0o777, Target: strings.Repeat("a", objects.MaxTargetLen+1)}},
		{"symlink with chunks", &objects.File{Mode: objects.ModeSymlink | 0o777, Target: "x", Chunks: []objects.ChunkRef{{ID: idOf(1), Size: 1}}}},
		{"xattrs unsorted", &objects.File{Mode: objects.ModeRegular, Xattrs: []objects.Xattr{{Name: "b"}, {Name: "a"}}}},
		{"xattrs duplicated", &objects.DirMeta{Mode: objects.ModeDir, Xattrs: []objects.Xattr{{Name: "a"}, {Name: "a"}}}},
		{"xattr name empty", &objects.DirMeta{Mode: objects.ModeDir, Xattrs: []objects.Xattr{{Name: ""}}}},
		{"xattr name invalid UTF-8", &objects.DirMeta{Mode: objects.ModeDir, Xattrs: []objects.Xattr{{Name: "\xff"}}}},
		{"xattr value too long", &objects.DirMeta{Mode: objects.ModeDir, Xattrs: []objects.Xattr{{Name: "a", Value: make([]byte, objects.MaxXattrValueLen+1)}}}},
		{"too many xattrs", &objects.DirMeta{Mode: objects.ModeDir, Xattrs: manyXattrs(objects.MaxXattrs+1, 0)}},
		// Each xattr is within its limits, but together they pass the kind's cap.
		{"dirmeta over 1 MiB", &objects.DirMeta{Mode: objects.ModeDir, Xattrs: manyXattrs(17, objects.MaxXattrValueLen)}},
		{"file over 16 MiB", &objects.File{Mode: objects.ModeRegular, Xattrs: manyXattrs(objects.MaxXattrs, objects.MaxXattrValueLen)}},
		{"dirmeta file mode", &objects.DirMeta{Mode: objects.ModeRegular | 0o755}},
		{"dirmeta unknown bits", &objects.DirMeta{Mode: objects.ModeDir | 0o10000}},
		{"dirtree unsorted", &objects.DirTree{Entries: []objects.DirEntry{{Name: "b", File: idOf(1)}, {Name: "a", File: idOf(1)}}}},
		{"dirtree duplicate", &objects.DirTree{Entries: []objects.DirEntry{{Name: "a", File: idOf(1)}, {Name: "a", Tree: idOf(1), Meta: idOf(2)}}}},
		{"dirtree bad name", &objects.DirTree{Entries: []objects.DirEntry{{Name: "..", Tree: idOf(1), Meta: idOf(2)}}}},
		{"dirtree empty entry", &objects.DirTree{Entries: []objects.DirEntry{{Name: "a"}}}},
		{"dirtree tree without meta", &objects.DirTree{Entries: []objects.DirEntry{{Name: "a", Tree: idOf(1)}}}},
		{"dirtree file and tree", &objects.DirTree{Entries: []objects.DirEntry{{Name: "a", File: idOf(1), Tree: idOf(1), Meta: idOf(1)}}}},
		{"commit no tree", commit(func(c *objects.Commit) { c.Tree = objects.ID{} })},
		{"commit no meta", commit(func(c *objects.Commit) { c.Meta = objects.ID{} })},
		{"commit zero parent", commit(func(c *objects.Commit) { c.Parent = &parentZero })},
		{"commit subject invalid UTF-8", commit(func(c *objects.Commit) { c.Subject = "\xff" })},
		{"commit body invalid UTF-8", commit(func(c *objects.Commit) { c.Body = "\xff" })},
		{"commit over 1 MiB", commit(func(c *objects.Commit) { c.Body = strings.Repeat("b", 1<<20) })},
		{"commit no metadata", commit(func(c *objects.Commit) { c.Metadata = nil })},
		{"commit no ref-binding", commit(func(c *objects.Commit) { delete(c.Metadata, objects.MetaRefBinding) })},
		{"commit empty ref-binding", commit(func(c *objects.Commit) { c.Metadata[objects.MetaRefBinding] = []string{} })},
		{"commit no release", commit(func(c *objects.Commit) { delete(c.Metadata, objects.MetaRelease) })},
		{"commit release int", commit(func(c *objects.Commit) { c.Metadata[objects.MetaRelease] = 1 })},
		{"commit release uint64", commit(func(c *objects.Commit) { c.Metadata[objects.MetaRelease] = uint64(1) })},
		{"commit version int", commit(func(c *objects.Commit) { c.Metadata[objects.MetaVersion] = int64(1) })},
		{"commit hw-compat string", commit(func(c *objects.Commit) { c.Metadata[objects.MetaHWCompat] = "board" })},
		{"commit metadata float", commit(func(c *objects.Commit) { c.Metadata["x"] = 1.5 })},
		{"commit metadata nil", commit(func(c *objects.Commit) { c.Metadata["x"] = nil })},
		{"commit metadata map", commit(func(c *objects.Commit) { c.Metadata["x"] = map[string]any{} })},
		{"commit metadata []any", commit(func(c *objects.Commit) { c.Metadata["x"] = []any{"a"} })},
		{"commit metadata empty key", commit(func(c *objects.Commit) { c.Metadata[""] = "x" })},
		{"commit metadata key invalid UTF-8", commit(func(c *objects.Commit) { c.Metadata["\xff"] = "x" })},
		{"commit metadata string invalid UTF-8", commit(func(c *objects.Commit) { c.Metadata["x"] = "\xff" })},
		{"commit metadata list invalid UTF-8", commit(func(c *objects.Commit) { c.Metadata["x"] = []string{"\xff"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.v.Encode()
			if err == nil {
				t.Fatalf("encoded %x", trim(b))
			}
			if !errors.Is(err, objects.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
		})
	}
}

// TestEncodeLimits checks values exactly at the limits: they encode and
// decode back.
func TestEncodeLimits(t *testing.T) {
	var xs []objects.Xattr
	for i := 0; i < objects.MaxXattrs; i++ {
		xs = append(xs, objects.Xattr{Name: "user." + string(rune('a'+i/26%26)) + string(rune('a'+i%26))})
	}
	xs[len(xs)-1].Name = "user.z" + strings.Repeat("z", objects.MaxXattrNameLen-6)
	xs[1].Value = make([]byte, objects.MaxXattrValueLen)
	f := &objects.File{Mode: objects.ModeSymlink | 0o777, Target: strings.Repeat("t", objects.MaxTargetLen), Xattrs: xs}
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objects.DecodeFile(b); err != nil {
		t.Fatal(err)
	}
	var tb objects.DirTreeBuilder
	if err := tb.AddFile(strings.Repeat("n", objects.MaxNameLen), idOf(1)); err != nil {
		t.Fatal(err)
	}
	if b, err = tb.Tree().Encode(); err != nil {
		t.Fatal(err)
	}
	if _, err := objects.DecodeDirTree(b); err != nil {
		t.Fatal(err)
	}
	// A commit just under 1 MiB.
	c := validCommitValue()
	b, err = c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c.Body = strings.Repeat("b", objects.KindCommit.MaxSize()-len(b)-4) // the head grows from 1 to 5 bytes
	if b, err = c.Encode(); err != nil {
		t.Fatal(err)
	}
	if len(b) != objects.KindCommit.MaxSize() {
		t.Fatalf("commit of %d bytes, want exactly the cap %d", len(b), objects.KindCommit.MaxSize())
	}
	if _, err := objects.DecodeCommit(b); err != nil {
		t.Fatal(err)
	}
}

func TestDirTreeBuilder(t *testing.T) {
	var b objects.DirTreeBuilder
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.AddFile("B", idOf(1)))
	must(b.AddDir("a", idOf(2), idOf(3)))
	must(b.AddFile("a.txt", idOf(1)))
	must(b.AddFile("é", idOf(4)))

	for _, tc := range []struct {
		name string
		add  func() error
	}{
		{"out of order", func() error { return b.AddFile("b", idOf(1)) }},
		{"out of order dir", func() error { return b.AddDir("a.tx", idOf(1), idOf(2)) }},
		{"duplicate file", func() error { return b.AddFile("é", idOf(1)) }},
		{"duplicate as dir", func() error { return b.AddDir("é", idOf(1), idOf(2)) }},
		{"empty", func() error { return b.AddFile("", idOf(1)) }},
		{".", func() error { return b.AddDir(".", idOf(1), idOf(2)) }},
		{"..", func() error { return b.AddDir("..", idOf(1), idOf(2)) }},
		{"slash", func() error { return b.AddFile("z/z", idOf(1)) }},
		{"NUL", func() error { return b.AddFile("z\x00", idOf(1)) }},
		{"invalid UTF-8", func() error { return b.AddFile("z\xff", idOf(1)) }},
		{"too long", func() error { return b.AddFile("z"+strings.Repeat("z", objects.MaxNameLen), idOf(1)) }},
		{"zero file", func() error { return b.AddFile("z", objects.ID{}) }},
		{"zero tree", func() error { return b.AddDir("z", objects.ID{}, idOf(1)) }},
		{"zero meta", func() error { return b.AddDir("z", idOf(1), objects.ID{}) }},
	} {
		if err := tc.add(); !errors.Is(err, objects.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tc.name, err)
		}
	}
	// Refused entries left the tree as it was, and adding can go on.
	must(b.AddFile("😀", idOf(5)))
	tree := b.Tree()
	var names []string
	for _, e := range tree.Entries {
		names = append(names, e.Name)
	}
	if got, want := strings.Join(names, ","), "B,a,a.txt,é,😀"; got != want {
		t.Fatalf("entries %s, want %s", got, want)
	}
	enc, err := tree.Encode()
	must(err)
	back, err := objects.DecodeDirTree(enc)
	must(err)
	if len(back.Entries) != 5 || !back.Entries[1].IsDir() || back.Entries[0].IsDir() || back.Entries[1].Meta != idOf(3) {
		t.Fatalf("decoded %+v", back.Entries)
	}
	for _, name := range names {
		e, ok := back.Lookup(name)
		if !ok || e.Name != name {
			t.Errorf("Lookup(%q) = %v, %v", name, e, ok)
		}
	}
	for _, name := range []string{"", "A", "a.t", "b", "zz", "\xff"} {
		if _, ok := back.Lookup(name); ok {
			t.Errorf("Lookup(%q) found an entry", name)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "...": true, ".a": true, "a b": true, "é": true, "\\": true, strings.Repeat("x", 255): true,
		"": false, ".": false, "..": false, "/": false, "a/": false, "\x00": false, "\xff": false, strings.Repeat("x", 256): false,
	} {
		if got := objects.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		mode uint32
		str  string
		fm   fs.FileMode
	}{
		{objects.ModeRegular | 0o644, "-rw-r--r--", 0o644},
		{objects.ModeRegular | 0o4755, "-rwsr-xr-x", fs.ModeSetuid | 0o755},
		{objects.ModeRegular | 0o4644, "-rwSr--r--", fs.ModeSetuid | 0o644},
		{objects.ModeDir | 0o2775, "drwxrwsr-x", fs.ModeDir | fs.ModeSetgid | 0o775},
		{objects.ModeDir | 0o1777, "drwxrwxrwt", fs.ModeDir | fs.ModeSticky | 0o777},
		{objects.ModeDir | 0o1776, "drwxrwxrwT", fs.ModeDir | fs.ModeSticky | 0o776},
		{objects.ModeSymlink | 0o777, "lrwxrwxrwx", fs.ModeSymlink | 0o777},
	} {
		if got := objects.ModeString(tc.mode); got != tc.str {
			t.Errorf("ModeString(%o) = %s, want %s", tc.mode, got, tc.str)
		}
		if got := objects.UnixMode(tc.mode); got != tc.fm {
			t.Errorf("UnixMode(%o) = %v, want %v", tc.mode, got, tc.fm)
		}
	}
	f := objects.File{Mode: objects.ModeSymlink | 0o777, Target: "x"}
	if !f.IsSymlink() || f.FileMode() != fs.ModeSymlink|0o777 || f.Size() != 0 {
		t.Errorf("symlink: IsSymlink %v, FileMode %v, Size %d", f.IsSymlink(), f.FileMode(), f.Size())
	}
	f = objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: idOf(1), Size: 1 << 20}, {ID: idOf(1), Size: 3}}}
	if f.IsSymlink() || f.Size() != 1<<20+3 {
		t.Errorf("regular: IsSymlink %v, Size %d", f.IsSymlink(), f.Size())
	}
}

func TestCommitAccessors(t *testing.T) {
	c := validCommitValue()
	c.Metadata[objects.MetaRefBinding] = []string{"stable", "beta"}
	c.Metadata[objects.MetaRelease] = int64(9)
	c.Metadata[objects.MetaVersion] = "2.0"
	c.Metadata[objects.MetaHWCompat] = []string{"board-a"}
	c.Metadata["z"] = []byte{0xab}
	c.Metadata["a"] = true
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c, err = objects.DecodeCommit(b)
	if err != nil {
		t.Fatal(err)
	}
	if !c.BindsRef("beta") || c.BindsRef("sta") || c.Release() != 9 || c.Version() != "2.0" ||
		strings.Join(c.HWCompat(), ",") != "board-a" || strings.Join(c.RefBinding(), ",") != "stable,beta" {
		t.Errorf("accessors on %+v", c)
	}
	if got := strings.Join(c.Metadata.Keys(), ","); got != "a,arbor.hw-compat,arbor.ref-binding,arbor.release,arbor.version,z" {
		t.Errorf("Keys() = %s", got)
	}
	if got := objects.FormatMetaValue(c.Metadata["z"]); got != "ab" {
		t.Errorf("FormatMetaValue([]byte) = %s", got)
	}
	if got := objects.FormatMetaValue(c.Metadata[objects.MetaRefBinding]); got != "[stable beta]" {
		t.Errorf("FormatMetaValue([]string) = %s", got)
	}
	// Encoding does not depend on map iteration order.
	for i := 0; i < 20; i++ {
		again, err := c.Encode()
		if err != nil || string(again) != string(b) {
			t.Fatalf("encoding %d differs: %v", i, err)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, k := range objects.Kinds {
		got, err := objects.ParseKind(k.String())
		if err != nil || got != k || !k.Valid() || k.MaxSize() <= 0 {
			t.Errorf("kind %d: ParseKind(%q) = %v, %v", k, k.String(), got, err)
		}
	}
	for _, k := range []objects.Kind{0, 6, 255} {
		if k.Valid() || k.MaxSize() != 0 || k.String() != fmt.Sprintf("kind(%d)", k) {
			t.Errorf("kind %d: Valid %v, MaxSize %d, String %s", k, k.Valid(), k.MaxSize(), k)
		}
	}
	if _, err := objects.ParseKind("blob"); err == nil {
		t.Error("ParseKind(blob) succeeded")
	}
	// As text (JSON values and map keys): the kind's name.
	j, err := json.Marshal(map[objects.Kind][]objects.Kind{objects.KindFile: {objects.KindChunk, objects.KindCommit}})
	if err != nil || string(j) != `{"file":["chunk","commit"]}` {
		t.Errorf("JSON of kinds: %s, %v", j, err)
	}
	var back map[objects.Kind][]objects.Kind
	if err := json.Unmarshal(j, &back); err != nil || len(back[objects.KindFile]) != 2 || back[objects.KindFile][1] != objects.KindCommit {
		t.Errorf("JSON round trip of kinds: %v, %v", back, err)
	}
	if _, err := objects.Kind(0).MarshalText(); err == nil {
		t.Error("kind 0 marshals as text")
	}
	var k objects.Kind
	if err := k.UnmarshalText([]byte("File")); err == nil {
		t.Error(`UnmarshalText("File") succeeded`)
	}
	if objects.KindChunk.MaxSize() != objects.MaxChunkSize || objects.KindCommit.MaxSize() != 1<<20 ||
		objects.KindDirMeta.MaxSize() != 1<<20 || objects.KindFile.MaxSize() != 16<<20 || objects.KindDirTree.MaxSize() != 16<<20 {
		t.Error("size caps changed: update doc.go")
	}
}
