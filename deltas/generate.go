package deltas

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/arbor-ota/arbor/objects"
)

// Options controls Generate. The zero value uses the defaults.
type Options struct {
	// Window is the patch window: the largest zstd window the parts use,
	// and the most old plus new content a zstd patch covers (default
	// DefaultWindow, 32 MiB). Devices need about this much memory beyond
	// their base to apply the delta. Larger files are patched with bsdiff,
	// whose matches are searched window by window.
	Window int64
	// Level is the zstd level of the parts' streams and patches (default 19).
	Level int
	// PartSize is the uncompressed payload at which a part is closed
	// (default 32 MiB).
	PartSize int64
	// Workers patch files in parallel (default: the number of CPUs).
	Workers int
	// Progress, if set, is called after each file content is encoded, with
	// the number done and the total. It must be safe for concurrent use.
	Progress func(done, total int)
}

func (o Options) withDefaults() (Options, error) {
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < 1<<20 || o.Window > MaxWindow {
		return o, fmt.Errorf("delta window %d: want 1 MiB to 1 GiB", o.Window)
	}
	if o.Level == 0 {
		o.Level = 19
	}
	if o.Level < 1 || o.Level > 22 {
		return o, fmt.Errorf("zstd level %d: want 1 to 22", o.Level)
	}
	if o.PartSize == 0 {
		o.PartSize = 32 << 20
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

// PartFunc receives each part of a delta as it is generated, in order.
type PartFunc func(info PartInfo, data []byte) error

// Generate computes a static delta from commit from to commit to, reading
// both from r (which must hold both closures). Each part is passed to emit
// in order; the superblock, returned last, lists them.
func Generate(ctx context.Context, r objects.Reader, from, to objects.ID, opts Options, emit PartFunc) (*Superblock, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if from == to {
		return nil, fmt.Errorf("delta from %s to itself", from.Short())
	}
	g := &generator{ctx: ctx, r: r, opts: opts, closure: map[walkKey]bool{}, oldFiles: map[string]oldFile{},
		oldByList: map[objects.ID]string{}, chunkOwner: map[objects.ID]string{}, byName: map[string][]string{},
		fileCache: map[objects.ID]*objects.File{}}
	fromC, err := objects.ReadCommit(ctx, r, from)
	if err != nil {
		return nil, fmt.Errorf("delta: from commit: %w", err)
	}
	commitRaw, err := objects.ReadRaw(ctx, r, objects.KindCommit, to)
	if err != nil {
		return nil, fmt.Errorf("delta: to commit: %w", err)
	}
	toC, err := objects.DecodeCommit(commitRaw)
	if err != nil {
		return nil, fmt.Errorf("delta: to commit: %w", err)
	}
	if err := g.indexOld(fromC); err != nil {
		return nil, fmt.Errorf("delta: index %s: %w", from.Short(), err)
	}
	err = walkTrees(ctx, r, toC.Meta, toC.Tree, fromC.Meta, fromC.Tree, g.visit)
	if err != nil {
		return nil, fmt.Errorf("delta: walk %s: %w", to.Short(), err)
	}
	if err := g.encodeTargets(); err != nil {
		return nil, fmt.Errorf("delta %s-%s: %w", from.Short(), to.Short(), err)
	}
	sb := &Superblock{From: from, To: to, Commit: commitRaw, Window: opts.Window, Chunker: defaultChunker(), Stats: g.stats}
	if err := g.writeParts(sb, emit); err != nil {
		return nil, fmt.Errorf("delta %s-%s: %w", from.Short(), to.Short(), err)
	}
	if _, err := sb.Encode(); err != nil {
		return nil, err
	}
	return sb, nil
}

func defaultChunker() objects.Chunker {
	return objects.Chunker{Min: objects.DefaultMinChunk, Avg: objects.DefaultAvgChunk, Max: objects.DefaultMaxChunk}
}

type oldFile struct {
	id objects.ID
	f  *objects.File
}

type generator struct {
	ctx  context.Context
	r    objects.Reader
	opts Options

	// The old tree.
	closure    map[walkKey]bool      // every dirtree, dirmeta and file of the old commit
	oldFiles   map[string]oldFile    // regular files with content, by path
	oldByList  map[objects.ID]string // hash of a chunk list -> a path with that content
	chunkOwner map[objects.ID]string // chunk -> a path holding it
	byName     map[string][]string   // "dir\x00normalized name" and "\x00normalized name" -> paths
	fileCache  map[objects.ID]*objects.File

	cands   []genCand
	targets []*genTarget
	stats   Stats
}

// genCand is a candidate of the tree section with what the generator
// decided for it.
type genCand struct {
	flag    byte
	payload []byte // raw bytes (flagRaw) or a zstd frame (flagPatch)
	target  int    // for a file that is a target: its index, else -1
}

// genTarget is a file whose content the delta produces.
type genTarget struct {
	path    string
	id      objects.ID
	f       *objects.File
	raw     []byte     // the file object's bytes
	same    objects.ID // the old file at the same path, if a regular file with content
	copyNew int        // earlier target with the same content, or -1
	copyOld string     // old path with the same content, or ""

	// Decided by encode.
	recipe bool
	op     encodedOp
}

type encodedOp struct {
	tag    byte
	source string // old path of the source; "" for none
	newLen int64
	ctrls  []ctrl
	diff   []byte // run-length encoded difference bytes
	data   []byte // literal content or bsdiff's copied bytes
	frame  []byte // zstd patch
	cost   int64  // estimated compressed bytes
}

func (g *generator) readFile(id objects.ID) (*objects.File, []byte, error) {
	raw, err := objects.ReadRaw(g.ctx, g.r, objects.KindFile, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := objects.DecodeFile(raw)
	if err != nil {
		return nil, nil, err
	}
	return f, raw, nil
}

// indexOld walks the whole old tree once.
func (g *generator) indexOld(c *objects.Commit) error {
	g.closure[walkKey{objects.KindDirMeta, c.Meta}] = true
	var dir func(p string, id objects.ID) error
	dir = func(p string, id objects.ID) error {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		first := !g.closure[walkKey{objects.KindDirTree, id}]
		g.closure[walkKey{objects.KindDirTree, id}] = true
		t, err := objects.ReadDirTree(g.ctx, g.r, id)
		if err != nil {
			return err
		}
		for _, e := range t.Entries {
			cp := path.Join(p, e.Name)
			if e.IsDir() {
				g.closure[walkKey{objects.KindDirMeta, e.Meta}] = true
				if err := dir(cp, e.Tree); err != nil {
					return err
				}
				continue
			}
			g.closure[walkKey{objects.KindFile, e.File}] = true
			f, ok := g.fileCache[e.File]
			if !ok {
				if f, _, err = g.readFile(e.File); err != nil {
					return err
				}
				g.fileCache[e.File] = f
			}
			if f.IsSymlink() || len(f.Chunks) == 0 {
				continue
			}
			g.oldFiles[cp] = oldFile{id: e.File, f: f}
			if _, ok := g.oldByList[chunkListKey(f.Chunks)]; !ok {
				g.oldByList[chunkListKey(f.Chunks)] = cp
			}
			for _, ch := range f.Chunks {
				if _, ok := g.chunkOwner[ch.ID]; !ok {
					g.chunkOwner[ch.ID] = cp
				}
			}
			n := normName(e.Name)
			g.byName[p+"\x00"+n] = append(g.byName[p+"\x00"+n], cp)
			g.byName["\x00"+n] = append(g.byName["\x00"+n], cp)
		}
		_ = first
		return nil
	}
	return dir("", c.Tree)
}

// chunkListKey names a content by its chunk list.
func chunkListKey(cs []objects.ChunkRef) objects.ID {
	b := make([]byte, 0, len(cs)*36)
	for _, c := range cs {
		b = append(b, c.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, c.Size)
	}
	return objects.Sum(b)
}

// normName replaces each run of digits with '#', so that versioned names
// (libfoo.so.1.2, libfoo.so.1.3) compare equal.
func normName(s string) string {
	var b strings.Builder
	digits := false
	for _, r := range s {
		if unicode.IsDigit(r) {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(r)
	}
	return b.String()
}

// visit decides each candidate of the tree section.
func (g *generator) visit(c candidate) (*objects.DirTree, error) {
	if g.closure[walkKey{c.kind, c.id}] {
		g.cands = append(g.cands, genCand{flag: flagKnown, target: -1})
		return nil, nil
	}
	raw, err := objects.ReadRaw(g.ctx, g.r, c.kind, c.id)
	if err != nil {
		return nil, err
	}
	switch c.kind {
	case objects.KindDirTree:
		t, err := objects.DecodeDirTree(raw)
		if err != nil {
			return nil, err
		}
		if err := g.sendObject(c, raw); err != nil {
			return nil, err
		}
		return t, nil
	case objects.KindFile:
		f, err := objects.DecodeFile(raw)
		if err != nil {
			return nil, err
		}
		if f.IsSymlink() || len(f.Chunks) == 0 {
			return nil, g.sendObject(c, raw)
		}
		t := &genTarget{path: c.path, id: c.id, f: f, raw: raw, copyNew: -1}
		if of, ok := g.oldFiles[c.path]; ok && of.id == c.counterpart {
			t.same = of.id
		}
		g.cands = append(g.cands, genCand{target: len(g.targets)})
		g.targets = append(g.targets, t)
		return nil, nil
	default:
		return nil, g.sendObject(c, raw)
	}
}

// sendObject puts an object's bytes in the tree section: whole, or as a
// zstd frame with the old object at the same path as prefix when that is
// clearly smaller (a directory where one entry changed).
func (g *generator) sendObject(c candidate, raw []byte) error {
	g.stats.Objects++
	gc := genCand{flag: flagRaw, payload: raw, target: -1}
	if !c.counterpart.IsZero() {
		old, err := objects.ReadRaw(g.ctx, g.r, c.kind, c.counterpart)
		if err != nil {
			return err
		}
		frame, err := compress(raw, old, g.opts.Level, windowLog(int64(len(raw)+len(old)), g.opts.Window))
		if err != nil {
			return err
		}
		if int64(len(raw)+len(old)) <= g.opts.Window && len(frame) < len(raw)/2 {
			gc = genCand{flag: flagPatch, payload: frame, target: -1}
		}
	}
	g.cands = append(g.cands, gc)
	return nil
}

// encodeTargets decides, for every file content to produce, the cheapest
// operation, working on several files at once.
func (g *generator) encodeTargets() error {
	firstByList := map[objects.ID]int{}
	for i, t := range g.targets {
		k := chunkListKey(t.f.Chunks)
		if j, ok := firstByList[k]; ok {
			t.copyNew = j
			continue
		}
		firstByList[k] = i
		if p, ok := g.oldByList[k]; ok {
			t.copyOld = p
		}
	}
	// Large files first, so that the workers finish together.
	order := make([]int, len(g.targets))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return g.targets[order[a]].f.Size() > g.targets[order[b]].f.Size() })
	work := make(chan int)
	errs := make(chan error, g.opts.Workers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	for w := 0; w < g.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := g.encodeTarget(ctx, g.targets[i]); err != nil {
					errs <- fmt.Errorf("%s: %w", g.targets[i].path, err)
					cancel()
					return
				}
				if g.opts.Progress != nil {
					mu.Lock()
					done++
					d := done
					mu.Unlock()
					g.opts.Progress(d, len(g.targets))
				}
			}
		}()
	}
	for _, i := range order {
		select {
		case work <- i:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := g.ctx.Err(); err != nil {
		return err
	}
	for _, t := range g.targets {
		s := &g.stats
		s.Files++
		s.ContentBytes += t.f.Size()
		switch t.op.tag {
		case opLiteral:
			s.Literal++
		case opBsdiff:
			s.Bsdiff++
		case opZstd:
			s.Zstd++
		default:
			s.Copied++
		}
	}
	return nil
}

// encodeTarget chooses how one file's content is sent.
func (g *generator) encodeTarget(ctx context.Context, t *genTarget) error {
	// A content rebuilt on the device is cut with the default chunker; the
	// file object is then rebuilt from it (a recipe) unless the commit was
	// cut another way, in which case the object is sent whole.
	content, err := io.ReadAll(objects.OpenContent(ctx, g.r, t.f))
	if err != nil {
		return err
	}
	t.recipe = recipeMatches(t, content)
	if t.copyNew >= 0 {
		t.op = encodedOp{tag: opCopyNew}
		return nil
	}
	if t.copyOld != "" {
		t.op = encodedOp{tag: opCopyOld, source: t.copyOld}
		return nil
	}
	src := g.pickSource(t)
	lit := encodedOp{tag: opLiteral, newLen: int64(len(content)), data: content, cost: -1}
	var best *encodedOp
	if src != "" {
		old, err := io.ReadAll(objects.OpenContent(ctx, g.r, g.oldFiles[src].f))
		if err != nil {
			return err
		}
		bs, err := g.encodeBsdiff(old, content)
		if err != nil && !errors.Is(err, errBsdiffBudget) {
			return err
		}
		if err == nil {
			bs.source = src
			best = &bs
		}
		total := int64(len(old) + len(content))
		if total <= g.opts.Window && total <= 8<<20 && (best == nil || bs.cost > 64) {
			level := g.opts.Level
			if total > 1<<20 {
				level = min(level, 12)
			}
			frame, err := compress(content, old, level, windowLog(total, g.opts.Window))
			if err != nil {
				return err
			}
			if best == nil || int64(len(frame)) < best.cost {
				best = &encodedOp{tag: opZstd, source: src, newLen: int64(len(content)), frame: frame, cost: int64(len(frame))}
			}
		}
		// A patch far smaller than the content needs no comparison.
		if best != nil && best.cost*16 <= int64(len(content)) {
			t.op = *best
			return nil
		}
	}
	if err := g.literalCost(&lit); err != nil {
		return err
	}
	if best != nil && best.cost < lit.cost {
		t.op = *best
		return nil
	}
	lit.data = nil // read again when the part is written
	t.op = lit
	return nil
}

// literalCost estimates a literal content's compressed size.
func (g *generator) literalCost(op *encodedOp) error {
	level := g.opts.Level
	if len(op.data) > 4<<20 {
		level = 9
	}
	c, err := compress(op.data, nil, level, windowLog(int64(len(op.data)), g.opts.Window))
	if err != nil {
		return err
	}
	op.cost = int64(len(c))
	return nil
}

// recipeMatches reports whether the file object rebuilt from content with
// the default chunker is exactly the one in the commit.
func recipeMatches(t *genTarget, content []byte) bool {
	cuts, err := defaultChunker().CutPoints(content)
	if err != nil || len(cuts) != len(t.f.Chunks) {
		return false
	}
	off := 0
	for i, n := range cuts {
		c := t.f.Chunks[i]
		if int(c.Size) != n || objects.Sum(content[off:off+n]) != c.ID {
			return false
		}
		off += n
	}
	return true
}

// pickSource chooses the old file to patch from: the one at the same path,
// else the one sharing the most content, else one whose name differs only
// in its digits (libfoo.so.1.2 for libfoo.so.1.3), in the same directory
// first, of the closest size.
func (g *generator) pickSource(t *genTarget) string {
	if !t.same.IsZero() {
		return t.path
	}
	shared := map[string]int64{}
	for _, c := range t.f.Chunks {
		if p, ok := g.chunkOwner[c.ID]; ok {
			shared[p] += int64(c.Size)
		}
	}
	var best string
	var bestN int64
	for p, n := range shared {
		if n > bestN || n == bestN && p < best {
			best, bestN = p, n
		}
	}
	if best != "" {
		return best
	}
	dir, name := path.Split(t.path)
	dir = strings.TrimSuffix(dir, "/")
	n := normName(name)
	for _, key := range []string{dir + "\x00" + n, "\x00" + n} {
		ps := g.byName[key]
		if len(ps) == 0 {
			continue
		}
		size := t.f.Size()
		return slices.MinFunc(ps, func(a, b string) int {
			da, db := abs(g.oldFiles[a].f.Size()-size), abs(g.oldFiles[b].f.Size()-size)
			if da != db {
				if da < db {
					return -1
				}
				return 1
			}
			return strings.Compare(a, b)
		})
	}
	return ""
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// encodeBsdiff computes a bsdiff patch, searching matches window by window
// when the old content is larger than twice the window.
func (g *generator) encodeBsdiff(old, nw []byte) (encodedOp, error) {
	var res bsdiffResult
	w := int(g.opts.Window)
	if len(old) <= 2*w {
		if err := bsdiff(old, nw, 0, &res); err != nil {
			return encodedOp{}, err
		}
	} else {
		for s := 0; s < len(nw); s += w {
			e := min(s+w, len(nw))
			center := int(int64(s) * int64(len(old)) / int64(len(nw)))
			os := max(0, min(center-w/2, len(old)-2*w))
			if err := bsdiff(old[os:os+2*w], nw[s:e], int64(os), &res); err != nil {
				return encodedOp{}, err
			}
			// bsdiff saw only nw[s:e]: its entries cover exactly that.
		}
	}
	op := encodedOp{tag: opBsdiff, newLen: int64(len(nw)), ctrls: res.ctrls, diff: rleEncode(res.diff), data: res.extra}
	level := min(g.opts.Level, 15)
	var cost int64
	for _, s := range [][]byte{ctrlBytes(op.ctrls), op.diff, op.data} {
		if len(s) == 0 {
			continue
		}
		c, err := compress(s, nil, level, windowLog(int64(len(s)), g.opts.Window))
		if err != nil {
			return encodedOp{}, err
		}
		cost += int64(len(c))
	}
	op.cost = cost
	return op, nil
}

// ctrlBytes encodes control entries as in the control stream: uvarint add,
// uvarint copy, zigzag varint of the old position's distance from where the
// previous entry's add ended.
func ctrlBytes(cs []ctrl) []byte {
	var b []byte
	var end int64
	for _, c := range cs {
		b = binary.AppendUvarint(b, uint64(c.Add))
		b = binary.AppendUvarint(b, uint64(c.Copy))
		b = binary.AppendUvarint(b, zigzag(c.Old-end))
		end = c.Old + c.Add
	}
	return b
}

// rleEncode encodes difference bytes as runs: uvarint(zeros) uvarint(n)
// then n bytes, each run covering at least one byte. A literal run ends at
// two zeros in a row.
func rleEncode(d []byte) []byte {
	var out []byte
	for i := 0; i < len(d); {
		z := i
		for z < len(d) && d[z] == 0 {
			z++
		}
		l := z
		for l < len(d) && (d[l] != 0 || l+1 < len(d) && d[l+1] != 0) {
			l++
		}
		out = binary.AppendUvarint(out, uint64(z-i))
		out = binary.AppendUvarint(out, uint64(l-z))
		out = append(out, d[z:l]...)
		i = l
	}
	return out
}

// writeParts writes the tree section into the first part, then each
// target's operation, closing a part when its payload reaches PartSize.
func (g *generator) writeParts(sb *Superblock, emit PartFunc) error {
	pb := &partBuilder{}
	for _, c := range g.cands {
		flag, payload := c.flag, c.payload
		if c.target >= 0 {
			t := g.targets[c.target]
			if t.recipe {
				flag, payload = flagRecipe, nil
			} else {
				flag, payload = flagRaw, t.raw
				g.stats.Objects++
			}
		}
		pb.tree = append(pb.tree, flag)
		if flag == flagRaw || flag == flagPatch {
			pb.tree = binary.AppendUvarint(pb.tree, uint64(len(payload)))
			pb.tree = append(pb.tree, payload...)
		}
		pb.ncand++
	}
	sb.Stats = g.stats
	var size int64
	flush := func() error {
		data, usize, err := pb.finish(g.opts.Level, g.opts.Window)
		if err != nil {
			return err
		}
		if int64(len(data)) > MaxPartSize {
			return fmt.Errorf("part of %d bytes is over the limit", len(data))
		}
		info := PartInfo{Hash: objects.Sum(data), Size: int64(len(data)), USize: usize}
		if err := emit(info, data); err != nil {
			return err
		}
		sb.Parts = append(sb.Parts, info)
		*pb = partBuilder{}
		size = 0
		return nil
	}
	for _, t := range g.targets {
		n, err := g.writeOp(pb, t)
		if err != nil {
			return fmt.Errorf("%s: %w", t.path, err)
		}
		size += n
		if size >= g.opts.PartSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if pb.ops > 0 || len(sb.Parts) == 0 {
		return flush()
	}
	return nil
}

// writeOp appends a target's operation to the part and returns its payload
// bytes.
func (g *generator) writeOp(pb *partBuilder, t *genTarget) (int64, error) {
	op := t.op
	tb := pb.streams[streamTable]
	tb = append(tb, op.tag)
	// Source.
	var srcFile *objects.File
	switch op.tag {
	case opCopyNew:
		tb = binary.AppendUvarint(tb, uint64(t.copyNew))
		srcFile = g.targets[t.copyNew].f
	case opBsdiff, opZstd, opCopyOld:
		if op.source == t.path {
			tb = append(tb, srcSamePath)
		} else {
			tb = append(tb, srcPath)
			tb = binary.AppendUvarint(tb, uint64(len(op.source)))
			tb = append(tb, op.source...)
		}
		srcFile = g.oldFiles[op.source].f
	}
	// Metadata.
	switch {
	case !t.recipe:
		tb = append(tb, metaObject)
	case srcFile != nil && sameMeta(srcFile, t.f):
		tb = append(tb, metaSame)
	default:
		tb = append(tb, metaExplicit)
		tb = appendMeta(tb, t.f)
	}
	var payload int64
	switch op.tag {
	case opLiteral:
		tb = binary.AppendUvarint(tb, uint64(op.newLen))
		rc := objects.OpenContent(g.ctx, g.r, t.f)
		var buf bytes.Buffer
		buf.Grow(int(op.newLen))
		_, err := io.Copy(&buf, rc)
		rc.Close()
		if err != nil {
			return 0, err
		}
		if int64(buf.Len()) != op.newLen {
			return 0, fmt.Errorf("content changed while generating")
		}
		pb.streams[streamData] = append(pb.streams[streamData], buf.Bytes()...)
		payload = op.newLen
	case opBsdiff:
		tb = binary.AppendUvarint(tb, uint64(op.newLen))
		tb = binary.AppendUvarint(tb, uint64(len(op.ctrls)))
		pb.streams[streamCtrl] = append(pb.streams[streamCtrl], ctrlBytes(op.ctrls)...)
		pb.streams[streamDiff] = append(pb.streams[streamDiff], op.diff...)
		pb.streams[streamData] = append(pb.streams[streamData], op.data...)
		payload = int64(len(op.diff) + len(op.data))
	case opZstd:
		tb = binary.AppendUvarint(tb, uint64(op.newLen))
		tb = binary.AppendUvarint(tb, uint64(len(op.frame)))
		pb.zframes = append(pb.zframes, op.frame)
		payload = int64(len(op.frame))
	}
	pb.streams[streamTable] = tb
	pb.ops++
	return payload, nil
}

func sameMeta(a, b *objects.File) bool {
	if a.Mode != b.Mode || a.UID != b.UID || a.GID != b.GID || len(a.Xattrs) != len(b.Xattrs) {
		return false
	}
	for i := range a.Xattrs {
		if a.Xattrs[i].Name != b.Xattrs[i].Name || !bytes.Equal(a.Xattrs[i].Value, b.Xattrs[i].Value) {
			return false
		}
	}
	return true
}

// appendMeta encodes an explicit metadata recipe: uvarint mode, uid, gid,
// number of xattrs, then each name and value, length-prefixed.
func appendMeta(b []byte, f *objects.File) []byte {
	b = binary.AppendUvarint(b, uint64(f.Mode))
	b = binary.AppendUvarint(b, uint64(f.UID))
	b = binary.AppendUvarint(b, uint64(f.GID))
	b = binary.AppendUvarint(b, uint64(len(f.Xattrs)))
	for _, x := range f.Xattrs {
		b = binary.AppendUvarint(b, uint64(len(x.Name)))
		b = append(b, x.Name...)
		b = binary.AppendUvarint(b, uint64(len(x.Value)))
		b = append(b, x.Value...)
	}
	return b
}
