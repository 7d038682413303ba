package objects_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

func mustPut(t *testing.T, s objects.Writer, kind objects.Kind, b []byte) objects.ID {
	t.Helper()
	id, err := objtest.PutBytes(t.Context(), s, kind, b)
	if err != nil {
		t.Fatalf("put %s: %v", kind, err)
	}
	return id
}

func mustEncode(t *testing.T, v interface{ Encode() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantCorrupt checks that err matches ErrCorrupt and is a *CorruptError
// naming the object.
func wantCorrupt(t *testing.T, err error, kind objects.Kind, id objects.ID) *objects.CorruptError {
	t.Helper()
	if !errors.Is(err, objects.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	var ce *objects.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("%v is not a *CorruptError", err)
	}
	if ce.Want != id || ce.Kind != kind {
		t.Errorf("CorruptError names %s %s, want %s %s", ce.Kind, ce.Want.Short(), kind, id.Short())
	}
	if errors.Is(err, objects.ErrNotFound) || errors.Is(err, objects.ErrInvalid) {
		t.Errorf("%v matches another sentinel too", err)
	}
	return ce
}

func TestReadRaw(t *testing.T) {
	ctx := t.Context()
	var s objtest.MemStore
	content := []byte("some chunk content")
	id := mustPut(t, &s, objects.KindChunk, content)
	b, err := objects.ReadRaw(ctx, &s, objects.KindChunk, id)
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("ReadRaw = %q, %v", b, err)
	}

	flipped := bytes.Clone(content)
	flipped[3] ^= 0x01
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"flipped byte", flipped},
		{"truncated", content[:len(content)-1]},
		{"empty", nil},
		{"one byte too long", append(bytes.Clone(content), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Corrupt(objects.KindChunk, id, tc.b)
			_, err := objects.ReadRaw(ctx, &s, objects.KindChunk, id)
			ce := wantCorrupt(t, err, objects.KindChunk, id)
			if ce.Got != objects.Sum(tc.b) {
				t.Errorf("CorruptError.Got = %s, want the hash of the bytes read", ce.Got.Short())
			}
		})
	}

	s.Delete(objects.KindChunk, id)
	_, err = objects.ReadRaw(ctx, &s, objects.KindChunk, id)
	if !errors.Is(err, objects.ErrNotFound) {
		t.Fatalf("missing object: got %v, want ErrNotFound", err)
	}
	var nf *objects.NotFoundError
	if !errors.As(err, &nf) || nf.ID != id || nf.Kind != objects.KindChunk {
		t.Errorf("missing object: %v is not a *NotFoundError naming it", err)
	}
	if errors.Is(err, objects.ErrCorrupt) {
		t.Errorf("%v matches ErrCorrupt", err)
	}
}

// TestReadDecoded covers ReadFile, ReadDirMeta, ReadDirTree and ReadCommit:
// good objects, corrupt ones, missing ones, and objects whose bytes hash
// right but do not decode.
func TestReadDecoded(t *testing.T) {
	ctx := t.Context()
	var s objtest.MemStore
	chunk := mustPut(t, &s, objects.KindChunk, []byte("hello"))
	f := &objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: chunk, Size: 5}}}
	fileID := mustPut(t, &s, objects.KindFile, mustEncode(t, f))
	meta := &objects.DirMeta{Mode: objects.ModeDir | 0o755}
	metaID := mustPut(t, &s, objects.KindDirMeta, mustEncode(t, meta))
	tree := &objects.DirTree{Entries: []objects.DirEntry{{Name: "hello", File: fileID}}}
	treeID := mustPut(t, &s, objects.KindDirTree, mustEncode(t, tree))
	c := &objects.Commit{Tree: treeID, Meta: metaID, Timestamp: 1,
		Metadata: objects.Metadata{objects.MetaRefBinding: []string{"main"}, objects.MetaRelease: int64(1)}}
	commitID := mustPut(t, &s, objects.KindCommit, mustEncode(t, c))

	type reader struct {
		kind objects.Kind
		id   objects.ID
		read func(objects.ID) (any, error)
	}
	readers := []reader{
		{objects.KindFile, fileID, func(id objects.ID) (any, error) { return objects.ReadFile(ctx, &s, id) }},
		{objects.KindDirMeta, metaID, func(id objects.ID) (any, error) { return objects.ReadDirMeta(ctx, &s, id) }},
		{objects.KindDirTree, treeID, func(id objects.ID) (any, error) { return objects.ReadDirTree(ctx, &s, id) }},
		{objects.KindCommit, commitID, func(id objects.ID) (any, error) { return objects.ReadCommit(ctx, &s, id) }},
	}
	for _, r := range readers {
		t.Run(r.kind.String(), func(t *testing.T) {
			good, err := objects.ReadRaw(ctx, &s, r.kind, r.id)
			if err != nil {
				t.Fatal(err)
			}
			v, err := r.read(r.id)
			if err != nil || v == nil {
				t.Fatalf("read: %v", err)
			}
			if again := encodeValue(t, v); !bytes.Equal(again, good) {
				t.Errorf("decoded value re-encodes differently")
			}

			// Corrupt: a flipped byte.
			bad := bytes.Clone(good)
			bad[len(bad)/2] ^= 0x80
			s.Corrupt(r.kind, r.id, bad)
			_, err = r.read(r.id)
			wantCorrupt(t, err, r.kind, r.id)
			s.Corrupt(r.kind, r.id, good)

			// Missing.
			var other objects.ID
			other[0] = 0xee
			if _, err := r.read(other); !errors.Is(err, objects.ErrNotFound) {
				t.Errorf("missing: got %v, want ErrNotFound", err)
			}

			// Hashes right but is not a valid object of this kind: the
			// bytes of an object of another kind, and plain garbage.
			for _, b := range [][]byte{[]byte("garbage"), mustEncode(t, &objects.DirTree{})} {
				if r.kind == objects.KindDirTree && len(b) != len("garbage") {
					b = mustEncode(t, meta)
				}
				id := objects.Sum(b)
				s.Corrupt(r.kind, id, b)
				_, err := r.read(id)
				if !errors.Is(err, objects.ErrInvalid) || errors.Is(err, objects.ErrCorrupt) {
					t.Errorf("invalid object: got %v, want ErrInvalid only", err)
				}
				if err != nil && !strings.HasPrefix(err.Error(), r.kind.String()+" "+id.Short()+": ") {
					t.Errorf("error %q does not start with the kind and short ID", err)
				}
			}
		})
	}
}

// endless is a reader that never ends.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestVerify(t *testing.T) {
	content := randomBytes(100_000, 20)
	id := objects.Sum(content)
	readers := map[string]func() io.Reader{
		"bytes":   func() io.Reader { return bytes.NewReader(content) },
		"onebyte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(content)) },
		"half":    func() io.Reader { return iotest.HalfReader(bytes.NewReader(content)) },
		"dataerr": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(content)) },
	}
	for name, newReader := range readers {
		for _, max := range []int64{-1, int64(len(content)), int64(len(content)) + 1, 1 << 40, math.MaxInt64} {
			b, err := io.ReadAll(objects.Verify(newReader(), objects.KindChunk, id, max))
			if err != nil || !bytes.Equal(b, content) {
				t.Errorf("%s, max %d: %d bytes, %v", name, max, len(b), err)
			}
		}
		// iotest.TestReader exercises odd read patterns and checks the
		// content. It starts with an empty read, on which DataErrReader
		// itself spins.
		if name != "dataerr" {
			if err := iotest.TestReader(objects.Verify(newReader(), objects.KindChunk, id, -1), content); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		// One byte longer than the limit: fails, with no hash computed.
		_, err := io.ReadAll(objects.Verify(newReader(), objects.KindChunk, id, int64(len(content))-1))
		if ce := wantCorrupt(t, err, objects.KindChunk, id); !ce.Got.IsZero() {
			t.Errorf("%s: too long, but Got is set", name)
		}
		// A different ID: hash mismatch at EOF.
		other := objects.Sum([]byte("other"))
		_, err = io.ReadAll(objects.Verify(newReader(), objects.KindChunk, other, -1))
		if ce := wantCorrupt(t, err, objects.KindChunk, other); ce.Got != id {
			t.Errorf("%s: Got = %s, want %s", name, ce.Got.Short(), id.Short())
		}
	}

	// An endless reader stops right after the kind's cap.
	e := &endless{}
	_, err := io.Copy(io.Discard, objects.Verify(e, objects.KindDirMeta, id, -1))
	wantCorrupt(t, err, objects.KindDirMeta, id)
	if e.n > int64(objects.KindDirMeta.MaxSize())+64<<10 {
		t.Errorf("read %d bytes from an endless reader, cap %d", e.n, objects.KindDirMeta.MaxSize())
	}

	// The error is sticky.
	v := objects.Verify(bytes.NewReader([]byte("abc")), objects.KindChunk, id, -1)
	_, err1 := io.ReadAll(v)
	_, err2 := v.Read(make([]byte, 10))
	if err1 == nil || err2 != err1 {
		t.Errorf("errors %v then %v, want the same error again", err1, err2)
	}

	// A read error other than EOF is passed on and not reported as corruption.
	boom := errors.New("boom")
	_, err = io.ReadAll(objects.Verify(io.MultiReader(bytes.NewReader(content[:10]), iotest.ErrReader(boom)), objects.KindChunk, id, -1))
	if !errors.Is(err, boom) || errors.Is(err, objects.ErrCorrupt) {
		t.Errorf("read error: got %v, want boom", err)
	}

	// An empty object.
	empty := objects.Sum(nil)
	if b, err := io.ReadAll(objects.Verify(strings.NewReader(""), objects.KindChunk, empty, 0)); err != nil || len(b) != 0 {
		t.Errorf("empty object: %q, %v", b, err)
	}
	_, err = io.ReadAll(objects.Verify(strings.NewReader("x"), objects.KindChunk, empty, 0))
	wantCorrupt(t, err, objects.KindChunk, empty)
}

// putContent chunks content into s and returns its file object.
func putContent(t *testing.T, s objects.Writer, content []byte) *objects.File {
	t.Helper()
	f := &objects.File{Mode: objects.ModeRegular | 0o644}
	c := objects.Chunker{Min: 1 << 10, Avg: 4 << 10, Max: 16 << 10}
	if err := c.Split(bytes.NewReader(content), func(b []byte) error {
		id := mustPut(t, s, objects.KindChunk, b)
		f.Chunks = append(f.Chunks, objects.ChunkRef{ID: id, Size: uint32(len(b))})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, objects.KindFile, mustEncode(t, f))
	return f
}

// readAllTimeout reads r in another goroutine, so that a reader that spins
// fails the test instead of hanging it.
func readAllTimeout(t *testing.T, read func() ([]byte, error)) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := read()
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("read did not return")
		return nil, nil
	}
}

func TestOpenContent(t *testing.T) {
	ctx := t.Context()
	var s objtest.MemStore
	content := randomBytes(200_000, 21)
	f := putContent(t, &s, content)
	if len(f.Chunks) < 5 {
		t.Fatalf("only %d chunks", len(f.Chunks))
	}
	if f.Size() != int64(len(content)) {
		t.Fatalf("Size() = %d, want %d", f.Size(), len(content))
	}

	rc := objects.OpenContent(ctx, &s, f)
	b, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("content: %d bytes, %v", len(b), err)
	}
	rc.Close()
	if err := iotest.TestReader(objects.OpenContent(ctx, &s, f), content); err != nil {
		t.Fatal(err)
	}
	b, err = readAllTimeout(t, func() ([]byte, error) {
		return io.ReadAll(iotest.OneByteReader(objects.OpenContent(ctx, &s, f)))
	})
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("one byte at a time: %d bytes, %v", len(b), err)
	}

	// Empty reads neither spin nor lose data.
	b, err = readAllTimeout(t, func() ([]byte, error) {
		r := objects.OpenContent(ctx, &s, f)
		var out []byte
		buf := make([]byte, 3000)
		for {
			if n, err := r.Read(buf[:0]); n != 0 || err != nil {
				return out, err
			}
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
		}
	})
	if err != nil || !bytes.Equal(b, content) {
		t.Fatalf("with empty reads: %d bytes, %v", len(b), err)
	}

	// An empty file.
	b, err = io.ReadAll(objects.OpenContent(ctx, &s, &objects.File{Mode: objects.ModeRegular}))
	if err != nil || len(b) != 0 {
		t.Fatalf("empty file: %q, %v", b, err)
	}

	// A read after Close fails.
	rc = objects.OpenContent(ctx, &s, f)
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := rc.Read(make([]byte, 10)); err == nil {
		t.Error("read after Close succeeded")
	}

	// A chunk whose size in the list is wrong, either way.
	for _, delta := range []int{-1, +1} {
		bad := *f
		bad.Chunks = append([]objects.ChunkRef(nil), f.Chunks...)
		bad.Chunks[2].Size = uint32(int(bad.Chunks[2].Size) + delta)
		_, err := io.ReadAll(objects.OpenContent(ctx, &s, &bad))
		wantCorrupt(t, err, objects.KindChunk, f.Chunks[2].ID)
	}

	// A corrupt chunk.
	raw, err := objects.ReadRaw(ctx, &s, objects.KindChunk, f.Chunks[3].ID)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(raw)
	flipped[0] ^= 1
	s.Corrupt(objects.KindChunk, f.Chunks[3].ID, flipped)
	b, err = io.ReadAll(objects.OpenContent(ctx, &s, f))
	wantCorrupt(t, err, objects.KindChunk, f.Chunks[3].ID)
	if len(b) > len(content) {
		t.Errorf("read %d bytes of %d", len(b), len(content))
	}
	s.Corrupt(objects.KindChunk, f.Chunks[3].ID, raw[:len(raw)-1])
	_, err = io.ReadAll(objects.OpenContent(ctx, &s, f))
	wantCorrupt(t, err, objects.KindChunk, f.Chunks[3].ID)
	s.Corrupt(objects.KindChunk, f.Chunks[3].ID, raw)

	// A missing chunk.
	s.Delete(objects.KindChunk, f.Chunks[4].ID)
	_, err = io.ReadAll(objects.OpenContent(ctx, &s, f))
	var nf *objects.NotFoundError
	if !errors.Is(err, objects.ErrNotFound) || !errors.As(err, &nf) || nf.ID != f.Chunks[4].ID {
		t.Errorf("missing chunk: got %v", err)
	}

	// A cancelled context stops the read between chunks.
	cctx, cancel := context.WithCancel(ctx)
	rc = objects.OpenContent(cctx, &s, f)
	if _, err := io.ReadFull(rc, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: got %v, want context.Canceled", err)
	}
}
