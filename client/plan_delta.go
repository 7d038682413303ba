package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/arbor-ota/arbor/deltas"
	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/site"
)

// The planner's three ways to bring a commit in. All three end in the same
// verified objects, put through one repository transaction.
const (
	// ViaDelta downloads a static delta from a commit the device holds
	// (its superblock and parts) and applies it.
	ViaDelta = "delta"
	// ViaChunks walks the commit's tree against the repository and fetches
	// the pack blocks holding what it lacks.
	ViaChunks = "chunks"
	// ViaFull fetches every block holding a unit of the commit, using
	// nothing the device holds.
	ViaFull = "full"
)

// Errors of the planner.
var (
	// ErrNoDeltaFrom: --via delta, and the site offers no delta from a
	// commit this repository holds.
	ErrNoDeltaFrom = errors.New("no static delta from a commit this device holds")
	// ErrPolicy: the only ways left are ones the device's policy forbids.
	ErrPolicy = errors.New("update forbidden by the device's policy")
)

// Option is one way to pull the update and what it would cost, beyond the
// metadata already fetched to plan (signed metadata, descriptor, commit).
type Option struct {
	Via      string      `json:"via"`
	From     *objects.ID `json:"from,omitempty"` // a delta's start commit
	Bytes    int64       `json:"bytes"`
	Requests int         `json:"requests"`
	// Estimated: the chunk path's cost as the publisher computed it for a
	// device holding exactly the delta's start commit (walking the tree
	// would give the exact figure, at the price of the walk).
	Estimated bool `json:"estimated,omitempty"`
	// Walked: the cost includes the tree walk that priced it.
	Walked bool `json:"walked,omitempty"`
	// Excluded says why the option cannot be taken ("" if it can).
	Excluded string `json:"excluded,omitempty"`
}

func (o Option) String() string {
	s := o.Via
	if o.From != nil {
		s += " from " + o.From.Short()
	}
	est := ""
	if o.Estimated {
		est = " (publisher's estimate)"
	}
	return fmt.Sprintf("%s: %d bytes in %d requests%s", s, o.Bytes, o.Requests, est)
}

// deltaWork is the delta a plan chose.
type deltaWork struct {
	ref site.DeltaRef
}

// has is the repository's Has, except that the full path uses nothing the
// device holds.
func (p *puller) has(kind objects.Kind, id objects.ID) (bool, error) {
	if p.full {
		return false, nil
	}
	return p.r.Has(p.ctx, kind, id)
}

// choose runs before the tree walk: it prices every way to pull the commit
// from signed sizes, picks the cheapest that the policy and the budget
// allow, and reports whether the chunk or full path must walk the tree. A
// delta is taken without walking at all.
//
// The chunk path's cost is known before the walk only as the publisher's
// figure for a device holding a delta's start commit. Without any delta
// that applies, the chunk path is walked: it never fetches more than the
// full download but for small gaps between blocks.
func (p *puller) choose(plan *Plan, w *work) (walk bool, err error) {
	d := p.desc
	p.planSpent, p.planReqs = p.bytes.Load(), int(p.reqs.Load())
	partial, err := p.r.PartialCommits()
	if err != nil {
		return false, err
	}
	// Deltas from a commit this repository holds whole.
	best := -1
	var bestRef site.DeltaRef
	for _, dr := range d.Deltas {
		ok, err := p.r.Has(p.ctx, objects.KindCommit, dr.From)
		if err != nil {
			return false, err
		}
		if !ok || partial[dr.From] {
			continue
		}
		o := Option{Via: ViaDelta, From: &dr.From, Bytes: dr.Size, Requests: 1}
		for _, part := range dr.Parts {
			left := part.Size - p.partJournaled(part)
			o.Bytes += left
			if left > 0 {
				o.Requests++
			}
		}
		plan.Options = append(plan.Options, o)
		if best < 0 || o.Bytes < plan.Options[best].Bytes {
			best, bestRef = len(plan.Options)-1, dr
		}
	}
	// The chunk path: the publisher's figure, or unknown until the walk.
	chunksKnown := best >= 0 && bestRef.ChunkBytes > 0
	if chunksKnown {
		plan.Options = append(plan.Options, Option{Via: ViaChunks, Bytes: bestRef.ChunkBytes, Estimated: true})
	}
	// Every block of the closure, and the indexes to find them.
	full := Option{Via: ViaFull, Bytes: d.FullSize, Requests: 1}
	for _, pr := range d.Packs {
		if !p.indexCached(pr) {
			full.Bytes += pr.IndexSize
			full.Requests++
		}
	}
	if p.opts.NoFull {
		full.Excluded = "the device's policy forbids the full download"
	}
	plan.Options = append(plan.Options, full)
	for i := range plan.Options {
		o := &plan.Options[i]
		if o.Excluded == "" && p.opts.MaxBytes > 0 && p.planSpent+o.Bytes > p.opts.MaxBytes {
			o.Excluded = fmt.Sprintf("over the limit of %d bytes", p.opts.MaxBytes)
		}
	}
	find := func(via string) int {
		for i, o := range plan.Options {
			if o.Via == via {
				return i
			}
		}
		return -1
	}
	pick := -1
	switch p.opts.Via {
	case ViaDelta:
		if best < 0 {
			return false, fmt.Errorf("%w (the site offers %s)", ErrNoDeltaFrom, describeDeltas(d.Deltas))
		}
		pick = best
	case ViaChunks:
		plan.Via = ViaChunks
		return true, nil
	case ViaFull:
		if p.opts.NoFull {
			return false, fmt.Errorf("%w: --via full, and the device's policy forbids the full download", ErrPolicy)
		}
		pick = find(ViaFull)
	case "":
		if best < 0 {
			plan.Via = ViaChunks
			return true, nil
		}
		for i, o := range plan.Options {
			if o.Excluded != "" || o.Via == ViaDelta && i != best {
				continue
			}
			if pick < 0 || o.Bytes < plan.Options[pick].Bytes ||
				o.Bytes == plan.Options[pick].Bytes && viaRank(o.Via) < viaRank(plan.Options[pick].Via) {
				pick = i
			}
		}
		if pick < 0 {
			return false, p.nothingFits(plan)
		}
	default:
		return false, fmt.Errorf("unknown way %q (want %s, %s or %s)", p.opts.Via, ViaDelta, ViaChunks, ViaFull)
	}
	o := plan.Options[pick]
	if p.opts.MaxBytes > 0 && p.planSpent+o.Bytes > p.opts.MaxBytes {
		return false, p.nothingFits(plan)
	}
	plan.Via = o.Via
	switch o.Via {
	case ViaChunks:
		return true, nil
	case ViaFull:
		p.full = true
		return true, nil
	}
	w.delta = &deltaWork{ref: bestRef}
	plan.DeltaFrom = &bestRef.From
	plan.Metadata = Cost{Bytes: p.planSpent, Requests: p.planReqs}
	plan.Fetch = Cost{Bytes: o.Bytes, Requests: o.Requests}
	return false, nil
}

func viaRank(v string) int {
	switch v {
	case ViaDelta:
		return 0
	case ViaFull:
		return 1
	}
	return 2
}

func describeDeltas(ds []site.DeltaRef) string {
	if len(ds) == 0 {
		return "none"
	}
	var s []string
	for _, d := range ds {
		s = append(s, "from "+d.From.Short())
	}
	return "deltas " + strings.Join(s, ", ")
}

// nothingFits is the error when every option is excluded.
func (p *puller) nothingFits(plan *Plan) error {
	var lines []string
	for _, o := range plan.Options {
		l := o.String()
		if o.Excluded != "" {
			l += " (" + o.Excluded + ")"
		}
		lines = append(lines, l)
	}
	sentinel := ErrOverBudget
	if p.opts.MaxBytes == 0 {
		sentinel = ErrPolicy
	}
	return fmt.Errorf("%w: no way to pull %s fits: %s; nothing was downloaded beyond metadata", sentinel, p.ref, strings.Join(lines, "; "))
}

// afterWalk records what the walk found the chunk (or full) path costs.
func (p *puller) afterWalk(plan *Plan) {
	o := Option{Via: ViaChunks, Bytes: plan.Total() - p.planSpent, Requests: plan.Metadata.Requests - p.planReqs + plan.Fetch.Requests, Walked: true}
	if p.full {
		o.Via = ViaFull
	}
	for i := range plan.Options {
		if plan.Options[i].Via == o.Via {
			plan.Options[i] = o
			plan.Via = o.Via
			return
		}
	}
	plan.Options = append(plan.Options, o)
	plan.Via = o.Via
}

// Journaled parts live in the journal directory under their hash, and,
// while a download is under way, as <hash>.partial.
func (p *puller) partPath(h objects.ID) string { return filepath.Join(p.j.dir, h.String()) }

// partJournaled returns the bytes of a part already on disk.
func (p *puller) partJournaled(part site.DeltaPart) int64 {
	if fi, err := os.Stat(p.partPath(part.Hash)); err == nil && fi.Size() == part.Size {
		return part.Size
	}
	if fi, err := os.Stat(p.partPath(part.Hash) + ".partial"); err == nil && fi.Size() < part.Size {
		return fi.Size()
	}
	return 0
}

func (p *puller) indexCached(pr site.PackRef) bool {
	b, err := os.ReadFile(filepath.Join(p.r.Path(), "state", "cache", "idx", pr.IndexHash.String()))
	return err == nil && objects.Sum(b) == pr.IndexHash
}

// pullDelta fetches the chosen delta's superblock and parts and applies it
// in one transaction.
func (p *puller) pullDelta(w *work) error {
	dr := w.delta.ref
	to := p.desc.Commit
	raw, err := p.fetchExact(site.DeltaSuperblockPath(dr.From, to, dr.Superblock), dr.Size, func(b []byte) error {
		if objects.Sum(b) != dr.Superblock {
			return fmt.Errorf("%w: delta superblock hash differs from the signed one", ErrSiteDamaged)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sb, err := deltas.DecodeSuperblock(raw)
	if err != nil {
		return fmt.Errorf("%w: delta %s-%s: %w", ErrSiteDamaged, dr.From.Short(), to.Short(), err)
	}
	if sb.From != dr.From || sb.To != to || len(sb.Parts) != len(dr.Parts) {
		return fmt.Errorf("%w: delta superblock describes another delta", ErrSiteDamaged)
	}
	for i, part := range sb.Parts {
		if part.Hash != dr.Parts[i].Hash || part.Size != dr.Parts[i].Size {
			return fmt.Errorf("%w: delta part %d differs from the signed descriptor", ErrSiteDamaged, i)
		}
	}
	var total int64
	for _, part := range dr.Parts {
		total += part.Size - p.partJournaled(part)
	}
	p.progress("fetch", total)
	if err := p.fetchParts(dr.From, to, dr.Parts); err != nil {
		return err
	}
	p.progress("apply", sb.Stats.ContentBytes)
	opts := deltas.ApplyOptions{Window: p.opts.DeltaWindow, Local: p.r, TempDir: p.j.dir}
	var last int64
	if p.opts.Progress != nil {
		opts.Progress = func(done, total int64) {
			p.opts.Progress.Add(done - last)
			last = done
		}
	}
	open := func(i int) (io.ReaderAt, io.Closer, error) {
		f, err := os.Open(p.partPath(dr.Parts[i].Hash))
		return f, f, err
	}
	err = p.r.Update(p.ctx, func(tx *repo.Tx) error {
		if err := deltas.Apply(p.ctx, tx, sb, open, opts); err != nil {
			return err
		}
		return tx.SetRef(p.remote.Name+":"+p.ref, to)
	})
	if err != nil {
		if errors.Is(err, deltas.ErrInvalid) || errors.Is(err, objects.ErrCorrupt) {
			// Damaged or hostile: do not keep it for the next attempt.
			p.dropParts(dr.Parts)
			return fmt.Errorf("%w: delta %s-%s: %w", ErrSiteDamaged, dr.From.Short(), to.Short(), err)
		}
		return fmt.Errorf("apply delta %s-%s: %w", dr.From.Short(), to.Short(), err)
	}
	p.dropParts(dr.Parts)
	return nil
}

func (p *puller) dropParts(parts []site.DeltaPart) {
	for _, part := range parts {
		os.Remove(p.partPath(part.Hash))
		os.Remove(p.partPath(part.Hash) + ".partial")
	}
	atomicfile.SyncDir(p.j.dir)
}

// fetchParts fetches the parts not yet journaled, a few at a time.
func (p *puller) fetchParts(from, to objects.ID, parts []site.DeltaPart) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	work := make(chan site.DeltaPart)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for i := 0; i < min(p.opts.Connections, len(parts)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for part := range work {
				if err := p.fetchPart(ctx, from, to, part); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	for _, part := range parts {
		select {
		case work <- part:
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

// fetchPart brings one part into the journal: it resumes a download cut
// short at the offset reached, then verifies the whole part's hash before
// it takes the part's final name.
func (p *puller) fetchPart(ctx context.Context, from, to objects.ID, part site.DeltaPart) error {
	final := p.partPath(part.Hash)
	if fi, err := os.Stat(final); err == nil && fi.Size() == part.Size {
		return nil
	}
	tmp := final + ".partial"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if off > part.Size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		off, _ = f.Seek(0, io.SeekStart)
	}
	name := site.DeltaPartPath(from, to, part.Hash)
	if off < part.Size {
		p.reqs.Add(1)
		cw := &countWriter{w: &progressWriter{w: f, p: p.opts.Progress}, n: &p.bytes}
		if err := p.f.Fetch(ctx, Request{Path: name, Offset: off, Length: part.Size - off}, cw); err != nil {
			f.Sync() // keep what arrived for the next attempt
			return fmt.Errorf("fetch %s: %w", name, err)
		}
	}
	h := blake3.New()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	var got objects.ID
	h.Sum(got[:0])
	if n != part.Size || got != part.Hash {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("%w: %s: bytes do not match the signed hash", ErrSiteDamaged, name)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return atomicfile.SyncDir(p.j.dir)
}

type progressWriter struct {
	w io.Writer
	p Progress
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	if pw.p != nil && n > 0 {
		pw.p.Add(int64(n))
	}
	return n, err
}
