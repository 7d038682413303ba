package repo_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

func TestRebuildIndex(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bare repositories keep owners: run as root")
	}
	r := repotest.New(t, repo.Bare)
	big := make([]byte, 700<<10)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	c := repotest.CommitFS(t, r, "main", repotest.Tree{"big": repotest.File(0o644, string(big)), "small": repotest.File(0o644, "x")})
	cm, err := objects.ReadCommit(t.Context(), r, c)
	if err != nil {
		t.Fatal(err)
	}
	n, err := repo.Lookup(t.Context(), r, cm, "/big")
	if err != nil {
		t.Fatal(err)
	}
	f, err := objects.ReadFile(t.Context(), r, n.File)
	if err != nil {
		t.Fatal(err)
	}
	// Lose the index.
	r.Close()
	if err := os.Remove(filepath.Join(r.Path(), "index.db")); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Fsck(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) == 0 || !strings.Contains(rep.Problems[0].Problem, "chunk index") {
		t.Fatalf("fsck does not notice a lost chunk index: %v", rep.Problems)
	}
	got, err := r.RebuildIndex(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got < len(f.Chunks) {
		t.Fatalf("rebuilt %d chunks, the big file alone has %d", got, len(f.Chunks))
	}
	for _, ch := range f.Chunks {
		if _, err := objects.ReadRaw(t.Context(), r, objects.KindChunk, ch.ID); err != nil {
			t.Fatalf("chunk unreadable after rebuild: %v", err)
		}
	}
}
