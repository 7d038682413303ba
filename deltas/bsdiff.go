package deltas

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"index/suffixarray"
)

// The bsdiff-class patch: the new content is a sequence of control entries,
// each "add n bytes of the old content at a position to n difference bytes,
// then copy m bytes of new content" (Percival's bsdiff, 2003). Matches are
// found through a suffix array of the old content (index/suffixarray), then
// extended forward and backward while at least half of the bytes agree: on
// compiled code, where a change shifts addresses by a constant, the
// difference bytes are mostly zeros and a few repeated values, which compress
// very well.
//
// The patch is three streams: control entries (in the part's control
// stream), difference bytes and copied bytes. Applying it reads the old
// content at offsets, so its memory does not grow with the files' sizes.

// ctrl is one control entry. Old is the absolute offset in the old content
// the add starts at (encoded as a signed distance from where the previous
// entry left off).
type ctrl struct {
	Add, Copy int64
	Old       int64
}

// bsdiffResult is a patch before it is written into a part.
type bsdiffResult struct {
	ctrls []ctrl
	diff  []byte // len = sum of Add
	extra []byte // len = sum of Copy
}

// maxSAInput bounds the old content indexed at once: a suffix array costs
// 4 bytes per byte, plus a copy while it is extracted.
const maxSAInput = 1<<31 - 1

// suffixArray returns the suffix array of data, built by index/suffixarray.
// The package does not export the array; its serialized form (Index.Write)
// does: a 10-byte varint length, the data, then blocks of a 10-byte varint
// block size followed by uvarint entries. saWriter parses that stream.
func suffixArray(data []byte) ([]int32, error) {
	if len(data) > maxSAInput {
		return nil, fmt.Errorf("suffix array input of %d bytes is too large", len(data))
	}
	ix := suffixarray.New(data)
	w := &saWriter{n: len(data), sa: make([]int32, 0, len(data))}
	if err := ix.Write(w); err != nil {
		return nil, err
	}
	if err := w.finish(); err != nil {
		return nil, err
	}
	return w.sa, nil
}

type saWriter struct {
	n       int
	state   int // 0: length header, 1: data, 2: block header, 3: block body
	hdr     []byte
	skip    int // data bytes left to skip
	left    int // body bytes left in the block
	partial []byte
	sa      []int32
}

var errSAFormat = errors.New("deltas: unexpected index/suffixarray serialization")

func (w *saWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		switch w.state {
		case 0, 2:
			need := binary.MaxVarintLen64 - len(w.hdr)
			take := min(need, len(p))
			w.hdr = append(w.hdr, p[:take]...)
			p = p[take:]
			if len(w.hdr) < binary.MaxVarintLen64 {
				continue
			}
			v, n := binary.Varint(w.hdr)
			if n <= 0 {
				return 0, errSAFormat
			}
			w.hdr = w.hdr[:0]
			if w.state == 0 {
				if v != int64(w.n) {
					return 0, errSAFormat
				}
				w.skip, w.state = w.n, 1
			} else {
				if v < binary.MaxVarintLen64 {
					return 0, errSAFormat
				}
				w.left, w.state = int(v)-binary.MaxVarintLen64, 3
			}
		case 1:
			take := min(w.skip, len(p))
			w.skip -= take
			p = p[take:]
			if w.skip == 0 {
				w.state = 2
			}
		case 3:
			take := min(w.left, len(p))
			body := p[:take]
			p = p[take:]
			w.left -= take
			if len(w.partial) > 0 {
				body = append(w.partial, body...)
				w.partial = w.partial[:0]
			}
			for len(body) > 0 {
				v, n := binary.Uvarint(body)
				if n == 0 {
					w.partial = append(w.partial[:0], body...)
					break
				}
				if n < 0 || v >= uint64(w.n) || len(w.sa) >= w.n {
					return 0, errSAFormat
				}
				w.sa = append(w.sa, int32(v))
				body = body[n:]
			}
			if w.left == 0 {
				if len(w.partial) > 0 {
					return 0, errSAFormat
				}
				w.state = 2
			}
		}
	}
	return total, nil
}

func (w *saWriter) finish() error {
	if len(w.sa) != w.n || (w.state != 2 && !(w.n == 0 && w.state == 2)) || len(w.hdr) != 0 {
		if w.n == 0 && (w.state == 1 || w.state == 2) {
			return nil
		}
		return errSAFormat
	}
	return nil
}

// matchLen returns the length of the common prefix of a and b.
func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// search finds the longest prefix of nw that occurs in old, by binary search
// over the suffix array.
func search(sa []int32, old, nw []byte) (pos, n int) {
	if len(sa) == 0 {
		return 0, 0
	}
	st, en := 0, len(sa)-1
	for en-st >= 2 {
		x := st + (en-st)/2
		p := int(sa[x])
		m := min(len(old)-p, len(nw))
		if bytes.Compare(old[p:p+m], nw[:m]) < 0 {
			st = x
		} else {
			en = x
		}
	}
	a := matchLen(old[sa[st]:], nw)
	b := matchLen(old[sa[en]:], nw)
	if a > b {
		return int(sa[st]), a
	}
	return int(sa[en]), b
}

// errBsdiffBudget: the inputs make bsdiff's match extension quadratic
// (long periodic runs, such as repeated lines of text); another kind of
// patch does better on them anyway.
var errBsdiffBudget = errors.New("bsdiff gave up: inputs too repetitive")

// bsdiff computes a patch from old to nw. base is old's offset in the whole
// old content (for window-by-window patches), recorded in the entries.
func bsdiff(old, nw []byte, base int64, res *bsdiffResult) error {
	sa, err := suffixArray(old)
	if err != nil {
		return err
	}
	return bsdiffWith(sa, old, nw, base, res)
}

func bsdiffWith(sa []int32, old, nw []byte, base int64, res *bsdiffResult) error {
	oldsize, newsize := len(old), len(nw)
	// Extending matches costs the distance between them at each change of
	// alignment; on periodic data that repeats without progress.
	budget := 32*(oldsize+newsize) + 1<<24
	var scan, pos, n, lastscan, lastpos, lastoffset int
	for scan < newsize {
		oldscore := 0
		scan += n
		for scsc := scan; scan < newsize; scan++ {
			pos, n = search(sa, old, nw[scan:])
			for ; scsc < scan+n; scsc++ {
				if scsc+lastoffset < oldsize && scsc+lastoffset >= 0 && old[scsc+lastoffset] == nw[scsc] {
					oldscore++
				}
			}
			if (n == oldscore && n != 0) || n > oldscore+8 {
				break
			}
			if scan+lastoffset < oldsize && scan+lastoffset >= 0 && old[scan+lastoffset] == nw[scan] {
				oldscore--
			}
		}
		if n == oldscore && scan != newsize {
			continue
		}
		if budget -= 2*(scan-lastscan) + 64; budget < 0 {
			return errBsdiffBudget
		}
		// Extend the previous match forward from lastscan, and this one
		// backward from scan, as far as at least half the bytes agree.
		s, sf, lenf := 0, 0, 0
		for i := 0; lastscan+i < scan && lastpos+i < oldsize; {
			if old[lastpos+i] == nw[lastscan+i] {
				s++
			}
			i++
			if s*2-i > sf*2-lenf {
				sf, lenf = s, i
			}
		}
		lenb := 0
		if scan < newsize {
			s, sb := 0, 0
			for i := 1; scan >= lastscan+i && pos >= i; i++ {
				if old[pos-i] == nw[scan-i] {
					s++
				}
				if s*2-i > sb*2-lenb {
					sb, lenb = s, i
				}
			}
		}
		if lastscan+lenf > scan-lenb {
			// The extensions overlap: split where the score is best.
			overlap := (lastscan + lenf) - (scan - lenb)
			s, ss, lens := 0, 0, 0
			for i := 0; i < overlap; i++ {
				if nw[lastscan+lenf-overlap+i] == old[lastpos+lenf-overlap+i] {
					s++
				}
				if nw[scan-lenb+i] == old[pos-lenb+i] {
					s--
				}
				if s > ss {
					ss, lens = s, i+1
				}
			}
			lenf += lens - overlap
			lenb -= lens
		}
		for i := 0; i < lenf; i++ {
			res.diff = append(res.diff, nw[lastscan+i]-old[lastpos+i])
		}
		cp := (scan - lenb) - (lastscan + lenf)
		res.extra = append(res.extra, nw[lastscan+lenf:lastscan+lenf+cp]...)
		if lenf > 0 || cp > 0 {
			res.ctrls = append(res.ctrls, ctrl{Add: int64(lenf), Copy: int64(cp), Old: base + int64(lastpos)})
		}
		lastscan = scan - lenb
		lastpos = pos - lenb
		lastoffset = pos - scan
	}
	return nil
}
