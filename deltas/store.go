package deltas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
)

// Dir is the directory where an archive repository keeps its deltas
// (<repo>/deltas): one directory per delta, <from>-<to>, holding the file
// superblock and one <hash>.part file per part. A delta appears whole or
// not at all: it is written into a temporary directory, synced, then
// renamed into place.
type Dir struct {
	Path string
}

// ErrNoDelta matches errors for a delta that is not stored.
var ErrNoDelta = errors.New("no such delta")

// Stored is a delta in a Dir.
type Stored struct {
	Dir        string // its directory
	Superblock *Superblock
	Raw        []byte // the superblock's bytes
}

// Name returns "<from>-<to>".
func Name(from, to objects.ID) string { return from.String() + "-" + to.String() }

// ParseName parses "<from>-<to>".
func ParseName(s string) (from, to objects.ID, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return from, to, fmt.Errorf("delta name %q: want FROM-TO", s)
	}
	if from, err = objects.ParseID(a); err != nil {
		return
	}
	to, err = objects.ParseID(b)
	return
}

// PartPath returns the file of a part.
func (s *Stored) PartPath(i int) string {
	return filepath.Join(s.Dir, s.Superblock.Parts[i].Hash.String()+".part")
}

// Open opens part i; it is an OpenPart for Apply.
func (s *Stored) Open(i int) (io.ReaderAt, io.Closer, error) {
	f, err := os.Open(s.PartPath(i))
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}

// Generate generates the delta from one commit to another, reading both
// from r, and stores it, replacing one stored before.
func (d Dir) Generate(ctx context.Context, r objects.Reader, from, to objects.ID, opts Options) (*Stored, error) {
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(d.Path, ".tmp-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	sb, err := Generate(ctx, r, from, to, opts, func(info PartInfo, data []byte) error {
		return writeSynced(filepath.Join(tmp, info.Hash.String()+".part"), data)
	})
	if err != nil {
		return nil, err
	}
	raw, err := sb.Encode()
	if err != nil {
		return nil, err
	}
	if err := writeSynced(filepath.Join(tmp, "superblock"), raw); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return nil, err
	}
	final := filepath.Join(d.Path, Name(from, to))
	old := ""
	if _, err := os.Stat(final); err == nil {
		old = filepath.Join(d.Path, ".old-"+filepath.Base(tmp))
		if err := os.Rename(final, old); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(d.Path); err != nil {
		return nil, err
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return &Stored{Dir: final, Superblock: sb, Raw: raw}, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Get reads a stored delta's superblock.
func (d Dir) Get(from, to objects.ID) (*Stored, error) {
	dir := filepath.Join(d.Path, Name(from, to))
	raw, err := os.ReadFile(filepath.Join(dir, "superblock"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("delta %s-%s: %w", from.Short(), to.Short(), ErrNoDelta)
	}
	if err != nil {
		return nil, err
	}
	sb, err := DecodeSuperblock(raw)
	if err != nil {
		return nil, fmt.Errorf("delta %s-%s: %w", from.Short(), to.Short(), err)
	}
	if sb.From != from || sb.To != to {
		return nil, fmt.Errorf("delta %s-%s: %w: its superblock is for %s-%s", from.Short(), to.Short(), ErrInvalid, sb.From.Short(), sb.To.Short())
	}
	return &Stored{Dir: dir, Superblock: sb, Raw: raw}, nil
}

// List returns the stored deltas, sorted by name. A directory that is not
// a readable delta is skipped.
func (d Dir) List() ([]*Stored, error) {
	ents, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Stored
	for _, e := range ents {
		from, to, err := ParseName(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		s, err := d.Get(from, to)
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

// To returns the stored deltas to a commit.
func (d Dir) To(to objects.ID) ([]*Stored, error) {
	all, err := d.List()
	if err != nil {
		return nil, err
	}
	var out []*Stored
	for _, s := range all {
		if s.Superblock.To == to {
			out = append(out, s)
		}
	}
	return out, nil
}

// Remove deletes a stored delta.
func (d Dir) Remove(from, to objects.ID) error {
	dir := filepath.Join(d.Path, Name(from, to))
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("delta %s-%s: %w", from.Short(), to.Short(), ErrNoDelta)
	}
	return os.RemoveAll(dir)
}
