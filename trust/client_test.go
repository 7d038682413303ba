package trust

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestHappyPath(t *testing.T) {
	r := newRepo(t, InitOptions{})
	stable := target("refs/os/stable", "descriptor of stable", `{"release":7,"commit":"ab12"}`)
	beta := target("refs/os/beta", "descriptor of beta", "")
	r.setTargets(stable, beta)

	c, _ := r.newClient()
	if _, err := c.Target("refs/os/stable"); !errors.Is(err, ErrUnknownTarget) {
		t.Fatalf("Target before Refresh: %v, want ErrUnknownTarget", err)
	}
	mustRefresh(t, c)
	got, err := c.Target("refs/os/stable")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != stable.Name || got.Length != stable.Length || got.SHA256 != stable.SHA256 {
		t.Errorf("Target = %+v, want %+v", got, stable)
	}
	if !bytes.Equal(got.Custom, stable.Custom) {
		t.Errorf("Custom = %s, want %s", got.Custom, stable.Custom)
	}
	if want := "refs/os/" + hex.EncodeToString(stable.SHA256[:]) + ".stable"; got.Path() != want {
		t.Errorf("Path = %q, want %q", got.Path(), want)
	}
	if b, _ := c.Target("refs/os/beta"); b.Custom != nil {
		t.Errorf("beta Custom = %s, want none", b.Custom)
	}

	// A second publish: stable moves, beta goes away, edge appears.
	stable2 := target("refs/os/stable", "descriptor of stable, release 8", `{"release":8}`)
	edge := target("refs/os/edge", "edge", "")
	r.setTargets(stable2, edge)
	r.site.takeCalls()
	mustRefresh(t, c)
	if got, err := c.Target("refs/os/stable"); err != nil || got.SHA256 != stable2.SHA256 || got.Length != stable2.Length {
		t.Errorf("after second publish: Target = %+v, %v; want %+v", got, err, stable2)
	}
	if _, err := c.Target("refs/os/beta"); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("removed target: %v, want ErrUnknownTarget", err)
	}
	if n := len(c.Targets()); n != 2 {
		t.Errorf("%d targets, want 2", n)
	}
	calls := r.site.takeCalls()
	want := []fetchCall{
		{RootVersionFile(2), MaxRootLength},
		{TimestampFile, MaxTimestampLength},
		{SnapshotFile(3), int64(len(r.site.get(SnapshotFile(3))))},
		{TargetsFile(3), int64(len(r.site.get(TargetsFile(3))))},
	}
	if !equalCalls(calls, want) {
		t.Errorf("fetches %v, want %v", calls, want)
	}

	// Nothing new: only the root probe and the timestamp.
	mustRefresh(t, c)
	if calls := r.site.takeCalls(); !equalCalls(calls, want[:2]) {
		t.Errorf("fetches with nothing new %v, want %v", calls, want[:2])
	}
	st := c.Status()
	if st.Root.Version != 1 || st.Timestamp.Version != 3 || st.Snapshot.Version != 3 || st.Targets.Version != 3 {
		t.Errorf("Status = %+v", st)
	}
	if !st.TimeFloor.Equal(t0) {
		t.Errorf("time floor %v, want %v", st.TimeFloor, t0)
	}
}

func equalCalls(a, b []fetchCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// refreshFails refreshes c, wants an error matching want, and checks that
// the state directory did not change.
func refreshFails(t *testing.T, c *Client, dir string, want error) error {
	t.Helper()
	before := dirFiles(t, dir)
	status := c.Status()
	err := c.Refresh(t.Context())
	if err == nil {
		t.Fatalf("Refresh succeeded, want %v", want)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("Refresh: %v\nwant an error matching %v", err, want)
	}
	t.Logf("Refresh: %v", err)
	if after := dirFiles(t, dir); !sameFiles(before, after) {
		t.Errorf("state directory changed by a failed Refresh")
	}
	if c.Status() != status {
		t.Errorf("Status changed by a failed Refresh: %+v → %+v", status, c.Status())
	}
	return err
}

func TestUnknownKey(t *testing.T) {
	for _, role := range []string{RoleTimestamp, RoleSnapshot, RoleTargets} {
		t.Run(role, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", ""))
			c, dir := r.newClient()
			mustRefresh(t, c)

			// Version 3 of everything, where one role is signed by a fresh key
			// that the root does not list.
			p := r.publisher()
			rogue := []*signingKey{newKey(t, role)}
			keys := func(role2 string) []*signingKey {
				if role2 == role {
					return rogue
				}
				return keysOf(p, role2)
			}
			exp := t0.Add(24 * time.Hour)
			tg := forgeTargets(t, keys(RoleTargets), 3, exp, map[string]*metadata.TargetFiles{
				"refs/os/stable": {Length: 5, Hashes: metadata.Hashes{"sha256": make([]byte, 32)}},
			})
			sn := forgeSnapshot(t, keys(RoleSnapshot), 3, exp, 3, tg)
			ts := forgeTimestamp(t, keys(RoleTimestamp), 3, exp, 3, sn)
			r.site.write([]File{{TargetsFile(3), tg}, {SnapshotFile(3), sn}, {TimestampFile, ts}})
			refreshFails(t, c, dir, ErrSignature)

			// The same forgery with the right keys goes through: the test
			// fails for the reason it claims.
			rogue = keysOf(p, role)
			tg = forgeTargets(t, keys(RoleTargets), 3, exp, map[string]*metadata.TargetFiles{
				"refs/os/stable": {Length: 5, Hashes: metadata.Hashes{"sha256": make([]byte, 32)}},
			})
			sn = forgeSnapshot(t, keys(RoleSnapshot), 3, exp, 3, tg)
			ts = forgeTimestamp(t, keys(RoleTimestamp), 3, exp, 3, sn)
			r.site.write([]File{{TargetsFile(3), tg}, {SnapshotFile(3), sn}, {TimestampFile, ts}})
			mustRefresh(t, c)
		})
	}
}

// flip returns data with the byte at the first occurrence of marker (plus
// off) changed to a different byte of the same class, so the JSON stays
// well formed.
func flip(t *testing.T, data []byte, marker string, off int) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		t.Fatalf("marker %q not in %s", marker, data)
	}
	i += off
	out := bytes.Clone(data)
	switch c := out[i]; {
	case c >= '0' && c <= '8', c >= 'a' && c <= 'e':
		out[i]++
	case c == '9':
		out[i] = '0'
	case c == 'f':
		out[i] = 'a'
	default:
		out[i] ^= 0x20
	}
	return out
}

func TestTampered(t *testing.T) {
	type tc struct {
		file   func(r *testRepo) string
		marker string
		off    int
		want   error
	}
	tsFile := func(*testRepo) string { return TimestampFile }
	snFile := func(*testRepo) string { return SnapshotFile(3) }
	tgFile := func(*testRepo) string { return TargetsFile(3) }
	rootFile := func(*testRepo) string { return RootVersionFile(2) }
	tests := map[string]tc{
		"timestamp expires":   {tsFile, `"expires":"`, 3, ErrSignature},
		"timestamp version":   {tsFile, `"version":3}`, 10, ErrSignature},
		"timestamp signature": {tsFile, `"sig":"`, 10, ErrSignature},
		"timestamp meta hash": {tsFile, `"sha256":"`, 12, ErrSignature},
		"snapshot expires":    {snFile, `"expires":"`, 3, ErrBadMetadata}, // hash mismatch first
		"snapshot signature":  {snFile, `"sig":"`, 10, ErrBadMetadata},
		"targets hash":        {tgFile, `"sha256":"`, 12, ErrBadMetadata},
		"targets length":      {tgFile, `"length":`, 9, ErrBadMetadata},
		"root expires":        {rootFile, `"expires":"`, 3, ErrSignature},
		"root key":            {rootFile, `"public":"`, 12, ErrBadMetadata},   // key ID no longer matches
		"root threshold":      {rootFile, `"threshold":`, 12, ErrBadMetadata}, // 2 of 1 keys
		"root signature":      {rootFile, `"sig":"`, 10, ErrSignature},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", ""))
			c, dir := r.newClient()
			mustRefresh(t, c)
			r.do(r.publisher().RenewRoot())
			r.setTargets(target("refs/os/stable", "v2", `{"release":2}`))

			f := tc.file(r)
			good := r.site.get(f)
			r.site.put(f, flip(t, good, tc.marker, tc.off))
			refreshFails(t, c, dir, tc.want)
			r.site.put(f, good)
			mustRefresh(t, c)
			if got, _ := c.Target("refs/os/stable"); got.Length != 2 || string(got.Custom) != `{"release":2}` {
				t.Errorf("after repair: %+v", got)
			}
		})
	}
}

func TestExpired(t *testing.T) {
	tests := map[string]struct {
		opts Options
		fix  func(p *Publisher) ([]File, error)
	}{
		"timestamp": {Options{TimestampExpires: time.Hour}, (*Publisher).RefreshTimestamp},
		"snapshot": {Options{TimestampExpires: 48 * time.Hour, SnapshotExpires: time.Hour},
			func(p *Publisher) ([]File, error) { return p.RefreshExpiring(time.Hour) }},
		"targets": {Options{TimestampExpires: 48 * time.Hour, SnapshotExpires: 48 * time.Hour, TargetsExpires: time.Hour},
			func(p *Publisher) ([]File, error) { return p.RefreshExpiring(time.Hour) }},
		"root": {Options{RootExpires: time.Hour, TimestampExpires: 48 * time.Hour, SnapshotExpires: 48 * time.Hour},
			(*Publisher).RenewRoot},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, InitOptions{Options: tc.opts})
			r.setTargets(target("refs/os/stable", "v1", ""))
			c, dir := r.newClient()
			mustRefresh(t, c)

			r.clock.Add(2 * time.Hour)
			refreshFails(t, c, dir, ErrExpired)
			r.do(tc.fix(r.publisher()))
			mustRefresh(t, c)
			if _, err := c.Target("refs/os/stable"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRollback(t *testing.T) {
	tests := map[string]func(t *testing.T, r *testRepo, old *fakeSite){
		// The mirror serves yesterday's timestamp.
		"old timestamp": func(t *testing.T, r *testRepo, old *fakeSite) {
			r.site.put(TimestampFile, old.get(TimestampFile))
		},
		// A new timestamp (signed with the timestamp key) points to an older
		// snapshot.
		"timestamp points to older snapshot": func(t *testing.T, r *testRepo, old *fakeSite) {
			p := r.publisher()
			ts := forgeTimestamp(t, keysOf(p, RoleTimestamp), 9, t0.Add(time.Hour), 2, r.site.get(SnapshotFile(2)))
			r.site.put(TimestampFile, ts)
		},
		// A new snapshot (signed with the snapshot key) points to older targets.
		"snapshot points to older targets": func(t *testing.T, r *testRepo, old *fakeSite) {
			p := r.publisher()
			sn := forgeSnapshot(t, keysOf(p, RoleSnapshot), 9, t0.Add(time.Hour), 2, r.site.get(TargetsFile(2)))
			ts := forgeTimestamp(t, keysOf(p, RoleTimestamp), 9, t0.Add(time.Hour), 9, sn)
			r.site.write([]File{{SnapshotFile(9), sn}, {TimestampFile, ts}})
		},
		// The announced snapshot file holds an older snapshot version, validly
		// signed, with the hash the timestamp gives.
		"snapshot older than announced": func(t *testing.T, r *testRepo, old *fakeSite) {
			p := r.publisher()
			sn := r.site.get(SnapshotFile(2))
			ts := forgeTimestamp(t, keysOf(p, RoleTimestamp), 9, t0.Add(time.Hour), 4, sn)
			r.site.write([]File{{SnapshotFile(4), sn}, {TimestampFile, ts}})
		},
		// A root file that holds an older version.
		"root older than its name": func(t *testing.T, r *testRepo, old *fakeSite) {
			r.site.put(RootVersionFile(3), r.site.get(RootVersionFile(1)))
		},
	}
	for name, attack := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", "")) // version 2
			old := r.site.clone()
			r.do(r.publisher().RenewRoot())
			r.setTargets(target("refs/os/stable", "v2", "")) // version 3
			c, dir := r.newClient()
			mustRefresh(t, c)
			attack(t, r, old)
			refreshFails(t, c, dir, ErrRollback)
			if got, _ := c.Target("refs/os/stable"); got.Length != 2 {
				t.Errorf("target after failed refresh: %+v", got)
			}
		})
	}
}

func TestClockBehind(t *testing.T) {
	r := newRepo(t, InitOptions{Options: Options{TimestampExpires: 10 * time.Hour}})
	r.setTargets(target("refs/os/stable", "v1", ""))
	c, dir := r.newClient()
	floor := func() time.Time { return c.Status().TimeFloor }

	r.clock.Set(t0.Add(9 * time.Hour))
	mustRefresh(t, c)
	if !floor().Equal(t0.Add(9 * time.Hour)) {
		t.Fatalf("time floor %v", floor())
	}

	// Back by less than the tolerance: fine, and the floor stays.
	r.clock.Set(t0.Add(9*time.Hour - ClockTolerance + time.Minute))
	mustRefresh(t, c)
	if !floor().Equal(t0.Add(9 * time.Hour)) {
		t.Errorf("time floor moved down to %v", floor())
	}

	// Back by more: refused, though the metadata would look valid then.
	r.clock.Set(t0.Add(9*time.Hour - ClockTolerance - time.Minute))
	refreshFails(t, c, dir, ErrClockBehind)
	r.clock.Set(t0)
	refreshFails(t, c, dir, ErrClockBehind)

	// Forward again: fine, and the floor rises.
	r.clock.Set(t0.Add(9*time.Hour + 30*time.Minute))
	mustRefresh(t, c)
	if !floor().Equal(t0.Add(9*time.Hour + 30*time.Minute)) {
		t.Errorf("time floor %v, want raised", floor())
	}
	// The floor is persisted: a reopened client refuses too.
	c2, err := OpenClient(dir, r.site.fetch, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	refreshFails(t, c2, dir, ErrClockBehind)
}

// TestFloorIsReferenceTime: with the clock behind the floor (within the
// tolerance), expiry is checked at the floor.
func TestFloorIsReferenceTime(t *testing.T) {
	r := newRepo(t, InitOptions{})
	r.setTargets(target("refs/os/stable", "v1", "")) // timestamp expires t0+24h
	c, dir := r.newClient()
	r.clock.Set(t0.Add(5 * time.Hour))
	mustRefresh(t, c)

	// A newer timestamp that expired at t0+4h30m (its publisher's clock was
	// behind), served while the device clock reads t0+4h15m: valid by the
	// clock, expired by the floor.
	late := &fakeClock{now: t0.Add(3*time.Hour + 30*time.Minute)}
	p, err := OpenPublisher(r.keysDir, r.site.read, Options{Clock: late.Now, TimestampExpires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.do(p.RefreshTimestamp())
	r.clock.Set(t0.Add(4*time.Hour + 15*time.Minute))
	refreshFails(t, c, dir, ErrExpired)

	// The same at a fresh client (no floor) goes through: the floor is
	// what refused it.
	c2, _ := r.newClient()
	mustRefresh(t, c2)
}
