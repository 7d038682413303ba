package objects

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// ID names an object: the BLAKE3-256 hash of its exact bytes.
type ID [32]byte

// Sum returns the ID of the given bytes.
func Sum(b []byte) ID {
	return ID(blake3.Sum256(b))
}

// ParseID parses 64 lowercase hexadecimal digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("invalid object ID %q: want %d hex digits, got %d", truncate(s), 2*len(id), len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return id, fmt.Errorf("invalid object ID %q: not lowercase hex", truncate(s))
		}
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("invalid object ID %q: %v", truncate(s), err)
	}
	return id, nil
}

// MustParseID is ParseID for constants in tests and examples; it panics on error.
func MustParseID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the 64 lowercase hex digits of the ID.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs and messages only.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether the ID is all zero bytes (the "no object" value).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Compare orders IDs bytewise; it returns -1, 0 or +1.
func (id ID) Compare(o ID) int {
	for i := range id {
		if id[i] != o[i] {
			if id[i] < o[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Kind is the kind of an object. Its numeric value is part of the encoding.
type Kind uint8

// The five kinds of object.
const (
	KindChunk   Kind = 1 // raw bytes of a piece of one file's content
	KindFile    Kind = 2 // a regular file's or symlink's metadata and chunk list
	KindDirMeta Kind = 3 // a directory's mode, owner and xattrs
	KindDirTree Kind = 4 // a directory's sorted entries
	KindCommit  Kind = 5 // a root tree plus history and metadata
)

// Kinds lists every kind, in numeric order.
var Kinds = []Kind{KindChunk, KindFile, KindDirMeta, KindDirTree, KindCommit}

var kindNames = [...]string{KindChunk: "chunk", KindFile: "file", KindDirMeta: "dirmeta", KindDirTree: "dirtree", KindCommit: "commit"}

// String returns the kind's name as used in file names: "chunk", "file", ...
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Valid reports whether k is one of the five kinds.
func (k Kind) Valid() bool { return k >= KindChunk && k <= KindCommit }

// MarshalText implements encoding.TextMarshaler: the kind's name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("invalid object kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// ParseKind parses a kind's name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown object kind %q", s)
}

// MaxSize is the largest encoding accepted for an object of kind k.
func (k Kind) MaxSize() int {
	switch k {
	case KindChunk:
		return MaxChunkSize
	case KindFile, KindDirTree:
		return 16 << 20
	case KindDirMeta, KindCommit:
		return 1 << 20
	}
	return 0
}
