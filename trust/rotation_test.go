package trust

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// forgeRoot signs the next version of p's root, changed by edit, with keys.
func forgeRoot(t *testing.T, p *Publisher, keys []*signingKey, edit func(*metadata.RootType)) []byte {
	t.Helper()
	md, err := (&rootMD{}).FromBytes(p.cur.raw.Root)
	if err != nil {
		t.Fatal(err)
	}
	md.Signed.Version++
	md.Signed.Expires = t0.Add(24 * time.Hour)
	if edit != nil {
		edit(&md.Signed)
	}
	b, err := signWith(md, keys)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRootThreshold(t *testing.T) {
	r := newRepo(t, InitOptions{RootKeys: 3, RootThreshold: 2})
	r.setTargets(target("refs/os/stable", "v1", ""))
	c, dir := r.newClient()
	mustRefresh(t, c)
	p := r.publisher()
	rootKeys := keysOf(p, RoleRoot)
	if len(rootKeys) != 3 {
		t.Fatalf("%d root keys, want 3", len(rootKeys))
	}

	// A new root signed by one of the three keys: refused.
	for _, k := range rootKeys {
		r.site.put(RootVersionFile(2), forgeRoot(t, p, []*signingKey{k}, nil))
		refreshFails(t, c, dir, ErrSignature)
	}
	// Signed by two: accepted.
	r.site.put(RootVersionFile(2), forgeRoot(t, p, rootKeys[1:], nil))
	mustRefresh(t, c)
	if v := c.Status().Root.Version; v != 2 {
		t.Fatalf("root version %d, want 2", v)
	}

	// The publisher refuses to sign a root with fewer keys than the
	// threshold: move two root key files away.
	p = r.publisher()
	ids := p.KeyIDs(RoleRoot)
	away := t.TempDir()
	for _, k := range rootKeys[:2] {
		if err := os.Rename(filepath.Join(r.keysDir, k.fileName()), filepath.Join(away, k.fileName())); err != nil {
			t.Fatal(err)
		}
	}
	p = r.publisher()
	if _, err := p.RotateKey(RoleRoot, ids[0]); !errors.Is(err, ErrMissingKey) {
		t.Fatalf("RotateKey with 1 of 2 root keys: %v, want ErrMissingKey", err)
	}
	if _, err := p.RenewRoot(); !errors.Is(err, ErrMissingKey) {
		t.Fatalf("RenewRoot with 1 of 2 root keys: %v, want ErrMissingKey", err)
	}
	// ... but publishes targets without root keys.
	r.do(p.SetTargets([]Target{target("refs/os/stable", "v2", "")}))
	mustRefresh(t, c)

	// With the keys back, a root key rotates; the role needs its name.
	for _, k := range rootKeys[:2] {
		if err := os.Rename(filepath.Join(away, k.fileName()), filepath.Join(r.keysDir, k.fileName())); err != nil {
			t.Fatal(err)
		}
	}
	p = r.publisher()
	if _, err := p.RotateKey(RoleRoot, ""); err == nil {
		t.Fatal("RotateKey of a three-key role without a key ID succeeded")
	}
	r.do(p.RotateKey(RoleRoot, rootKeys[0].id))
	mustRefresh(t, c)
	if v := c.Status().Root.Version; v != 3 {
		t.Fatalf("root version %d, want 3", v)
	}
	if ids := r.publisher().KeyIDs(RoleRoot); slices.Contains(ids, rootKeys[0].id) || len(ids) != 3 {
		t.Errorf("root keys after rotation: %v", ids)
	}

	// The revoked key and one remaining key make two signatures, but only
	// one counts under root 3: refused.
	p = r.publisher()
	r.site.put(RootVersionFile(4), forgeRoot(t, p, []*signingKey{rootKeys[0], rootKeys[1]}, nil))
	refreshFails(t, c, dir, ErrSignature)
}

func TestRotateKey(t *testing.T) {
	for _, role := range roles {
		t.Run(role, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", ""))
			c, dir := r.newClient()
			mustRefresh(t, c)

			p := r.publisher()
			old := keysOf(p, role)[0]
			files := r.do(p.RotateKey(role, ""))
			var names []string
			for _, f := range files {
				names = append(names, f.Name)
			}
			want := map[string][]string{
				RoleRoot:      {RootVersionFile(2), RootFile},
				RoleTargets:   {RootVersionFile(2), RootFile, TargetsFile(3), SnapshotFile(3), TimestampFile},
				RoleSnapshot:  {RootVersionFile(2), RootFile, SnapshotFile(3), TimestampFile},
				RoleTimestamp: {RootVersionFile(2), RootFile, TimestampFile},
			}[role]
			if !slices.Equal(names, want) {
				t.Errorf("files %v, want %v", names, want)
			}

			// The client follows the new root.
			mustRefresh(t, c)
			if v := c.Status().Root.Version; v != 2 {
				t.Fatalf("root version %d, want 2", v)
			}
			if _, err := c.Target("refs/os/stable"); err != nil {
				t.Fatal(err)
			}
			// The new key is on disk, and a reopened publisher uses it.
			p = r.publisher()
			nk := keysOf(p, role)
			if len(nk) != 1 || nk[0].id == old.id {
				t.Fatalf("keys for %s after rotation: %v", role, nk)
			}
			r.setTargets(target("refs/os/stable", "v2", ""))
			mustRefresh(t, c)

			// Metadata signed with the revoked key is refused.
			p = r.publisher()
			keys := func(r2 string) []*signingKey {
				if r2 == role {
					return []*signingKey{old}
				}
				return keysOf(p, r2)
			}
			exp := t0.Add(24 * time.Hour)
			if role == RoleRoot {
				r.site.put(RootVersionFile(3), forgeRoot(t, p, []*signingKey{old}, nil))
			} else {
				tg := forgeTargets(t, keys(RoleTargets), 9, exp, map[string]*metadata.TargetFiles{})
				sn := forgeSnapshot(t, keys(RoleSnapshot), 9, exp, 9, tg)
				ts := forgeTimestamp(t, keys(RoleTimestamp), 9, exp, 9, sn)
				r.site.write([]File{{TargetsFile(9), tg}, {SnapshotFile(9), sn}, {TimestampFile, ts}})
			}
			refreshFails(t, c, dir, ErrSignature)
		})
	}
}

// TestFastForwardRecovery: a compromised timestamp key pushed the client to
// a huge timestamp version; rotating the timestamp key lets it recover
// (TUF 5.3.11).
func TestFastForwardRecovery(t *testing.T) {
	r := newRepo(t, InitOptions{})
	r.setTargets(target("refs/os/stable", "v1", ""))
	c, dir := r.newClient()
	mustRefresh(t, c)

	p := r.publisher()
	ts := forgeTimestamp(t, keysOf(p, RoleTimestamp), 1<<40, t0.Add(time.Hour), 2, r.site.get(SnapshotFile(2)))
	good := r.site.get(TimestampFile)
	r.site.put(TimestampFile, ts)
	mustRefresh(t, c) // the attacker's timestamp is validly signed
	if v := c.Status().Timestamp.Version; v != 1<<40 {
		t.Fatalf("timestamp version %d", v)
	}
	r.site.put(TimestampFile, good)
	refreshFails(t, c, dir, ErrRollback)

	r.do(p.RotateKey(RoleTimestamp, ""))
	mustRefresh(t, c)
	if v := c.Status().Timestamp.Version; v != 3 {
		t.Errorf("timestamp version %d after recovery, want 3", v)
	}
}
