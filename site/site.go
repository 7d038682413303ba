// Package site fixes the format of a published site: where each file lives
// and what a ref descriptor holds. The server package writes sites; the
// client package reads them.
//
//	tuf/                 TUF metadata (package trust)
//	refs/<ref>           one TUF target per ref: its descriptor (JSON), stored
//	                     under consistent snapshots as refs/<dir>/<sha256>.<name>
//	commits/<id>.commit  commit objects
//	packs/<id>.pack      packs of compressed units (package packs)
//	packs/<id>.idx       their indexes
//	deltas/<from>-<to>/  static deltas
//
// Everything but tuf/timestamp.json and tuf/root.json is immutable and named
// by its hash, so a CDN may cache it forever.
package site

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/arbor-ota/arbor/objects"
)

// CommitPath is where a commit object lives.
func CommitPath(id objects.ID) string { return "commits/" + id.String() + ".commit" }

// PackPath is where a pack lives.
func PackPath(id objects.ID) string { return "packs/" + id.String() + ".pack" }

// IndexPath is where a pack's index lives.
func IndexPath(id objects.ID) string { return "packs/" + id.String() + ".idx" }

// DeltaSuperblockPath is where the superblock of the delta from one commit
// to another lives; hash is the BLAKE3 of its bytes.
func DeltaSuperblockPath(from, to, hash objects.ID) string {
	return "deltas/" + from.String() + "-" + to.String() + "/" + hash.String() + ".superblock"
}

// DeltaPartPath is where a part of a delta lives; hash is the BLAKE3 of its bytes.
func DeltaPartPath(from, to, hash objects.ID) string {
	return "deltas/" + from.String() + "-" + to.String() + "/" + hash.String() + ".part"
}

// RefTarget is the TUF target name of a ref's descriptor.
func RefTarget(ref string) string { return "refs/" + ref }

// RefFromTarget returns the ref a target name describes.
func RefFromTarget(name string) (string, bool) { return strings.CutPrefix(name, "refs/") }

// MaxDescriptorSize bounds a descriptor.
const MaxDescriptorSize = 1 << 20

// PackRef names a pack and its index, with sizes and hash from signed data.
type PackRef struct {
	ID        objects.ID `json:"id"`         // BLAKE3 of the pack
	Size      int64      `json:"size"`       // bytes of the pack
	IndexHash objects.ID `json:"index_hash"` // BLAKE3 of the index file
	IndexSize int64      `json:"index_size"`
	Seq       uint64     `json:"seq"` // publish sequence: higher is newer
}

// DeltaRef names a static delta from a commit to this descriptor's commit:
// its superblock and parts, each with its hash and size, so that a device
// knows exactly what it costs and checks every byte.
type DeltaRef struct {
	From       objects.ID  `json:"from"`
	Superblock objects.ID  `json:"superblock"` // BLAKE3 of the superblock
	Size       int64       `json:"size"`       // bytes of the superblock
	Total      int64       `json:"total"`      // bytes of superblock and parts
	Parts      []DeltaPart `json:"parts"`
	// ChunkBytes is what the chunk path costs a device that holds exactly
	// From (pack indexes, metadata and content blocks, as the client fetches
	// them), so that it can compare without walking the tree. 0: unknown.
	ChunkBytes int64 `json:"chunk_bytes,omitempty"`
}

// DeltaPart names one part of a delta.
type DeltaPart struct {
	Hash objects.ID `json:"hash"` // BLAKE3 of the part
	Size int64      `json:"size"`
}

// Descriptor is what a ref points at on a site.
type Descriptor struct {
	Ref        string     `json:"ref"`
	Commit     objects.ID `json:"commit"`
	CommitSize int64      `json:"commit_size"`
	Release    int64      `json:"release"`
	Version    string     `json:"version,omitempty"`
	Timestamp  int64      `json:"timestamp"`
	// Packs hold the commit's closure, newest first.
	Packs []PackRef `json:"packs"`
	// FullSize is the bytes of every block holding a unit of the closure:
	// what a device with nothing downloads.
	FullSize int64      `json:"full_size"`
	Deltas   []DeltaRef `json:"deltas,omitempty"`
}

// ErrInvalidDescriptor matches errors from DecodeDescriptor.
var ErrInvalidDescriptor = errors.New("invalid ref descriptor")

// Encode returns the descriptor's JSON.
func (d *Descriptor) Encode() ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(d, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Validate checks sizes and ordering.
func (d *Descriptor) Validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidDescriptor, fmt.Sprintf(f, a...))
	}
	if d.Ref == "" || d.Commit.IsZero() {
		return bad("missing ref or commit")
	}
	if d.CommitSize <= 0 || d.CommitSize > int64(objects.KindCommit.MaxSize()) {
		return bad("commit size %d", d.CommitSize)
	}
	if d.FullSize < 0 || len(d.Packs) > 1<<16 || len(d.Deltas) > 1<<10 {
		return bad("sizes out of range")
	}
	for i, p := range d.Packs {
		if p.ID.IsZero() || p.IndexHash.IsZero() || p.Size <= 0 || p.IndexSize <= 0 || p.IndexSize > 1<<30 {
			return bad("pack %d malformed", i)
		}
		if i > 0 && d.Packs[i-1].Seq <= p.Seq {
			return bad("packs not newest first")
		}
	}
	for i, dl := range d.Deltas {
		if dl.From.IsZero() || dl.From == d.Commit || dl.Superblock.IsZero() || dl.Size <= 0 || dl.Size > 1<<30 ||
			len(dl.Parts) == 0 || len(dl.Parts) > 1<<16 || dl.ChunkBytes < 0 {
			return bad("delta %d malformed", i)
		}
		total := dl.Size
		for _, p := range dl.Parts {
			if p.Hash.IsZero() || p.Size <= 0 || p.Size > 1<<30 {
				return bad("delta %d: part malformed", i)
			}
			total += p.Size
		}
		if total != dl.Total {
			return bad("delta %d: total %d, superblock and parts %d", i, dl.Total, total)
		}
	}
	return nil
}

// DecodeDescriptor parses a descriptor, refusing unknown fields, trailing
// data and anything Validate refuses.
func DecodeDescriptor(b []byte) (*Descriptor, error) {
	if len(b) > MaxDescriptorSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrInvalidDescriptor, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Descriptor
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDescriptor, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidDescriptor)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}
