package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/packs"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/site"
)

// Errors a pull returns for updates it refuses. Nothing changes on the
// device when they are returned.
var (
	ErrWrongRef      = errors.New("commit is not bound to this ref")
	ErrDowngrade     = errors.New("release is lower than the one this device has")
	ErrHWCompat      = errors.New("commit is not for this hardware")
	ErrOverBudget    = errors.New("update costs more than allowed")
	ErrSiteDamaged   = errors.New("site is inconsistent with its signed metadata")
	ErrCommitCorrupt = errors.New("commit bytes do not match their ID")
)

// Progress receives a pull's progress. Implementations must be safe for
// concurrent use. A nil Progress is allowed.
type Progress interface {
	// Phase starts a phase ("metadata", "fetch", "assemble") with its total
	// bytes (0 when unknown).
	Phase(name string, total int64)
	// Add reports n more bytes done in the current phase.
	Add(n int64)
}

// PullOptions controls a pull. The zero value fetches with defaults.
type PullOptions struct {
	// DryRun plans and reports the cost without fetching any content
	// (the signed metadata and the tree's metadata are fetched to plan).
	DryRun bool
	// MaxBytes refuses an update whose total cost is above it (0: no limit).
	MaxBytes int64
	// AllowDowngrade accepts a release lower than the one the device has.
	AllowDowngrade bool
	// Connections is how many range requests run at once (default 4).
	Connections int
	// GapBytes lets one request span a gap of unneeded blocks up to this
	// size between needed ones, to save a request (default 32 KiB).
	GapBytes int64
	// Progress, if set, receives progress.
	Progress Progress
	// Clock for TUF expiry; nil means time.Now.
	Clock func() time.Time
	// Stats, if set, counts what the fetcher put on the wire (with retries
	// and resumes); Result.Received reports it.
	Stats *FetchStats
	// Via forces a way: ViaDelta, ViaChunks or ViaFull ("" picks the
	// cheapest; see plan_delta.go).
	Via string
	// NoFull is a device policy: never take the full download.
	NoFull bool
	// DeltaWindow is the largest patch window a static delta may need
	// (default deltas.DefaultWindow, 32 MiB).
	DeltaWindow int64
}

// Cost is bytes and requests.
type Cost struct {
	Bytes    int64 `json:"bytes"`
	Requests int   `json:"requests"`
}

// Plan says what a pull costs, before any content is fetched.
type Plan struct {
	Ref       string     `json:"ref"`
	Commit    objects.ID `json:"commit"`
	Release   int64      `json:"release"`
	Version   string     `json:"version,omitempty"`
	UpToDate  bool       `json:"up_to_date"`
	Metadata  Cost       `json:"metadata"`  // signed metadata, indexes and tree walk (already spent)
	Fetch     Cost       `json:"fetch"`     // content still to fetch
	Journaled int64      `json:"journaled"` // bytes already in the journal from an earlier attempt
	Local     int64      `json:"local"`     // content bytes the device already holds
	Full      int64      `json:"full"`      // what a device with nothing would fetch
	Files     int        `json:"files"`     // file objects to write
	Chunks    int        `json:"chunks"`    // chunks to fetch

	// The planner's choice (plan_delta.go).
	Via       string      `json:"via,omitempty"`        // the way chosen: delta, chunks or full
	DeltaFrom *objects.ID `json:"delta_from,omitempty"` // the chosen delta's start commit
	Options   []Option    `json:"options,omitempty"`    // every way considered, with its cost
}

// Total returns the bytes the whole pull transfers: metadata plus content.
func (p *Plan) Total() int64 { return p.Metadata.Bytes + p.Fetch.Bytes }

// Result reports a finished pull.
type Result struct {
	Plan
	Received Cost          `json:"received"` // bytes and requests actually on the wire
	Duration time.Duration `json:"duration_ns"`
}

type packInfo struct {
	ref site.PackRef
	ix  *packs.Index
}

type location struct {
	pack  *packInfo
	entry packs.Entry
}

func (l location) block() packs.Block { return l.pack.ix.Blocks[l.entry.Block] }

type blockKey struct {
	pack  *packInfo
	block uint32
}

// puller is one pull in progress.
type puller struct {
	ctx    context.Context
	r      *repo.Repo
	f      Fetcher
	j      *journal
	opts   PullOptions
	remote *Remote
	ref    string

	desc  *site.Descriptor
	packs []*packInfo // newest first
	nload int         // indexes loaded
	loc   map[objects.ID]location
	cache *blockCache

	reqs  atomic.Int64
	bytes atomic.Int64

	full      bool  // the full path: use nothing the repository holds
	planSpent int64 // bytes fetched before choosing
	planReqs  int   // requests made before choosing
}

// fetch runs one request, counting it.
func (p *puller) fetch(req Request, w io.Writer) error {
	p.reqs.Add(1)
	cw := &countWriter{w: w, n: &p.bytes}
	return p.f.Fetch(p.ctx, req, cw)
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// fetchExact fetches a whole small file whose length and hash come
// from signed data.
func (p *puller) fetchExact(path string, length int64, check func([]byte) error) ([]byte, error) {
	var buf bytes.Buffer
	if err := p.fetch(Request{Path: path, Length: length}, &buf); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", path, err)
	}
	b := buf.Bytes()
	if int64(len(b)) != length {
		return nil, fmt.Errorf("fetch %s: %w: %d bytes, signed length %d", path, ErrSiteDamaged, len(b), length)
	}
	if err := check(b); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", path, err)
	}
	return b, nil
}

// Pull brings ref from the remote into r: it refreshes the remote's signed
// metadata, checks the commit the ref's descriptor names (binding, release,
// hardware), walks its tree against what r holds, fetches only the blocks
// holding missing units (journaling each verified block), then writes every
// missing object, verified, in one transaction and points the ref
// "REMOTE:REF" at the commit. A pull that fails leaves r as it was.
func Pull(ctx context.Context, r *repo.Repo, remote *Remote, f Fetcher, ref string, opts PullOptions) (*Result, error) {
	start := time.Now()
	if opts.Connections <= 0 {
		opts.Connections = 4
	}
	if opts.GapBytes == 0 {
		opts.GapBytes = 32 << 10
	}
	j, err := openJournal(filepath.Join(r.Path(), "state", "journal"))
	if err != nil {
		return nil, err
	}
	p := &puller{ctx: ctx, r: r, f: f, j: j, opts: opts, remote: remote, ref: ref,
		loc: map[objects.ID]location{}, cache: newBlockCache(8)}
	plan, work, err := p.plan()
	if err != nil {
		return nil, err
	}
	res := &Result{Plan: *plan}
	finish := func() *Result {
		res.Received = Cost{Bytes: p.bytes.Load(), Requests: int(p.reqs.Load())}
		if opts.Stats != nil {
			res.Received = Cost{Bytes: opts.Stats.Bytes(), Requests: int(opts.Stats.Requests())}
		}
		res.Duration = time.Since(start)
		return res
	}
	if plan.UpToDate || opts.DryRun {
		if plan.UpToDate && !opts.DryRun {
			if err := p.setRef(plan.Commit); err != nil {
				return nil, err
			}
		}
		return finish(), nil
	}
	// Blocks an earlier, abandoned pull left in the journal that this one
	// will not use only take space.
	keep := map[objects.ID]bool{}
	for _, pi := range p.packs {
		if pi.ix != nil {
			for _, b := range pi.ix.Blocks {
				keep[b.Hash] = true
			}
		}
	}
	p.j.keepOnly(keep)
	if opts.MaxBytes > 0 && plan.Total() > opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes (%d metadata + %d content) over the limit of %d; nothing was downloaded beyond metadata",
			ErrOverBudget, plan.Total(), plan.Metadata.Bytes, plan.Fetch.Bytes, opts.MaxBytes)
	}
	if work.delta != nil {
		if err := p.pullDelta(work); err != nil {
			return nil, err
		}
		return finish(), nil
	}
	if err := p.fetchBlocks(work.blocks, "fetch"); err != nil {
		return nil, err
	}
	if err := p.assemble(work); err != nil {
		return nil, err
	}
	var used []objects.ID
	for _, l := range p.loc {
		used = append(used, l.block().Hash)
	}
	p.j.remove(used)
	return finish(), nil
}

// work is what the plan found missing.
type work struct {
	commit    objects.ID
	commitRaw []byte
	files     []objects.ID // missing file objects, in walk order
	metas     []objects.ID // missing dirmetas
	trees     []objects.ID // missing dirtrees, in walk order
	blocks    []blockKey   // blocks holding missing chunks
	delta     *deltaWork   // the static delta chosen instead
}

func (p *puller) progress(phase string, total int64) {
	if p.opts.Progress != nil {
		p.opts.Progress.Phase(phase, total)
	}
}

func (p *puller) plan() (*Plan, *work, error) {
	p.progress("metadata", 0)
	tc, err := p.remote.trustClient(p)
	if err != nil {
		return nil, nil, err
	}
	if err := tc.Refresh(p.ctx); err != nil {
		return nil, nil, fmt.Errorf("refresh signed metadata of %s: %w", p.remote.Name, err)
	}
	target := site.RefTarget(p.ref)
	t, err := tc.Target(target)
	if err != nil {
		return nil, nil, fmt.Errorf("%s on %s: %w", p.ref, p.remote.Name, err)
	}
	descRaw, err := p.fetchExact(t.Path(), t.Length, func(b []byte) error {
		if sha256.Sum256(b) != t.SHA256 {
			return fmt.Errorf("%w: descriptor hash differs from the signed one", ErrSiteDamaged)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	d, err := site.DecodeDescriptor(descRaw)
	if err != nil {
		return nil, nil, err
	}
	if d.Ref != p.ref {
		return nil, nil, fmt.Errorf("%w: descriptor of %s names ref %s", ErrWrongRef, p.ref, d.Ref)
	}
	p.desc = d
	commitRaw, err := p.fetchExact(site.CommitPath(d.Commit), d.CommitSize, func(b []byte) error {
		if objects.Sum(b) != d.Commit {
			return fmt.Errorf("%w: commit %s", ErrCommitCorrupt, d.Commit.Short())
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := objects.DecodeCommit(commitRaw)
	if err != nil {
		return nil, nil, fmt.Errorf("commit %s: %w", d.Commit.Short(), err)
	}
	if err := p.check(d.Commit, c); err != nil {
		return nil, nil, err
	}
	plan := &Plan{Ref: p.ref, Commit: d.Commit, Release: c.Release(), Version: c.Version(), Full: d.FullSize}
	w := &work{commit: d.Commit, commitRaw: commitRaw}
	have, err := p.r.Has(p.ctx, objects.KindCommit, d.Commit)
	if err != nil {
		return nil, nil, err
	}
	partial, err := p.r.PartialCommits()
	if err != nil {
		return nil, nil, err
	}
	if have && !partial[d.Commit] {
		plan.UpToDate = true
		plan.Metadata = Cost{Bytes: p.bytes.Load(), Requests: int(p.reqs.Load())}
		return plan, w, nil
	}
	for _, pr := range d.Packs {
		p.packs = append(p.packs, &packInfo{ref: pr})
	}
	if walk, err := p.choose(plan, w); err != nil || !walk {
		return plan, w, err
	}
	if err := p.walk(c, w, plan); err != nil {
		return nil, nil, err
	}
	plan.Metadata = Cost{Bytes: p.bytes.Load(), Requests: int(p.reqs.Load())}
	// Content: the chunks of missing files that the device lacks.
	needed := map[blockKey]bool{}
	seen := map[objects.ID]bool{}
	for _, fid := range w.files {
		l := p.loc[fid]
		raw, err := p.unit(l)
		if err != nil {
			return nil, nil, err
		}
		f, err := objects.DecodeFile(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("file %s: %w", fid.Short(), err)
		}
		for _, ch := range f.Chunks {
			if seen[ch.ID] {
				continue
			}
			seen[ch.ID] = true
			ok, err := p.has(objects.KindChunk, ch.ID)
			if err != nil {
				return nil, nil, err
			}
			if ok {
				plan.Local += int64(ch.Size)
				continue
			}
			cl, err := p.locate(ch.ID)
			if err != nil {
				return nil, nil, err
			}
			if cl.entry.Kind != objects.KindChunk || cl.entry.Size != ch.Size {
				return nil, nil, fmt.Errorf("%w: chunk %s listed with a different kind or size", ErrSiteDamaged, ch.ID.Short())
			}
			plan.Chunks++
			needed[blockKey{cl.pack, cl.entry.Block}] = true
		}
	}
	plan.Files = len(w.files)
	for k := range needed {
		w.blocks = append(w.blocks, k)
	}
	ranges, journaled := p.ranges(w.blocks)
	plan.Journaled = journaled
	for _, rg := range ranges {
		plan.Fetch.Bytes += rg.n
		plan.Fetch.Requests++
	}
	p.afterWalk(plan)
	return plan, w, nil
}

// check refuses a commit the device must not install.
func (p *puller) check(id objects.ID, c *objects.Commit) error {
	if !c.BindsRef(p.ref) {
		return fmt.Errorf("%w: commit %s is bound to %v, not %s", ErrWrongRef, id.Short(), c.RefBinding(), p.ref)
	}
	if hw := c.HWCompat(); len(hw) > 0 {
		if p.remote.HWCompat == "" {
			return fmt.Errorf("%w: commit %s is for %v and this device's hardware ID is not set (arbor remote add --hw-compat ID)", ErrHWCompat, id.Short(), hw)
		}
		if !slices.Contains(hw, p.remote.HWCompat) {
			return fmt.Errorf("%w: commit %s is for %v, this device is %s", ErrHWCompat, id.Short(), hw, p.remote.HWCompat)
		}
	}
	if cur, err := p.r.Ref(p.remote.Name + ":" + p.ref); err == nil && cur != id {
		cc, err := objects.ReadCommit(p.ctx, p.r, cur)
		if err == nil && c.Release() < cc.Release() && !p.opts.AllowDowngrade {
			return fmt.Errorf("%w: %s offers release %d, this device has release %d (use --allow-downgrade to accept)",
				ErrDowngrade, p.ref, c.Release(), cc.Release())
		}
	}
	return nil
}

// index loads the i-th pack's index (newest first), from the cache or the site.
func (p *puller) index(i int) error {
	pi := p.packs[i]
	cachePath := filepath.Join(p.r.Path(), "state", "cache", "idx", pi.ref.IndexHash.String())
	b, err := os.ReadFile(cachePath)
	if err != nil || objects.Sum(b) != pi.ref.IndexHash {
		b, err = p.fetchExact(site.IndexPath(pi.ref.ID), pi.ref.IndexSize, func(b []byte) error {
			if objects.Sum(b) != pi.ref.IndexHash {
				return fmt.Errorf("%w: index of pack %s", ErrSiteDamaged, pi.ref.ID.Short())
			}
			return nil
		})
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Dir(cachePath), 0o700)
		atomicfile.Write(cachePath, b, 0o600) // a cache: failing to keep it costs a download next time
	}
	ix, err := packs.DecodeIndex(b)
	if err != nil {
		return fmt.Errorf("index of pack %s: %w", pi.ref.ID.Short(), err)
	}
	if ix.Pack != pi.ref.ID || ix.PackSize != pi.ref.Size {
		return fmt.Errorf("%w: index of pack %s describes another pack", ErrSiteDamaged, pi.ref.ID.Short())
	}
	pi.ix = ix
	return nil
}

// locate finds a unit in the newest pack holding it, loading older indexes
// only when the newer ones lack it.
func (p *puller) locate(id objects.ID) (location, error) {
	if l, ok := p.loc[id]; ok {
		return l, nil
	}
	for i, pi := range p.packs {
		if i >= p.nload {
			if err := p.index(i); err != nil {
				return location{}, err
			}
			p.nload = i + 1
		}
		if e, ok := pi.ix.Lookup(id); ok {
			l := location{pack: pi, entry: e}
			p.loc[id] = l
			return l, nil
		}
	}
	return location{}, fmt.Errorf("%w: object %s is in none of the descriptor's packs", ErrSiteDamaged, id.Short())
}

// unit reads a located unit from its journaled block.
func (p *puller) unit(l location) ([]byte, error) {
	b := l.block()
	data, err := p.cache.get(b, func() ([]byte, error) { return p.j.read(b) })
	if err != nil {
		return nil, err
	}
	return packs.Unit(data, l.entry)
}

type unitRef struct {
	kind objects.Kind
	id   objects.ID
}

// walk visits the commit's tree level by level against the repository,
// fetching the metadata it lacks; it records what is missing in w.
func (p *puller) walk(c *objects.Commit, w *work, plan *Plan) error {
	level := []unitRef{{objects.KindDirMeta, c.Meta}, {objects.KindDirTree, c.Tree}}
	seen := map[objects.ID]bool{}
	first := true
	for len(level) > 0 {
		var missing []unitRef
		for _, u := range level {
			if seen[u.id] {
				continue
			}
			seen[u.id] = true
			ok, err := p.has(u.kind, u.id)
			if err != nil {
				return err
			}
			if !ok {
				missing = append(missing, u)
			}
		}
		if len(missing) == 0 {
			break
		}
		blocks := map[blockKey]bool{}
		for _, u := range missing {
			l, err := p.locate(u.id)
			if err != nil {
				return err
			}
			if l.entry.Kind != u.kind {
				return fmt.Errorf("%w: %s %s listed as %s", ErrSiteDamaged, u.kind, u.id.Short(), l.entry.Kind)
			}
			blocks[blockKey{l.pack, l.entry.Block}] = true
		}
		if first {
			// The metadata this release adds sits at the front of the
			// newest pack: take all of it in one request.
			first = false
			if pi := p.packs[0]; pi.ix != nil {
				for i := uint32(0); i < pi.ix.MetaBlocks; i++ {
					blocks[blockKey{pi, i}] = true
				}
			}
		}
		keys := make([]blockKey, 0, len(blocks))
		for k := range blocks {
			keys = append(keys, k)
		}
		if err := p.fetchBlocks(keys, "metadata"); err != nil {
			return err
		}
		var next []unitRef
		for _, u := range missing {
			raw, err := p.unit(p.loc[u.id])
			if err != nil {
				return err
			}
			switch u.kind {
			case objects.KindDirMeta:
				if _, err := objects.DecodeDirMeta(raw); err != nil {
					return fmt.Errorf("dirmeta %s: %w", u.id.Short(), err)
				}
				w.metas = append(w.metas, u.id)
			case objects.KindFile:
				w.files = append(w.files, u.id)
			case objects.KindDirTree:
				t, err := objects.DecodeDirTree(raw)
				if err != nil {
					return fmt.Errorf("dirtree %s: %w", u.id.Short(), err)
				}
				w.trees = append(w.trees, u.id)
				for _, e := range t.Entries {
					if e.IsDir() {
						next = append(next, unitRef{objects.KindDirMeta, e.Meta}, unitRef{objects.KindDirTree, e.Tree})
					} else {
						next = append(next, unitRef{objects.KindFile, e.File})
					}
				}
			}
		}
		level = next
	}
	return nil
}

type byteRange struct {
	pack   *packInfo
	off, n int64
	blocks []packs.Block
}

// ranges groups the blocks not yet journaled into range requests: adjacent
// blocks of one pack (or separated by at most GapBytes) share a request.
func (p *puller) ranges(keys []blockKey) (out []byteRange, journaled int64) {
	byPack := map[*packInfo][]uint32{}
	for _, k := range keys {
		b := k.pack.ix.Blocks[k.block]
		if p.j.has(b) {
			journaled += int64(b.CSize)
			continue
		}
		byPack[k.pack] = append(byPack[k.pack], k.block)
	}
	for pi, idx := range byPack {
		slices.Sort(idx)
		idx = slices.Compact(idx)
		var cur *byteRange
		for _, bi := range idx {
			b := pi.ix.Blocks[bi]
			if cur != nil && b.Offset-(cur.off+cur.n) <= p.opts.GapBytes {
				// Take the blocks in the gap too: they are verified and journaled like the rest.
				last := cur.blocks[len(cur.blocks)-1]
				for gi := blockIndex(pi.ix, last) + 1; gi < bi; gi++ {
					cur.blocks = append(cur.blocks, pi.ix.Blocks[gi])
				}
				cur.blocks = append(cur.blocks, b)
				cur.n = b.End() - cur.off
				continue
			}
			if cur != nil {
				out = append(out, *cur)
			}
			cur = &byteRange{pack: pi, off: b.Offset, n: int64(b.CSize), blocks: []packs.Block{b}}
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].pack != out[j].pack {
			return out[i].pack.ref.Seq > out[j].pack.ref.Seq
		}
		return out[i].off < out[j].off
	})
	return out, journaled
}

func blockIndex(ix *packs.Index, b packs.Block) uint32 {
	i := sort.Search(len(ix.Blocks), func(i int) bool { return ix.Blocks[i].Offset >= b.Offset })
	return uint32(i)
}

// fetchBlocks fetches and journals the blocks not yet journaled, a few
// range requests at a time.
func (p *puller) fetchBlocks(keys []blockKey, phase string) error {
	rgs, _ := p.ranges(keys)
	if len(rgs) == 0 {
		return nil
	}
	var total int64
	for _, rg := range rgs {
		total += rg.n
	}
	p.progress(phase, total)
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	work := make(chan byteRange)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for i := 0; i < min(p.opts.Connections, len(rgs)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rg := range work {
				if err := p.fetchRange(rg); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	for _, rg := range rgs {
		select {
		case work <- rg:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return p.ctx.Err()
}

// fetchRange streams one range, verifying and journaling each block as
// soon as its last byte arrives.
func (p *puller) fetchRange(rg byteRange) error {
	bs := &blockSplitter{blocks: rg.blocks, j: p.j, progress: p.opts.Progress}
	err := p.fetch(Request{Path: site.PackPath(rg.pack.ref.ID), Offset: rg.off, Length: rg.n}, bs)
	if err == nil && len(bs.blocks) > 0 {
		err = fmt.Errorf("%w: range of pack %s ended early", ErrSiteDamaged, rg.pack.ref.ID.Short())
	}
	if err != nil {
		return fmt.Errorf("fetch pack %s [%d, %d): %w", rg.pack.ref.ID.Short(), rg.off, rg.off+rg.n, err)
	}
	return nil
}

// blockSplitter receives a range's bytes and cuts them into blocks.
type blockSplitter struct {
	blocks   []packs.Block
	buf      []byte
	j        *journal
	progress Progress
}

func (s *blockSplitter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if len(s.blocks) == 0 {
			return 0, fmt.Errorf("%w: more bytes than the blocks asked for", ErrSiteDamaged)
		}
		want := int(s.blocks[0].CSize) - len(s.buf)
		take := min(want, len(b))
		s.buf = append(s.buf, b[:take]...)
		b = b[take:]
		if len(s.buf) == int(s.blocks[0].CSize) {
			blk := s.blocks[0]
			if objects.Sum(s.buf) != blk.Hash {
				return 0, fmt.Errorf("%w: block %s: bytes do not match the signed index", packs.ErrBadBlock, blk.Hash.Short())
			}
			if err := s.j.put(blk, s.buf); err != nil {
				return 0, err
			}
			s.blocks = s.blocks[1:]
			s.buf = s.buf[:0]
		}
	}
	if s.progress != nil {
		s.progress.Add(int64(n))
	}
	return n, nil
}

// assemble writes every missing object in one transaction, children first.
func (p *puller) assemble(w *work) error {
	p.progress("assemble", int64(len(w.files)))
	return p.r.Update(p.ctx, func(tx *repo.Tx) error {
		tx.AddSource(journalReader{p})
		put := func(kind objects.Kind, id objects.ID) error {
			raw, err := p.unit(p.loc[id])
			if err != nil {
				return err
			}
			return tx.Put(p.ctx, kind, id, bytes.NewReader(raw))
		}
		for _, id := range w.files {
			if err := put(objects.KindFile, id); err != nil {
				return err
			}
			if p.opts.Progress != nil {
				p.opts.Progress.Add(1)
			}
		}
		for _, id := range w.metas {
			if err := put(objects.KindDirMeta, id); err != nil {
				return err
			}
		}
		// Dirtrees in post-order: a tree after all its subtrees (a subtree
		// may be shared, as every empty directory is).
		missing := make(map[objects.ID]bool, len(w.trees))
		for _, id := range w.trees {
			missing[id] = true
		}
		var putTree func(id objects.ID) error
		putTree = func(id objects.ID) error {
			if !missing[id] {
				return nil
			}
			delete(missing, id)
			raw, err := p.unit(p.loc[id])
			if err != nil {
				return err
			}
			t, err := objects.DecodeDirTree(raw)
			if err != nil {
				return err
			}
			for _, e := range t.Entries {
				if e.IsDir() {
					if err := putTree(e.Tree); err != nil {
						return err
					}
				}
			}
			return tx.Put(p.ctx, objects.KindDirTree, id, bytes.NewReader(raw))
		}
		for _, id := range w.trees {
			if err := putTree(id); err != nil {
				return err
			}
		}
		if _, err := tx.PutBytes(p.ctx, objects.KindCommit, w.commitRaw); err != nil {
			return err
		}
		return tx.SetRef(p.remote.Name+":"+p.ref, w.commit)
	})
}

func (p *puller) setRef(id objects.ID) error {
	return p.r.Update(p.ctx, func(tx *repo.Tx) error {
		cur, err := p.r.Ref(p.remote.Name + ":" + p.ref)
		if err == nil && cur == id {
			return nil
		}
		return tx.SetRef(p.remote.Name+":"+p.ref, id)
	})
}
