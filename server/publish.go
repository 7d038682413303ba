package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"

	"github.com/arbor-ota/arbor/deltas"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/packs"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/site"
	"github.com/arbor-ota/arbor/trust"
)

// Signer is the TUF side of publishing. *trust.Publisher implements it.
type Signer interface {
	Targets() map[string]trust.Target
	SetTargets(ts []trust.Target) ([]trust.File, error)
}

// PublishOptions controls a publish. The zero value publishes every branch.
type PublishOptions struct {
	// Refs to publish; empty means every local branch.
	Refs []string
	// Pack controls block size and compression.
	Pack packs.WriterOptions
	// DryRun computes what would be written without writing anything.
	DryRun bool
}

// RefReport says what publishing one ref did.
type RefReport struct {
	Ref       string     `json:"ref"`
	Commit    objects.ID `json:"commit"`
	Unchanged bool       `json:"unchanged"` // the site already served this commit
	NewUnits  int        `json:"new_units"`
	Packs     int        `json:"packs"`     // packs holding its closure
	FullSize  int64      `json:"full_size"` // bytes a device with nothing downloads
	Deltas    int        `json:"deltas"`    // static deltas its descriptor lists
}

// PublishReport says what a publish wrote.
type PublishReport struct {
	Refs     []RefReport `json:"refs"`
	Pack     *objects.ID `json:"pack,omitempty"` // the new pack, if any
	PackSize int64       `json:"pack_size"`
	Units    int         `json:"units"`  // units in the new pack
	Blocks   int         `json:"blocks"` // blocks in the new pack
	Files    []string    `json:"files"`  // site files written, in order
}

// siteState is what the publisher knows of a site: the packs its
// descriptors reference and where each unit lives.
type siteState struct {
	descs   map[string]*site.Descriptor // by ref
	indexes map[objects.ID]*packs.Index // by pack ID
	refs    map[objects.ID]site.PackRef
	units   map[objects.ID]objects.ID // unit -> pack (the newest holding it)
	maxSeq  uint64
}

func loadSite(ctx context.Context, st Store, signer Signer) (*siteState, error) {
	s := &siteState{descs: map[string]*site.Descriptor{}, indexes: map[objects.ID]*packs.Index{},
		refs: map[objects.ID]site.PackRef{}, units: map[objects.ID]objects.ID{}}
	for name, t := range signer.Targets() {
		ref, ok := site.RefFromTarget(name)
		if !ok {
			continue
		}
		b, err := st.Read(ctx, t.Path())
		if err != nil {
			return nil, fmt.Errorf("read descriptor of %s: %w", ref, err)
		}
		if sha256.Sum256(b) != t.SHA256 {
			return nil, fmt.Errorf("descriptor of %s on the site does not match its signed hash; the site is damaged", ref)
		}
		d, err := site.DecodeDescriptor(b)
		if err != nil {
			return nil, fmt.Errorf("descriptor of %s: %w", ref, err)
		}
		s.descs[ref] = d
		for _, p := range d.Packs {
			s.refs[p.ID] = p
		}
	}
	// Oldest first, so that the newest pack holding a unit wins.
	prs := make([]site.PackRef, 0, len(s.refs))
	for _, p := range s.refs {
		prs = append(prs, p)
	}
	sort.Slice(prs, func(i, j int) bool { return prs[i].Seq < prs[j].Seq })
	for _, p := range prs {
		b, err := st.Read(ctx, site.IndexPath(p.ID))
		if err != nil {
			return nil, fmt.Errorf("read index of pack %s: %w", p.ID.Short(), err)
		}
		if objects.Sum(b) != p.IndexHash {
			return nil, fmt.Errorf("index of pack %s does not match its hash; the site is damaged", p.ID.Short())
		}
		ix, err := packs.DecodeIndex(b)
		if err != nil {
			return nil, fmt.Errorf("index of pack %s: %w", p.ID.Short(), err)
		}
		s.indexes[p.ID] = ix
		for _, e := range ix.Entries {
			s.units[e.ID] = p.ID
		}
		s.maxSeq = max(s.maxSeq, p.Seq)
	}
	return s, nil
}

// closure lists a commit's units in depth-first tree order: metadata
// (dirmeta, dirtree, file) and chunks separately.
func closure(ctx context.Context, r objects.Reader, commit objects.ID) (meta, chunks []unitRef, err error) {
	w := &repo.Walker{R: r, Visit: func(kind objects.Kind, id objects.ID, where string) bool {
		switch kind {
		case objects.KindChunk:
			chunks = append(chunks, unitRef{kind, id})
		case objects.KindCommit:
		default:
			meta = append(meta, unitRef{kind, id})
		}
		return true
	}}
	err = w.Commit(ctx, commit, "")
	return meta, chunks, err
}

type unitRef struct {
	kind objects.Kind
	id   objects.ID
}

// Publish writes the given refs of r (archive mode) to the site: new units
// into one new pack, commits, descriptors, then the signed TUF metadata, the
// timestamp last. Only units not already on the site are written.
func Publish(ctx context.Context, r *repo.Repo, st Store, signer Signer, opts PublishOptions) (*PublishReport, error) {
	state, err := loadSite(ctx, st, signer)
	if err != nil {
		return nil, err
	}
	refs := opts.Refs
	if len(refs) == 0 {
		all, err := r.Refs()
		if err != nil {
			return nil, err
		}
		for _, e := range all {
			if !containsColon(e.Name) {
				refs = append(refs, e.Name)
			}
		}
		if len(refs) == 0 {
			return nil, errors.New("the repository has no branches to publish; commit one first")
		}
	}
	rep := &PublishReport{}
	type job struct {
		ref          string
		commit       objects.ID
		c            *objects.Commit
		raw          []byte
		meta, chunks []unitRef
		stored       []*deltas.Stored
	}
	var jobs []*job
	for _, ref := range refs {
		id, err := r.Ref(ref)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", ref, err)
		}
		stored, err := storedDeltas(r, id)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", ref, err)
		}
		if d := state.descs[ref]; d != nil && d.Commit == id && !deltasChanged(d, stored) {
			rep.Refs = append(rep.Refs, RefReport{Ref: ref, Commit: id, Unchanged: true, Packs: len(d.Packs), FullSize: d.FullSize, Deltas: len(d.Deltas)})
			continue
		}
		raw, err := objects.ReadRaw(ctx, r, objects.KindCommit, id)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", ref, err)
		}
		c, err := objects.DecodeCommit(raw)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", ref, err)
		}
		if !c.BindsRef(ref) {
			return nil, fmt.Errorf("publish %s: commit %s is bound to %v, not to %s; devices would refuse it (commit with --bind %s)", ref, id.Short(), c.RefBinding(), ref, ref)
		}
		if d := state.descs[ref]; d != nil && c.Release() < d.Release {
			return nil, fmt.Errorf("publish %s: release %d is lower than the published release %d; devices would refuse it as a downgrade", ref, c.Release(), d.Release)
		}
		meta, chunks, err := closure(ctx, r, id)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w (run 'arbor fsck')", ref, err)
		}
		jobs = append(jobs, &job{ref: ref, commit: id, c: c, raw: raw, meta: meta, chunks: chunks, stored: stored})
	}
	// 1. The new pack: every unit not yet on the site, metadata first.
	var newIx *packs.Index
	var packFile *os.File
	if len(jobs) > 0 {
		packFile, err = os.CreateTemp("", "arbor-pack-*")
		if err != nil {
			return nil, err
		}
		defer func() { packFile.Close(); os.Remove(packFile.Name()) }()
		popts := opts.Pack
		popts.Seq = state.maxSeq + 1
		pw, err := packs.NewWriter(packFile, popts)
		if err != nil {
			return nil, err
		}
		add := func(list []unitRef) (int, error) {
			n := 0
			for _, u := range list {
				if _, ok := state.units[u.id]; ok {
					continue
				}
				b, err := objects.ReadRaw(ctx, r, u.kind, u.id)
				if err != nil {
					return n, err
				}
				before := pw.Len()
				if err := pw.Add(u.kind, u.id, b); err != nil {
					return n, err
				}
				if pw.Len() > before {
					n++
				}
			}
			return n, nil
		}
		newUnits := make([]int, len(jobs))
		for i, j := range jobs {
			n, err := add(j.meta)
			if err != nil {
				return nil, fmt.Errorf("publish %s: %w", j.ref, err)
			}
			newUnits[i] += n
		}
		for i, j := range jobs {
			n, err := add(j.chunks)
			if err != nil {
				return nil, fmt.Errorf("publish %s: %w", j.ref, err)
			}
			newUnits[i] += n
		}
		ix, err := pw.Close()
		if err != nil {
			return nil, err
		}
		if len(ix.Entries) > 0 {
			newIx = ix
			state.indexes[ix.Pack] = ix
			for _, e := range ix.Entries {
				state.units[e.ID] = ix.Pack
			}
			rep.Pack, rep.PackSize, rep.Units, rep.Blocks = &ix.Pack, ix.PackSize, len(ix.Entries), len(ix.Blocks)
		}
		for i := range jobs {
			rep.Refs = append(rep.Refs, RefReport{Ref: jobs[i].ref, Commit: jobs[i].commit, NewUnits: newUnits[i]})
		}
	}
	var idxBytes []byte
	if newIx != nil {
		if idxBytes, err = newIx.Encode(); err != nil {
			return nil, err
		}
		state.refs[newIx.Pack] = site.PackRef{ID: newIx.Pack, Size: newIx.PackSize, IndexHash: objects.Sum(idxBytes),
			IndexSize: int64(len(idxBytes)), Seq: newIx.Seq}
	}
	// 2. Descriptors.
	targets := signer.Targets()
	descFiles := map[string][]byte{}
	var deltaFiles []siteFile
	for _, j := range jobs {
		d := &site.Descriptor{Ref: j.ref, Commit: j.commit, CommitSize: int64(len(j.raw)), Release: j.c.Release(),
			Version: j.c.Version(), Timestamp: j.c.Timestamp}
		used := map[objects.ID]map[uint32]bool{}
		for _, list := range [][]unitRef{j.meta, j.chunks} {
			for _, u := range list {
				pid := state.units[u.id]
				e, _ := state.indexes[pid].Lookup(u.id)
				if used[pid] == nil {
					used[pid] = map[uint32]bool{}
				}
				if !used[pid][e.Block] {
					used[pid][e.Block] = true
					d.FullSize += int64(state.indexes[pid].Blocks[e.Block].CSize)
				}
			}
		}
		for pid := range used {
			d.Packs = append(d.Packs, state.refs[pid])
		}
		slices.SortFunc(d.Packs, func(a, b site.PackRef) int { return int(b.Seq) - int(a.Seq) })
		drefs, dfiles, err := deltaRefs(ctx, r, state, d, j.stored, j.meta, j.chunks)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", j.ref, err)
		}
		d.Deltas, deltaFiles = drefs, append(deltaFiles, dfiles...)
		b, err := d.Encode()
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		name := site.RefTarget(j.ref)
		t := trust.Target{Name: name, Length: int64(len(b)), SHA256: sum}
		targets[name] = t
		descFiles[t.Path()] = b
		for i := range rep.Refs {
			if rep.Refs[i].Ref == j.ref {
				rep.Refs[i].Packs, rep.Refs[i].FullSize, rep.Refs[i].Deltas = len(d.Packs), d.FullSize, len(d.Deltas)
			}
		}
	}
	if opts.DryRun || len(jobs) == 0 {
		return rep, nil
	}
	// 3. Immutable files first: pack, index, commits, descriptors.
	write := func(name string, r io.Reader) error {
		if err := st.Write(ctx, name, r); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		rep.Files = append(rep.Files, name)
		return nil
	}
	if newIx != nil {
		if _, err := packFile.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if err := write(site.PackPath(newIx.Pack), packFile); err != nil {
			return nil, err
		}
		if err := write(site.IndexPath(newIx.Pack), bytes.NewReader(idxBytes)); err != nil {
			return nil, err
		}
	}
	for _, j := range jobs {
		name := site.CommitPath(j.commit)
		if ok, err := st.Exists(ctx, name); err != nil {
			return nil, err
		} else if !ok {
			if err := write(name, bytes.NewReader(j.raw)); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range deltaFiles {
		if ok, err := st.Exists(ctx, f.name); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		rc, err := f.open()
		if err != nil {
			return nil, err
		}
		err = write(f.name, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(descFiles))
	for n := range descFiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := write(n, bytes.NewReader(descFiles[n])); err != nil {
			return nil, err
		}
	}
	// 4. Signed metadata, timestamp last.
	list := make([]trust.Target, 0, len(targets))
	for _, t := range targets {
		list = append(list, t)
	}
	files, err := signer.SetTargets(list)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := write(f.Name, bytes.NewReader(f.Data)); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}
