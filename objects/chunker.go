package objects

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
)

// Chunker cuts one file's content into chunks with normalized FastCDC
// (Xia et al., USENIX ATC 2016): a gear rolling hash, no cut before Min,
// a harder mask before Avg and an easier one after, a forced cut at Max.
// The zero value uses the defaults (16 KiB, 64 KiB, 256 KiB). Cut points are
// part of the format: the same content always gives the same chunks.
type Chunker struct {
	Min, Avg, Max int
}

// Default chunk sizes.
const (
	DefaultMinChunk = 16 << 10
	DefaultAvgChunk = 64 << 10
	DefaultMaxChunk = 256 << 10
)

// normalization level: the mask before Avg has this many more bits, the mask
// after it this many fewer.
const normLevel = 2

// gear is the table of the rolling hash: 256 pseudo-random 64-bit values from
// splitmix64 with a fixed seed. Changing it changes every cut point.
var gear = func() (t [256]uint64) {
	x := uint64(0x61726230725f6364) // "arb0r_cd"
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		t[i] = z ^ (z >> 31)
	}
	return t
}()

func (c Chunker) sizes() (min, avg, max int, err error) {
	min, avg, max = c.Min, c.Avg, c.Max
	if min == 0 && avg == 0 && max == 0 {
		return DefaultMinChunk, DefaultAvgChunk, DefaultMaxChunk, nil
	}
	if min < 64 || avg <= min || max <= avg || max > MaxChunkSize || bits.OnesCount(uint(avg)) != 1 {
		return 0, 0, 0, fmt.Errorf("chunker sizes %d/%d/%d: want 64 <= min < avg < max <= %d, avg a power of two", min, avg, max, MaxChunkSize)
	}
	return min, avg, max, nil
}

// masks returns the two masks for an average size of 2^b. They select high
// bits, which depend on the last 64 bytes seen by the gear hash.
func masks(avg int) (small, large uint64) {
	b := bits.TrailingZeros(uint(avg))
	small = ^uint64(0) << (64 - (b + normLevel))
	large = ^uint64(0) << (64 - (b - normLevel))
	return small, large
}

// cut returns the length of the first chunk of data. data holds the rest of
// the content, or at least max bytes of it: a chunk never needs more.
func (c Chunker) cut(data []byte, min, avg, max int, small, large uint64) int {
	n := len(data)
	if n <= min {
		return n
	}
	if n > max {
		n = max
	}
	normal := avg
	if normal > n {
		normal = n
	}
	// The loops index the re-sliced data with a range the compiler can see,
	// so that the hot loop has no bounds checks; gear is indexed by a byte.
	var h uint64
	d := data[min:normal]
	for i, b := range d {
		h = (h << 1) + gear[b]
		if h&small == 0 {
			return min + i + 1
		}
	}
	d = data[normal:n]
	for i, b := range d {
		h = (h << 1) + gear[b]
		if h&large == 0 {
			return normal + i + 1
		}
	}
	return n
}

// Split reads r to EOF and calls fn with each chunk in order. The slice
// passed to fn is valid only during the call. An empty input gives no chunks.
// Split returns the first error from r (other than io.EOF) or from fn, and
// io.ErrNoProgress if r returns no data and no error 100 times in a row.
func (c Chunker) Split(r io.Reader, fn func(chunk []byte) error) error {
	min, avg, max, err := c.sizes()
	if err != nil {
		return err
	}
	small, large := masks(avg)
	pool := bufferPool(2 * max)
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	buf := *bp
	start, end := 0, 0
	eof := false
	for {
		if !eof && end-start < max {
			// Move the tail to the front and fill the buffer.
			copy(buf, buf[start:end])
			end -= start
			start = 0
			for empty := 0; end < len(buf) && !eof; {
				n, err := r.Read(buf[end:])
				end += n
				if errors.Is(err, io.EOF) {
					eof = true
				} else if err != nil {
					return err
				}
				// A reader that keeps returning nothing would spin here.
				if n > 0 {
					empty = 0
				} else if empty++; empty >= 100 {
					return io.ErrNoProgress
				}
			}
		}
		if start == end {
			return nil
		}
		n := c.cut(buf[start:end], min, avg, max, small, large)
		if !eof && n == end-start && n < max {
			// cut() saw fewer than Max bytes without EOF: impossible after the fill above.
			return fmt.Errorf("chunker: internal error: short buffer")
		}
		if err := fn(buf[start : start+n]); err != nil {
			return err
		}
		start += n
	}
}

// bufferPools holds Split's buffers, one pool per buffer size: a buffer is
// 2*Max bytes, and allocating (and zeroing) one per file cost more than
// cutting most files does. Only the bytes read into a buffer are ever used,
// so a reused buffer needs no clearing.
var bufferPools sync.Map // int -> *sync.Pool of *[]byte

func bufferPool(size int) *sync.Pool {
	if p, ok := bufferPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := bufferPools.LoadOrStore(size, &sync.Pool{New: func() any {
		b := make([]byte, size)
		return &b
	}})
	return p.(*sync.Pool)
}

// CutPoints returns the chunk lengths for data, for tests and tools.
func (c Chunker) CutPoints(data []byte) ([]int, error) {
	min, avg, max, err := c.sizes()
	if err != nil {
		return nil, err
	}
	small, large := masks(avg)
	var out []int
	for len(data) > 0 {
		n := c.cut(data, min, avg, max, small, large)
		out = append(out, n)
		data = data[n:]
	}
	return out, nil
}
