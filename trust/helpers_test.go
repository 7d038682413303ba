package trust

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// t0 is the start of every test's clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// fetchCall records one call of a fake site's fetch.
type fetchCall struct {
	name string
	max  int64
}

// fakeSite is a static site in memory: name → bytes.
type fakeSite struct {
	mu    sync.Mutex
	files map[string][]byte
	calls []fetchCall
	// ignoreCap makes fetch return whole files, however long, as a
	// misbehaving FetchFunc would.
	ignoreCap bool
}

func newFakeSite() *fakeSite { return &fakeSite{files: map[string][]byte{}} }

func (s *fakeSite) write(files []File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range files {
		s.files[f.Name] = slices.Clone(f.Data)
	}
}

func (s *fakeSite) put(name string, data []byte) { s.write([]File{{name, data}}) }

func (s *fakeSite) get(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.files[name])
}

func (s *fakeSite) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.files, name)
}

// clone copies the site's files (not its recorded calls).
func (s *fakeSite) clone() *fakeSite {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := newFakeSite()
	for k, v := range s.files {
		c.files[k] = slices.Clone(v)
	}
	c.ignoreCap = s.ignoreCap
	return c
}

func (s *fakeSite) read(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[name]
	if !ok {
		return nil, fmt.Errorf("site: %s: %w", name, fs.ErrNotExist)
	}
	return slices.Clone(b), nil
}

func (s *fakeSite) fetch(ctx context.Context, name string, max int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.calls = append(s.calls, fetchCall{name, max})
	ignore := s.ignoreCap
	s.mu.Unlock()
	b, err := s.read(name)
	if err != nil {
		return nil, err
	}
	if !ignore && int64(len(b)) > max {
		return nil, fmt.Errorf("site: %s: %w", name, ErrTooLarge)
	}
	return b, nil
}

func (s *fakeSite) takeCalls() []fetchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// testRepo is a publisher's keys and site with a fake clock.
type testRepo struct {
	t       testing.TB
	site    *fakeSite
	clock   *fakeClock
	keysDir string
	opts    Options
}

// seededRand returns deterministic entropy for key generation; the seed
// comes from the name, and is logged.
func seededRand(t testing.TB, name string) *rand.ChaCha8 {
	h := fnv.New64a()
	h.Write([]byte(name))
	seed := h.Sum64()
	t.Logf("key seed %#x (from %q)", seed, name)
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// newRepo makes a repository with Init, written into a fresh fake site.
func newRepo(t testing.TB, io InitOptions) *testRepo {
	t.Helper()
	clock := &fakeClock{now: t0}
	if io.Clock == nil {
		io.Clock = clock.Now
	}
	if io.rand == nil {
		io.rand = seededRand(t, t.Name())
	}
	r := &testRepo{t: t, site: newFakeSite(), clock: clock, keysDir: filepath.Join(t.TempDir(), "keys"), opts: io.Options}
	files, err := Init(r.keysDir, io)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	r.site.write(files)
	return r
}

// publisher opens a publisher on the repository's current site.
func (r *testRepo) publisher() *Publisher {
	r.t.Helper()
	p, err := OpenPublisher(r.keysDir, r.site.read, r.opts)
	if err != nil {
		r.t.Fatalf("OpenPublisher: %v", err)
	}
	return p
}

// do runs a publisher step and writes its files to the site.
func (r *testRepo) do(files []File, err error) []File {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("publish: %v", err)
	}
	r.site.write(files)
	return files
}

func (r *testRepo) setTargets(ts ...Target) []File {
	r.t.Helper()
	return r.do(r.publisher().SetTargets(ts))
}

// newClient installs the site's first root into a fresh state directory.
func (r *testRepo) newClient() (*Client, string) {
	r.t.Helper()
	dir := filepath.Join(r.t.TempDir(), "state")
	if err := InstallRoot(dir, r.site.get(RootVersionFile(1))); err != nil {
		r.t.Fatalf("InstallRoot: %v", err)
	}
	c, err := OpenClient(dir, r.site.fetch, r.clock.Now)
	if err != nil {
		r.t.Fatalf("OpenClient: %v", err)
	}
	return c, dir
}

func mustRefresh(t testing.TB, c *Client) {
	t.Helper()
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
}

// target makes a target for content.
func target(name, content string, custom string) Target {
	t := Target{Name: name, Length: int64(len(content)), SHA256: sha256.Sum256([]byte(content))}
	if custom != "" {
		t.Custom = json.RawMessage(custom)
	}
	return t
}

// dirFiles reads every file in dir, to compare states byte for byte.
func dirFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func sameFiles(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

// keysOf returns the repository's loaded keys for role that the publisher's
// current root lists.
func keysOf(p *Publisher, role string) []*signingKey {
	return p.signers(&p.cur.root.Signed, role, nil)
}

// Forging helpers: sign arbitrary metadata with arbitrary keys, bypassing
// the publisher's checks, as an attacker holding those keys could.

func forgeTargets(t testing.TB, keys []*signingKey, version int64, expires time.Time, ts map[string]*metadata.TargetFiles) []byte {
	t.Helper()
	md := metadata.Targets(expires)
	md.Signed.Version = version
	md.Signed.Targets = ts
	b, err := signWith(md, keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func forgeSnapshot(t testing.TB, keys []*signingKey, version int64, expires time.Time, targetsVersion int64, targetsRaw []byte) []byte {
	t.Helper()
	md := metadata.Snapshot(expires)
	md.Signed.Version = version
	md.Signed.Meta = map[string]*metadata.MetaFiles{targetsMetaName: metaFor(targetsVersion, targetsRaw)}
	b, err := signWith(md, keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func forgeTimestamp(t testing.TB, keys []*signingKey, version int64, expires time.Time, snapshotVersion int64, snapshotRaw []byte) []byte {
	t.Helper()
	md := metadata.Timestamp(expires)
	md.Signed.Version = version
	md.Signed.Meta = map[string]*metadata.MetaFiles{snapshotMetaName: metaFor(snapshotVersion, snapshotRaw)}
	b, err := signWith(md, keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB, role string) *signingKey {
	t.Helper()
	k, err := generateKey(role, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
