package deltas

import (
	"bytes"

	"github.com/arbor-ota/arbor/objects"
)

// contentSink receives a produced content and stores its chunks: cut with
// the delta's chunker (a file object rebuilt from a recipe), or along the
// chunk list of a file object sent whole, each chunk checked against it.
// It holds at most about two chunks' bytes.
type contentSink struct {
	a      *applier
	list   []objects.ChunkRef // the chunks expected, for a file object sent whole
	chunks []objects.ChunkRef // the chunks produced
	buf    []byte
	n      int64 // bytes written
}

func (a *applier) newSink(t *applyTarget) (*contentSink, error) {
	s := &contentSink{a: a}
	if t.obj != nil {
		s.list = t.obj.Chunks
	}
	return s, nil
}

func (s *contentSink) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	s.buf = append(s.buf, p...)
	if s.list != nil {
		for len(s.buf) > 0 {
			i := len(s.chunks)
			if i == len(s.list) {
				return 0, invalidf("content longer than its file object's chunks")
			}
			size := int(s.list[i].Size)
			if len(s.buf) < size {
				break
			}
			if err := s.put(s.buf[:size], s.list[i].ID, true); err != nil {
				return 0, err
			}
			s.buf = s.buf[size:]
		}
		s.compact()
		return len(p), nil
	}
	if max := s.a.sb.Chunker.Max; len(s.buf) >= 2*max {
		if err := s.cut(false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cut stores the chunks of buf whose end is certain: each cut point looks
// at most Max bytes past the chunk's start.
func (s *contentSink) cut(eof bool) error {
	cuts, err := s.a.sb.Chunker.CutPoints(s.buf)
	if err != nil {
		return invalidf("chunker: %v", err)
	}
	off := 0
	for _, n := range cuts {
		if !eof && off+s.a.sb.Chunker.Max > len(s.buf) {
			break
		}
		c := s.buf[off : off+n]
		if err := s.put(c, objects.Sum(c), false); err != nil {
			return err
		}
		off += n
	}
	s.buf = s.buf[off:]
	s.compact()
	return nil
}

func (s *contentSink) compact() {
	if cap(s.buf) > 4*objects.MaxChunkSize && len(s.buf) < cap(s.buf)/4 {
		s.buf = bytes.Clone(s.buf)
	}
}

// put stores one chunk unless it is there already; with check, it first
// verifies that the chunk is the one the file object lists.
func (s *contentSink) put(c []byte, id objects.ID, check bool) error {
	if got := objects.Sum(c); check && got != id { // (hashing twice only when checking)
		return &objects.CorruptError{Kind: objects.KindChunk, Want: id, Got: got, Reason: "produced by the delta"}
	}
	s.chunks = append(s.chunks, objects.ChunkRef{ID: id, Size: uint32(len(c))})
	a := s.a
	a.done += int64(len(c))
	if a.opts.Progress != nil {
		a.opts.Progress(a.done, a.sb.Stats.ContentBytes)
	}
	ok, err := a.st.Has(a.ctx, objects.KindChunk, id)
	if err != nil || ok {
		return err
	}
	return a.st.Put(a.ctx, objects.KindChunk, id, bytes.NewReader(c))
}

// finish stores the last chunks and returns the content's chunk list.
func (s *contentSink) finish() ([]objects.ChunkRef, error) {
	if s.list != nil {
		if len(s.buf) != 0 || len(s.chunks) != len(s.list) {
			return nil, invalidf("content shorter than its file object's chunks")
		}
		return s.chunks, nil
	}
	if err := s.cut(true); err != nil {
		return nil, err
	}
	return s.chunks, nil
}
