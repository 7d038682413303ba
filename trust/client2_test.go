package trust

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestTooLarge(t *testing.T) {
	big := func(r *testRepo, name string, n int) {
		b := r.site.get(name)
		r.site.put(name, append(b, bytes.Repeat([]byte(" "), n-len(b))...))
	}
	tests := map[string]struct {
		ignoreCap bool // the FetchFunc returns more than it was asked for
		attack    func(r *testRepo)
		want      error
		wantMax   fetchCall
	}{
		"timestamp over cap": {false, func(r *testRepo) { big(r, TimestampFile, MaxTimestampLength+1) },
			ErrTooLarge, fetchCall{TimestampFile, MaxTimestampLength}},
		"timestamp over cap, fetch ignores cap": {true, func(r *testRepo) { big(r, TimestampFile, MaxTimestampLength+1) },
			ErrTooLarge, fetchCall{TimestampFile, MaxTimestampLength}},
		"timestamp at cap": {true, func(r *testRepo) { big(r, TimestampFile, MaxTimestampLength) },
			nil, fetchCall{TimestampFile, MaxTimestampLength}},
		"root over cap": {true, func(r *testRepo) { big(r, RootVersionFile(2), MaxRootLength+1) },
			ErrTooLarge, fetchCall{RootVersionFile(2), MaxRootLength}},
		"snapshot longer than signed": {true, func(r *testRepo) {
			r.site.put(SnapshotFile(3), append(r.site.get(SnapshotFile(3)), ' '))
		}, ErrTooLarge, fetchCall{SnapshotFile(3), 0}},
		"targets longer than signed": {true, func(r *testRepo) {
			r.site.put(TargetsFile(3), append(r.site.get(TargetsFile(3)), ' '))
		}, ErrTooLarge, fetchCall{TargetsFile(3), 0}},
		"targets shorter than signed": {true, func(r *testRepo) {
			b := r.site.get(TargetsFile(3))
			r.site.put(TargetsFile(3), b[:len(b)-1])
		}, ErrBadMetadata, fetchCall{TargetsFile(3), 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", ""))
			c, dir := r.newClient()
			mustRefresh(t, c)
			if tc.wantMax.name == RootVersionFile(2) {
				r.do(r.publisher().RenewRoot())
			}
			r.setTargets(target("refs/os/stable", "v2", ""))
			if tc.wantMax.max == 0 { // the signed length
				tc.wantMax.max = int64(len(r.site.get(tc.wantMax.name)))
			}
			tc.attack(r)
			r.site.ignoreCap = tc.ignoreCap
			r.site.takeCalls()
			if tc.want == nil {
				mustRefresh(t, c)
			} else {
				refreshFails(t, c, dir, tc.want)
			}
			found := false
			for _, call := range r.site.takeCalls() {
				if call.name == tc.wantMax.name {
					found = true
					if call != tc.wantMax {
						t.Errorf("fetch %s with cap %d, want %d", call.name, call.max, tc.wantMax.max)
					}
				}
			}
			if !found {
				t.Errorf("no fetch of %s", tc.wantMax.name)
			}
		})
	}
}

func TestSignedLengthOverCap(t *testing.T) {
	// A snapshot whose signed length exceeds MaxSnapshotLength is refused
	// before it is fetched.
	r := newRepo(t, InitOptions{})
	c, dir := r.newClient()
	p := r.publisher()
	ts := forgeTimestamp(t, keysOf(p, RoleTimestamp), 5, t0.Add(time.Hour), 5, r.site.get(SnapshotFile(1)))
	ts = bytes.Replace(ts, []byte(`"length":`), []byte(`"length":9`), 1) // breaks the signature: re-sign
	md, err := parseTimestamp(ts)
	if err != nil {
		t.Fatal(err)
	}
	md.Signed.Meta[snapshotMetaName].Length = MaxSnapshotLength + 1
	ts, err = signWith(md, keysOf(p, RoleTimestamp))
	if err != nil {
		t.Fatal(err)
	}
	r.site.put(TimestampFile, ts)
	r.site.takeCalls()
	refreshFails(t, c, dir, ErrTooLarge)
	for _, call := range r.site.takeCalls() {
		if call.name == SnapshotFile(5) {
			t.Errorf("fetched %s", call.name)
		}
	}
}

func TestPersistence(t *testing.T) {
	r := newRepo(t, InitOptions{})
	stable := target("refs/os/stable", "v1", `{"release":1}`)
	r.setTargets(stable)
	c, dir := r.newClient()
	mustRefresh(t, c)

	offline := func(ctx context.Context, name string, max int64) ([]byte, error) {
		t.Errorf("fetch %s while offline", name)
		return nil, errors.New("offline")
	}
	c2, err := OpenClient(dir, offline, func() time.Time { return t0.Add(1000 * time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := c2.Target("refs/os/stable")
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != stable.SHA256 || got.Length != stable.Length || string(got.Custom) != string(stable.Custom) {
		t.Errorf("Target after reopening = %+v, want %+v", got, stable)
	}
	if c2.Status() != c.Status() {
		t.Errorf("Status after reopening %+v, want %+v", c2.Status(), c.Status())
	}
	// The state file is mode 0644 in a 0700 directory, and holds no temporaries.
	names := []string{}
	for name := range dirFiles(t, dir) {
		names = append(names, name)
	}
	if len(names) != 2 {
		t.Errorf("state directory holds %v, want state.json and lock", names)
	}
}

func TestCorruptState(t *testing.T) {
	r := newRepo(t, InitOptions{})
	r.setTargets(target("refs/os/stable", "v1", ""))
	c, dir := r.newClient()
	mustRefresh(t, c)
	p := filepath.Join(dir, stateFileName)
	good, _ := os.ReadFile(p)
	st, err := decodeState(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]func(s *state){
		"targets from elsewhere": func(s *state) { s.raw.Targets = r.site.get(TargetsFile(1)) },
		"no snapshot":            func(s *state) { s.raw.Snapshot = nil },
		"root from elsewhere": func(s *state) {
			s.raw.Root = newRepo(t, InitOptions{Options: Options{rand: seededRand(t, "other")}}).site.get(RootVersionFile(1))
		},
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			s := st
			edit(&s)
			b, err := encodeState(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenClient(dir, r.site.fetch, r.clock.Now); !errors.Is(err, ErrBadMetadata) && !errors.Is(err, ErrSignature) {
				t.Errorf("OpenClient: %v, want ErrBadMetadata or ErrSignature", err)
			}
		})
	}
	if err := os.WriteFile(p, append(bytes.Clone(good), ' '), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenClient(dir, r.site.fetch, r.clock.Now); !errors.Is(err, ErrBadMetadata) {
		t.Errorf("OpenClient of a non-canonical state: %v", err)
	}
	if _, err := OpenClient(t.TempDir(), r.site.fetch, r.clock.Now); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenClient of an empty directory: %v, want fs.ErrNotExist", err)
	}
}

func TestInstallRoot(t *testing.T) {
	r := newRepo(t, InitOptions{RootKeys: 2, RootThreshold: 2})
	p := r.publisher()
	root1 := r.site.get(RootVersionFile(1))
	other := newKey(t, RoleRoot)
	tests := map[string]struct {
		root []byte
		want error
	}{
		"valid":          {root1, nil},
		"garbage":        {[]byte("not json"), ErrBadMetadata},
		"empty":          {nil, ErrBadMetadata},
		"timestamp":      {r.site.get(TimestampFile), ErrBadMetadata},
		"one of two":     {forgeRoot(t, p, keysOf(p, RoleRoot)[:1], nil), ErrSignature},
		"foreign signer": {forgeRoot(t, p, []*signingKey{other}, nil), ErrSignature},
		"null key": {bytes.Replace(root1, []byte(`{"keytype":"ed25519","keyval"`), []byte(`null,"x":{"keytype":"ed25519","keyval"`), 1),
			ErrBadMetadata},
		"no consistent snapshots": {forgeRoot(t, p, keysOf(p, RoleRoot), func(r *metadata.RootType) { r.ConsistentSnapshot = false }),
			ErrBadMetadata},
		"zero threshold": {forgeRoot(t, p, keysOf(p, RoleRoot), func(r *metadata.RootType) { r.Roles[RoleTargets].Threshold = 0 }),
			ErrBadMetadata},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			err := InstallRoot(dir, tc.root)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("InstallRoot: %v, want %v", err, tc.want)
			}
			if err != nil {
				t.Log(err)
				if _, err := os.Stat(filepath.Join(dir, stateFileName)); err == nil {
					t.Error("state written for a refused root")
				}
				return
			}
			if err := InstallRoot(dir, tc.root); !errors.Is(err, fs.ErrExist) {
				t.Errorf("second InstallRoot: %v, want fs.ErrExist", err)
			}
		})
	}
}

func TestConcurrentClients(t *testing.T) {
	r := newRepo(t, InitOptions{})
	r.setTargets(target("refs/os/stable", "v0", ""))
	_, dir := r.newClient()
	var clients []*Client
	for range 3 {
		c, err := OpenClient(dir, r.site.fetch, r.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			for j := range 5 {
				if err := c.Refresh(t.Context()); err != nil {
					t.Errorf("client %d: %v", i, err)
				}
				c.Target("refs/os/stable")
				c.Status()
				_ = j
			}
		})
	}
	for i := range 5 {
		r.setTargets(target("refs/os/stable", fmt.Sprint("v", i+1), ""))
	}
	wg.Wait()
	for _, c := range clients {
		mustRefresh(t, c)
		if got, _ := c.Target("refs/os/stable"); got.Length != 2 || c.Status().Targets.Version != 7 {
			t.Errorf("final state %+v %+v", got, c.Status())
		}
	}
}

func TestRefreshCancelled(t *testing.T) {
	r := newRepo(t, InitOptions{})
	c, dir := r.newClient()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	before := dirFiles(t, dir)
	if err := c.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Refresh: %v, want context.Canceled", err)
	}
	if !sameFiles(before, dirFiles(t, dir)) {
		t.Error("state changed")
	}
}
