package objects_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/arbor-ota/arbor/objects"
)

// randomBytes returns n deterministic pseudo-random bytes: PCG with the
// given seed, 8 little-endian bytes per Uint64.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6172626f72)) // "arbor"
	b := make([]byte, 0, n+8)
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, r.Uint64())
	}
	return b[:n]
}

// runsInput has long runs of zeros, a repeated text pattern and random
// bytes between them: the cases where a rolling hash finds no cut point.
func runsInput() []byte {
	var b []byte
	b = append(b, make([]byte, 1<<20)...)
	b = append(b, randomBytes(300<<10, 2)...)
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. 0123456789\n", 40000)
	b = append(b, text...)
	b = append(b, randomBytes(100<<10, 3)...)
	b = append(b, bytes.Repeat([]byte{0xff}, 600<<10)...)
	b = append(b, make([]byte, 777)...)
	return b
}

type chunkerCase struct {
	name    string
	chunker objects.Chunker
	input   func() []byte
}

var chunkerCases = []chunkerCase{
	{"random-8MiB", objects.Chunker{}, func() []byte { return randomBytes(8<<20, 1) }},
	{"runs", objects.Chunker{}, runsInput},
	{"random-1MiB-small", objects.Chunker{Min: 256, Avg: 1024, Max: 4096}, func() []byte { return randomBytes(1<<20, 4) }},
	{"random-4MiB-large", objects.Chunker{Min: 128 << 10, Avg: 512 << 10, Max: 1 << 20}, func() []byte { return randomBytes(4<<20, 5) }},
}

// goldenChunks is one entry of testdata/objects/chunker.json.
type goldenChunks struct {
	Name    string `json:"name"`
	Min     int    `json:"min"`
	Avg     int    `json:"avg"`
	Max     int    `json:"max"`
	Size    int    `json:"size"`
	Input   string `json:"input"` // ID (BLAKE3) of the input, to pin the generator
	Lengths []int  `json:"lengths"`
}

// TestChunkerKnownAnswers pins the exact cut points: they are part of the
// format, since they decide which chunks two releases share.
func TestChunkerKnownAnswers(t *testing.T) {
	path := filepath.Join(goldenDir, "chunker.json")
	var got []goldenChunks
	for _, tc := range chunkerCases {
		in := tc.input()
		lengths, err := tc.chunker.CutPoints(in)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, goldenChunks{Name: tc.name, Min: tc.chunker.Min, Avg: tc.chunker.Avg, Max: tc.chunker.Max,
			Size: len(in), Input: objects.Sum(in).String(), Lengths: lengths})
	}
	if *update {
		writeJSON(t, path, got)
	}
	var want []goldenChunks
	readJSON(t, path, &want)
	if len(want) != len(got) {
		t.Fatalf("%s has %d cases, the test has %d", path, len(want), len(got))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Min != w.Min || g.Avg != w.Avg || g.Max != w.Max || g.Size != w.Size || g.Input != w.Input {
			t.Errorf("case %d: input %s %d/%d/%d %d bytes %s, golden %s %d/%d/%d %d bytes %s",
				i, g.Name, g.Min, g.Avg, g.Max, g.Size, g.Input, w.Name, w.Min, w.Avg, w.Max, w.Size, w.Input)
			continue
		}
		if !slices.Equal(g.Lengths, w.Lengths) {
			t.Errorf("%s: cut points changed\n got %v\nwant %v", g.Name, g.Lengths, w.Lengths)
		}
	}
}

func chunkerSizes(c objects.Chunker) (min, max int) {
	if c == (objects.Chunker{}) {
		return objects.DefaultMinChunk, objects.DefaultMaxChunk
	}
	return c.Min, c.Max
}

// splitAll runs Split and returns copies of the chunks.
func splitAll(t testing.TB, c objects.Chunker, r io.Reader) [][]byte {
	t.Helper()
	var out [][]byte
	if err := c.Split(r, func(chunk []byte) error {
		out = append(out, bytes.Clone(chunk))
		return nil
	}); err != nil {
		t.Fatalf("Split: %v", err)
	}
	return out
}

func TestChunkerProperties(t *testing.T) {
	for _, tc := range chunkerCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.input()
			minSize, maxSize := chunkerSizes(tc.chunker)
			lengths, err := tc.chunker.CutPoints(in)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for i, n := range lengths {
				sum += n
				if n > maxSize || n <= 0 || n <= minSize && i != len(lengths)-1 {
					t.Errorf("chunk %d of %d has %d bytes, outside [%d+1, %d]", i, len(lengths), n, minSize, maxSize)
				}
			}
			if sum != len(in) {
				t.Fatalf("chunks sum to %d bytes, input has %d", sum, len(in))
			}
			t.Logf("%d chunks, mean %d bytes", len(lengths), len(in)/len(lengths))

			// Each reader yields want: the one-byte reader only a prefix, as
			// it is slow.
			prefix := in[:min(len(in), 1<<20)]
			readers := map[string]func() (r io.Reader, want []byte){
				"bytes":   func() (io.Reader, []byte) { return bytes.NewReader(in), in },
				"onebyte": func() (io.Reader, []byte) { return iotest.OneByteReader(bytes.NewReader(prefix)), prefix },
				"half":    func() (io.Reader, []byte) { return iotest.HalfReader(bytes.NewReader(in)), in },
				"dataerr": func() (io.Reader, []byte) { return iotest.DataErrReader(bytes.NewReader(in)), in },
				"odd":     func() (io.Reader, []byte) { return &oddReader{r: bytes.NewReader(in)}, in },
			}
			for name, newReader := range readers {
				r, want := newReader()
				chunks := splitAll(t, tc.chunker, r)
				wantLengths, _ := tc.chunker.CutPoints(want)
				if len(chunks) != len(wantLengths) {
					t.Fatalf("%s: Split gave %d chunks, CutPoints %d", name, len(chunks), len(wantLengths))
				}
				off := 0
				for i, c := range chunks {
					if len(c) != wantLengths[i] || !bytes.Equal(c, want[off:off+len(c)]) {
						t.Fatalf("%s: chunk %d differs from CutPoints (%d bytes, want %d)", name, i, len(c), wantLengths[i])
					}
					off += len(c)
				}
				if off != len(want) {
					t.Fatalf("%s: Split gave %d bytes of %d", name, off, len(want))
				}
			}
		})
	}
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// oddReader returns reads of varying sizes, some empty, to shake out
// buffer handling.
type oddReader struct {
	r io.Reader
	i int
}

func (o *oddReader) Read(p []byte) (int, error) {
	o.i++
	sizes := []int{0, 1, 4097, 65536 + 13, 300000, 7}
	n := sizes[o.i%len(sizes)]
	if n < len(p) {
		p = p[:n]
	}
	return o.r.Read(p)
}

func TestChunkerEdges(t *testing.T) {
	var c objects.Chunker
	in := randomBytes(3*objects.DefaultMaxChunk, 9)
	for _, n := range []int{0, 1, 63, objects.DefaultMinChunk - 1, objects.DefaultMinChunk, objects.DefaultMinChunk + 1,
		objects.DefaultAvgChunk, objects.DefaultMaxChunk - 1, objects.DefaultMaxChunk, objects.DefaultMaxChunk + 1, 2 * objects.DefaultMaxChunk, 3 * objects.DefaultMaxChunk} {
		lengths, err := c.CutPoints(in[:n])
		if err != nil {
			t.Fatal(err)
		}
		chunks := splitAll(t, c, bytes.NewReader(in[:n]))
		if len(chunks) != len(lengths) {
			t.Fatalf("%d bytes: Split gave %d chunks, CutPoints %d", n, len(chunks), len(lengths))
		}
		switch {
		case n == 0 && len(lengths) != 0:
			t.Errorf("empty input gave chunks %v", lengths)
		case n > 0 && n <= objects.DefaultMinChunk && !slices.Equal(lengths, []int{n}):
			t.Errorf("%d bytes gave %v, want one chunk", n, lengths)
		}
	}
	// A cut before EOF does not depend on what comes after the chunk.
	full, _ := c.CutPoints(in)
	prefix, _ := c.CutPoints(in[:full[0]+full[1]])
	if !slices.Equal(prefix, full[:2]) {
		t.Errorf("prefix of two chunks cut as %v, want %v", prefix, full[:2])
	}
}

func TestChunkerErrors(t *testing.T) {
	in := randomBytes(1<<20, 10)
	boom := errors.New("boom")
	// The callback's error stops Split and is returned.
	calls := 0
	err := objects.Chunker{}.Split(bytes.NewReader(in), func([]byte) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 2 {
		t.Errorf("Split = %v after %d calls, want boom after 2", err, calls)
	}
	// A read error is returned.
	r := io.MultiReader(bytes.NewReader(in[:300<<10]), iotest.ErrReader(boom))
	if err := (objects.Chunker{}).Split(r, func([]byte) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("Split over a failing reader = %v, want boom", err)
	}
	if err := (objects.Chunker{}).Split(iotest.TimeoutReader(bytes.NewReader(in)), func([]byte) error { return nil }); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("Split over a timing-out reader = %v, want ErrTimeout", err)
	}
	// A reader that returns nothing, forever.
	if err := (objects.Chunker{}).Split(stuckReader{}, func([]byte) error { return nil }); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Split over a stuck reader = %v, want io.ErrNoProgress", err)
	}
}

func TestChunkerSizes(t *testing.T) {
	for _, c := range []objects.Chunker{
		{Min: 64, Avg: 128, Max: 129},
		{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10},
		{Min: 256 << 10, Avg: 512 << 10, Max: objects.MaxChunkSize},
		{Min: 100, Avg: 4096, Max: 5000},
	} {
		if _, err := c.CutPoints([]byte("x")); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for _, c := range []objects.Chunker{
		{Min: 63, Avg: 128, Max: 256},
		{Min: 0, Avg: 128, Max: 256},
		{Min: -1, Avg: 128, Max: 256},
		{Min: 128, Avg: 128, Max: 256},
		{Min: 129, Avg: 128, Max: 256},
		{Min: 64, Avg: 128, Max: 128},
		{Min: 64, Avg: 100, Max: 256},
		{Min: 64, Avg: 192, Max: 256},
		{Min: 64, Avg: 128, Max: objects.MaxChunkSize + 1},
		{Min: 64 << 10, Avg: 1 << 20, Max: 2 << 20},
		{Avg: 64 << 10},
		{Max: 256 << 10},
		{Min: 16 << 10},
	} {
		if _, err := c.CutPoints([]byte("x")); err == nil {
			t.Errorf("CutPoints accepted sizes %+v", c)
		}
		if err := c.Split(strings.NewReader("x"), func([]byte) error { return nil }); err == nil {
			t.Errorf("Split accepted sizes %+v", c)
		}
	}
}

// TestChunkerLocality checks the content-defined property: an edit in the
// middle of a big input changes only the chunks around it.
func TestChunkerLocality(t *testing.T) {
	in := randomBytes(8<<20, 11)
	var c objects.Chunker
	type chunk struct {
		id       objects.ID
		off, end int
	}
	split := func(b []byte) (out []chunk) {
		lengths, err := c.CutPoints(b)
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for _, n := range lengths {
			out = append(out, chunk{objects.Sum(b[off : off+n]), off, off + n})
			off += n
		}
		return out
	}
	before := split(in)
	mid := len(in) / 2
	for _, tc := range []struct {
		name     string
		b        []byte
		at, size int // where the edit is and how many bytes it adds
	}{
		{"insert 1 byte", slices.Concat(in[:mid], []byte{0x42}, in[mid:]), mid, 1},
		{"insert 5000 bytes", slices.Concat(in[:mid], randomBytes(5000, 12), in[mid:]), mid, 5000},
		{"delete 300 bytes", slices.Concat(in[:mid], in[mid+300:]), mid, -300},
		{"overwrite 1 byte", slices.Concat(in[:mid], []byte{^in[mid]}, in[mid+1:]), mid, 0},
		{"prepend 10 bytes", slices.Concat([]byte("0123456789"), in), 0, 10},
	} {
		after := split(tc.b)
		// Chunks that end before the edit are the same; so are chunks from
		// some point after it, shifted by the edit's size.
		p := 0
		for p < len(before) && p < len(after) && before[p] == after[p] {
			p++
		}
		s := 0
		for s < len(before)-p && s < len(after)-p {
			x, y := before[len(before)-1-s], after[len(after)-1-s]
			if x.id != y.id || x.off+tc.size != y.off {
				break
			}
			s++
		}
		changed := len(after) - p - s
		t.Logf("%s: %d of %d chunks changed", tc.name, changed, len(after))
		if changed == 0 {
			t.Errorf("%s: no chunk changed", tc.name)
		}
		if p < len(after) && after[p].off > tc.at {
			t.Errorf("%s: first changed chunk starts at %d, after the edit at %d", tc.name, after[p].off, tc.at)
		}
		// The hash resynchronises within a few chunks: the changed ones end
		// within 3 maximum chunks of the edit.
		if last := after[len(after)-s-1]; last.end > tc.at+tc.size+3*objects.DefaultMaxChunk {
			t.Errorf("%s: changes run to byte %d, edit at %d", tc.name, last.end, tc.at)
		}
		if changed > 5 {
			t.Errorf("%s: %d chunks changed", tc.name, changed)
		}
	}
}

var benchData []byte

func BenchmarkChunker(b *testing.B) {
	if benchData == nil {
		benchData = randomBytes(64<<20, 42)
	}
	b.Run("Split", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		for b.Loop() {
			n := 0
			if err := (objects.Chunker{}).Split(bytes.NewReader(benchData), func(c []byte) error {
				n += len(c)
				return nil
			}); err != nil || n != len(benchData) {
				b.Fatal(err, n)
			}
		}
	})
	b.Run("CutPoints", func(b *testing.B) {
		b.SetBytes(int64(len(benchData)))
		for b.Loop() {
			if _, err := (objects.Chunker{}).CutPoints(benchData); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// refCutPoints is the chunking algorithm written straight from the package
// documentation, slowly and independently of chunker.go.
func refCutPoints(data []byte, min, avg, max int) []int {
	var gear [256]uint64
	state := uint64(0x61726230725f6364)
	for i := range gear {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		gear[i] = z ^ (z >> 31)
	}
	b := 0
	for 1<<b < avg {
		b++
	}
	topBits := func(n int) uint64 { return ^uint64(0) << (64 - n) }
	var out []int
	for len(data) > 0 {
		if len(data) <= min {
			out = append(out, len(data))
			break
		}
		end := len(data)
		if end > max {
			end = max
		}
		n := end
		var h uint64
		for i := min; i < end; i++ {
			h = h<<1 + gear[data[i]]
			mask := topBits(b - 2)
			if i < avg {
				mask = topBits(b + 2)
			}
			if h&mask == 0 {
				n = i + 1
				break
			}
		}
		out = append(out, n)
		data = data[n:]
	}
	return out
}

func TestChunkerMatchesSpec(t *testing.T) {
	for _, tc := range chunkerCases {
		in := tc.input()
		min, avg, max := tc.chunker.Min, tc.chunker.Avg, tc.chunker.Max
		if tc.chunker == (objects.Chunker{}) {
			min, avg, max = objects.DefaultMinChunk, objects.DefaultAvgChunk, objects.DefaultMaxChunk
		}
		got, err := tc.chunker.CutPoints(in)
		if err != nil {
			t.Fatal(err)
		}
		if want := refCutPoints(in, min, avg, max); !slices.Equal(got, want) {
			t.Errorf("%s: CutPoints differs from the documented algorithm", tc.name)
		}
	}
}
