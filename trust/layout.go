package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Dir is the directory of the site that holds the TUF metadata.
const Dir = "tuf"

// Names of the metadata files, relative to the site root.
const (
	RootFile      = Dir + "/root.json"      // a copy of the newest root, for operators
	TimestampFile = Dir + "/timestamp.json" // the entry point, rewritten in place
)

// Caps on the length of metadata whose length no signed metadata announces.
// Snapshot and targets are fetched with the exact length the timestamp and
// snapshot give, and refused when that length exceeds their cap.
const (
	MaxRootLength      = 512 << 10
	MaxTimestampLength = 16 << 10
	MaxSnapshotLength  = 2 << 20
	MaxTargetsLength   = 5 << 20
	// MaxRootRotations bounds the number of new root versions one Refresh
	// follows, so a hostile mirror cannot keep it busy forever.
	MaxRootRotations = 256
	// MaxTargetNameLength bounds a target name, in bytes.
	MaxTargetNameLength = 1024
)

// RootVersionFile names root version v: "tuf/3.root.json".
func RootVersionFile(v int64) string { return versioned(v, "root") }

// SnapshotFile names snapshot version v: "tuf/3.snapshot.json".
func SnapshotFile(v int64) string { return versioned(v, "snapshot") }

// TargetsFile names targets version v: "tuf/3.targets.json".
func TargetsFile(v int64) string { return versioned(v, "targets") }

func versioned(v int64, role string) string {
	return Dir + "/" + strconv.FormatInt(v, 10) + "." + role + ".json"
}

// TargetFilePath is where a consistent-snapshot site stores the target file
// name whose SHA-256 is sha256hex: the hash goes before the last element,
// "refs/os/stable" → "refs/os/<sha256hex>.stable". The result is relative
// to the site root. Both the publisher (to write) and the client (to fetch)
// use it; neither validates here (names are validated when signed and when
// verified).
func TargetFilePath(name string, sha256hex string) string {
	dir, base := path.Split(name)
	return dir + sha256hex + "." + base
}

// Target is one signed target: in arbor, a ref descriptor.
type Target struct {
	// Name is the target path, e.g. "refs/os/stable": slash-separated,
	// relative, no "." or ".." or empty elements, valid UTF-8 without
	// control characters or backslashes, at most MaxTargetNameLength bytes.
	Name string
	// Length is the exact length of the target file, in bytes.
	Length int64
	// SHA256 is the hash of the target file.
	SHA256 [sha256.Size]byte
	// Custom is optional JSON signed with the target (an object, usually).
	// Numbers in it must be integers: TUF's canonical JSON has no floats.
	Custom json.RawMessage
}

// Path is where the site stores the target file: TargetFilePath of its name
// and hash.
func (t Target) Path() string {
	return TargetFilePath(t.Name, hex.EncodeToString(t.SHA256[:]))
}

// validTargetName checks a target name against the rules on Target.Name.
func validTargetName(name string) error {
	switch {
	case name == "" || name == ".":
		return fmt.Errorf("target name %q is empty", name)
	case len(name) > MaxTargetNameLength:
		return fmt.Errorf("target name is %d bytes long, limit %d", len(name), MaxTargetNameLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("target name %q is not valid UTF-8", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r == '\\' || unicode.IsControl(r) }):
		return fmt.Errorf("target name %q contains a backslash or control character", name)
	case !fs.ValidPath(name):
		return fmt.Errorf("target name %q is not a clean relative slash-separated path", name)
	}
	return nil
}
