package deltas

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

// entry is one path of a test tree: a regular file (content), a symlink
// (target) or an empty directory (dir).
type entry struct {
	content string
	mode    uint32 // permission bits; 0 means 0644 (0755 for directories)
	uid     uint32
	target  string
	dir     bool
	xattrs  map[string]string
}

type tree map[string]entry

// commitTree stores tree in st with the given chunker and returns the commit.
func commitTree(t testing.TB, st objects.Store, tr tree, release int64, parent *objects.ID, ch objects.Chunker) objects.ID {
	t.Helper()
	ctx := context.Background()
	type dir struct {
		files map[string]objects.ID
		dirs  map[string]bool
	}
	dirs := map[string]*dir{"": {files: map[string]objects.ID{}, dirs: map[string]bool{}}}
	var mkdir func(p string) *dir
	mkdir = func(p string) *dir {
		if d, ok := dirs[p]; ok {
			return d
		}
		parent, name := "", p
		if i := strings.LastIndex(p, "/"); i >= 0 {
			parent, name = p[:i], p[i+1:]
		}
		mkdir(parent).dirs[name] = true
		d := &dir{files: map[string]objects.ID{}, dirs: map[string]bool{}}
		dirs[p] = d
		return d
	}
	for p, e := range tr {
		if e.dir {
			mkdir(p)
			continue
		}
		parent, name := "", p
		if i := strings.LastIndex(p, "/"); i >= 0 {
			parent, name = p[:i], p[i+1:]
		}
		f := objects.File{UID: e.uid, GID: e.uid}
		for k, v := range e.xattrs {
			f.Xattrs = append(f.Xattrs, objects.Xattr{Name: k, Value: []byte(v)})
		}
		sort.Slice(f.Xattrs, func(i, j int) bool { return f.Xattrs[i].Name < f.Xattrs[j].Name })
		if e.target != "" {
			f.Mode, f.Target = objects.ModeSymlink|0o777, e.target
		} else {
			f.Mode = objects.ModeRegular | 0o644
			if e.mode != 0 {
				f.Mode = objects.ModeRegular | e.mode
			}
			err := ch.Split(strings.NewReader(e.content), func(c []byte) error {
				id, err := objtest.PutBytes(ctx, st, objects.KindChunk, c)
				f.Chunks = append(f.Chunks, objects.ChunkRef{ID: id, Size: uint32(len(c))})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		b, err := f.Encode()
		if err != nil {
			t.Fatal(err)
		}
		id, err := objtest.PutBytes(ctx, st, objects.KindFile, b)
		if err != nil {
			t.Fatal(err)
		}
		mkdir(parent).files[name] = id
	}
	metaOf := func(p string) objects.ID {
		m := objects.DirMeta{Mode: objects.ModeDir | 0o755}
		if e, ok := tr[p]; ok && e.mode != 0 {
			m.Mode = objects.ModeDir | e.mode
		}
		b, _ := m.Encode()
		id, err := objtest.PutBytes(ctx, st, objects.KindDirMeta, b)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	var write func(p string) objects.ID
	write = func(p string) objects.ID {
		d := dirs[p]
		var names []string
		for n := range d.files {
			names = append(names, n)
		}
		for n := range d.dirs {
			names = append(names, n)
		}
		slices.Sort(names)
		var bld objects.DirTreeBuilder
		for _, n := range names {
			cp := n
			if p != "" {
				cp = p + "/" + n
			}
			if id, ok := d.files[n]; ok {
				if err := bld.AddFile(n, id); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := bld.AddDir(n, write(cp), metaOf(cp)); err != nil {
				t.Fatal(err)
			}
		}
		b, err := bld.Tree().Encode()
		if err != nil {
			t.Fatal(err)
		}
		id, err := objtest.PutBytes(ctx, st, objects.KindDirTree, b)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	c := objects.Commit{Tree: write(""), Meta: metaOf(""), Parent: parent, Timestamp: 1700000000 + release,
		Subject:  fmt.Sprintf("release %d", release),
		Metadata: objects.Metadata{objects.MetaRefBinding: []string{"os/stable"}, objects.MetaRelease: release}}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id, err := objtest.PutBytes(ctx, st, objects.KindCommit, b)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// closure lists every object a commit reaches, with its bytes.
func closure(t testing.TB, r objects.Reader, commit objects.ID) map[walkKey][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[walkKey][]byte{}
	var get func(kind objects.Kind, id objects.ID) []byte
	get = func(kind objects.Kind, id objects.ID) []byte {
		b, err := objects.ReadRaw(ctx, r, kind, id)
		if err != nil {
			t.Fatalf("%s %s: %v", kind, id.Short(), err)
		}
		out[walkKey{kind, id}] = b
		return b
	}
	c, err := objects.DecodeCommit(get(objects.KindCommit, commit))
	if err != nil {
		t.Fatal(err)
	}
	get(objects.KindDirMeta, c.Meta)
	var dir func(id objects.ID)
	dir = func(id objects.ID) {
		tr, err := objects.DecodeDirTree(get(objects.KindDirTree, id))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tr.Entries {
			if e.IsDir() {
				get(objects.KindDirMeta, e.Meta)
				dir(e.Tree)
				continue
			}
			f, err := objects.DecodeFile(get(objects.KindFile, e.File))
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range f.Chunks {
				get(objects.KindChunk, ch.ID)
			}
		}
	}
	dir(c.Tree)
	return out
}

// copyClosure makes a store holding exactly a commit's closure.
func copyClosure(t testing.TB, r objects.Reader, commit objects.ID) *strictStore {
	t.Helper()
	st := &strictStore{}
	objs := closure(t, r, commit)
	// Chunks, then files, dirmetas, dirtrees (any order among them: the
	// strict checks only apply to Apply's puts), then the commit.
	for _, k := range []objects.Kind{objects.KindChunk, objects.KindFile, objects.KindDirMeta, objects.KindDirTree, objects.KindCommit} {
		for key, b := range objs {
			if key.kind == k {
				st.mem.Put(context.Background(), k, key.id, bytes.NewReader(b))
			}
		}
	}
	return st
}

// strictStore is a MemStore that, like a repository transaction, refuses
// a parent before its children.
type strictStore struct {
	mem  objtest.MemStore
	puts int
}

func (s *strictStore) Has(ctx context.Context, kind objects.Kind, id objects.ID) (bool, error) {
	return s.mem.Has(ctx, kind, id)
}

func (s *strictStore) Open(ctx context.Context, kind objects.Kind, id objects.ID) (io.ReadCloser, error) {
	return s.mem.Open(ctx, kind, id)
}

func (s *strictStore) Put(ctx context.Context, kind objects.Kind, id objects.ID, r io.Reader) error {
	b, err := io.ReadAll(objects.Verify(r, kind, id, -1))
	if err != nil {
		return err
	}
	need := func(k objects.Kind, c objects.ID) error {
		if ok, _ := s.mem.Has(ctx, k, c); !ok {
			return fmt.Errorf("put %s %s before its %s %s", kind, id.Short(), k, c.Short())
		}
		return nil
	}
	switch kind {
	case objects.KindDirTree:
		t, err := objects.DecodeDirTree(b)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			if e.IsDir() {
				if err := errorsJoin(need(objects.KindDirTree, e.Tree), need(objects.KindDirMeta, e.Meta)); err != nil {
					return err
				}
			} else if err := need(objects.KindFile, e.File); err != nil {
				return err
			}
		}
	case objects.KindCommit:
		c, err := objects.DecodeCommit(b)
		if err != nil {
			return err
		}
		if err := errorsJoin(need(objects.KindDirTree, c.Tree), need(objects.KindDirMeta, c.Meta)); err != nil {
			return err
		}
	}
	s.puts++
	return s.mem.Put(ctx, kind, id, bytes.NewReader(b))
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// memDelta is a generated delta held in memory.
type memDelta struct {
	sb    *Superblock
	parts [][]byte
}

func generate(t testing.TB, r objects.Reader, from, to objects.ID, opts Options) *memDelta {
	t.Helper()
	d := &memDelta{}
	sb, err := Generate(context.Background(), r, from, to, opts, func(info PartInfo, data []byte) error {
		if objects.Sum(data) != info.Hash || int64(len(data)) != info.Size {
			t.Errorf("part info does not match its bytes")
		}
		d.parts = append(d.parts, bytes.Clone(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d.sb = sb
	return d
}

func (d *memDelta) open(i int) (io.ReaderAt, io.Closer, error) {
	if i >= len(d.parts) {
		return nil, nil, fmt.Errorf("no part %d", i)
	}
	return bytes.NewReader(d.parts[i]), io.NopCloser(nil), nil
}

// binaryish returns n bytes that look like compiled code: mostly random
// words, some of them repeated.
func binaryish(rng *rand.Rand, n int) []byte {
	words := make([]uint32, 256)
	for i := range words {
		words[i] = rng.Uint32()
	}
	b := make([]byte, 0, n+4)
	for len(b) < n {
		w := rng.Uint32()
		if rng.IntN(8) == 0 {
			w = words[rng.IntN(len(words))]
		}
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return b[:n]
}

// shifted returns b with addresses shifted (every word with the top bit
// set gets delta added) and a few bytes inserted: what a rebuild of a
// binary looks like.
func shifted(rng *rand.Rand, b []byte, delta uint32) []byte {
	out := bytes.Clone(b)
	for i := 0; i+4 <= len(out); i += 4 {
		w := uint32(out[i]) | uint32(out[i+1])<<8 | uint32(out[i+2])<<16 | uint32(out[i+3])<<24
		if w&0x80000000 != 0 && w%7 == 0 {
			w += delta
			out[i], out[i+1], out[i+2], out[i+3] = byte(w), byte(w>>8), byte(w>>16), byte(w>>24)
		}
	}
	at := rng.IntN(len(out))
	ins := make([]byte, 100)
	for i := range ins {
		ins[i] = byte(rng.IntN(256))
	}
	return slices.Concat(out[:at], ins, out[at:])
}
