package repotest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

// kitchenSink uses every feature a Tree can express.
var kitchenSink = Tree{
	"":                 Dir(0o755),
	"bin":              Symlink("usr/bin"),
	"etc/hostname":     File(0o644, "device\n"),
	"etc/shadow":       File(0o640, "root:*:1::::::\n").Owned(0, 42),
	"tmp":              Dir(0o1777),
	"usr/bin/su":       File(0o4755, "#!/bin/sh\n").WithXattr("user.note", "setuid").WithXattr("user.bin", "\x00\xff"),
	"usr/bin/su-again": HardLink("usr/bin/su"),
	"usr/bin/sg":       File(0o2711, "").Owned(1000, 1001),
	"srv":              Dir(0o2770).Owned(33, 33).WithXattr("user.d", "dir xattr"),
	"srv/dangling":     Symlink("../nowhere/x").Owned(7, 8),
	"srv/abs":          Symlink("/etc/hostname"),
	"var/empty":        Dir(0o700),
}

func TestWriteScanRoundTrip(t *testing.T) {
	RequireRoot(t)
	dir := t.TempDir()
	Write(t, dir, kitchenSink)
	AssertTree(t, kitchenSink, dir)
	got := Scan(t, dir)
	if got["usr"].Mode != objects.ModeDir|0o755 || got["usr"].UID != 0 {
		t.Errorf("implied directory usr: %+v, want 0755 0:0", got["usr"])
	}
	ino := Inodes(t, dir)
	if ino["usr/bin/su"].Ino != ino["usr/bin/su-again"].Ino || ino["usr/bin/su"].Nlink != 2 {
		t.Errorf("hard link not made: %+v %+v", ino["usr/bin/su"], ino["usr/bin/su-again"])
	}
	// Compare must see every kind of difference.
	for name, mutate := range map[string]func(Tree){
		"mode":    func(tr Tree) { tr["etc/hostname"] = File(0o600, "device\n") },
		"owner":   func(tr Tree) { tr["etc/hostname"] = File(0o644, "device\n").Owned(1, 0) },
		"content": func(tr Tree) { tr["etc/hostname"] = File(0o644, "device!") },
		"target":  func(tr Tree) { tr["bin"] = Symlink("usr/sbin") },
		"xattr":   func(tr Tree) { tr["usr/bin/sg"] = tr["usr/bin/sg"].WithXattr("user.x", "1") },
		"missing": func(tr Tree) { tr["new"] = Dir(0o755) },
		"extra":   func(tr Tree) { delete(tr, "tmp") },
		"type":    func(tr Tree) { tr["tmp"] = File(0o1777, "") },
	} {
		want := Tree{}
		for k, v := range kitchenSink {
			want[k] = v
		}
		mutate(want)
		if d := Compare(want, got); len(d) == 0 {
			t.Errorf("Compare missed a %s difference", name)
		}
	}
}

func TestNormalizeRefuses(t *testing.T) {
	for name, tr := range map[string]Tree{
		"under a file":      {"f": File(0o644, ""), "f/x": File(0o644, "")},
		"link to nothing":   {"l": HardLink("nope")},
		"link to a dir":     {"d": Dir(0o755), "l": HardLink("d")},
		"link to a link":    {"f": File(0o644, ""), "l": HardLink("f"), "m": HardLink("l")},
		"invalid name":      {"a//b": File(0o644, "")},
		"dot-dot":           {"a/../b": File(0o644, "")},
		"under a symlink":   {"s": Symlink("d"), "s/x": File(0o644, "")},
		"name not UTF-8":    {"\xff": File(0o644, "")},
		"root is not a dir": {"": File(0o644, ""), "x": File(0o644, "")},
	} {
		if _, err := tr.Normalize(); err == nil {
			t.Errorf("%s: Normalize accepted %v", name, tr)
		}
	}
}

func TestTarMembers(t *testing.T) {
	b := Tar(t, kitchenSink, Plain)
	tr := tar.NewReader(bytes.NewReader(b))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		switch h.Name {
		case "usr/bin/su-again":
			if h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/su" {
				t.Errorf("hard link member: %+v", h)
			}
		case "usr/bin/su":
			if h.Mode != 0o4755 || h.PAXRecords["SCHILY.xattr.user.bin"] != "\x00\xff" {
				t.Errorf("setuid member: mode %o, records %q", h.Mode, h.PAXRecords)
			}
		}
	}
	// Listed directories only (etc, usr and usr/bin are implied), hard links last.
	want := "./ bin etc/hostname etc/shadow srv/ srv/abs srv/dangling tmp/ usr/bin/sg usr/bin/su var/empty/ usr/bin/su-again"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("members:\n got %s\nwant %s", got, want)
	}
	for _, c := range []Compression{Gzip, Zstd} {
		if z := Tar(t, kitchenSink, c); bytes.Equal(z, b) || len(z) == 0 {
			t.Errorf("%s: not compressed", c)
		}
	}
}

func TestRandomTreeIsValidAndReplayable(t *testing.T) {
	seed := Seed(t, 0)
	a := RandomTree(Rand(seed), RandomOptions{})
	b := RandomTree(Rand(seed), RandomOptions{})
	if d := Compare(a, b); len(d) > 0 {
		t.Fatalf("same seed, different trees: %v", d)
	}
	n, err := a.Normalize()
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	var big, link, setuid, empty bool
	for p, e := range a {
		big = big || len(e.Content) > 256<<10
		link = link || e.Link != ""
		setuid = setuid || e.Mode&0o4000 != 0
		if e.IsDir() {
			hasChild := false
			for q := range n {
				hasChild = hasChild || strings.HasPrefix(q, p+"/")
			}
			empty = empty || !hasChild
		}
	}
	if !big || !link || !setuid || !empty {
		t.Errorf("seed %d: tree lacks a feature: big %v, hard link %v, setuid %v, empty dir %v", seed, big, link, setuid, empty)
	}
}

// TestRandomTreesAreValid: whatever the seed, a random tree can exist
// (no entry under a file, hard links to regular files) and respects the
// size cap.
func TestRandomTreesAreValid(t *testing.T) {
	seed := Seed(t, 0)
	for s := seed; s < seed+300; s++ {
		tr := RandomTree(Rand(s), RandomOptions{Entries: 60, MaxFileSize: 1000})
		if _, err := tr.Normalize(); err != nil {
			t.Fatalf("seed %d: %v", s, err)
		}
		for p, e := range tr {
			if len(e.Content) > 1000 {
				t.Fatalf("seed %d: %s has %d bytes, over MaxFileSize", s, p, len(e.Content))
			}
		}
	}
}

func TestRelPath(t *testing.T) {
	for _, c := range []struct{ dir, target, want string }{
		{"", "a/b", "a/b"},
		{"a", "a/b", "b"},
		{"a/c", "a/b", "../b"},
		{"x/y", "a/b", "../../a/b"},
	} {
		if got := relPath(c.dir, c.target); got != c.want {
			t.Errorf("relPath(%q, %q) = %q, want %q", c.dir, c.target, got, c.want)
		}
	}
}

func TestSnapshotSeesChanges(t *testing.T) {
	RequireRoot(t)
	r := New(t, repo.Archive)
	before := Snapshot(t, r)
	id := CommitFS(t, r, "main", Tree{"f": File(0o644, "x")})
	after := Snapshot(t, r)
	d := before.Diff(after)
	if len(d) == 0 || after.Refs["main"] != id || len(after.ObjectFiles(".commit")) != 1 {
		t.Errorf("diff %v, refs %v", d, after.Refs)
	}
}

// TestOnlyTestsImportRepotest enforces that no package's non-test code
// imports this kit.
func TestOnlyTestsImportRepotest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command(goBin, "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "github.com/arbor-ota/arbor/repo/repotest"
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			if imp == self {
				t.Errorf("%s imports %s outside its tests", p.ImportPath, self)
			}
		}
	}
}
