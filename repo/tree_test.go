package repo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// countingReader counts the objects opened through it.
type countingReader struct {
	objects.Reader
	mu    sync.Mutex
	opens map[objects.ID]int
	kinds map[objects.Kind]int
}

func (c *countingReader) Open(ctx context.Context, kind objects.Kind, id objects.ID) (io.ReadCloser, error) {
	c.mu.Lock()
	if c.opens == nil {
		c.opens, c.kinds = map[objects.ID]int{}, map[objects.Kind]int{}
	}
	c.opens[id]++
	c.kinds[kind]++
	c.mu.Unlock()
	return c.Reader.Open(ctx, kind, id)
}

func (c *countingReader) reset() {
	c.mu.Lock()
	c.opens, c.kinds = nil, nil
	c.mu.Unlock()
}

func (c *countingReader) total() int {
	n := 0
	for _, v := range c.kinds {
		n += v
	}
	return n
}

// importTree stores a literal tree in s through a tar archive (no root
// needed) and returns its root.
func importTree(t *testing.T, s objects.Store, tree repotest.Tree) objects.DirEntry {
	t.Helper()
	b := repotest.Tar(t, tree, repotest.Plain)
	tr, meta, _, err := repo.ImportTar(t.Context(), s, bytes.NewReader(b), repo.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return objects.DirEntry{Tree: tr, Meta: meta}
}

func diffBase() repotest.Tree {
	return repotest.Tree{
		"":                     repotest.Dir(0o755),
		"bin":                  repotest.Symlink("usr/bin"),
		"etc/hostname":         repotest.File(0o644, "device\n"),
		"etc/passwd":           repotest.File(0o644, "root:x:0:0::/root:/bin/sh\n"),
		"opt/app/data":         repotest.File(0o644, "data"),
		"usr/bin/ls":           repotest.File(0o755, "ls"),
		"usr/lib/x/y/z/deep":   repotest.File(0o644, "deep"),
		"usr/lib/x/y/z/other":  repotest.File(0o644, "other"),
		"usr/lib/x/y/sibling":  repotest.File(0o644, "sibling"),
		"usr/lib/x/side/file":  repotest.File(0o644, "side"),
		"usr/share/doc/README": repotest.File(0o644, "doc"),
		"var/empty":            repotest.Dir(0o700),
	}
}

func TestDiff(t *testing.T) {
	s := &objtest.MemStore{}
	base := diffBase()
	a := importTree(t, s, base)
	for _, c := range []struct {
		name   string
		change func(repotest.Tree)
		want   string // the changes as "T path", in order
	}{
		{"nothing", func(repotest.Tree) {}, ""},
		{"added file", func(tr repotest.Tree) { tr["etc/new"] = repotest.File(0o644, "") }, "A /etc/new"},
		{"removed file", func(tr repotest.Tree) { delete(tr, "etc/passwd") }, "D /etc/passwd"},
		{"modified content", func(tr repotest.Tree) { tr["etc/hostname"] = repotest.File(0o644, "other\n") }, "M /etc/hostname"},
		{"mode change", func(tr repotest.Tree) { tr["etc/hostname"] = repotest.File(0o600, "device\n") }, "M /etc/hostname"},
		{"setuid added", func(tr repotest.Tree) { tr["usr/bin/ls"] = repotest.File(0o4755, "ls") }, "M /usr/bin/ls"},
		{"owner change", func(tr repotest.Tree) { tr["usr/bin/ls"] = tr["usr/bin/ls"].Owned(0, 50) }, "M /usr/bin/ls"},
		{"xattr added", func(tr repotest.Tree) { tr["usr/bin/ls"] = tr["usr/bin/ls"].WithXattr("user.x", "1") }, "M /usr/bin/ls"},
		{"symlink retargeted", func(tr repotest.Tree) { tr["bin"] = repotest.Symlink("usr/sbin") }, "M /bin"},
		{"file becomes directory", func(tr repotest.Tree) {
			tr["etc/hostname"] = repotest.Dir(0o755)
			tr["etc/hostname/inside"] = repotest.File(0o644, "x")
		}, "D /etc/hostname, A /etc/hostname"},
		{"directory becomes file", func(tr repotest.Tree) { tr["var/empty"] = repotest.File(0o644, "") }, "D /var/empty, A /var/empty"},
		{"directory becomes symlink", func(tr repotest.Tree) {
			delete(tr, "opt/app/data")
			tr["opt"] = repotest.Symlink("/srv")
		}, "D /opt, A /opt"},
		{"added directory with contents", func(tr repotest.Tree) { tr["new/a/b"] = repotest.File(0o644, "b") }, "A /new"},
		{"removed directory with contents", func(tr repotest.Tree) { delete(tr, "opt/app/data") }, "D /opt"},
		{"directory mode", func(tr repotest.Tree) { tr["var/empty"] = repotest.Dir(0o755) }, "M /var/empty"},
		{"directory owner and a child", func(tr repotest.Tree) {
			tr["usr/share"] = repotest.Dir(0o755).Owned(1, 1)
			tr["usr/share/doc/README"] = repotest.File(0o644, "new doc")
		}, "M /usr/share, M /usr/share/doc/README"},
		{"root metadata", func(tr repotest.Tree) { tr[""] = repotest.Dir(0o750) }, "M /"},
		{"deep change", func(tr repotest.Tree) { tr["usr/lib/x/y/z/deep"] = repotest.File(0o644, "changed") }, "M /usr/lib/x/y/z/deep"},
		{"several, in tree order", func(tr repotest.Tree) {
			delete(tr, "bin")
			tr["etc/hostname"] = repotest.File(0o644, "b\n")
			tr["aaa"] = repotest.File(0o644, "first")
			tr["zzz"] = repotest.Dir(0o755)
			tr["usr/lib/x/y/z/deep"] = repotest.File(0o644, "changed")
		}, "A /aaa, D /bin, M /etc/hostname, M /usr/lib/x/y/z/deep, A /zzz"},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			tr := maps.Clone(base)
			c.change(tr)
			b := importTree(t, s, tr)
			var got []string
			err := repo.Diff(t.Context(), s, a, b, func(ch repo.Change) error {
				got = append(got, fmt.Sprintf("%c %s", ch.Type, ch.Path))
				switch ch.Type {
				case repo.Added:
					if ch.Old != (objects.DirEntry{}) || ch.New == (objects.DirEntry{}) {
						t.Errorf("%s: Added with Old %v, New %v", ch.Path, ch.Old, ch.New)
					}
				case repo.Removed:
					if ch.New != (objects.DirEntry{}) || ch.Old == (objects.DirEntry{}) {
						t.Errorf("%s: Removed with Old %v, New %v", ch.Path, ch.Old, ch.New)
					}
				case repo.Modified:
					if ch.Old == ch.New || ch.Old.IsDir() != ch.New.IsDir() {
						t.Errorf("%s: Modified with Old %v, New %v", ch.Path, ch.Old, ch.New)
					}
				default:
					t.Errorf("%s: change type %q", ch.Path, ch.Type)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, ", "); g != c.want {
				t.Errorf("Diff:\n got %s\nwant %s", g, c.want)
			}
			// And the reverse: additions and removals swap.
			got = nil
			if err := repo.Diff(t.Context(), s, b, a, func(ch repo.Change) error {
				got = append(got, fmt.Sprintf("%c %s", ch.Type, ch.Path))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if g, w := strings.Join(got, ", "), swapAD(c.want); g != w {
				t.Errorf("reverse Diff:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// swapAD turns the changes from a to b into those from b to a.
func swapAD(s string) string {
	parts := strings.Split(s, ", ")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, "A "):
			parts[i] = "D " + p[2:]
		case strings.HasPrefix(p, "D "):
			parts[i] = "A " + p[2:]
		}
	}
	// A type change lists the removal first, either way.
	for i := 0; i+1 < len(parts); i++ {
		if parts[i][2:] == parts[i+1][2:] && parts[i][0] == 'A' && parts[i+1][0] == 'D' {
			parts[i], parts[i+1] = parts[i+1], parts[i]
		}
	}
	return strings.Join(parts, ", ")
}

// TestDiffReadsOnlyWhatChanged: a change deep in one subtree makes Diff
// read the two dirtrees of each directory on the way down and nothing
// else: no sibling subtree, no file, dirmeta or chunk. Equal trees cost
// no read at all.
func TestDiffReadsOnlyWhatChanged(t *testing.T) {
	s := &objtest.MemStore{}
	cr := &countingReader{Reader: s}
	base := diffBase()
	a := importTree(t, s, base)
	changed := maps.Clone(base)
	changed["usr/lib/x/y/z/deep"] = repotest.File(0o644, "changed")
	b := importTree(t, s, changed)

	if err := repo.Diff(t.Context(), cr, a, a, func(repo.Change) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if cr.total() != 0 {
		t.Errorf("diff of a tree with itself read %d objects", cr.total())
	}

	cr.reset()
	n := 0
	if err := repo.Diff(t.Context(), cr, a, b, func(repo.Change) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d changes, want 1", n)
	}
	path := []string{"/", "/usr", "/usr/lib", "/usr/lib/x", "/usr/lib/x/y", "/usr/lib/x/y/z"}
	if cr.kinds[objects.KindDirTree] != 2*len(path) || cr.total() != 2*len(path) {
		t.Errorf("read %v, want %d dirtrees and nothing else", cr.kinds, 2*len(path))
	}
	ca, cb := &objects.Commit{Tree: a.Tree, Meta: a.Meta}, &objects.Commit{Tree: b.Tree, Meta: b.Meta}
	for _, p := range path {
		for _, c := range []*objects.Commit{ca, cb} {
			if n := lookup(t, s, c, p); cr.opens[n.Tree] != 1 {
				t.Errorf("dirtree of %s read %d times, want once", p, cr.opens[n.Tree])
			}
		}
	}
	for _, sibling := range []string{"/etc", "/opt", "/opt/app", "/usr/bin", "/usr/share", "/usr/share/doc", "/usr/lib/x/side", "/var/empty"} {
		if n := lookup(t, s, ca, sibling); cr.opens[n.Tree] != 0 {
			t.Errorf("unchanged sibling %s was read", sibling)
		}
	}
}

func lookup(t *testing.T, r objects.Reader, c *objects.Commit, p string) repo.Node {
	t.Helper()
	n, err := repo.Lookup(t.Context(), r, c, p)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", p, err)
	}
	return n
}

// TestDiffErrors: the callback's error stops the walk and is returned; a
// missing subtree is reported as not found.
func TestDiffErrors(t *testing.T) {
	s := &objtest.MemStore{}
	base := diffBase()
	a := importTree(t, s, base)
	changed := maps.Clone(base)
	changed["aaa"] = repotest.File(0o644, "")
	changed["zzz"] = repotest.File(0o644, "")
	b := importTree(t, s, changed)
	stop := errors.New("stop")
	calls := 0
	err := repo.Diff(t.Context(), s, a, b, func(repo.Change) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Diff with a failing callback: %v after %d calls", err, calls)
	}
	changed["usr/lib/x/y/z/deep"] = repotest.File(0o644, "changed")
	c := importTree(t, s, changed)
	s.Delete(objects.KindDirTree, lookup(t, s, &objects.Commit{Tree: c.Tree, Meta: c.Meta}, "/usr/lib/x/y").Tree)
	err = repo.Diff(t.Context(), s, a, c, func(repo.Change) error { return nil })
	if !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("Diff over a missing dirtree: %v, want not found", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := repo.Diff(ctx, s, a, b, func(repo.Change) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Diff with a cancelled context: %v", err)
	}
}

func TestLookup(t *testing.T) {
	s := &objtest.MemStore{}
	cr := &countingReader{Reader: s}
	root := importTree(t, s, diffBase())
	c := &objects.Commit{Tree: root.Tree, Meta: root.Meta}
	for _, p := range []string{"/", "", ".", "//", "/etc/.."} {
		n := lookup(t, s, c, p)
		if n.Path != "/" || n.Tree != root.Tree || n.Meta != root.Meta {
			t.Errorf("Lookup(%q) = %+v, want the root", p, n)
		}
	}
	hostname := lookup(t, s, c, "etc/hostname")
	if hostname.IsDir() || hostname.File.IsZero() || hostname.Path != "/etc/hostname" || hostname.Name != "hostname" {
		t.Errorf("Lookup(etc/hostname) = %+v", hostname)
	}
	f, err := objects.ReadFile(t.Context(), s, hostname.File)
	if err != nil || f.Mode != objects.ModeRegular|0o644 {
		t.Errorf("etc/hostname's file object: %+v, %v", f, err)
	}
	for _, p := range []string{"/etc/hostname", "etc//hostname", "./etc/hostname", "usr/../etc/hostname", "/etc/hostname/"} {
		if n := lookup(t, s, c, p); n != hostname {
			t.Errorf("Lookup(%q) = %+v, want %+v", p, n, hostname)
		}
	}
	if d := lookup(t, s, c, "usr/lib/x"); !d.IsDir() || d.Path != "/usr/lib/x" || d.Meta.IsZero() {
		t.Errorf("Lookup(usr/lib/x) = %+v", d)
	}
	if l := lookup(t, s, c, "bin"); l.IsDir() {
		t.Errorf("the symlink bin is a directory: %+v", l)
	}
	for p, says := range map[string]string{
		"nope":              "/nope: no such file or directory",
		"etc/nope":          "/etc/nope: no such file or directory",
		"etc/hostname/x":    "/etc/hostname: not a directory",
		"bin/ls":            "/bin: not a directory", // symlinks are not followed
		"usr/lib/x/y/z/q/r": "/usr/lib/x/y/z/q: no such file or directory",
	} {
		_, err := repo.Lookup(t.Context(), s, c, p)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("Lookup(%q) = %v, want an error saying %q", p, err, says)
		}
	}
	// A lookup reads one dirtree per directory on the way, nothing else.
	cr.reset()
	lookup(t, cr, c, "usr/lib/x/y/z/deep")
	if cr.kinds[objects.KindDirTree] != 6 || cr.total() != 6 {
		t.Errorf("Lookup of a 7-level path read %v, want 6 dirtrees", cr.kinds)
	}
}
