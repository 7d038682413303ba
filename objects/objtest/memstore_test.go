package objtest_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

func TestMemStore(t *testing.T) {
	ctx := t.Context()
	var s objtest.MemStore
	chunk := []byte("chunk")
	id := objects.Sum(chunk)

	// Put checks the bytes against the ID, and stores nothing on a mismatch.
	if err := s.Put(ctx, objects.KindChunk, id, bytes.NewReader([]byte("other"))); !errors.Is(err, objects.ErrCorrupt) {
		t.Fatalf("Put with a wrong ID: %v, want ErrCorrupt", err)
	}
	if ok, _ := s.Has(ctx, objects.KindChunk, id); ok || s.Len() != 0 {
		t.Fatal("a refused Put stored something")
	}
	if _, err := s.Open(ctx, objects.KindChunk, id); !errors.Is(err, objects.ErrNotFound) {
		t.Fatalf("Open of a missing object: %v, want ErrNotFound", err)
	}

	// A file object whose chunk is missing is refused.
	f := &objects.File{Mode: objects.ModeRegular | 0o644, Chunks: []objects.ChunkRef{{ID: id, Size: uint32(len(chunk))}}}
	fb, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := objtest.PutBytes(ctx, &s, objects.KindFile, fb); !errors.Is(err, objects.ErrNotFound) {
		t.Fatalf("Put of a file without its chunk: %v, want ErrNotFound", err)
	}
	// An invalid file object is refused.
	if _, err := objtest.PutBytes(ctx, &s, objects.KindFile, []byte("not a file")); !errors.Is(err, objects.ErrInvalid) {
		t.Fatalf("Put of an invalid file: %v, want ErrInvalid", err)
	}

	if got, err := objtest.PutBytes(ctx, &s, objects.KindChunk, chunk); err != nil || got != id {
		t.Fatalf("PutBytes = %s, %v", got, err)
	}
	fileID, err := objtest.PutBytes(ctx, &s, objects.KindFile, fb)
	if err != nil {
		t.Fatal(err)
	}
	// Putting again is not an error.
	if _, err := objtest.PutBytes(ctx, &s, objects.KindFile, fb); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	// Objects are keyed by kind and ID.
	if ok, _ := s.Has(ctx, objects.KindChunk, fileID); ok {
		t.Fatal("Has finds a file object as a chunk")
	}
	rc, err := s.Open(ctx, objects.KindChunk, id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, chunk) {
		t.Fatalf("Open read %q", b)
	}

	s.Delete(objects.KindChunk, id)
	if ok, _ := s.Has(ctx, objects.KindChunk, id); ok {
		t.Fatal("Delete left the object")
	}
	var empty objtest.MemStore
	empty.Corrupt(objects.KindChunk, id, []byte("bad"))
	if _, err := objects.ReadRaw(ctx, &empty, objects.KindChunk, id); !errors.Is(err, objects.ErrCorrupt) {
		t.Fatalf("ReadRaw of corrupted bytes: %v, want ErrCorrupt", err)
	}
}
