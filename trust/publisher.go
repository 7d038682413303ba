package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
)

// Default expiries.
const (
	DefaultRootExpires      = 365 * 24 * time.Hour
	DefaultTargetsExpires   = 90 * 24 * time.Hour
	DefaultSnapshotExpires  = 7 * 24 * time.Hour
	DefaultTimestampExpires = 24 * time.Hour
)

// Options configures the publisher. The zero value works: default expiries
// and time.Now.
type Options struct {
	// How long newly signed metadata of each role stays valid. Expiry times
	// are whole seconds, UTC.
	RootExpires, TargetsExpires, SnapshotExpires, TimestampExpires time.Duration
	// Clock gives the time that expiries count from.
	Clock func() time.Time

	rand io.Reader // entropy for new keys; crypto/rand when nil
}

func (o Options) withDefaults() (Options, error) {
	for _, d := range []*struct {
		v   *time.Duration
		def time.Duration
	}{
		{&o.RootExpires, DefaultRootExpires},
		{&o.TargetsExpires, DefaultTargetsExpires},
		{&o.SnapshotExpires, DefaultSnapshotExpires},
		{&o.TimestampExpires, DefaultTimestampExpires},
	} {
		if *d.v < 0 {
			return o, fmt.Errorf("negative expiry %v", *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o, nil
}

func (o Options) expires(d time.Duration) time.Time {
	return o.Clock().UTC().Truncate(time.Second).Add(d)
}

// InitOptions configures Init. The zero value works: one root key,
// threshold 1.
type InitOptions struct {
	Options
	// RootKeys is the number of root keys to create (default 1);
	// RootThreshold how many of them must sign a root (default 1).
	RootKeys, RootThreshold int
}

// File is one file of the site for the caller to write.
type File struct {
	Name string // relative to the site root, e.g. "tuf/1.root.json"
	Data []byte
}

// Init creates the keys of a new repository in keysDir and returns the
// initial site files in the order to write them: tuf/1.root.json,
// tuf/root.json, tuf/1.targets.json (no targets), tuf/1.snapshot.json,
// tuf/timestamp.json.
//
// keysDir is created with mode 0700 if needed; each private key goes into a
// file of its own with mode 0600. Init refuses a keysDir that already holds
// key files (the error matches fs.ErrExist) or that others may read.
func Init(keysDir string, opts InitOptions) ([]File, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	n, threshold := opts.RootKeys, opts.RootThreshold
	if n == 0 {
		n = 1
	}
	if threshold == 0 {
		threshold = 1
	}
	if n < 1 || threshold < 1 || threshold > n {
		return nil, fmt.Errorf("root threshold %d of %d keys", threshold, n)
	}
	if err := os.MkdirAll(keysDir, 0o700); err != nil {
		return nil, err
	}
	if info, err := os.Stat(keysDir); err != nil {
		return nil, err
	} else if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keys directory %s: mode %v lets others in; chmod 700", keysDir, info.Mode().Perm())
	}
	if has, err := hasKeyFiles(keysDir); err != nil {
		return nil, err
	} else if has {
		return nil, fmt.Errorf("keys directory %s already holds keys: %w", keysDir, fs.ErrExist)
	}

	var keys []*signingKey
	root := metadata.Root(o.expires(o.RootExpires))
	for _, r := range roles {
		count := 1
		if r == RoleRoot {
			count = n
			root.Signed.Roles[r].Threshold = threshold
		}
		for range count {
			k, err := generateKey(r, o.rand)
			if err != nil {
				return nil, err
			}
			if err := root.Signed.AddKey(k.pub, r); err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	p := &Publisher{keysDir: keysDir, opts: o, keys: keys}
	rootRaw, err := signWith(root, p.signers(&root.Signed, RoleRoot, nil))
	if err != nil {
		return nil, err
	}
	// Version 0 stands for "nothing yet": every role is then signed as version 1.
	empty := &chain{
		root:      root,
		timestamp: &timestampMD{},
		snapshot:  &snapshotMD{},
		targets:   &targetsMD{Signed: metadata.TargetsType{Targets: map[string]*metadata.TargetFiles{}}},
		raw:       rawChain{Root: rootRaw},
	}
	p.cur = empty
	files, _, err := p.build(plan{
		rootRaw:        rootRaw,
		targets:        map[string]*metadata.TargetFiles{},
		renewTimestamp: true,
	})
	if err != nil {
		return nil, err
	}
	var written []string
	for _, k := range keys {
		if err := writeKey(keysDir, k); err != nil {
			for _, name := range written {
				os.Remove(name)
			}
			return nil, err
		}
		written = append(written, filepath.Join(keysDir, k.fileName()))
	}
	return files, nil
}

// Publisher signs new metadata for a site, given the site's current
// metadata and the private keys in a keys directory.
//
// Each method that returns files returns them in the order they must be
// written; the timestamp is always last, so a client never sees a timestamp
// before the files it points to. The Publisher assumes that the caller
// writes them: if writing fails, discard the Publisher and open a new one
// from the site. Methods are safe for concurrent use.
//
// A Publisher needs only the keys its operations use: SetTargets needs the
// targets, snapshot and timestamp keys, RefreshTimestamp only the timestamp
// key, RenewRoot only root keys (a threshold of them). Lacking keys give an
// error matching ErrMissingKey, so root keys can stay offline.
type Publisher struct {
	mu        sync.Mutex
	keysDir   string
	opts      Options
	keys      []*signingKey
	cur       *chain
	rootStale bool // tuf/root.json is not a copy of the newest root
}

// ReadFunc reads a file of the site by its name relative to the site root
// ("tuf/timestamp.json"). A missing file gives an error matching
// fs.ErrNotExist.
type ReadFunc func(name string) ([]byte, error)

// OpenPublisher loads the private keys in keysDir and the site's current
// metadata through read. It verifies what it reads as a client would
// (every root version from tuf/1.root.json on, then timestamp, snapshot and
// targets under the newest root), except for expiry, so that expired
// metadata can be re-signed.
func OpenPublisher(keysDir string, read ReadFunc, opts Options) (*Publisher, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	keys, err := loadKeys(keysDir)
	if err != nil {
		return nil, err
	}
	get := func(name string) ([]byte, error) {
		b, err := read(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		return b, nil
	}
	rootRaw, err := get(RootVersionFile(1))
	if err != nil {
		return nil, err
	}
	if _, err := parseRoot(rootRaw); err != nil {
		return nil, fmt.Errorf("%s: %w", RootVersionFile(1), err)
	}
	tm, err := trustedmetadata.New(rootRaw)
	if err != nil {
		return nil, classify(RootVersionFile(1), err)
	}
	for v := int64(2); ; v++ {
		b, err := read(RootVersionFile(v))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", RootVersionFile(v), err)
		}
		if _, err := parseRoot(b); err != nil {
			return nil, fmt.Errorf("%s: %w", RootVersionFile(v), err)
		}
		if _, err := tm.UpdateRoot(b); err != nil {
			return nil, classify(RootVersionFile(v), err)
		}
		rootRaw = b
	}
	raw := rawChain{Root: rootRaw}
	if raw.Timestamp, err = get(TimestampFile); err != nil {
		return nil, err
	}
	ts, err := parseTimestamp(raw.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TimestampFile, err)
	}
	snapName := SnapshotFile(ts.Signed.Meta[snapshotMetaName].Version)
	if raw.Snapshot, err = get(snapName); err != nil {
		return nil, err
	}
	sn, err := parseSnapshot(raw.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", snapName, err)
	}
	if raw.Targets, err = get(TargetsFile(sn.Signed.Meta[targetsMetaName].Version)); err != nil {
		return nil, err
	}
	cur, err := verifyChain(raw, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("site metadata: %w", err)
	}
	copyOfRoot, err := read(RootFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", RootFile, err)
	}
	return &Publisher{
		keysDir:   keysDir,
		opts:      o,
		keys:      keys,
		cur:       cur,
		rootStale: !bytes.Equal(copyOfRoot, rootRaw),
	}, nil
}

// Targets returns the currently signed targets by name.
func (p *Publisher) Targets() map[string]Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.cur.byName)
}

// KeyIDs returns the IDs of the keys the current root lists for role.
func (p *Publisher) KeyIDs(role string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := p.cur.root.Signed.Roles[role]; r != nil {
		return slices.Clone(r.KeyIDs)
	}
	return nil
}

// SetTargets replaces the set of targets. It returns a new targets version,
// a new snapshot version and a new timestamp, in that order (preceded by
// tuf/root.json when the site's copy of the newest root is stale).
func (p *Publisher) SetTargets(ts []Target) ([]File, error) {
	tf := make(map[string]*metadata.TargetFiles, len(ts))
	for _, t := range ts {
		if err := validTargetName(t.Name); err != nil {
			return nil, err
		}
		if _, dup := tf[t.Name]; dup {
			return nil, fmt.Errorf("target %q given twice", t.Name)
		}
		if t.Length < 0 {
			return nil, fmt.Errorf("target %q: negative length", t.Name)
		}
		if err := validCustom(t.Custom); err != nil {
			return nil, fmt.Errorf("target %q: %w", t.Name, err)
		}
		f := &metadata.TargetFiles{Length: t.Length, Hashes: metadata.Hashes{hashSHA256: slices.Clone(t.SHA256[:])}}
		if t.Custom != nil {
			c := json.RawMessage(slices.Clone(t.Custom))
			f.Custom = &c
		}
		tf[t.Name] = f
	}
	return p.run(plan{targets: tf, renewTimestamp: true})
}

// RefreshTimestamp signs a new timestamp (next version, fresh expiry) for
// the current snapshot. Run it from cron well within TimestampExpires.
func (p *Publisher) RefreshTimestamp() ([]File, error) {
	return p.run(plan{renewTimestamp: true})
}

// RefreshExpiring re-signs, with new versions and fresh expiries, the
// targets and snapshot if they expire within margin from now (a new targets
// version implies a new snapshot), and always the timestamp. It is what a
// periodic job should run; it needs no root key, and so cannot renew the
// root (see RenewRoot).
func (p *Publisher) RefreshExpiring(margin time.Duration) ([]File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	deadline := p.opts.Clock().Add(margin)
	return p.runLocked(plan{
		renewTargets:   p.cur.targets.Signed.Expires.Before(deadline),
		renewSnapshot:  p.cur.snapshot.Signed.Expires.Before(deadline),
		renewTimestamp: true,
	})
}

// RenewRoot signs a new root version with the same keys and a fresh expiry.
// It needs a threshold of root keys. It returns tuf/N.root.json and
// tuf/root.json.
func (p *Publisher) RenewRoot() ([]File, error) {
	return p.rotate("", "")
}

// RotateKey replaces a key of role ("root", "targets", "snapshot" or
// "timestamp") with a new one. oldKeyID names the key to replace; it may be
// "" when the role has exactly one key.
//
// The new private key is written to keysDir at once (before the caller
// writes the returned files). The new root version revokes the old key and
// lists the new one, and is signed by a threshold of the old root's keys
// and a threshold of the new root's keys, as clients require (TUF 5.3.4);
// then the role's own metadata is re-signed with the new key, with what
// depends on it: targets → snapshot → timestamp. Files come in write order:
// tuf/N.root.json, tuf/root.json, then the re-signed role files.
//
// The old key's file stays in keysDir, unused: OpenPublisher ignores keys
// that the current root does not list. Destroy it once the new root is
// published.
func (p *Publisher) RotateKey(role, oldKeyID string) ([]File, error) {
	if !validRole(role) {
		return nil, fmt.Errorf("rotate key: unknown role %q", role)
	}
	return p.rotate(role, oldKeyID)
}

func (p *Publisher) rotate(role, oldKeyID string) ([]File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cur.root
	next, err := (&rootMD{}).FromBytes(p.cur.raw.Root) // a deep copy
	if err != nil {
		return nil, err
	}
	next.Signed.Version++
	next.Signed.Expires = p.opts.expires(p.opts.RootExpires)
	var pl plan
	var extra []*signingKey
	if role != "" {
		ids := old.Signed.Roles[role].KeyIDs
		if oldKeyID == "" {
			if len(ids) != 1 {
				return nil, fmt.Errorf("rotate %s key: the role has %d keys; name the one to replace", role, len(ids))
			}
			oldKeyID = ids[0]
		}
		if !slices.Contains(ids, oldKeyID) {
			return nil, fmt.Errorf("rotate %s key: root does not list key %s for the role", role, oldKeyID)
		}
		k, err := generateKey(role, p.opts.rand)
		if err != nil {
			return nil, err
		}
		if err := next.Signed.RevokeKey(oldKeyID, role); err != nil {
			return nil, err
		}
		if err := next.Signed.AddKey(k.pub, role); err != nil {
			return nil, err
		}
		extra = []*signingKey{k}
		pl.newKey = k
		switch role {
		case RoleTargets:
			pl.renewTargets, pl.renewTimestamp = true, true
		case RoleSnapshot:
			pl.renewSnapshot, pl.renewTimestamp = true, true
		case RoleTimestamp:
			pl.renewTimestamp = true
		}
	}
	// Sign with every root key of the old and of the new root we hold:
	// clients verify the new root against both.
	var signers []*signingKey
	for _, k := range append(p.signers(&old.Signed, RoleRoot, nil), p.signers(&next.Signed, RoleRoot, extra)...) {
		if !slices.Contains(signers, k) {
			signers = append(signers, k)
		}
	}
	pl.rootRaw, err = signWith(next, signers)
	if err != nil {
		return nil, err
	}
	for _, r := range []*rootMD{old, next} {
		if err := r.VerifyDelegate(RoleRoot, next); err != nil {
			have := len(p.signers(&r.Signed, RoleRoot, extra))
			return nil, fmt.Errorf("sign root version %d: %w: have %d of the %d root keys needed (root version %d): %w",
				next.Signed.Version, ErrMissingKey, have, r.Signed.Roles[RoleRoot].Threshold, r.Signed.Version, err)
		}
	}
	return p.runLocked(pl)
}

// plan says what a publishing step changes. The timestamp is re-signed when
// renewTimestamp is set or anything below it changes.
type plan struct {
	rootRaw []byte      // new root version, signed; nil: keep
	newKey  *signingKey // a key to write to keysDir with the result

	targets        map[string]*metadata.TargetFiles // new targets; nil: keep
	renewTargets   bool
	renewSnapshot  bool
	renewTimestamp bool
}

func (p *Publisher) run(pl plan) ([]File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runLocked(pl)
}

func (p *Publisher) runLocked(pl plan) ([]File, error) {
	files, next, err := p.build(pl)
	if err != nil {
		return nil, err
	}
	if pl.newKey != nil {
		if err := writeKey(p.keysDir, pl.newKey); err != nil {
			return nil, err
		}
		p.keys = append(p.keys, pl.newKey)
	}
	p.cur = next
	p.rootStale = false
	return files, nil
}

// build signs what pl asks for and returns the files in write order and the
// resulting chain, verified as a client would verify it. It changes nothing.
func (p *Publisher) build(pl plan) ([]File, *chain, error) {
	cur := p.cur
	raw := cur.raw
	root := cur.root
	var files []File
	var extra []*signingKey
	if pl.newKey != nil {
		extra = []*signingKey{pl.newKey}
	}
	if pl.rootRaw != nil {
		r, err := parseRoot(pl.rootRaw)
		if err != nil {
			return nil, nil, err
		}
		root, raw.Root = r, pl.rootRaw
		files = append(files, File{RootVersionFile(r.Signed.Version), pl.rootRaw})
	}
	if pl.rootRaw != nil || p.rootStale {
		files = append(files, File{RootFile, raw.Root})
	}

	renewSnapshot := pl.renewSnapshot
	targetsVersion := cur.targets.Signed.Version
	if pl.targets != nil || pl.renewTargets {
		tg := metadata.Targets(p.opts.expires(p.opts.TargetsExpires))
		tg.Signed.Version = targetsVersion + 1
		tg.Signed.Targets = pl.targets
		if tg.Signed.Targets == nil {
			tg.Signed.Targets = maps.Clone(cur.targets.Signed.Targets)
		}
		b, err := p.sign(tg, &root.Signed, RoleTargets, extra)
		if err != nil {
			return nil, nil, err
		}
		raw.Targets, targetsVersion = b, tg.Signed.Version
		files = append(files, File{TargetsFile(targetsVersion), b})
		renewSnapshot = true
	}

	snapshotVersion := cur.snapshot.Signed.Version
	if renewSnapshot {
		sn := metadata.Snapshot(p.opts.expires(p.opts.SnapshotExpires))
		sn.Signed.Version = snapshotVersion + 1
		sn.Signed.Meta = map[string]*metadata.MetaFiles{targetsMetaName: metaFor(targetsVersion, raw.Targets)}
		b, err := p.sign(sn, &root.Signed, RoleSnapshot, extra)
		if err != nil {
			return nil, nil, err
		}
		raw.Snapshot, snapshotVersion = b, sn.Signed.Version
		files = append(files, File{SnapshotFile(snapshotVersion), b})
	}

	if renewSnapshot || pl.renewTimestamp {
		ts := metadata.Timestamp(p.opts.expires(p.opts.TimestampExpires))
		ts.Signed.Version = cur.timestamp.Signed.Version + 1
		ts.Signed.Meta = map[string]*metadata.MetaFiles{snapshotMetaName: metaFor(snapshotVersion, raw.Snapshot)}
		b, err := p.sign(ts, &root.Signed, RoleTimestamp, extra)
		if err != nil {
			return nil, nil, err
		}
		raw.Timestamp = b
		files = append(files, File{TimestampFile, b})
	}
	next, err := verifyChain(raw, time.Time{})
	if err != nil {
		return nil, nil, fmt.Errorf("verify new metadata: %w", err)
	}
	return files, next, nil
}

// signers returns the keys we hold, among the loaded ones and extra, that
// root lists for role.
func (p *Publisher) signers(root *metadata.RootType, role string, extra []*signingKey) []*signingKey {
	ids := root.Roles[role].KeyIDs
	var ks []*signingKey
	for _, k := range append(slices.Clone(p.keys), extra...) {
		if k.role == role && slices.Contains(ids, k.id) && !slices.ContainsFunc(ks, func(o *signingKey) bool { return o.id == k.id }) {
			ks = append(ks, k)
		}
	}
	return ks
}

// sign signs md with every key we hold for role, and requires a threshold.
func (p *Publisher) sign(md any, root *metadata.RootType, role string, extra []*signingKey) ([]byte, error) {
	ks := p.signers(root, role, extra)
	if need := root.Roles[role].Threshold; len(ks) < need {
		return nil, fmt.Errorf("sign %s: %w: have %d of the %d keys needed", role, ErrMissingKey, len(ks), need)
	}
	switch md := md.(type) {
	case *targetsMD:
		return signWith(md, ks)
	case *snapshotMD:
		return signWith(md, ks)
	case *timestampMD:
		return signWith(md, ks)
	}
	panic("trust: sign: unexpected metadata type")
}

func signWith[T metadata.Roles](md *metadata.Metadata[T], keys []*signingKey) ([]byte, error) {
	md.ClearSignatures()
	for _, k := range keys {
		if _, err := md.Sign(k.signer); err != nil {
			return nil, err
		}
	}
	return md.ToBytes(false)
}
