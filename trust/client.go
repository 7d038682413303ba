package trust

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"

	"github.com/arbor-ota/arbor/internal/atomicfile"
)

// ClockTolerance is how far the clock may read behind the persisted time
// floor before Refresh refuses with ErrClockBehind. Within it, the floor
// serves as the reference time.
const ClockTolerance = time.Hour

// FetchFunc fetches a file of the site by its name relative to the site
// root ("tuf/timestamp.json"). It must not return more than maxLength
// bytes: it should stop reading at maxLength+1 bytes and fail with an error
// matching ErrTooLarge (the client checks the length again). A missing file
// must give an error matching fs.ErrNotExist: that is how the client learns
// that no newer root exists.
type FetchFunc func(ctx context.Context, name string, maxLength int64) ([]byte, error)

// InstallRoot makes stateDir trust rootJSON, on first use: the operator
// vouches for it (arbor remote add --root FILE). The root must be signed by
// a threshold of its own root keys and follow arbor's rules (ed25519 keys,
// consistent snapshots); it may be expired, since Refresh will look for
// newer versions. InstallRoot refuses a stateDir that already holds state
// (the error matches fs.ErrExist): replacing trust is a deliberate act of
// removing the directory first.
func InstallRoot(stateDir string, rootJSON []byte) error {
	if _, err := verifyChain(rawChain{Root: rootJSON}, time.Time{}); err != nil {
		return fmt.Errorf("install root: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	unlock, err := lockDir(context.Background(), stateDir)
	if err != nil {
		return err
	}
	defer unlock()
	p := filepath.Join(stateDir, stateFileName)
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("install root: %s: %w", p, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := encodeState(state{raw: rawChain{Root: rootJSON}})
	if err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o644)
}

// Client holds the trusted TUF metadata of one remote, persisted in a state
// directory. Its methods are safe for concurrent use; Refresh also locks
// the state directory against other processes.
type Client struct {
	dir   string
	fetch FetchFunc
	clock func() time.Time

	refreshing sync.Mutex // serializes Refresh

	mu    sync.Mutex // guards cur and floor
	cur   *chain
	floor time.Time
}

// OpenClient opens the state that InstallRoot created in stateDir and
// verifies it (signatures, versions, hashes; not expiry). clock nil means
// time.Now. OpenClient does no I/O through fetch; fetch may be nil for a
// client that only answers Target offline.
func OpenClient(stateDir string, fetch FetchFunc, clock func() time.Time) (*Client, error) {
	if clock == nil {
		clock = time.Now
	}
	c := &Client{dir: stateDir, fetch: fetch, clock: clock}
	st, cur, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cur, c.floor = cur, st.timeFloor
	return c, nil
}

func (c *Client) load() (state, *chain, error) {
	p := filepath.Join(c.dir, stateFileName)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, nil, fmt.Errorf("no trusted root in %s (install one first): %w", c.dir, err)
	}
	if err != nil {
		return state{}, nil, err
	}
	st, err := decodeState(data)
	if err != nil {
		return state{}, nil, fmt.Errorf("%s: %w: %w", p, ErrBadMetadata, err)
	}
	cur, err := verifyChain(st.raw, time.Time{})
	if err != nil {
		return state{}, nil, fmt.Errorf("%s: %w", p, err)
	}
	return st, cur, nil
}

// Refresh runs the TUF client workflow against the remote: it follows new
// root versions (tuf/N+1.root.json until one is missing, at most
// MaxRootRotations), then fetches the timestamp, and the snapshot and
// targets it points to when they changed. Every file is fetched with a cap
// on its length, and checked for signatures, versions (no rollback),
// lengths and hashes, and expiry at the reference time: the later of the
// clock and the persisted time floor.
//
// Refresh is all or nothing: on success it persists the new metadata and
// raises the time floor to the clock's reading (never lowers it); on any
// error the persisted state and the Client are unchanged. If the clock reads
// earlier than the floor minus ClockTolerance, Refresh fails with
// ErrClockBehind before fetching anything.
func (c *Client) Refresh(ctx context.Context) error {
	if c.fetch == nil {
		return errors.New("refresh: the client has no fetch function")
	}
	c.refreshing.Lock()
	defer c.refreshing.Unlock()
	unlock, err := lockDir(ctx, c.dir)
	if err != nil {
		return fmt.Errorf("refresh: lock %s: %w", c.dir, err)
	}
	defer unlock()
	// Another process may have refreshed since we loaded: start from disk.
	st, cur, err := c.load()
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	now := c.clock().UTC()
	if now.Before(st.timeFloor.Add(-ClockTolerance)) {
		return fmt.Errorf("refresh: %w: clock reads %s, metadata was already verified at %s",
			ErrClockBehind, now.Format(time.RFC3339), st.timeFloor.Format(time.RFC3339))
	}
	ref := now
	if st.timeFloor.After(ref) {
		ref = st.timeFloor
	}
	next, err := c.update(ctx, cur, ref)
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	b, err := encodeState(state{raw: next.raw, timeFloor: ref})
	if err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.dir, stateFileName), b, 0o644); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	c.mu.Lock()
	c.cur, c.floor = next, ref
	c.mu.Unlock()
	return nil
}

// update runs the workflow from the trusted chain cur and returns the new
// verified chain.
func (c *Client) update(ctx context.Context, cur *chain, ref time.Time) (*chain, error) {
	tm, err := trustedmetadata.New(cur.raw.Root)
	if err != nil {
		return nil, classify("trusted root", err)
	}
	tm.RefTime = ref
	raw := rawChain{Root: cur.raw.Root}

	// Root: each new version must be signed by a threshold of the previous
	// root's keys and of its own (TUF 5.3.4). Intermediate roots may be
	// expired; the final one is checked with the timestamp.
	for range MaxRootRotations {
		want := tm.Root.Signed.Version + 1
		name := RootVersionFile(want)
		data, err := c.get(ctx, name, MaxRootLength)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		md, err := parseRoot(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tm.UpdateRoot(data); err != nil {
			return nil, classifyVersion(name, err, md.Signed.Version, want)
		}
		raw.Root = data
	}

	if e := tm.Root.Signed.Expires; tm.Root.Signed.IsExpired(ref) {
		return nil, fmt.Errorf("root version %d: %w: expired at %s (reference time %s)",
			tm.Root.Signed.Version, ErrExpired, e.Format(time.RFC3339), ref.Format(time.RFC3339))
	}

	// TUF 5.3.11: when the timestamp or snapshot keys changed, forget the
	// trusted timestamp and snapshot, so that a fast-forward attack made with
	// the old keys does not block updates forever.
	keep := cur.timestamp != nil &&
		sameRole(cur.root, tm.Root, RoleTimestamp) && sameRole(cur.root, tm.Root, RoleSnapshot)

	// Timestamp.
	if keep {
		// Loaded even when expired, to check the new one against.
		if _, err := tm.UpdateTimestamp(cur.raw.Timestamp); err != nil &&
			!(tm.Timestamp != nil && errors.Is(err, &metadata.ErrExpiredMetadata{})) {
			return nil, classify(TimestampFile+" (trusted copy)", err)
		}
	}
	data, err := c.get(ctx, TimestampFile, MaxTimestampLength)
	if err != nil {
		return nil, err
	}
	if _, err := parseTimestamp(data); err != nil {
		return nil, fmt.Errorf("%s: %w", TimestampFile, err)
	}
	switch _, err := tm.UpdateTimestamp(data); {
	case err == nil:
		raw.Timestamp = data
	case errors.Is(err, &metadata.ErrEqualVersionNumber{}) && keep:
		raw.Timestamp = cur.raw.Timestamp // nothing new
	default:
		return nil, classify(TimestampFile, err)
	}
	if e := tm.Timestamp.Signed.Expires; tm.Timestamp.Signed.IsExpired(ref) {
		return nil, fmt.Errorf("%s version %d: %w: expired at %s (reference time %s)",
			TimestampFile, tm.Timestamp.Signed.Version, ErrExpired, e.Format(time.RFC3339), ref.Format(time.RFC3339))
	}

	// Snapshot.
	haveSnapshot := false
	if keep {
		switch _, err := tm.UpdateSnapshot(cur.raw.Snapshot, true); {
		case err == nil:
			haveSnapshot = true // unchanged
			raw.Snapshot = cur.raw.Snapshot
		case tm.Snapshot != nil && tm.Snapshot.Signed.Version == tm.Timestamp.Signed.Meta[snapshotMetaName].Version:
			// The current snapshot, but expired: fetching it again won't help.
			return nil, classify(SnapshotFile(cur.snapshot.Signed.Version)+" (trusted copy)", err)
		case tm.Snapshot != nil:
			// Loaded but superseded: kept to check the new one against (no
			// version of any role may go down).
		default:
			return nil, classify(SnapshotFile(cur.snapshot.Signed.Version)+" (trusted copy)", err)
		}
	}
	if !haveSnapshot {
		meta := tm.Timestamp.Signed.Meta[snapshotMetaName]
		name := SnapshotFile(meta.Version)
		data, err := c.getMeta(ctx, name, meta, MaxSnapshotLength)
		if err != nil {
			return nil, err
		}
		md, err := parseSnapshot(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tm.UpdateSnapshot(data, false); err != nil {
			return nil, classifyVersion(name, err, md.Signed.Version, meta.Version)
		}
		raw.Snapshot = data
	}

	// Targets: the trusted copy serves if the snapshot still describes it.
	meta := tm.Snapshot.Signed.Meta[targetsMetaName]
	if cur.raw.Targets != nil && meta.VerifyLengthHashes(cur.raw.Targets) == nil {
		if _, err := tm.UpdateTargets(cur.raw.Targets); err != nil {
			return nil, classify(TargetsFile(cur.targets.Signed.Version)+" (trusted copy)", err)
		}
		raw.Targets = cur.raw.Targets
	} else {
		name := TargetsFile(meta.Version)
		data, err := c.getMeta(ctx, name, meta, MaxTargetsLength)
		if err != nil {
			return nil, err
		}
		md, err := parseTargets(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tm.UpdateTargets(data); err != nil {
			return nil, classifyVersion(name, err, md.Signed.Version, meta.Version)
		}
		raw.Targets = data
	}

	next := &chain{
		root:      tm.Root,
		timestamp: tm.Timestamp,
		snapshot:  tm.Snapshot,
		targets:   tm.Targets[metadata.TARGETS],
		raw:       raw,
	}
	if next.byName, err = targetsOf(next.targets); err != nil {
		return nil, err
	}
	return next, nil
}

// sameRole reports whether two roots give role the same keys and threshold.
func sameRole(a, b *rootMD, role string) bool {
	ra, rb := a.Signed.Roles[role], b.Signed.Roles[role]
	x, y := slices.Sorted(slices.Values(ra.KeyIDs)), slices.Sorted(slices.Values(rb.KeyIDs))
	return ra.Threshold == rb.Threshold && slices.Equal(x, y)
}

// get fetches name with a length cap, and enforces the cap itself too.
func (c *Client) get(ctx context.Context, name string, maxLength int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := c.fetch(ctx, name, maxLength)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", name, err)
	}
	if int64(len(data)) > maxLength {
		return nil, fmt.Errorf("fetch %s: %w: got %d bytes, limit %d", name, ErrTooLarge, len(data), maxLength)
	}
	return data, nil
}

// getMeta fetches the file that meta describes, with its signed length as
// the cap, and checks its length and hashes.
func (c *Client) getMeta(ctx context.Context, name string, meta *metadata.MetaFiles, limit int64) ([]byte, error) {
	if meta.Length > limit {
		return nil, fmt.Errorf("%s: %w: signed length %d, limit %d", name, ErrTooLarge, meta.Length, limit)
	}
	data, err := c.get(ctx, name, meta.Length)
	if err != nil {
		return nil, err
	}
	if err := meta.VerifyLengthHashes(data); err != nil {
		return nil, classify(name, err)
	}
	return data, nil
}

// Target returns the trusted target name, from the state of the last
// successful Refresh (or the persisted state, before any): Target does no
// I/O and does not check expiry. An unlisted name gives ErrUnknownTarget.
func (c *Client) Target(name string) (Target, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.cur.byName[name]
	if !ok {
		return Target{}, fmt.Errorf("target %q: %w", name, ErrUnknownTarget)
	}
	return t, nil
}

// Targets returns every trusted target by name, as Target does one.
func (c *Client) Targets() map[string]Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.cur.byName)
}

// RoleStatus is the version and expiry of one role's trusted metadata.
type RoleStatus struct {
	Version int64
	Expires time.Time
}

// Status describes the trusted state. Timestamp, snapshot and targets are
// zero before the first successful Refresh.
type Status struct {
	Root, Timestamp, Snapshot, Targets RoleStatus
	// TimeFloor is the latest clock reading a successful Refresh used; no
	// later Refresh uses an earlier reference time.
	TimeFloor time.Time
}

// Status returns the versions and expiries of the trusted metadata.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		Root:      RoleStatus{c.cur.root.Signed.Version, c.cur.root.Signed.Expires},
		TimeFloor: c.floor,
	}
	if c.cur.timestamp != nil {
		s.Timestamp = RoleStatus{c.cur.timestamp.Signed.Version, c.cur.timestamp.Signed.Expires}
		s.Snapshot = RoleStatus{c.cur.snapshot.Signed.Version, c.cur.snapshot.Signed.Expires}
		s.Targets = RoleStatus{c.cur.targets.Signed.Version, c.cur.targets.Signed.Expires}
	}
	return s
}
