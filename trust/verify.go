package trust

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// The parse functions decode untrusted bytes and check their structure
// before go-tuf verifies them: go-tuf dereferences keys, roles and meta
// entries without checking for JSON null, and takes on trust rules that
// arbor's layout depends on (consistent snapshots, signed lengths and
// hashes, ed25519 keys, no delegations). They make no trust decision.

type (
	rootMD      = metadata.Metadata[metadata.RootType]
	timestampMD = metadata.Metadata[metadata.TimestampType]
	snapshotMD  = metadata.Metadata[metadata.SnapshotType]
	targetsMD   = metadata.Metadata[metadata.TargetsType]
)

const (
	snapshotMetaName = "snapshot.json"
	targetsMetaName  = "targets.json"
)

// fromBytes decodes metadata. go-tuf's decoders dereference JSON null in
// places (a null target panics in TargetsType.UnmarshalJSON, v2.4.2); a
// panic while decoding bytes means the bytes are malformed, and decoding
// touches nothing else, so it is recovered into ErrBadMetadata. Once bytes
// decode here, go-tuf's own decoding of them inside trustedmetadata cannot
// panic either.
func fromBytes[T metadata.Roles](role string, data []byte) (md *metadata.Metadata[T], err error) {
	defer func() {
		if r := recover(); r != nil {
			md, err = nil, badf("%s: malformed (the decoder panicked: %v)", role, r)
		}
	}()
	md, err = (&metadata.Metadata[T]{}).FromBytes(data)
	if err != nil {
		return nil, classify(role, err)
	}
	return md, nil
}

func parseRoot(data []byte) (*rootMD, error) {
	md, err := fromBytes[metadata.RootType]("root", data)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(&md.Signed); err != nil {
		return nil, err
	}
	return md, nil
}

// checkRoot checks the rules arbor holds every root to.
func checkRoot(r *metadata.RootType) error {
	if r.Version < 1 {
		return badf("root version %d", r.Version)
	}
	if !r.ConsistentSnapshot {
		return badf("root does not use consistent snapshots")
	}
	for id, k := range r.Keys {
		if k == nil {
			return badf("root key %s is null", id)
		}
		if k.Type != metadata.KeyTypeEd25519 || k.Scheme != metadata.KeySchemeEd25519 {
			return badf("root key %s: type %q scheme %q, want ed25519", id, k.Type, k.Scheme)
		}
		if _, err := canonicalHex(k.Value.PublicKey, 32); err != nil {
			return badf("root key %s: public key: %v", id, err)
		}
		if got, err := k.ID(); err != nil || got != id {
			return badf("root key %s: key ID does not match the key", id)
		}
	}
	if len(r.Roles) != len(roles) {
		return badf("root has %d roles, want %v", len(r.Roles), roles)
	}
	for _, name := range roles {
		role := r.Roles[name]
		if role == nil {
			return badf("root has no %s role", name)
		}
		ids := slices.Clone(role.KeyIDs)
		slices.Sort(ids)
		if len(slices.Compact(ids)) != len(role.KeyIDs) {
			return badf("root role %s lists a key twice", name)
		}
		if role.Threshold < 1 || role.Threshold > len(role.KeyIDs) {
			return badf("root role %s: threshold %d with %d keys", name, role.Threshold, len(role.KeyIDs))
		}
		for _, id := range role.KeyIDs {
			if r.Keys[id] == nil {
				return badf("root role %s: key %s is not in the root's keys", name, id)
			}
		}
	}
	return nil
}

func parseTimestamp(data []byte) (*timestampMD, error) {
	md, err := fromBytes[metadata.TimestampType]("timestamp", data)
	if err != nil {
		return nil, err
	}
	if md.Signed.Version < 1 {
		return nil, badf("timestamp version %d", md.Signed.Version)
	}
	if err := checkMeta("timestamp", md.Signed.Meta, snapshotMetaName); err != nil {
		return nil, err
	}
	return md, nil
}

func parseSnapshot(data []byte) (*snapshotMD, error) {
	md, err := fromBytes[metadata.SnapshotType]("snapshot", data)
	if err != nil {
		return nil, err
	}
	if md.Signed.Version < 1 {
		return nil, badf("snapshot version %d", md.Signed.Version)
	}
	if err := checkMeta("snapshot", md.Signed.Meta, targetsMetaName); err != nil {
		return nil, err
	}
	return md, nil
}

// checkMeta requires meta to describe exactly the file name, with a
// version, a length and a SHA-256 hash.
func checkMeta(role string, meta map[string]*metadata.MetaFiles, name string) error {
	m := meta[name]
	if len(meta) != 1 || m == nil {
		return badf("%s meta must describe exactly %s", role, name)
	}
	if m.Version < 1 {
		return badf("%s meta: %s version %d", role, name, m.Version)
	}
	if m.Length < 1 {
		return badf("%s meta: %s has no length", role, name)
	}
	if err := checkHashes(m.Hashes); err != nil {
		return fmt.Errorf("%s meta: %s: %w", role, name, err)
	}
	return nil
}

// checkHashes requires a SHA-256 hash and allows only hashes go-tuf checks.
func checkHashes(h metadata.Hashes) error {
	if len(h[string(hashSHA256)]) != sha256.Size {
		return badf("no sha256 hash")
	}
	for alg := range h {
		if alg != hashSHA256 && alg != "sha512" {
			return badf("unknown hash algorithm %q", alg)
		}
	}
	return nil
}

const hashSHA256 = "sha256"

func parseTargets(data []byte) (*targetsMD, error) {
	md, err := fromBytes[metadata.TargetsType]("targets", data)
	if err != nil {
		return nil, err
	}
	if md.Signed.Version < 1 {
		return nil, badf("targets version %d", md.Signed.Version)
	}
	if md.Signed.Delegations != nil {
		return nil, badf("targets delegations are not supported")
	}
	if _, err := targetsOf(md); err != nil {
		return nil, err
	}
	return md, nil
}

// targetsOf converts the targets of checked metadata.
func targetsOf(md *targetsMD) (map[string]Target, error) {
	ts := make(map[string]Target, len(md.Signed.Targets))
	for name, tf := range md.Signed.Targets {
		if tf == nil {
			return nil, badf("target %q is null", name)
		}
		if err := validTargetName(name); err != nil {
			return nil, badf("%v", err)
		}
		if tf.Length < 0 {
			return nil, badf("target %q: length %d", name, tf.Length)
		}
		if err := checkHashes(tf.Hashes); err != nil {
			return nil, fmt.Errorf("target %q: %w", name, err)
		}
		t := Target{Name: name, Length: tf.Length}
		copy(t.SHA256[:], tf.Hashes[hashSHA256])
		if tf.Custom != nil {
			if err := checkJSON(*tf.Custom); err != nil {
				return nil, badf("target %q: custom data: %v", name, err)
			}
			t.Custom = slices.Clone(*tf.Custom)
		}
		ts[name] = t
	}
	return ts, nil
}

// chain is a verified set of top-level metadata, with the bytes it came from.
type chain struct {
	root      *rootMD
	timestamp *timestampMD // nil until the first refresh
	snapshot  *snapshotMD
	targets   *targetsMD
	raw       rawChain
	byName    map[string]Target
}

// rawChain is the bytes of the top-level metadata: all four, or only Root.
type rawChain struct {
	Root, Timestamp, Snapshot, Targets []byte
}

// verifyChain checks a stored chain: the root signs itself, and timestamp,
// snapshot and targets are signed under it and match each other's versions,
// lengths and hashes. Expiry is checked against ref; the zero time checks
// none (the publisher must be able to re-sign expired metadata, and a client
// answers from its last verified state).
func verifyChain(raw rawChain, ref time.Time) (*chain, error) {
	if _, err := parseRoot(raw.Root); err != nil {
		return nil, err
	}
	tm, err := trustedmetadata.New(raw.Root)
	if err != nil {
		return nil, classify("root", err)
	}
	tm.RefTime = ref
	c := &chain{root: tm.Root, raw: raw}
	if raw.Timestamp == nil && raw.Snapshot == nil && raw.Targets == nil {
		return c, nil
	}
	if raw.Timestamp == nil || raw.Snapshot == nil || raw.Targets == nil {
		return nil, badf("incomplete metadata: need timestamp, snapshot and targets")
	}
	if _, err := parseTimestamp(raw.Timestamp); err != nil {
		return nil, err
	}
	if c.timestamp, err = tm.UpdateTimestamp(raw.Timestamp); err != nil {
		return nil, classify("timestamp", err)
	}
	// Lengths and hashes first: they pin the bytes before anything decodes them.
	if err := c.timestamp.Signed.Meta[snapshotMetaName].VerifyLengthHashes(raw.Snapshot); err != nil {
		return nil, classify("snapshot", err)
	}
	if _, err := parseSnapshot(raw.Snapshot); err != nil {
		return nil, err
	}
	if c.snapshot, err = tm.UpdateSnapshot(raw.Snapshot, false); err != nil {
		return nil, classify("snapshot", err)
	}
	if err := c.snapshot.Signed.Meta[targetsMetaName].VerifyLengthHashes(raw.Targets); err != nil {
		return nil, classify("targets", err)
	}
	if _, err := parseTargets(raw.Targets); err != nil {
		return nil, err
	}
	if c.targets, err = tm.UpdateTargets(raw.Targets); err != nil {
		return nil, classify("targets", err)
	}
	if c.byName, err = targetsOf(c.targets); err != nil {
		return nil, err
	}
	return c, nil
}

// metaFor describes data as the given version for a snapshot or timestamp.
func metaFor(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	return &metadata.MetaFiles{
		Version: version,
		Length:  int64(len(data)),
		Hashes:  metadata.Hashes{hashSHA256: sum[:]},
	}
}

// validCustom checks custom target data: one JSON value that canonical
// JSON encodes as it reads, so that every JSON parser sees what was signed:
// numbers are integers (canonical JSON has no floats), and no object has a
// key twice (parsers differ on which one wins).
func validCustom(raw json.RawMessage) error {
	if raw == nil {
		return nil
	}
	if err := checkJSON(raw); err != nil {
		return fmt.Errorf("custom data: %w", err)
	}
	return nil
}

func checkJSON(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	// One frame per open object (keys seen so far) or array (keys nil).
	type frame struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []frame
	valueEnded := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueEnded()
			} else {
				k, _ := tok.(string) // the decoder allows only strings here
				if stack[n-1].keys[k] {
					return fmt.Errorf("key %q appears twice", k)
				}
				stack[n-1].keys[k] = true
				stack[n-1].wantKey = false
				continue
			}
		} else {
			switch tok := tok.(type) {
			case json.Delim:
				switch tok {
				case '{':
					stack = append(stack, frame{keys: map[string]bool{}, wantKey: true})
					continue
				case '[':
					stack = append(stack, frame{})
					continue
				default: // ']'; '}' never comes where a value may
					stack = stack[:len(stack)-1]
				}
			case json.Number:
				if _, err := tok.Int64(); err != nil {
					return fmt.Errorf("number %s is not an int64 (canonical JSON has no floats)", tok)
				}
			}
			valueEnded()
		}
		if len(stack) == 0 {
			if _, err := dec.Token(); err != io.EOF {
				return errors.New("more than one JSON value")
			}
			return nil
		}
	}
}
