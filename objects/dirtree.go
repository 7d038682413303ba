package objects

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// DirEntry is one entry of a directory: a file (File set) or a
// subdirectory (Tree and Meta set).
type DirEntry struct {
	Name string
	File ID // for a regular file or symlink
	Tree ID // for a directory: its dirtree
	Meta ID // for a directory: its dirmeta
}

// IsDir reports whether the entry is a subdirectory.
func (e DirEntry) IsDir() bool { return e.File.IsZero() }

// MarshalCBOR encodes a file entry as [name, file] and a directory entry as
// [name, tree, meta].
func (e DirEntry) MarshalCBOR() ([]byte, error) {
	if e.IsDir() {
		return encMode.Marshal([]any{e.Name, e.Tree, e.Meta})
	}
	return encMode.Marshal([]any{e.Name, e.File})
}

// UnmarshalCBOR decodes either form written by MarshalCBOR.
func (e *DirEntry) UnmarshalCBOR(b []byte) error {
	var raw []cbor.RawMessage
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 2 && len(raw) != 3 {
		return fmt.Errorf("dirtree entry has %d fields, want 2 or 3", len(raw))
	}
	*e = DirEntry{}
	if err := decMode.Unmarshal(raw[0], &e.Name); err != nil {
		return err
	}
	if len(raw) == 2 {
		return decodeID(raw[1], &e.File)
	}
	if err := decodeID(raw[1], &e.Tree); err != nil {
		return err
	}
	return decodeID(raw[2], &e.Meta)
}

func decodeID(b []byte, id *ID) error {
	var s []byte
	if err := decMode.Unmarshal(b, &s); err != nil {
		return err
	}
	if len(s) != len(id) {
		return fmt.Errorf("object ID of %d bytes, want %d", len(s), len(id))
	}
	copy(id[:], s)
	return nil
}

// DirTree is a directory's entries, sorted bytewise by name, without duplicates.
type DirTree struct {
	Entries []DirEntry
}

type dirTreeWire struct {
	_       struct{} `cbor:",toarray"`
	Kind    uint8
	Version uint8
	Entries []DirEntry
}

// Validate reports whether t can be encoded: valid names, strictly sorted,
// each entry either a file or a directory with both IDs.
func (t *DirTree) Validate() error {
	for i, e := range t.Entries {
		if !ValidName(e.Name) {
			return invalidf(KindDirTree, "invalid entry name %q", e.Name)
		}
		if i > 0 && t.Entries[i-1].Name >= e.Name {
			if t.Entries[i-1].Name == e.Name {
				return invalidf(KindDirTree, "duplicate entry %q", e.Name)
			}
			return invalidf(KindDirTree, "entry %q sorts before %q", e.Name, t.Entries[i-1].Name)
		}
		if e.IsDir() {
			if e.Tree.IsZero() || e.Meta.IsZero() {
				return invalidf(KindDirTree, "entry %q has neither a file nor a tree and meta", e.Name)
			}
		} else if !e.Tree.IsZero() || !e.Meta.IsZero() {
			return invalidf(KindDirTree, "entry %q is both a file and a directory", e.Name)
		}
	}
	return nil
}

// Encode returns the canonical encoding of t.
func (t *DirTree) Encode() ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return encode(KindDirTree, dirTreeWire{Kind: uint8(KindDirTree), Version: FormatVersion, Entries: t.Entries})
}

// DecodeDirTree decodes a dirtree object, refusing anything Encode would not write.
func DecodeDirTree(b []byte) (*DirTree, error) {
	var w dirTreeWire
	var t *DirTree
	err := decodeCanonical(KindDirTree, b, &w, func() ([]byte, error) {
		t = &DirTree{Entries: nilIfEmpty(w.Entries)}
		return t.Encode()
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the entry with the given name by binary search.
func (t *DirTree) Lookup(name string) (DirEntry, bool) {
	lo, hi := 0, len(t.Entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.Entries[m].Name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.Entries) && t.Entries[lo].Name == name {
		return t.Entries[lo], true
	}
	return DirEntry{}, false
}

// DirTreeBuilder builds a DirTree, refusing entries that are out of order,
// duplicated or badly named at the moment they are added.
type DirTreeBuilder struct {
	t DirTree
}

// AddFile appends a file entry.
func (b *DirTreeBuilder) AddFile(name string, file ID) error {
	if file.IsZero() {
		return invalidf(KindDirTree, "entry %q: zero file ID", name)
	}
	return b.add(DirEntry{Name: name, File: file})
}

// AddDir appends a directory entry.
func (b *DirTreeBuilder) AddDir(name string, tree, meta ID) error {
	if tree.IsZero() || meta.IsZero() {
		return invalidf(KindDirTree, "entry %q: zero tree or meta ID", name)
	}
	return b.add(DirEntry{Name: name, Tree: tree, Meta: meta})
}

func (b *DirTreeBuilder) add(e DirEntry) error {
	if !ValidName(e.Name) {
		return invalidf(KindDirTree, "invalid entry name %q", e.Name)
	}
	if n := len(b.t.Entries); n > 0 && b.t.Entries[n-1].Name >= e.Name {
		if b.t.Entries[n-1].Name == e.Name {
			return invalidf(KindDirTree, "duplicate entry %q", e.Name)
		}
		return invalidf(KindDirTree, "entry %q added after %q", e.Name, b.t.Entries[n-1].Name)
	}
	b.t.Entries = append(b.t.Entries, e)
	return nil
}

// Tree returns the built DirTree.
func (b *DirTreeBuilder) Tree() *DirTree { return &b.t }
