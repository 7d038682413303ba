package trust

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
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
