package objects

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// Well-known commit metadata keys.
const (
	MetaRefBinding = "arbor.ref-binding" // []string: refs this commit may be served as (required)
	MetaRelease    = "arbor.release"     // int64: increases along a ref (required)
	MetaVersion    = "arbor.version"     // string: display version (optional)
	MetaHWCompat   = "arbor.hw-compat"   // []string: hardware IDs it may be installed on (optional)
)

// Metadata maps keys to values. A value is one of: string, int64, bool,
// []byte or []string.
type Metadata map[string]any

// Commit is a root tree with history and metadata.
type Commit struct {
	Tree      ID  // root dirtree
	Meta      ID  // root dirmeta
	Parent    *ID // nil for the first commit
	Timestamp int64
	Subject   string
	Body      string
	Metadata  Metadata
}

type commitWire struct {
	_         struct{} `cbor:",toarray"`
	Kind      uint8
	Version   uint8
	Tree      ID
	Meta      ID
	Parent    *ID
	Timestamp int64
	Subject   string
	Body      string
	Metadata  map[string]any
}

// RefBinding returns the refs the commit may be served as.
func (c *Commit) RefBinding() []string {
	v, _ := c.Metadata[MetaRefBinding].([]string)
	return v
}

// Release returns the commit's release number.
func (c *Commit) Release() int64 {
	v, _ := c.Metadata[MetaRelease].(int64)
	return v
}

// Version returns the display version, or "".
func (c *Commit) Version() string {
	v, _ := c.Metadata[MetaVersion].(string)
	return v
}

// HWCompat returns the hardware IDs the commit may be installed on; nil means any.
func (c *Commit) HWCompat() []string {
	v, _ := c.Metadata[MetaHWCompat].([]string)
	return v
}

// BindsRef reports whether the commit may be served as ref.
func (c *Commit) BindsRef(ref string) bool {
	for _, r := range c.RefBinding() {
		if r == ref {
			return true
		}
	}
	return false
}

// Validate reports whether c can be encoded.
func (c *Commit) Validate() error {
	if c.Tree.IsZero() || c.Meta.IsZero() {
		return invalidf(KindCommit, "missing root tree or meta")
	}
	if c.Parent != nil && c.Parent.IsZero() {
		return invalidf(KindCommit, "zero parent ID")
	}
	if !utf8.ValidString(c.Subject) || !utf8.ValidString(c.Body) {
		return invalidf(KindCommit, "subject or body is not valid UTF-8")
	}
	if len(c.Metadata) > maxMapPairs {
		return invalidf(KindCommit, "%d metadata keys, over the limit", len(c.Metadata))
	}
	for k, v := range c.Metadata {
		if k == "" || !utf8.ValidString(k) {
			return invalidf(KindCommit, "invalid metadata key %q", k)
		}
		switch v := v.(type) {
		case string:
			if !utf8.ValidString(v) {
				return invalidf(KindCommit, "metadata %s: not valid UTF-8", k)
			}
		case int64, bool, []byte:
		case []string:
			for _, s := range v {
				if !utf8.ValidString(s) {
					return invalidf(KindCommit, "metadata %s: not valid UTF-8", k)
				}
			}
		default:
			return invalidf(KindCommit, "metadata %s: unsupported value type %T", k, v)
		}
	}
	refs, ok := c.Metadata[MetaRefBinding].([]string)
	if !ok || len(refs) == 0 {
		return invalidf(KindCommit, "metadata %s must list at least one ref", MetaRefBinding)
	}
	if _, ok := c.Metadata[MetaRelease].(int64); !ok {
		return invalidf(KindCommit, "metadata %s must be an integer", MetaRelease)
	}
	if v, ok := c.Metadata[MetaVersion]; ok {
		if _, ok := v.(string); !ok {
			return invalidf(KindCommit, "metadata %s must be a string", MetaVersion)
		}
	}
	if v, ok := c.Metadata[MetaHWCompat]; ok {
		if _, ok := v.([]string); !ok {
			return invalidf(KindCommit, "metadata %s must be a list of strings", MetaHWCompat)
		}
	}
	return nil
}

// Encode returns the canonical encoding of c.
func (c *Commit) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	md := make(map[string]any, len(c.Metadata))
	for k, v := range c.Metadata {
		md[k] = v
	}
	return encode(KindCommit, commitWire{Kind: uint8(KindCommit), Version: FormatVersion,
		Tree: c.Tree, Meta: c.Meta, Parent: c.Parent, Timestamp: c.Timestamp,
		Subject: c.Subject, Body: c.Body, Metadata: md})
}

// DecodeCommit decodes a commit object, refusing anything Encode would not write.
func DecodeCommit(b []byte) (*Commit, error) {
	var w commitWire
	var c *Commit
	err := decodeCanonical(KindCommit, b, &w, func() ([]byte, error) {
		md, err := normalizeMetadata(w.Metadata)
		if err != nil {
			return nil, err
		}
		c = &Commit{Tree: w.Tree, Meta: w.Meta, Parent: w.Parent, Timestamp: w.Timestamp,
			Subject: w.Subject, Body: w.Body, Metadata: md}
		return c.Encode()
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// normalizeMetadata turns decoded CBOR values into the Metadata value types.
func normalizeMetadata(m map[string]any) (Metadata, error) {
	md := make(Metadata, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string, int64, bool, []byte:
			md[k] = v
		case []any:
			ss := make([]string, len(v))
			for i, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, invalidf(KindCommit, "metadata %s: list holds %T, want strings", k, e)
				}
				ss[i] = s
			}
			md[k] = ss
		default:
			return nil, invalidf(KindCommit, "metadata %s: unsupported value type %T", k, v)
		}
	}
	return md, nil
}

// Keys returns the metadata keys in sorted order.
func (m Metadata) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// FormatMetaValue formats a metadata value for display: byte strings in hex.
func FormatMetaValue(v any) string {
	switch v := v.(type) {
	case []byte:
		return fmt.Sprintf("%x", v)
	default:
		return fmt.Sprint(v)
	}
}
