package deltas

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

// pair builds two releases that differ in every way a delta handles.
func pair(t testing.TB, seed uint64) (*objtest.MemStore, objects.ID, objects.ID) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	big := binaryish(rng, 700<<10)
	lib := binaryish(rng, 300<<10)
	text := strings.Repeat("the quick brown fox jumps over the lazy dog\n", 3000)
	unique := string(binaryish(rng, 90<<10))
	a := tree{
		"usr/bin/tool":                {content: string(big), mode: 0o755},
		"usr/lib/libfoo.so.1.2":       {content: string(lib)},
		"usr/lib/libfoo.so.1":         {target: "libfoo.so.1.2"},
		"usr/share/doc/readme":        {content: text},
		"usr/share/doc/same":          {content: "unchanged\n"},
		"etc/chmod-only":              {content: "mode changes\n", mode: 0o600},
		"etc/empty":                   {},
		"etc/gone":                    {content: "removed in b\n"},
		"opt/moved/a":                 {content: unique},
		"opt/moved/b":                 {content: "b\n"},
		"var/lib/status":              {content: text + "Status: installed\n"},
		"var/lib/xattr":               {content: "x\n", xattrs: map[string]string{"user.a": "1"}},
		"srv/empty-dir":               {dir: true},
		"usr/share/zoneinfo/Europe/A": {content: "TZif2 A 1\n"},
		"usr/share/zoneinfo/right/A":  {content: "TZif2 A 1\n"},
	}
	b := tree{
		"usr/bin/tool":                {content: string(shifted(rng, big, 0x40)), mode: 0o755},
		"usr/lib/libfoo.so.1.3":       {content: string(shifted(rng, lib, 0x1000))},
		"usr/lib/libfoo.so.1":         {target: "libfoo.so.1.3"},
		"usr/share/doc/readme":        {content: strings.Replace(text, "lazy", "sleepy", 5)},
		"usr/share/doc/same":          {content: "unchanged\n"},
		"usr/share/doc/copy-of-same":  {content: "unchanged\n", mode: 0o600},
		"etc/chmod-only":              {content: "mode changes\n", mode: 0o644},
		"etc/empty":                   {},
		"etc/new-empty":               {mode: 0o600},
		"etc/new":                     {content: string(binaryish(rng, 50<<10))},
		"etc/new-twin":                {content: "twins\n"},
		"etc/new-twin2":               {content: "twins\n"},
		"opt/renamed/a":               {content: unique},
		"opt/renamed/b":               {content: "b\n"},
		"var/lib/status":              {content: text + "Status: upgraded\n"},
		"var/lib/xattr":               {content: "x\n", xattrs: map[string]string{"user.a": "2", "user.b": ""}},
		"srv/empty-dir":               {dir: true},
		"srv/new-dir":                 {dir: true, mode: 0o700},
		"usr/share/zoneinfo/Europe/A": {content: "TZif2 A 2\n"},
		"usr/share/zoneinfo/right/A":  {content: "TZif2 A 2\n"},
	}
	st := &objtest.MemStore{}
	from := commitTree(t, st, a, 1, nil, objects.Chunker{})
	to := commitTree(t, st, b, 2, &from, objects.Chunker{})
	return st, from, to
}

func TestRoundTrip(t *testing.T) {
	st, from, to := pair(t, 1)
	for _, opts := range []Options{{}, {PartSize: 1}, {Window: 1 << 20, Workers: 1}} {
		d := generate(t, st, from, to, opts)
		enc, err := d.sb.Encode()
		if err != nil {
			t.Fatal(err)
		}
		sb, err := DecodeSuperblock(enc)
		if err != nil {
			t.Fatal(err)
		}
		dev := copyClosure(t, st, from)
		if err := Apply(context.Background(), dev, sb, d.open, ApplyOptions{TempDir: t.TempDir()}); err != nil {
			t.Fatalf("apply (%+v): %v", opts, err)
		}
		want := closure(t, st, to)
		got := closure(t, dev, to) // fails if anything is missing
		if len(got) != len(want) {
			t.Fatalf("closure has %d objects, want %d", len(got), len(want))
		}
		size, _ := d.sb.Size()
		t.Logf("opts %+v: %d parts, %d bytes, stats %+v", opts, len(d.parts), size, d.sb.Stats)
		if opts.PartSize == 1 && len(d.parts) < 3 {
			t.Errorf("PartSize 1 gave %d parts", len(d.parts))
		}
	}
}

func TestRoundTripStats(t *testing.T) {
	st, from, to := pair(t, 2)
	d := generate(t, st, from, to, Options{})
	s := d.sb.Stats
	if s.Bsdiff+s.Zstd < 3 {
		t.Errorf("want tool, libfoo (paired by name) and text patched: %+v", s)
	}
	if s.Copied < 3 {
		t.Errorf("want the chmod, the copy of an old file and a twin copied: %+v", s)
	}
	if s.Literal < 1 {
		t.Errorf("want the new file sent whole: %+v", s)
	}
	size, _ := d.sb.Size()
	// The new content is over 1 MB; patches make it a few KB.
	if size > 200<<10 {
		t.Errorf("delta is %d bytes", size)
	}
}

// A file committed with another chunker cannot be rebuilt from a recipe:
// its object is sent whole and its content is cut along its chunk list.
func TestRoundTripOtherChunker(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	big := binaryish(rng, 400<<10)
	st := &objtest.MemStore{}
	ch := objects.Chunker{Min: 4 << 10, Avg: 8 << 10, Max: 32 << 10}
	from := commitTree(t, st, tree{"f": {content: string(big)}, "g": {content: "old"}}, 1, nil, ch)
	to := commitTree(t, st, tree{"f": {content: string(shifted(rng, big, 8))}, "g": {content: string(binaryish(rng, 100<<10))}}, 2, &from, ch)
	d := generate(t, st, from, to, Options{})
	if d.sb.Stats.Objects < 2 {
		t.Errorf("file objects not sent whole: %+v", d.sb.Stats)
	}
	dev := copyClosure(t, st, from)
	if err := Apply(context.Background(), dev, d.sb, d.open, ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	closure(t, dev, to)
}

func TestApplyNeedsSource(t *testing.T) {
	st, from, to := pair(t, 4)
	d := generate(t, st, from, to, Options{})
	dev := &strictStore{} // holds nothing
	err := Apply(context.Background(), dev, d.sb, d.open, ApplyOptions{})
	if !errors.Is(err, ErrMissingSource) {
		t.Fatalf("want ErrMissingSource, got %v", err)
	}
}

func TestApplyWindow(t *testing.T) {
	st, from, to := pair(t, 5)
	d := generate(t, st, from, to, Options{Window: 2 << 20})
	dev := copyClosure(t, st, from)
	err := Apply(context.Background(), dev, d.sb, d.open, ApplyOptions{Window: 1 << 20})
	if !errors.Is(err, ErrTooLarge) || dev.puts != 0 {
		t.Fatalf("want ErrTooLarge before any put, got %v after %d puts", err, dev.puts)
	}
}

func TestApplyRefusesDamagedPart(t *testing.T) {
	st, from, to := pair(t, 6)
	d := generate(t, st, from, to, Options{})
	d.parts[0][len(d.parts[0])/2] ^= 1
	dev := copyClosure(t, st, from)
	err := Apply(context.Background(), dev, d.sb, d.open, ApplyOptions{})
	if !errors.Is(err, objects.ErrCorrupt) || dev.puts != 0 {
		t.Fatalf("want ErrCorrupt before any put, got %v after %d puts", err, dev.puts)
	}
}

func TestSuperblockRoundTrip(t *testing.T) {
	st, from, to := pair(t, 7)
	d := generate(t, st, from, to, Options{PartSize: 1})
	enc, err := d.sb.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := DecodeSuperblock(enc)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sb.Encode()
	if !bytes.Equal(enc, again) {
		t.Fatal("superblock does not round-trip")
	}
	for name, b := range map[string][]byte{
		"truncated": enc[:len(enc)-1],
		"trailing":  append(bytes.Clone(enc), 0),
		"magic":     append([]byte("X"), enc[1:]...),
		"version":   append(append([]byte(superMagic), 9), enc[9:]...),
		"commit":    flip(enc, 9+64+3),
	} {
		if _, err := DecodeSuperblock(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x20
	return c
}
