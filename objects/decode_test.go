package objects_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
)

// Hand-built encodings. Each builder writes [kind, version, fields...] with
// the fields given, so a test can break exactly one thing.

func fileObj(mode uint64, xattrs, chunks, target []byte) []byte {
	return arr(uint_(2), uint_(1), uint_(mode), uint_(1000), uint_(100), xattrs, chunks, target)
}

func dirMetaObj(mode uint64, xattrs []byte) []byte {
	return arr(uint_(3), uint_(1), uint_(mode), uint_(0), uint_(0), xattrs)
}

func treeObj(entries ...[]byte) []byte { return arr(uint_(4), uint_(1), arr(entries...)) }

func fileEnt(name string, id byte) []byte { return arr(tstr(name), bstr(id32(id))) }

func dirEnt(name string, tree, meta byte) []byte {
	return arr(tstr(name), bstr(id32(tree)), bstr(id32(meta)))
}

func xattr(name, value string) []byte { return arr(tstr(name), bstr([]byte(value))) }

func chunkRef(id byte, size uint64) []byte { return arr(bstr(id32(id)), uint_(size)) }

// commitFields are the fields of a commit after kind and version.
type commitFields struct {
	tree, meta, parent, ts, subject, body, md []byte
}

func defaultCommit() commitFields {
	return commitFields{
		tree:    bstr(id32(1)),
		meta:    bstr(id32(2)),
		parent:  bstr(id32(3)),
		ts:      uint_(1700000000),
		subject: tstr("subject"),
		body:    tstr("body"),
		md:      defaultMD(),
	}
}

func defaultMD(extra ...[]byte) []byte {
	return mapSorted(append([][]byte{
		tstr(objects.MetaRefBinding), strs("stable"),
		tstr(objects.MetaRelease), uint_(7),
	}, extra...)...)
}

func (c commitFields) enc() []byte {
	return arr(uint_(5), uint_(1), c.tree, c.meta, c.parent, c.ts, c.subject, c.body, c.md)
}

func commitWith(f func(*commitFields)) []byte {
	c := defaultCommit()
	f(&c)
	return c.enc()
}

func commitMD(pairs ...[]byte) []byte {
	return commitWith(func(c *commitFields) { c.md = mapRaw(pairs...) })
}

var (
	validFile    = fileObj(0o100644, arr(xattr("user.a", "1"), xattr("user.b", "")), arr(chunkRef(1, 5), chunkRef(2, 1<<20)), tstr(""))
	validSymlink = fileObj(0o120777, arr(), arr(), tstr("target"))
	validDirMeta = dirMetaObj(0o43755, arr(xattr("user.a", "1")))
	validTree    = treeObj(fileEnt("a", 1), dirEnt("b", 2, 3), fileEnt("c", 1))
	validCommit  = defaultCommit().enc()
)

type decodeFunc func([]byte) error

var (
	decFile    decodeFunc = func(b []byte) error { _, err := objects.DecodeFile(b); return err }
	decDirMeta decodeFunc = func(b []byte) error { _, err := objects.DecodeDirMeta(b); return err }
	decDirTree decodeFunc = func(b []byte) error { _, err := objects.DecodeDirTree(b); return err }
	decCommit  decodeFunc = func(b []byte) error { _, err := objects.DecodeCommit(b); return err }
)

// TestDecodeValid checks the baselines the rejection cases start from: if
// these did not decode, the rejections below would prove nothing.
func TestDecodeValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		dec  decodeFunc
		b    []byte
	}{
		{"file", decFile, validFile},
		{"symlink", decFile, validSymlink},
		{"dirmeta", decDirMeta, validDirMeta},
		{"dirtree", decDirTree, validTree},
		{"dirtree empty", decDirTree, treeObj()},
		{"commit", decCommit, validCommit},
		{"commit no parent", decCommit, commitWith(func(c *commitFields) { c.parent = cborNull })},
		{"commit negative timestamp", decCommit, commitWith(func(c *commitFields) { c.ts = int_(-1) })},
		{"commit all value types", decCommit, commitWith(func(c *commitFields) {
			c.md = defaultMD(
				tstr("b"), cborTrue, tstr("f"), cborFalse, tstr("i"), int_(-1<<63),
				tstr("u"), uint_(1<<63-1), tstr("x"), bstr(nil), tstr("s"), tstr(""),
				tstr("l"), arr(), tstr(objects.MetaHWCompat), strs("a", "b"),
				tstr(objects.MetaVersion), tstr("1.0"))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.dec(tc.b); err != nil {
				t.Fatalf("%x: %v", tc.b, err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	longName := strings.Repeat("n", objects.MaxNameLen+1)
	var manyXattrs [][]byte
	for i := 0; i <= objects.MaxXattrs; i++ {
		manyXattrs = append(manyXattrs, xattr("user."+string(rune('a'+i/26/26%26))+string(rune('a'+i/26%26))+string(rune('a'+i%26)), ""))
	}
	// replace replaces the first occurrence of old in b.
	replace := func(b []byte, old, new []byte) []byte {
		i := bytes.Index(b, old)
		if i < 0 {
			panic("replace: not found")
		}
		return cat(b[:i], new, b[i+len(old):])
	}

	for _, tc := range []struct {
		name string
		dec  decodeFunc
		b    []byte
	}{
		// Not CBOR, or not a whole item.
		{"empty input", decFile, nil},
		{"truncated", decFile, validFile[:len(validFile)-1]},
		{"trailing byte", decFile, cat(validFile, []byte{0x00})},
		{"trailing item", decCommit, cat(validCommit, validCommit)},
		{"not an array", decFile, tstr("file")},
		{"empty array", decDirTree, arr()},
		{"kind only", decDirTree, arr(uint_(4))},
		{"reserved additional info", decFile, cat([]byte{0x88, 0x02, 0x01, 0x1c}, validFile[4:])},

		// Non-canonical integers and lengths.
		{"kind 0x18 0x02", decFile, cat([]byte{0x88, 0x18, 0x02}, validFile[2:])},
		{"version 0x18 0x01", decFile, cat([]byte{0x88, 0x02, 0x18, 0x01}, validFile[3:])},
		{"uid 1 as 0x18 0x01", decDirMeta, arr(uint_(3), uint_(1), uint_(0o40755), []byte{0x18, 0x01}, uint_(0), arr())},
		{"mode in 4 bytes", decFile, replace(validFile, uint_(0o100644), []byte{0x1a, 0x00, 0x00, 0x81, 0xa4})},
		{"mode in 8 bytes", decDirMeta, replace(validDirMeta, uint_(0o43755), []byte{0x1b, 0, 0, 0, 0, 0, 0, 0x47, 0xed})},
		{"array length 0x98 0x08", decFile, cat([]byte{0x98, 0x08}, validFile[1:])},
		{"chunk size 5 as 0x18 0x05", decFile, replace(validFile, cat(bstr(id32(1)), uint_(5)), cat(bstr(id32(1)), []byte{0x18, 0x05}))},
		{"text length 0x78 0x06", decFile, replace(validSymlink, tstr("target"), cat([]byte{0x78, 0x06}, []byte("target")))},
		{"ID length 0x59 0x00 0x20", decDirTree, replace(validTree, bstr(id32(1)), cat([]byte{0x59, 0x00, 0x20}, id32(1)))},
		{"timestamp in 8 bytes", decCommit, commitWith(func(c *commitFields) { c.ts = []byte{0x1b, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00} })},
		{"metadata map length 0xb8 0x02", decCommit, commitWith(func(c *commitFields) { c.md = cat([]byte{0xb8, 0x02}, defaultMD()[1:]) })},
		{"mode as float", decDirMeta, replace(validDirMeta, uint_(0o43755), []byte{0xfa, 0x46, 0x8f, 0xda, 0x00})},
		{"timestamp as float", decCommit, commitWith(func(c *commitFields) { c.ts = []byte{0xfb, 0x41, 0xd9, 0x54, 0xfc, 0x40, 0, 0, 0} })},

		// Indefinite lengths.
		{"indefinite top-level array", decFile, indefArr(uint_(2), uint_(1), uint_(0o100644), uint_(1000), uint_(100), arr(), arr(), tstr(""))},
		{"indefinite xattrs", decDirMeta, dirMetaObj(0o40755, indefArr(xattr("user.a", "1")))},
		{"indefinite entries", decDirTree, arr(uint_(4), uint_(1), indefArr(fileEnt("a", 1)))},
		{"indefinite entry", decDirTree, treeObj(indefArr(tstr("a"), bstr(id32(1))))},
		{"indefinite text", decFile, fileObj(0o120777, arr(), arr(), []byte{0x7f, 0x63, 't', 'a', 'r', 0x63, 'g', 'e', 't', 0xff})},
		{"indefinite bytes", decDirTree, treeObj(arr(tstr("a"), cat([]byte{0x5f, 0x50}, id32(1)[:16], []byte{0x50}, id32(1)[:16], cborBreak)))},
		{"indefinite metadata map", decCommit, commitWith(func(c *commitFields) {
			c.md = cat([]byte{0xbf}, tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("stable"), cborBreak)
		})},

		// Map keys.
		{"metadata keys out of order", decCommit, commitMD(
			tstr(objects.MetaRefBinding), strs("stable"), tstr(objects.MetaRelease), uint_(7))},
		{"metadata keys in length-first order", decCommit, commitMD(
			tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("stable"), tstr("aaaaaaaaaaaaaaaaaaaaaaaa"), uint_(1), tstr("b"), uint_(1))},
		{"metadata key duplicated", decCommit, commitMD(
			tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("stable"))},
		{"metadata key duplicated, different values", decCommit, commitMD(
			tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRelease), uint_(8), tstr(objects.MetaRefBinding), strs("stable"))},
		{"metadata key is bytes", decCommit, commitMD(
			tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("stable"), bstr([]byte("x")), uint_(1))},
		{"metadata key is int", decCommit, commitMD(
			uint_(1), uint_(1), tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("stable"))},
		{"metadata key empty", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr(""), uint_(1)) })},
		{"metadata key invalid UTF-8", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("\xff"), uint_(1)) })},

		// Unknown or missing fields.
		{"file extra field", decFile, cat([]byte{0x89}, validFile[1:], uint_(0))},
		{"file 7 fields", decFile, arr(uint_(2), uint_(1), uint_(0o100644), uint_(0), uint_(0), arr(), arr())},
		{"dirmeta extra field", decDirMeta, cat([]byte{0x87}, validDirMeta[1:], arr())},
		{"dirmeta missing xattrs", decDirMeta, arr(uint_(3), uint_(1), uint_(0o40755), uint_(0), uint_(0))},
		{"dirtree extra field", decDirTree, cat([]byte{0x84}, validTree[1:], arr())},
		{"commit extra field", decCommit, cat([]byte{0x8a}, validCommit[1:], uint_(0))},
		{"commit missing metadata", decCommit, arr(uint_(5), uint_(1), bstr(id32(1)), bstr(id32(2)), cborNull, uint_(0), tstr(""), tstr(""))},
		{"chunk ref extra field", decFile, fileObj(0o100644, arr(), arr(arr(bstr(id32(1)), uint_(5), uint_(0))), tstr(""))},
		{"chunk ref missing size", decFile, fileObj(0o100644, arr(), arr(arr(bstr(id32(1)))), tstr(""))},
		{"xattr extra field", decDirMeta, dirMetaObj(0o40755, arr(arr(tstr("user.a"), bstr(nil), uint_(0))))},
		{"xattr missing value", decDirMeta, dirMetaObj(0o40755, arr(arr(tstr("user.a"))))},
		{"entry with 1 field", decDirTree, treeObj(arr(tstr("a")))},
		{"entry with 4 fields", decDirTree, treeObj(arr(tstr("a"), bstr(id32(1)), bstr(id32(2)), bstr(id32(3))))},
		{"entry with 0 fields", decDirTree, treeObj(arr())},
		{"entry not an array", decDirTree, treeObj(tstr("a"))},

		// Kind and version.
		{"file as dirmeta", decDirMeta, validFile},
		{"dirmeta as file", decFile, validDirMeta},
		{"commit as dirtree", decDirTree, validCommit},
		{"dirtree as commit", decCommit, validTree},
		{"kind 0", decFile, cat([]byte{0x88, 0x00}, validFile[2:])},
		{"kind chunk", decFile, cat([]byte{0x88, 0x01}, validFile[2:])},
		{"kind 6", decFile, cat([]byte{0x88, 0x06}, validFile[2:])},
		{"kind 258", decFile, cat([]byte{0x88, 0x19, 0x01, 0x02}, validFile[2:])},
		{"kind negative", decFile, cat([]byte{0x88, 0x21}, validFile[2:])},
		{"kind as text", decFile, cat([]byte{0x88, 0x61, '2'}, validFile[2:])},
		{"version 0", decFile, cat([]byte{0x88, 0x02, 0x00}, validFile[3:])},
		{"version 2", decDirTree, cat([]byte{0x83, 0x04, 0x02}, validTree[3:])},
		{"version 257", decDirTree, cat([]byte{0x83, 0x04, 0x19, 0x01, 0x01}, validTree[3:])},
		{"version null", decCommit, cat([]byte{0x89, 0x05, 0xf6}, validCommit[3:])},

		// Tags.
		{"self-described CBOR", decFile, cat([]byte{0xd9, 0xd9, 0xf7}, validFile)},
		{"tagged object", decDirTree, tag(24, bstr(validTree))},
		{"tagged kind", decFile, cat([]byte{0x88, 0xc0}, validFile[1:])},
		{"tagged timestamp", decCommit, commitWith(func(c *commitFields) { c.ts = tag(1, uint_(1700000000)) })},
		{"tagged subject", decCommit, commitWith(func(c *commitFields) { c.subject = tag(0, tstr("2024-01-01T00:00:00Z")) })},
		{"tagged ID", decDirTree, treeObj(arr(tstr("a"), tag(2, bstr(id32(1)))))},
		{"bignum metadata value", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), tag(2, bstr([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}))) })},

		// Invalid UTF-8 in every text field.
		{"xattr name invalid UTF-8", decDirMeta, dirMetaObj(0o40755, arr(xattr("user.\xff", "")))},
		{"symlink target invalid UTF-8", decFile, fileObj(0o120777, arr(), arr(), tstr("t\xff"))},
		{"entry name invalid UTF-8", decDirTree, treeObj(fileEnt("a\xc3", 1))},
		{"entry name surrogate", decDirTree, treeObj(fileEnt("\xed\xa0\x80", 1))},
		{"subject invalid UTF-8", decCommit, commitWith(func(c *commitFields) { c.subject = tstr("s\xff") })},
		{"body invalid UTF-8", decCommit, commitWith(func(c *commitFields) { c.body = tstr("\xc0\x80") })},
		{"metadata string invalid UTF-8", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr(objects.MetaVersion), tstr("1\xff")) })},
		{"metadata list invalid UTF-8", decCommit, commitMD(tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), strs("st\xffable"))},

		// Xattrs.
		{"xattrs unsorted", decDirMeta, dirMetaObj(0o40755, arr(xattr("user.b", ""), xattr("user.a", "")))},
		{"xattrs duplicated", decFile, fileObj(0o100644, arr(xattr("user.a", "1"), xattr("user.a", "2")), arr(), tstr(""))},
		{"xattr name empty", decDirMeta, dirMetaObj(0o40755, arr(xattr("", "")))},
		{"xattr name with NUL", decDirMeta, dirMetaObj(0o40755, arr(xattr("user.a\x00b", "")))},
		{"xattr name too long", decDirMeta, dirMetaObj(0o40755, arr(xattr("user."+strings.Repeat("x", objects.MaxXattrNameLen), "")))},
		{"xattr value too long", decDirMeta, dirMetaObj(0o40755, arr(xattr("user.a", strings.Repeat("v", objects.MaxXattrValueLen+1))))},
		{"too many xattrs", decDirMeta, dirMetaObj(0o40755, arr(manyXattrs...))},
		{"xattr name as bytes", decDirMeta, dirMetaObj(0o40755, arr(arr(bstr([]byte("user.a")), bstr(nil))))},
		{"xattr value as text", decDirMeta, dirMetaObj(0o40755, arr(arr(tstr("user.a"), tstr("1"))))},
		{"xattr value null", decDirMeta, dirMetaObj(0o40755, arr(arr(tstr("user.a"), cborNull)))},

		// Dirtree entries.
		{"names unsorted", decDirTree, treeObj(fileEnt("b", 1), fileEnt("a", 1))},
		{"names sorted by rune, not byte", decDirTree, treeObj(fileEnt("é", 1), fileEnt("z", 1))},
		{"names case-folded order", decDirTree, treeObj(fileEnt("a", 1), fileEnt("B", 1))},
		{"name duplicated", decDirTree, treeObj(fileEnt("a", 1), fileEnt("a", 2))},
		{"name duplicated file and dir", decDirTree, treeObj(dirEnt("a", 1, 2), fileEnt("a", 3))},
		{"name empty", decDirTree, treeObj(fileEnt("", 1))},
		{"name .", decDirTree, treeObj(fileEnt(".", 1))},
		{"name ..", decDirTree, treeObj(dirEnt("..", 1, 2))},
		{"name a/b", decDirTree, treeObj(fileEnt("a/b", 1))},
		{"name /", decDirTree, treeObj(fileEnt("/", 1))},
		{"name with NUL", decDirTree, treeObj(fileEnt("a\x00", 1))},
		{"name too long", decDirTree, treeObj(fileEnt(longName, 1))},
		{"name as bytes", decDirTree, treeObj(arr(bstr([]byte("a")), bstr(id32(1))))},
		{"name null", decDirTree, treeObj(arr(cborNull, bstr(id32(1))))},
		{"file entry zero ID", decDirTree, treeObj(arr(tstr("a"), bstr(make([]byte, 32))))},
		{"dir entry zero tree", decDirTree, treeObj(arr(tstr("a"), bstr(make([]byte, 32)), bstr(id32(2))))},
		{"dir entry zero meta", decDirTree, treeObj(arr(tstr("a"), bstr(id32(1)), bstr(make([]byte, 32))))},

		// IDs of the wrong length or type.
		{"file entry ID 31 bytes", decDirTree, treeObj(arr(tstr("a"), bstr(id32(1)[:31])))},
		{"file entry ID 33 bytes", decDirTree, treeObj(arr(tstr("a"), bstr(append(id32(1), 1))))},
		{"file entry ID empty", decDirTree, treeObj(arr(tstr("a"), bstr(nil)))},
		{"file entry ID as text", decDirTree, treeObj(arr(tstr("a"), tstr(strings.Repeat("01", 32))))},
		{"file entry ID as array", decDirTree, treeObj(arr(tstr("a"), arr(uint_(1))))},
		{"dir entry meta 31 bytes", decDirTree, treeObj(arr(tstr("a"), bstr(id32(1)), bstr(id32(2)[:31])))},
		{"chunk ID 31 bytes", decFile, fileObj(0o100644, arr(), arr(arr(bstr(id32(1)[:31]), uint_(5))), tstr(""))},
		{"chunk ID 33 bytes", decFile, fileObj(0o100644, arr(), arr(arr(bstr(append(id32(1), 0)), uint_(5))), tstr(""))},
		{"chunk ID as text", decFile, fileObj(0o100644, arr(), arr(arr(tstr(string(id32('a'))), uint_(5))), tstr(""))},
		{"commit tree 31 bytes", decCommit, commitWith(func(c *commitFields) { c.tree = bstr(id32(1)[:31]) })},
		{"commit meta 33 bytes", decCommit, commitWith(func(c *commitFields) { c.meta = bstr(append(id32(2), 2)) })},
		{"commit parent 31 bytes", decCommit, commitWith(func(c *commitFields) { c.parent = bstr(id32(3)[:31]) })},
		{"commit parent empty", decCommit, commitWith(func(c *commitFields) { c.parent = bstr(nil) })},
		{"commit parent undefined", decCommit, commitWith(func(c *commitFields) { c.parent = cborUndef })},
		{"commit parent zero", decCommit, commitWith(func(c *commitFields) { c.parent = bstr(make([]byte, 32)) })},
		{"commit tree zero", decCommit, commitWith(func(c *commitFields) { c.tree = bstr(make([]byte, 32)) })},
		{"commit meta null", decCommit, commitWith(func(c *commitFields) { c.meta = cborNull })},

		// Size caps.
		{"dirmeta over 1 MiB", decDirMeta, dirMetaObj(0o40755, arr(xattr("user.a", strings.Repeat("v", 1<<20))))},
		{"commit over 1 MiB", decCommit, commitWith(func(c *commitFields) { c.body = tstr(strings.Repeat("b", 1<<20)) })},
		{"file over 16 MiB", decFile, fileObj(0o120777, arr(), arr(), tstr(strings.Repeat("t", 16<<20)))},
		{"dirtree over 16 MiB", decDirTree, treeObj(fileEnt(strings.Repeat("n", 16<<20), 1))},
		{"symlink target too long", decFile, fileObj(0o120777, arr(), arr(), tstr(strings.Repeat("t", objects.MaxTargetLen+1)))},

		// null where the encoder writes an empty array, string or map.
		{"xattrs null", decDirMeta, dirMetaObj(0o40755, cborNull)},
		{"file xattrs null", decFile, fileObj(0o100644, cborNull, arr(), tstr(""))},
		{"chunks null", decFile, fileObj(0o100644, arr(), cborNull, tstr(""))},
		{"target null", decFile, fileObj(0o100644, arr(), arr(), cborNull)},
		{"entries null", decDirTree, arr(uint_(4), uint_(1), cborNull)},
		{"metadata null", decCommit, commitWith(func(c *commitFields) { c.md = cborNull })},
		{"subject null", decCommit, commitWith(func(c *commitFields) { c.subject = cborNull })},
		{"uid null", decDirMeta, arr(uint_(3), uint_(1), uint_(0o40755), cborNull, uint_(0), arr())},

		// Metadata values.
		{"metadata float", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), []byte{0xf9, 0x3c, 0x00}) })},
		{"metadata float64", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), []byte{0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}) })},
		{"metadata map", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), mapSorted(tstr("a"), uint_(1))) })},
		{"metadata value null", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), cborNull) })},
		{"metadata undefined", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), cborUndef) })},
		{"metadata simple value", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), []byte{0xe0}) })},
		{"metadata list of ints", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), arr(uint_(1))) })},
		{"metadata nested list", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), arr(strs("a"))) })},
		{"metadata uint over int64", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), uint_(1<<63)) })},
		{"metadata largest uint", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr("x"), uint_(1<<64-1)) })},
		{"ref-binding missing", decCommit, commitMD(tstr(objects.MetaRelease), uint_(7))},
		{"ref-binding empty", decCommit, commitMD(tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), arr())},
		{"ref-binding a string", decCommit, commitMD(tstr(objects.MetaRelease), uint_(7), tstr(objects.MetaRefBinding), tstr("stable"))},
		{"release missing", decCommit, commitMD(tstr(objects.MetaRefBinding), strs("stable"))},
		{"release a string", decCommit, commitMD(tstr(objects.MetaRelease), tstr("7"), tstr(objects.MetaRefBinding), strs("stable"))},
		{"release a float", decCommit, commitMD(tstr(objects.MetaRelease), []byte{0xf9, 0x47, 0x00}, tstr(objects.MetaRefBinding), strs("stable"))},
		{"release over int64", decCommit, commitMD(tstr(objects.MetaRelease), uint_(1<<63), tstr(objects.MetaRefBinding), strs("stable"))},
		{"version an int", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr(objects.MetaVersion), uint_(1)) })},
		{"hw-compat a string", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr(objects.MetaHWCompat), tstr("board")) })},
		{"hw-compat list of bytes", decCommit, commitWith(func(c *commitFields) { c.md = defaultMD(tstr(objects.MetaHWCompat), arr(bstr([]byte("b")))) })},

		// File modes and contents.
		{"symlink with chunks", decFile, fileObj(0o120777, arr(), arr(chunkRef(1, 5)), tstr("target"))},
		{"symlink without target", decFile, fileObj(0o120777, arr(), arr(), tstr(""))},
		{"symlink target with NUL", decFile, fileObj(0o120777, arr(), arr(), tstr("a\x00b"))},
		{"symlink mode 0755", decFile, fileObj(0o120755, arr(), arr(), tstr("target"))},
		{"regular with target", decFile, fileObj(0o100644, arr(), arr(), tstr("target"))},
		{"regular with target and chunks", decFile, fileObj(0o100644, arr(), arr(chunkRef(1, 5)), tstr("target"))},
		{"file with directory mode", decFile, fileObj(0o40755, arr(), arr(), tstr(""))},
		{"file with no type bits", decFile, fileObj(0o644, arr(), arr(), tstr(""))},
		{"file is a FIFO", decFile, fileObj(0o10644, arr(), arr(), tstr(""))},
		{"file is a char device", decFile, fileObj(0o20644, arr(), arr(), tstr(""))},
		{"file is a block device", decFile, fileObj(0o60644, arr(), arr(), tstr(""))},
		{"file is a socket", decFile, fileObj(0o140644, arr(), arr(), tstr(""))},
		{"file mode unknown bits", decFile, fileObj(0o300644, arr(), arr(), tstr(""))},
		{"file mode over 32 bits", decFile, fileObj(1<<32|0o100644, arr(), arr(), tstr(""))},
		{"file mode negative", decFile, arr(uint_(2), uint_(1), int_(-1), uint_(0), uint_(0), arr(), arr(), tstr(""))},
		{"uid over 32 bits", decFile, arr(uint_(2), uint_(1), uint_(0o100644), uint_(1<<32), uint_(0), arr(), arr(), tstr(""))},
		{"gid negative", decDirMeta, arr(uint_(3), uint_(1), uint_(0o40755), uint_(0), int_(-1), arr())},
		{"uid as bool", decDirMeta, arr(uint_(3), uint_(1), uint_(0o40755), cborTrue, uint_(0), arr())},
		{"chunk size 0", decFile, fileObj(0o100644, arr(), arr(chunkRef(1, 0)), tstr(""))},
		{"chunk size over max", decFile, fileObj(0o100644, arr(), arr(chunkRef(1, objects.MaxChunkSize+1)), tstr(""))},
		{"chunk size over 32 bits", decFile, fileObj(0o100644, arr(), arr(chunkRef(1, 1<<32)), tstr(""))},
		{"chunk zero ID", decFile, fileObj(0o100644, arr(), arr(arr(bstr(make([]byte, 32)), uint_(5))), tstr(""))},
		{"dirmeta with file mode", decDirMeta, dirMetaObj(0o100644, arr())},
		{"dirmeta with symlink mode", decDirMeta, dirMetaObj(0o120777, arr())},
		{"dirmeta with no type bits", decDirMeta, dirMetaObj(0o755, arr())},
		{"dirmeta mode unknown bits", decDirMeta, dirMetaObj(0o1040755, arr())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dec(tc.b)
			if err == nil {
				t.Fatalf("decoded %x without error", trim(tc.b))
			}
			if !errors.Is(err, objects.ErrInvalid) {
				t.Fatalf("error %v does not match ErrInvalid", err)
			}
			var ie *objects.InvalidError
			if !errors.As(err, &ie) || !ie.Kind.Valid() {
				t.Errorf("error %v is not an *InvalidError with a kind", err)
			}
		})
	}
}

// trim shortens big inputs in failure messages.
func trim(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}
