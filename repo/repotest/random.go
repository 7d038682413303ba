package repotest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-ota/arbor/objects"
)

// SeedEnv is the environment variable that fixes the seed of random tests.
const SeedEnv = "ARBOR_TEST_SEED"

// Seed returns the seed for a random test: fixed if non-zero (a -seed
// flag), else from $ARBOR_TEST_SEED, else from the clock. It logs the seed
// and how to replay it, so every failure can be reproduced.
func Seed(t testing.TB, fixed uint64) uint64 {
	t.Helper()
	seed := fixed
	if seed == 0 {
		if v := os.Getenv(SeedEnv); v != "" {
			s, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("$%s=%q: %v", SeedEnv, v, err)
			}
			seed = s
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("random seed %d (replay with -seed=%d or %s=%d)", seed, seed, SeedEnv, seed)
	return seed
}

// Rand returns a generator for the seed.
func Rand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0xa7b0)) }

// RandomOptions shapes RandomTree.
type RandomOptions struct {
	// Entries is about how many entries the tree gets; zero means 40.
	Entries int
	// MaxFileSize caps regular files; zero means 1 MiB + 100 KiB. At least
	// one file bigger than 256 KiB (several chunks) is made when the cap allows.
	MaxFileSize int
	// EmptyXattrValues allows xattrs with an empty value (tar archives
	// cannot carry them: PAX treats an empty record as absent).
	EmptyXattrValues bool
	// SymlinkXattrs gives some symlinks trusted.* xattrs (needs root and a
	// filesystem that allows them; user.* xattrs are never allowed on symlinks).
	SymlinkXattrs bool
}

var (
	nameParts = []string{"a", "b", "bin", "etc", "lib", "usr", "x", "data", "ü", "日本", "file", "Z", "-dash", ".hidden", "sp ace", "a.b", "a-b", "caf\u00e9"}
	owners    = []uint32{0, 0, 0, 1, 2, 1000, 65534, 123456}
	filePerms = []uint32{0o644, 0o644, 0o755, 0o600, 0o400, 0o000, 0o4755, 0o2755, 0o6750, 0o1755, 0o7777, 0o640}
	dirPerms  = []uint32{0o755, 0o755, 0o700, 0o750, 0o1777, 0o2775, 0o555, 0o3770}
)

// RandomTree returns a random tree: nested and empty directories (some
// implied), regular files of 0 bytes to about 1 MiB (at least one over
// 256 KiB), files with identical content (some with identical metadata
// too), hard links, relative, absolute and dangling symlinks, setuid,
// setgid and sticky modes, random owners and user.* xattrs.
func RandomTree(rng *rand.Rand, opts RandomOptions) Tree {
	if opts.Entries == 0 {
		opts.Entries = 40
	}
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = 1<<20 + 100<<10
	}
	g := &gen{rng: rng, opts: opts, tree: Tree{}, used: map[string]bool{}}
	g.tree[""] = Dir(g.pick(dirPerms)).Owned(g.owner(), g.owner())
	dirs := []string{""}
	var files []string
	var links []string
	for i := 0; i < opts.Entries; i++ {
		parent := dirs[rng.IntN(len(dirs))]
		p := g.newName(parent)
		switch k := rng.IntN(100); {
		case k < 20: // directory; some implied (not listed), some empty
			if rng.IntN(6) == 0 {
				child := g.newName(p)
				g.tree[child] = Dir(g.pick(dirPerms)).Owned(g.owner(), g.owner())
				dirs = append(dirs, child)
			} else {
				g.tree[p] = g.xattrs(Dir(g.pick(dirPerms)).Owned(g.owner(), g.owner()))
			}
			dirs = append(dirs, p)
		case k < 35: // symlink
			g.tree[p] = g.symlink(p, files)
		case k < 45 && len(files) > 0: // hard link
			g.tree[p] = HardLink(files[rng.IntN(len(files))])
			links = append(links, p)
		case k < 55 && len(files) > 0: // same content as another file
			src := g.tree[files[rng.IntN(len(files))]]
			e := src
			if rng.IntN(2) == 0 { // and maybe different metadata
				e = g.xattrs(File(g.pick(filePerms), src.Content).Owned(g.owner(), g.owner()))
			}
			g.tree[p] = e
			files = append(files, p)
		default:
			g.tree[p] = g.xattrs(File(g.pick(filePerms), g.content(g.size())).Owned(g.owner(), g.owner()))
			files = append(files, p)
		}
	}
	// Make sure every feature is there at least once.
	big := false
	for _, f := range files {
		if len(g.tree[f].Content) > 256<<10 {
			big = true
		}
	}
	if !big && opts.MaxFileSize > 300<<10 {
		p := g.newName(dirs[rng.IntN(len(dirs))])
		g.tree[p] = File(0o644, g.content(300<<10+rng.IntN(opts.MaxFileSize-300<<10)))
		files = append(files, p)
	}
	if len(links) == 0 {
		g.tree[g.newName("")] = HardLink(files[rng.IntN(len(files))])
	}
	g.tree[g.newName("")] = Symlink("/absolute/target")
	g.tree[g.newName("")] = Symlink("../dangling/" + g.newName(""))
	g.tree[g.newName("")] = Dir(0o1777)
	g.tree[g.newName("")] = File(0o4755, "setuid").Owned(0, 0)
	g.tree[g.newName("")] = File(0o2711, "").Owned(1000, 1000)
	return g.tree
}

type gen struct {
	rng  *rand.Rand
	opts RandomOptions
	tree Tree
	used map[string]bool // every path handed out, implied directories included
	n    int
}

func (g *gen) pick(xs []uint32) uint32 { return xs[g.rng.IntN(len(xs))] }

func (g *gen) owner() uint32 { return g.pick(owners) }

// newName returns an unused path under parent.
func (g *gen) newName(parent string) string {
	for {
		g.n++
		name := nameParts[g.rng.IntN(len(nameParts))]
		if g.rng.IntN(3) > 0 {
			name += strconv.Itoa(g.n)
		}
		p := path.Join(parent, name)
		if !g.used[p] {
			g.used[p] = true
			return p
		}
	}
}

func (g *gen) size() int {
	n := 0
	switch k := g.rng.IntN(100); {
	case k < 10:
	case k < 50:
		n = g.rng.IntN(200)
	case k < 80:
		n = g.rng.IntN(32 << 10)
	case k < 93:
		n = g.rng.IntN(256 << 10)
	default:
		n = g.rng.IntN(g.opts.MaxFileSize)
	}
	return min(n, g.opts.MaxFileSize)
}

func (g *gen) content(n int) string {
	b := make([]byte, n)
	if g.rng.IntN(3) == 0 { // text: compresses well, cuts differently
		words := []string{"arbor ", "tree ", "chunk ", "\n", "lorem ", "ipsum ", "0123456789 "}
		var sb strings.Builder
		for sb.Len() < n {
			sb.WriteString(words[g.rng.IntN(len(words))])
		}
		return sb.String()[:n]
	}
	for i := 0; i < n; i += 8 {
		v := g.rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return string(b)
}

func (g *gen) xattrs(e Entry) Entry {
	n := g.rng.IntN(5) - 2 // most entries have none
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("user.%s%d", []string{"a", "comment", "mime_type", "x.y"}[g.rng.IntN(4)], g.rng.IntN(3))
		var val string
		switch g.rng.IntN(4) {
		case 0:
			val = "text value"
		case 1:
			b := make([]byte, 1+g.rng.IntN(64))
			for i := range b {
				b[i] = byte(g.rng.Uint32()) // binary, NUL bytes included
			}
			val = string(b)
		case 2:
			val = strings.Repeat("v", 1+g.rng.IntN(2000))
		default:
			if g.opts.EmptyXattrValues {
				val = ""
			} else {
				val = "0"
			}
		}
		e = e.WithXattr(name, val)
	}
	return e
}

func (g *gen) symlink(p string, files []string) Entry {
	var target string
	switch g.rng.IntN(4) {
	case 0: // relative, to an existing file if there is one
		if len(files) > 0 {
			target = relPath(path.Dir(p), files[g.rng.IntN(len(files))])
		} else {
			target = "."
		}
	case 1:
		target = "/usr/lib/" + nameParts[g.rng.IntN(len(nameParts))]
	case 2:
		target = "does-not-exist/" + strconv.Itoa(g.rng.IntN(100))
	default:
		target = strings.Repeat("../", g.rng.IntN(4)) + "x"
	}
	e := Symlink(target).Owned(g.owner(), g.owner())
	if g.opts.SymlinkXattrs && g.rng.IntN(3) == 0 {
		e = e.WithXattr("trusted.arbor", "symlink xattr")
	}
	return e
}

// relPath returns the relative path from directory dir to target (both
// tree paths).
func relPath(dir, target string) string {
	if dir == "." {
		dir = ""
	}
	var up []string
	for dir != "" && !strings.HasPrefix(target, dir+"/") {
		up = append(up, "..")
		dir = path.Dir(dir)
		if dir == "." {
			dir = ""
		}
	}
	rest := target
	if dir != "" {
		rest = strings.TrimPrefix(target, dir+"/")
	}
	return path.Join(append(up, rest)...)
}

// ContentStats describes what a tree holds, for checking deduplication.
type ContentStats struct {
	Chunks map[objects.ID]bool // distinct chunk IDs of all regular files
	Files  int                 // distinct file objects (content or target, mode, owner, xattrs)
}

// Expect returns the distinct chunks and file objects an import of the
// tree must store, computed without the repository's code: content cut
// with the default chunker, file identity by value.
func Expect(t testing.TB, tree Tree) ContentStats {
	t.Helper()
	n, err := tree.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	cs := ContentStats{Chunks: map[objects.ID]bool{}}
	seen := map[string]bool{}
	for _, e := range n {
		if e.IsDir() {
			continue
		}
		key := fmt.Sprintf("%o %d %d %q %q %q", e.Mode, e.UID, e.GID, e.Content, e.Target, sortedXattrs(e.Xattrs))
		if !seen[key] {
			seen[key] = true
			cs.Files++
		}
		cuts, err := objects.Chunker{}.CutPoints([]byte(e.Content))
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for _, c := range cuts {
			cs.Chunks[objects.Sum([]byte(e.Content[off:off+c]))] = true
			off += c
		}
	}
	return cs
}

func sortedXattrs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
