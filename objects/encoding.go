package objects

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// FormatVersion is the version written after the kind in every metadata object.
const FormatVersion = 1

// Limits on what an object may hold. They bound memory on every decoder.
const (
	MaxChunkSize     = 1 << 20 // largest chunk object
	MaxNameLen       = 255     // a directory entry name, in bytes
	MaxTargetLen     = 4095    // a symlink target, in bytes
	MaxXattrNameLen  = 255
	MaxXattrValueLen = 64 << 10
	MaxXattrs        = 256
	maxArrayElements = 1 << 20
	maxMapPairs      = 1 << 12
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	opts := cbor.CoreDetEncOptions()
	opts.NilContainers = cbor.NilContainerAsEmpty
	encMode, err = opts.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   8,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       maxMapPairs,
		IntDec:            cbor.IntDecConvertSigned,
		UTF8:              cbor.UTF8RejectInvalid,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		DefaultMapType:    reflect.TypeOf(map[string]any(nil)),
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// header is the start of every metadata object: [kind, version, ...].
type header struct {
	_       struct{} `cbor:",toarray"`
	Kind    uint8
	Version uint8
}

// encode marshals the wire form of an object of kind k and enforces the
// kind's size cap, so that Encode never writes what a decoder would refuse.
func encode(k Kind, wire any) ([]byte, error) {
	b, err := encMode.Marshal(wire)
	if err != nil {
		return nil, invalidf(k, "%v", err)
	}
	if len(b) > k.MaxSize() {
		return nil, invalidf(k, "encodes to %d bytes, over the %d byte limit", len(b), k.MaxSize())
	}
	return b, nil
}

// decodeCanonical decodes b into v (a pointer to a toarray struct whose first
// two fields are kind and version), then re-encodes v and requires the exact
// same bytes, so that every object has exactly one encoding.
func decodeCanonical(k Kind, b []byte, v any, reencode func() ([]byte, error)) error {
	if len(b) > k.MaxSize() {
		return invalidf(k, "%d bytes, over the %d byte limit", len(b), k.MaxSize())
	}
	var raw []cbor.RawMessage
	if err := decMode.Unmarshal(b, &raw); err != nil {
		return invalidf(k, "not a CBOR array: %v", err)
	}
	if len(raw) < 2 {
		return invalidf(k, "missing kind and version")
	}
	var kind, version uint64
	if err := decMode.Unmarshal(raw[0], &kind); err != nil || kind != uint64(k) {
		return invalidf(k, "wrong kind tag (CBOR %s)", snippet(raw[0]))
	}
	if err := decMode.Unmarshal(raw[1], &version); err != nil || version != FormatVersion {
		return invalidf(k, "unsupported format version (CBOR %s)", snippet(raw[1]))
	}
	if err := decMode.Unmarshal(b, v); err != nil {
		return invalidf(k, "%v", err)
	}
	again, err := reencode()
	if err != nil {
		if !errors.Is(err, ErrInvalid) {
			err = invalidf(k, "%v", err)
		}
		return err
	}
	if !bytes.Equal(again, b) {
		return invalidf(k, "not in canonical encoding")
	}
	return nil
}

// snippet formats the start of some CBOR for an error message.
func snippet(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x...", b[:16])
	}
	return fmt.Sprintf("%x", b)
}

// nilIfEmpty returns nil for an empty slice, so that decoded values use nil
// for "none" as the Go values that were encoded usually do (the encoding
// does not tell nil from empty).
func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// decodedXattrs normalises decoded xattrs: nil for none, and a nil Value for
// an empty one.
func decodedXattrs(xs []Xattr) []Xattr {
	for i := range xs {
		xs[i].Value = nilIfEmpty(xs[i].Value)
	}
	return nilIfEmpty(xs)
}

// Xattr is one extended attribute. Within an object, xattrs are sorted by name.
type Xattr struct {
	_     struct{} `cbor:",toarray"`
	Name  string
	Value []byte
}

func checkXattrs(k Kind, xs []Xattr) error {
	if len(xs) > MaxXattrs {
		return invalidf(k, "%d xattrs, over the limit of %d", len(xs), MaxXattrs)
	}
	for i, x := range xs {
		if x.Name == "" || len(x.Name) > MaxXattrNameLen || !utf8.ValidString(x.Name) || bytes.IndexByte([]byte(x.Name), 0) >= 0 {
			return invalidf(k, "invalid xattr name %q", x.Name)
		}
		if len(x.Value) > MaxXattrValueLen {
			return invalidf(k, "xattr %s: value of %d bytes is over the limit", x.Name, len(x.Value))
		}
		if i > 0 && xs[i-1].Name >= x.Name {
			return invalidf(k, "xattrs not sorted or duplicated at %q", x.Name)
		}
	}
	return nil
}

// ValidName reports whether s may be a directory entry name: not empty, not
// "." or "..", no "/" or NUL, valid UTF-8, at most MaxNameLen bytes.
func ValidName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > MaxNameLen || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 {
			return false
		}
	}
	return true
}
