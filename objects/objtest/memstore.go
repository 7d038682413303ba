// Package objtest holds test kits for code that works on objects: an
// in-memory store and a store that injects faults.
package objtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/arbor-ota/arbor/objects"
)

type key struct {
	kind objects.Kind
	id   objects.ID
}

// MemStore is an objects.Store in memory. It verifies every Put like a real
// store does. The zero value is ready to use.
type MemStore struct {
	mu sync.RWMutex
	m  map[key][]byte
}

var _ objects.Store = (*MemStore)(nil)

// Has implements objects.Reader.
func (s *MemStore) Has(ctx context.Context, kind objects.Kind, id objects.ID) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[key{kind, id}]
	return ok, nil
}

// Open implements objects.Reader.
func (s *MemStore) Open(ctx context.Context, kind objects.Kind, id objects.ID) (io.ReadCloser, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.m[key{kind, id}]
	if !ok {
		return nil, &objects.NotFoundError{Kind: kind, ID: id}
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// Put implements objects.Writer.
func (s *MemStore) Put(ctx context.Context, kind objects.Kind, id objects.ID, r io.Reader) error {
	b, err := io.ReadAll(objects.Verify(r, kind, id, -1))
	if err != nil {
		return err
	}
	if kind == objects.KindFile {
		f, err := objects.DecodeFile(b)
		if err != nil {
			return err
		}
		for _, c := range f.Chunks {
			if ok, _ := s.Has(ctx, objects.KindChunk, c.ID); !ok {
				return fmt.Errorf("put file %s: %w", id.Short(), &objects.NotFoundError{Kind: objects.KindChunk, ID: c.ID})
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[key][]byte)
	}
	s.m[key{kind, id}] = b
	return nil
}

// Len returns the number of objects held.
func (s *MemStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// Corrupt replaces an object's bytes, or stores bytes under an ID they do
// not hash to, for tests of corruption handling.
func (s *MemStore) Corrupt(kind objects.Kind, id objects.ID, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[key][]byte)
	}
	s.m[key{kind, id}] = b
}

// Delete removes an object, for tests of missing objects.
func (s *MemStore) Delete(kind objects.Kind, id objects.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key{kind, id})
}

// PutBytes encodes nothing: it stores b under its own ID and returns the ID.
func PutBytes(ctx context.Context, w objects.Writer, kind objects.Kind, b []byte) (objects.ID, error) {
	id := objects.Sum(b)
	return id, w.Put(ctx, kind, id, bytes.NewReader(b))
}
