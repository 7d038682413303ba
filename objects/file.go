package objects

import (
	"io/fs"
	"strings"
	"unicode/utf8"
)

// Unix file type bits as stored in a mode (st_mode).
const (
	ModeTypeMask = 0o170000
	ModeRegular  = 0o100000
	ModeDir      = 0o040000
	ModeSymlink  = 0o120000
	ModePermMask = 0o7777 // permission bits plus setuid, setgid, sticky
)

// ChunkRef names one chunk of a file's content and its size.
type ChunkRef struct {
	_    struct{} `cbor:",toarray"`
	ID   ID
	Size uint32
}

// File is the metadata of one regular file or symlink. A regular file's
// content is the concatenation of its chunks; a symlink has a target and no
// chunks. There are no timestamps: every checkout gets mtime 0.
type File struct {
	Mode   uint32 // ModeRegular or ModeSymlink, plus permission bits
	UID    uint32
	GID    uint32
	Xattrs []Xattr // sorted by name
	Chunks []ChunkRef
	Target string // symlink target
}

type fileWire struct {
	_       struct{} `cbor:",toarray"`
	Kind    uint8
	Version uint8
	Mode    uint32
	UID     uint32
	GID     uint32
	Xattrs  []Xattr
	Chunks  []ChunkRef
	Target  string
}

// IsSymlink reports whether f is a symlink.
func (f *File) IsSymlink() bool { return f.Mode&ModeTypeMask == ModeSymlink }

// Size returns the length of a regular file's content (0 for a symlink).
func (f *File) Size() int64 {
	var n int64
	for _, c := range f.Chunks {
		n += int64(c.Size)
	}
	return n
}

// FileMode converts the stored mode into an fs.FileMode.
func (f *File) FileMode() fs.FileMode { return UnixMode(f.Mode) }

// Validate reports whether f can be encoded.
func (f *File) Validate() error {
	switch f.Mode & ModeTypeMask {
	case ModeRegular:
		if f.Target != "" {
			return invalidf(KindFile, "regular file with a symlink target")
		}
		for _, c := range f.Chunks {
			if c.ID.IsZero() {
				return invalidf(KindFile, "chunk with a zero ID")
			}
			if c.Size == 0 || c.Size > MaxChunkSize {
				return invalidf(KindFile, "chunk %s has size %d", c.ID.Short(), c.Size)
			}
		}
	case ModeSymlink:
		if f.Mode&ModePermMask != 0o777 {
			return invalidf(KindFile, "symlink mode %o, want 0777", f.Mode&ModePermMask)
		}
		if len(f.Chunks) != 0 {
			return invalidf(KindFile, "symlink with content chunks")
		}
		if f.Target == "" || len(f.Target) > MaxTargetLen || strings.IndexByte(f.Target, 0) >= 0 || !utf8.ValidString(f.Target) {
			return invalidf(KindFile, "invalid symlink target %q", f.Target)
		}
	default:
		return invalidf(KindFile, "mode %o is neither a regular file nor a symlink", f.Mode)
	}
	if f.Mode&^(ModeTypeMask|ModePermMask) != 0 {
		return invalidf(KindFile, "mode %o has unknown bits", f.Mode)
	}
	return checkXattrs(KindFile, f.Xattrs)
}

// Encode returns the canonical encoding of f, or an error if f is not valid.
func (f *File) Encode() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return encode(KindFile, fileWire{Kind: uint8(KindFile), Version: FormatVersion,
		Mode: f.Mode, UID: f.UID, GID: f.GID, Xattrs: f.Xattrs, Chunks: f.Chunks, Target: f.Target})
}

// DecodeFile decodes a file object, refusing anything Encode would not write.
func DecodeFile(b []byte) (*File, error) {
	var w fileWire
	var f *File
	err := decodeCanonical(KindFile, b, &w, func() ([]byte, error) {
		f = &File{Mode: w.Mode, UID: w.UID, GID: w.GID, Xattrs: decodedXattrs(w.Xattrs), Chunks: nilIfEmpty(w.Chunks), Target: w.Target}
		return f.Encode()
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// DirMeta is the metadata of a directory.
type DirMeta struct {
	Mode   uint32 // ModeDir plus permission bits
	UID    uint32
	GID    uint32
	Xattrs []Xattr // sorted by name
}

type dirMetaWire struct {
	_       struct{} `cbor:",toarray"`
	Kind    uint8
	Version uint8
	Mode    uint32
	UID     uint32
	GID     uint32
	Xattrs  []Xattr
}

// Validate reports whether m can be encoded.
func (m *DirMeta) Validate() error {
	if m.Mode&ModeTypeMask != ModeDir || m.Mode&^(ModeTypeMask|ModePermMask) != 0 {
		return invalidf(KindDirMeta, "mode %o is not a directory mode", m.Mode)
	}
	return checkXattrs(KindDirMeta, m.Xattrs)
}

// Encode returns the canonical encoding of m.
func (m *DirMeta) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return encode(KindDirMeta, dirMetaWire{Kind: uint8(KindDirMeta), Version: FormatVersion,
		Mode: m.Mode, UID: m.UID, GID: m.GID, Xattrs: m.Xattrs})
}

// DecodeDirMeta decodes a dirmeta object, refusing anything Encode would not write.
func DecodeDirMeta(b []byte) (*DirMeta, error) {
	var w dirMetaWire
	var m *DirMeta
	err := decodeCanonical(KindDirMeta, b, &w, func() ([]byte, error) {
		m = &DirMeta{Mode: w.Mode, UID: w.UID, GID: w.GID, Xattrs: decodedXattrs(w.Xattrs)}
		return m.Encode()
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// UnixMode converts a Unix st_mode into an fs.FileMode.
func UnixMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	switch m & ModeTypeMask {
	case ModeDir:
		fm |= fs.ModeDir
	case ModeSymlink:
		fm |= fs.ModeSymlink
	}
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// ModeString formats a Unix mode as ls -l does: "-rwsr-xr-x", "drwxrwxrwt".
func ModeString(m uint32) string {
	b := []byte("?rwxrwxrwx")
	switch m & ModeTypeMask {
	case ModeRegular:
		b[0] = '-'
	case ModeDir:
		b[0] = 'd'
	case ModeSymlink:
		b[0] = 'l'
	}
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit uint32, pos int, set, unset byte) {
		if m&bit != 0 {
			if b[pos] == '-' {
				b[pos] = unset
			} else {
				b[pos] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}
