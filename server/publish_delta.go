package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/arbor-ota/arbor/deltas"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/site"
)

// Static deltas are generated into the repository (deltas.Dir under
// <repo>/deltas, by 'arbor delta generate' or the fleet server). Publishing
// a ref lists in its descriptor every stored delta that ends at its commit,
// with the superblock's and each part's hash and size, and writes their
// files under deltas/<from>-<to>/ first, as it does packs.

// storedDeltas returns the deltas stored in r that end at commit, sorted by
// their from commit.
func storedDeltas(r *repo.Repo, to objects.ID) ([]*deltas.Stored, error) {
	list, err := deltas.Dir{Path: filepath.Join(r.Path(), "deltas")}.To(to)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Superblock.From.Compare(list[j].Superblock.From) < 0 })
	return list, nil
}

// deltasChanged reports whether a published descriptor lists other deltas
// than the ones stored.
func deltasChanged(d *site.Descriptor, stored []*deltas.Stored) bool {
	if len(d.Deltas) != len(stored) {
		return true
	}
	pub := map[objects.ID]objects.ID{}
	for _, x := range d.Deltas {
		pub[x.From] = x.Superblock
	}
	for _, s := range stored {
		if pub[s.Superblock.From] != objects.Sum(s.Raw) {
			return true
		}
	}
	return false
}

// siteFile is a file to write to the site: bytes, or a file on disk.
type siteFile struct {
	name string
	data []byte
	path string
}

func (f siteFile) open() (io.ReadCloser, error) {
	if f.path != "" {
		return os.Open(f.path)
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

// deltaRefs describes the stored deltas to a commit for its descriptor d
// (whose packs are set), and lists their files.
func deltaRefs(ctx context.Context, r *repo.Repo, state *siteState, d *site.Descriptor, stored []*deltas.Stored, meta, chunks []unitRef) ([]site.DeltaRef, []siteFile, error) {
	var refs []site.DeltaRef
	var files []siteFile
	for _, s := range stored {
		sb := s.Superblock
		if sb.To != d.Commit {
			continue
		}
		hash := objects.Sum(s.Raw)
		dr := site.DeltaRef{From: sb.From, Superblock: hash, Size: int64(len(s.Raw)), Total: int64(len(s.Raw))}
		files = append(files, siteFile{name: site.DeltaSuperblockPath(sb.From, sb.To, hash), data: s.Raw})
		for i, p := range sb.Parts {
			fi, err := os.Stat(s.PartPath(i))
			if err != nil {
				return nil, nil, fmt.Errorf("delta %s-%s: %w", sb.From.Short(), sb.To.Short(), err)
			}
			if fi.Size() != p.Size {
				return nil, nil, fmt.Errorf("delta %s-%s: part %d is %d bytes, its superblock says %d; generate it again",
					sb.From.Short(), sb.To.Short(), i, fi.Size(), p.Size)
			}
			dr.Parts = append(dr.Parts, site.DeltaPart{Hash: p.Hash, Size: p.Size})
			dr.Total += p.Size
			files = append(files, siteFile{name: site.DeltaPartPath(sb.From, sb.To, p.Hash), path: s.PartPath(i)})
		}
		// What the chunk path costs a device holding the from commit: its
		// closure is on the device, the rest comes from the packs. A from
		// commit this repository no longer holds leaves it unknown.
		if cost, err := chunkBytes(ctx, r, state, d, sb.From, meta, chunks); err == nil {
			dr.ChunkBytes = cost
		}
		refs = append(refs, dr)
	}
	return refs, files, nil
}

// chunkBytes computes what a device holding exactly commit from downloads
// through the chunk path to reach descriptor d: the indexes of the packs it
// must look in (newest first, down to the oldest it needs), the newest
// pack's metadata region (fetched in one request when the walk starts), and
// every block holding a unit it lacks, with the gaps of up to 32 KiB between
// needed blocks that the client spans rather than make another request.
func chunkBytes(ctx context.Context, r *repo.Repo, state *siteState, d *site.Descriptor, from objects.ID, meta, chunks []unitRef) (int64, error) {
	fm, fc, err := closure(ctx, r, from)
	if err != nil {
		return 0, err
	}
	have := make(map[objects.ID]bool, len(fm)+len(fc))
	for _, list := range [][]unitRef{fm, fc} {
		for _, u := range list {
			have[u.id] = true
		}
	}
	rank := map[objects.ID]int{}
	for i, p := range d.Packs {
		rank[p.ID] = i
	}
	blocks := map[objects.ID]map[uint32]bool{}
	need := func(pid objects.ID, b uint32) {
		if blocks[pid] == nil {
			blocks[pid] = map[uint32]bool{}
		}
		blocks[pid][b] = true
	}
	deepest := 0
	for _, list := range [][]unitRef{meta, chunks} {
		for _, u := range list {
			if have[u.id] {
				continue
			}
			pid, ok := state.units[u.id]
			if !ok {
				return 0, fmt.Errorf("unit %s is in no pack", u.id.Short())
			}
			e, _ := state.indexes[pid].Lookup(u.id)
			need(pid, e.Block)
			deepest = max(deepest, rank[pid])
		}
	}
	if len(blocks) == 0 {
		return 0, nil
	}
	var total int64
	if len(d.Packs) > 0 {
		newest := state.indexes[d.Packs[0].ID]
		for b := uint32(0); b < newest.MetaBlocks; b++ {
			need(d.Packs[0].ID, b)
		}
	}
	for i := 0; i <= deepest && i < len(d.Packs); i++ {
		total += d.Packs[i].IndexSize
	}
	const gap = 32 << 10
	for pid, set := range blocks {
		ix := state.indexes[pid]
		idx := make([]uint32, 0, len(set))
		for b := range set {
			idx = append(idx, b)
		}
		slices.Sort(idx)
		var end int64 = -1
		for _, bi := range idx {
			b := ix.Blocks[bi]
			if end >= 0 && b.Offset-end <= gap {
				total += b.End() - end
			} else {
				total += int64(b.CSize)
			}
			end = b.End()
		}
	}
	return total, nil
}
