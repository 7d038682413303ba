package repo_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/sample"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// commitTar imports a tar stream in one transaction and commits it onto
// branch; it returns the commit's root and the import's stats.
func commitTar(t *testing.T, r *repo.Repo, branch string, b []byte, opts repo.ImportOptions) (objects.DirEntry, repo.ImportStats) {
	t.Helper()
	var root objects.DirEntry
	var stats repo.ImportStats
	err := r.Update(t.Context(), func(tx *repo.Tx) error {
		tree, meta, st, err := repo.ImportTar(t.Context(), tx, bytes.NewReader(b), opts)
		if err != nil {
			return err
		}
		root, stats = objects.DirEntry{Tree: tree, Meta: meta}, st
		_, err = repotest.WriteCommit(t.Context(), tx, branch, tree, meta)
		return err
	})
	if err != nil {
		t.Fatalf("commit tar onto %s: %v", branch, err)
	}
	return root, stats
}

func commitDirRoot(t *testing.T, r *repo.Repo, branch, dir string) objects.DirEntry {
	t.Helper()
	c := readCommit(t, r, repotest.CommitDir(t, r, branch, dir))
	return objects.DirEntry{Tree: c.Tree, Meta: c.Meta}
}

// extractTar extracts a tar stream with the system's tar as root,
// keeping owners, modes and xattrs, into a new directory.
func extractTar(t *testing.T, b []byte) string {
	t.Helper()
	repotest.RequireRoot(t)
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar(1) to extract with")
	}
	dir := filepath.Join(t.TempDir(), "extracted")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tarBin, "-xpf", "-", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner", "-C", dir)
	cmd.Stdin = bytes.NewReader(b)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	return dir
}

// TestTarEqualsDirectory: committing a tar archive (plain, gzip, zstd)
// gives the same tree as committing the directory it extracts to, for the
// sample tree and for a random one.
func TestTarEqualsDirectory(t *testing.T) {
	repotest.RequireRoot(t)
	seed := repotest.Seed(t, *seedFlag)
	random := repotest.RandomTree(repotest.Rand(seed), repotest.RandomOptions{Entries: 30, SymlinkXattrs: symlinkXattrsWork(t)})
	// Over 1 MiB: the tar importer streams such members instead of
	// buffering them.
	random["big/over-a-mebibyte"] = repotest.File(0o640, strings.Repeat("0123456789abcdef", 100<<10)).Owned(7, 8)
	inputs := []struct {
		name string
		tar  []byte
		tree repotest.Tree // the tree the archive holds, when known
	}{
		{"sample", sample.Tar(1), nil},
		{"random", repotest.Tar(t, random, repotest.Plain), random},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			t.Parallel()
			r := repotest.New(t, repo.Archive)
			want, _ := commitTar(t, r, "plain", in.tar, repo.ImportOptions{})
			for _, c := range []repotest.Compression{repotest.Gzip, repotest.Zstd} {
				z, err := repotest.Compress(in.tar, c)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := commitTar(t, r, string(c), z, repo.ImportOptions{}); got != want {
					t.Errorf("%s archive: root %s/%s, plain archive %s/%s", c, got.Tree.Short(), got.Meta.Short(), want.Tree.Short(), want.Meta.Short())
				}
			}
			dir := extractTar(t, in.tar)
			if in.tree != nil {
				repotest.AssertTree(t, in.tree, dir) // tar(1) extracted what the tree says
			}
			if got := commitDirRoot(t, r, "extracted", dir); got != want {
				t.Errorf("extracted directory: root %s/%s, archive %s/%s", got.Tree.Short(), got.Meta.Short(), want.Tree.Short(), want.Meta.Short())
				diffRoots(t, r, want, got)
			}
			if in.tree != nil {
				src := filepath.Join(t.TempDir(), "written")
				os.Mkdir(src, 0o700)
				repotest.Write(t, src, in.tree)
				if got := commitDirRoot(t, r, "written", src); got != want {
					t.Errorf("directory written by repotest: root %s, archive %s", got.Tree.Short(), want.Tree.Short())
					diffRoots(t, r, want, got)
				}
			}
		})
	}
}

// diffRoots logs how two roots differ, to explain a failure.
func diffRoots(t *testing.T, r objects.Reader, a, b objects.DirEntry) {
	t.Helper()
	repo.Diff(t.Context(), r, a, b, func(c repo.Change) error {
		t.Logf("  %c %s", c.Type, c.Path)
		return nil
	})
}

// TestImportStatsAndProgress: the import counts what it read, and reports
// one progress event per file.
func TestImportStatsAndProgress(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	var prog countingProgress
	_, st := commitTar(t, r, "main", sample.Tar(1), repo.ImportOptions{Progress: &prog, Workers: 3})
	// 9 regular files (the hard link is not a file of its own), 3 symlinks,
	// 10 listed directories.
	var content int64
	tr := tar.NewReader(bytes.NewReader(sample.Tar(1)))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		content += h.Size
	}
	want := repo.ImportStats{Files: 9, Dirs: 10, Symlinks: 3, Bytes: content}
	if st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
	if prog.events["import"] != st.Files+st.Symlinks || prog.bytes != st.Bytes {
		t.Errorf("progress: %v events, %d bytes; want %d events, %d bytes", prog.events, prog.bytes, st.Files+st.Symlinks, st.Bytes)
	}
}

// TestImportOwnerOverride: OwnerUID and OwnerGID replace every owner.
func TestImportOwnerOverride(t *testing.T) {
	repotest.RequireRoot(t)
	r := repotest.New(t, repo.Archive)
	tree := repotest.Tree{
		"":      repotest.Dir(0o755).Owned(5, 6),
		"a":     repotest.File(0o4755, "a").Owned(1000, 1000),
		"d":     repotest.Dir(0o2775).Owned(7, 7),
		"d/l":   repotest.Symlink("../a").Owned(8, 9),
		"d/e":   repotest.Dir(0o750).Owned(4, 4),
		"d/e/f": repotest.File(0o600, "").Owned(0, 10),
	}
	zero := uint32(0)
	got, _ := commitTar(t, r, "owned", repotest.Tar(t, tree, repotest.Plain), repo.ImportOptions{OwnerUID: &zero, OwnerGID: &zero})
	rooted := repotest.Tree{}
	for p, e := range tree {
		rooted[p] = e.Owned(0, 0)
	}
	want := commitDirRoot(t, r, "rooted", writeTree(t, rooted))
	if got != want {
		t.Errorf("owner override: root %s, want %s", got.Tree.Short(), want.Tree.Short())
		diffRoots(t, r, want, got)
	}
	// Only the uid: the gid stays.
	uidOnly := uint32(3)
	got, _ = commitTar(t, r, "uid", repotest.Tar(t, tree, repotest.Plain), repo.ImportOptions{OwnerUID: &uidOnly})
	for p, e := range tree {
		rooted[p] = e.Owned(3, e.GID)
	}
	if want := commitDirRoot(t, r, "uid-want", writeTree(t, rooted)); got != want {
		t.Errorf("uid override: root %s, want %s", got.Tree.Short(), want.Tree.Short())
	}
}

// writeTree writes a tree into a new directory and returns it.
func writeTree(t *testing.T, tree repotest.Tree) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	repotest.Write(t, dir, tree)
	return dir
}

// TestImportPathDetects: ImportPath takes a directory or a tar file of
// either compression, and refuses xz and bzip2 with a clear message.
func TestImportPathDetects(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	ctx := t.Context()
	dir := t.TempDir()
	var roots []objects.ID
	for _, c := range []repotest.Compression{repotest.Plain, repotest.Gzip, repotest.Zstd} {
		b, _ := repotest.Compress(sample.Tar(1), c)
		p := filepath.Join(dir, "tree.tar."+string(c))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		err := r.Update(ctx, func(tx *repo.Tx) error {
			tree, _, _, err := repo.ImportPath(ctx, tx, p, repo.ImportOptions{})
			roots = append(roots, tree)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if roots[0] != roots[1] || roots[0] != roots[2] {
		t.Errorf("roots differ by compression: %v", roots)
	}
	for name, magic := range map[string][]byte{
		"xz":    {0xfd, '7', 'z', 'X', 'Z', 0, 0, 0},
		"bzip2": []byte("BZh91AY&SY"),
	} {
		p := filepath.Join(dir, "x."+name)
		os.WriteFile(p, magic, 0o644)
		_, _, _, err := repo.ImportPath(ctx, &objtest.MemStore{}, p, repo.ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s archive: error %v, want one naming %s", name, err, name)
		}
	}
	for name, b := range map[string][]byte{
		"truncated gzip": mustCompress(t, sample.Tar(1), repotest.Gzip)[:5000],
		"truncated zstd": mustCompress(t, sample.Tar(1), repotest.Zstd)[:5000],
		"bad gzip":       {0x1f, 0x8b, 0, 0, 0},
	} {
		if _, _, _, err := repo.ImportTar(ctx, &objtest.MemStore{}, bytes.NewReader(b), repo.ImportOptions{}); err == nil {
			t.Errorf("%s: imported without error", name)
		}
	}
	if _, _, _, err := repo.ImportPath(ctx, &objtest.MemStore{}, filepath.Join(dir, "missing"), repo.ImportOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
}

func mustCompress(t *testing.T, b []byte, c repotest.Compression) []byte {
	z, err := repotest.Compress(b, c)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// member is a tar member for crafted archives.
type member struct {
	name     string
	typ      byte
	link     string
	body     string
	mode     int64
	devmajor int64
}

func craftTar(t testing.TB, ms ...member) []byte {
	t.Helper()
	b, err := craftTarBytes(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func craftTarBytes(ms ...member) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.link, Mode: m.mode, Size: int64(len(m.body)),
			Devmajor: m.devmajor, Format: tar.FormatPAX}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if m.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(m.body)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var (
	reg  = func(name string) member { return member{name: name, typ: tar.TypeReg, body: "x"} }
	dir  = func(name string) member { return member{name: name, typ: tar.TypeDir, mode: 0o755} }
	sym  = func(name, target string) member { return member{name: name, typ: tar.TypeSymlink, link: target} }
	hard = func(name, target string) member { return member{name: name, typ: tar.TypeLink, link: target} }
)

// refusedTars are archives an import must refuse, with the error type and
// the text the message must hold.
var refusedTars = []struct {
	name    string
	members []member
	special bool   // a *repo.SpecialFileError (else *repo.InvalidPathError)
	says    string // the message names this
}{
	{"dot-dot", []member{reg("a"), reg("../evil")}, false, "../evil"},
	{"dot-dot inside", []member{reg("a/../../evil")}, false, "a/../../evil"},
	{"dot-dot directory", []member{dir("../up/")}, false, "../up/"},
	{"absolute", []member{reg("/etc/passwd")}, false, "/etc/passwd"},
	{"absolute directory", []member{dir("/etc/")}, false, "/etc/"},
	{"hard link to dot-dot", []member{reg("a"), hard("b", "../x")}, false, "../x"},
	{"hard link to absolute", []member{reg("a"), hard("b", "/a")}, false, "/a"},
	{"hard link to a later member", []member{hard("b", "a"), reg("a")}, false, "b"},
	{"hard link to nothing", []member{reg("a"), hard("b", "nope")}, false, "nope"},
	{"hard link to a directory", []member{dir("d/"), hard("b", "d")}, false, "b"},
	{"member under a file", []member{reg("a"), reg("a/b")}, false, "a/b"},
	{"directory under a file", []member{reg("a"), dir("a/d/")}, false, "a/d"},
	{"directory over a file", []member{reg("a"), dir("a/")}, false, "a"},
	{"file over a directory", []member{dir("a/"), reg("a")}, false, "a"},
	{"file over an implied directory", []member{reg("a/b"), reg("a")}, false, "a"},
	{"member under a symlink", []member{sym("l", "/etc"), reg("l/passwd")}, false, "l/passwd"},
	{"member under a dangling symlink", []member{sym("l", "nowhere"), dir("l/d/")}, false, "l/d"},
	{"hard link under a symlink", []member{reg("a"), sym("l", "."), hard("l/b", "a")}, false, "l/b"},
	{"unclean name", []member{reg("a//b")}, false, "a//b"},
	{"dot in a name", []member{reg("a/./b")}, false, "a/./b"},
	{"name not UTF-8", []member{reg("bad\xffname")}, false, "bad\\xffname"},
	{"file as the root", []member{reg(".")}, false, "."},
	{"symlink as the root", []member{sym("./", "/")}, false, "./"},
	{"unsupported type", []member{{name: "contiguous", typ: tar.TypeCont}}, false, "contiguous"},
	{"character device", []member{reg("a"), {name: "dev/null", typ: tar.TypeChar, devmajor: 1}}, true, "/dev/null"},
	{"block device", []member{{name: "dev/sda", typ: tar.TypeBlock, devmajor: 8}}, true, "/dev/sda"},
	{"FIFO", []member{{name: "run/fifo", typ: tar.TypeFifo}}, true, "/run/fifo"},
}

// TestTarRefusals: archives that would escape the tree, contradict
// themselves or hold special files are refused with a clear, typed error,
// and the repository stays exactly as it was.
func TestTarRefusals(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			repotest.RequireRoot(t)
			r := repotest.New(t, mode)
			repotest.CommitFS(t, r, "main", repotest.Tree{"keep": repotest.File(0o644, "kept")})
			before := repotest.Snapshot(t, r)
			for _, c := range refusedTars {
				b := craftTar(t, append([]member{reg("first"), reg("big")}, c.members...)...)
				err := r.Update(t.Context(), func(tx *repo.Tx) error {
					tree, meta, _, err := repo.ImportTar(t.Context(), tx, bytes.NewReader(b), repo.ImportOptions{})
					if err != nil {
						return err
					}
					_, err = repotest.WriteCommit(t.Context(), tx, "main", tree, meta)
					return err
				})
				checkRefusal(t, c.name, err, c.special, c.says)
				repotest.AssertUnchanged(t, r, before)
				if ents, _ := os.ReadDir(filepath.Join(r.Path(), "tmp")); len(ents) > 0 {
					t.Errorf("%s: tmp/ holds %d entries after the refused commit", c.name, len(ents))
				}
			}
			repotest.CheckClean(t, r)
		})
	}
}

func checkRefusal(t *testing.T, name string, err error, special bool, says string) {
	t.Helper()
	var pe *repo.InvalidPathError
	var se *repo.SpecialFileError
	switch {
	case err == nil:
		t.Errorf("%s: accepted", name)
		return
	case special && !errors.As(err, &se):
		t.Errorf("%s: %v (%T), want a *repo.SpecialFileError", name, err, errors.Unwrap(err))
	case !special && !errors.As(err, &pe):
		t.Errorf("%s: %v, want a *repo.InvalidPathError", name, err)
	}
	if !strings.Contains(err.Error(), says) && !strings.Contains(fmt.Sprintf("%q", err.Error()), says) {
		t.Errorf("%s: message %q does not name %q", name, err, says)
	}
}

// TestTarSkipSpecial: with SkipSpecial, device nodes and FIFOs are left
// out with a warning naming each, and the rest is imported as if they had
// never been there.
func TestTarSkipSpecial(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	with := craftTar(t, reg("a"), member{name: "dev/null", typ: tar.TypeChar, devmajor: 1},
		member{name: "dev/sda", typ: tar.TypeBlock, devmajor: 8}, member{name: "fifo", typ: tar.TypeFifo}, dir("dev/"), reg("z"))
	without := craftTar(t, reg("a"), dir("dev/"), reg("z"))
	var mu sync.Mutex
	var warnings []string
	got, _ := commitTar(t, r, "with", with, repo.ImportOptions{SkipSpecial: true, Warn: func(m string) {
		mu.Lock()
		warnings = append(warnings, m)
		mu.Unlock()
	}})
	want, _ := commitTar(t, r, "without", without, repo.ImportOptions{})
	if got != want {
		t.Errorf("skipping specials: root %s, want %s", got.Tree.Short(), want.Tree.Short())
	}
	all := strings.Join(warnings, "\n")
	for _, p := range []string{"/dev/null", "/dev/sda", "/fifo"} {
		if !strings.Contains(all, p) {
			t.Errorf("no warning names %s; warnings: %q", p, warnings)
		}
	}
	if len(warnings) != 3 {
		t.Errorf("%d warnings, want 3: %q", len(warnings), warnings)
	}
	// Without a Warn function the skip is silent, not a crash.
	commitTar(t, r, "silent", with, repo.ImportOptions{SkipSpecial: true})
}

// TestDirRefusals: a FIFO, a socket or a device node in a directory is
// refused naming its path (or skipped with a warning with SkipSpecial),
// and a name that is not valid UTF-8 is refused either way; the
// repository stays as it was.
func TestDirRefusals(t *testing.T) {
	repotest.RequireRoot(t)
	r := repotest.New(t, repo.Bare)
	repotest.CommitFS(t, r, "main", repotest.Tree{"keep": repotest.File(0o644, "kept")})
	before := repotest.Snapshot(t, r)
	base := repotest.Tree{"a": repotest.File(0o644, "a"), "sub/b": repotest.File(0o600, "b")}
	clean := commitDirRoot(t, r, "clean", writeTree(t, base))
	before = repotest.Snapshot(t, r)

	type special struct{ name, typ string }
	var specials []special
	src := writeTree(t, base)
	if err := syscall.Mkfifo(filepath.Join(src, "sub", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	specials = append(specials, special{"sub/fifo", "FIFO"})
	ln := listenUnix(t, filepath.Join(src, "sock"))
	defer ln.Close()
	specials = append(specials, special{"sock", "socket"})
	if err := unix.Mknod(filepath.Join(src, "sub", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err == nil {
		specials = append(specials, special{"sub/null", "character device"})
	} else {
		t.Logf("no device node (%v): testing FIFO and socket only", err)
	}
	for _, sp := range specials {
		// Each alone, so that the error must name it.
		one := writeTree(t, base)
		os.Rename(filepath.Join(src, filepath.FromSlash(sp.name)), filepath.Join(one, filepath.FromSlash(sp.name)))
		_, err := repotest.TryCommitDir(t.Context(), r, "main", one, repo.ImportOptions{})
		checkRefusal(t, sp.typ, err, true, filepath.Join(one, filepath.FromSlash(sp.name)))
		var se *repo.SpecialFileError
		if errors.As(err, &se) && (se.Type != sp.typ || se.Path != filepath.Join(one, filepath.FromSlash(sp.name))) {
			t.Errorf("%s: error says %s %q", sp.name, se.Type, se.Path)
		}
		repotest.AssertUnchanged(t, r, before)

		var warnings []string
		var mu sync.Mutex
		id, err := repotest.TryCommitDir(t.Context(), r, "skipped", one, repo.ImportOptions{SkipSpecial: true,
			Warn: func(m string) { mu.Lock(); warnings = append(warnings, m); mu.Unlock() }})
		if err != nil {
			t.Fatalf("%s with SkipSpecial: %v", sp.name, err)
		}
		if c := readCommit(t, r, id); c.Tree != clean.Tree || c.Meta != clean.Meta {
			t.Errorf("%s skipped: root %s, want the tree without it %s", sp.name, c.Tree.Short(), clean.Tree.Short())
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], sp.name) || !strings.Contains(warnings[0], sp.typ) {
			t.Errorf("%s skipped: warnings %q, want one naming the %s", sp.name, warnings, sp.typ)
		}
		before = repotest.Snapshot(t, r)
	}

	// Names that cannot be stored are refused, SkipSpecial or not.
	for _, name := range []string{"bad\xffname", "sub/\xc3\x28"} {
		d := writeTree(t, base)
		if err := os.WriteFile(filepath.Join(d, name), []byte("x"), 0o644); err != nil {
			t.Logf("cannot create %q here: %v", name, err)
			continue
		}
		for _, skip := range []bool{false, true} {
			_, err := repotest.TryCommitDir(t.Context(), r, "main", d, repo.ImportOptions{SkipSpecial: skip})
			checkRefusal(t, fmt.Sprintf("name %q", name), err, false, fmt.Sprintf("%q", filepath.Join(d, name))[1:20])
			repotest.AssertUnchanged(t, r, before)
		}
	}

	// The root must be a directory.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	l := filepath.Join(t.TempDir(), "link")
	os.Symlink(src, l)
	for _, p := range []string{f, l} {
		if _, err := repotest.TryCommitDir(t.Context(), r, "main", p, repo.ImportOptions{}); err == nil {
			t.Errorf("ImportDir %s: accepted a root that is not a directory", p)
		}
	}
	repotest.AssertUnchanged(t, r, before)
}

func listenUnix(t *testing.T, p string) net.Listener {
	t.Helper()
	if len(p) >= 108 {
		t.Skipf("socket path %s is too long for sun_path", p)
	}
	ln, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestImportCancelled: a cancelled import stops with the context's error
// and leaves nothing visible.
func TestImportCancelled(t *testing.T) {
	r := repotest.New(t, repo.Archive)
	before := repotest.Snapshot(t, r)
	ctx, cancel := context.WithTimeout(t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	err := r.Update(t.Context(), func(tx *repo.Tx) error {
		_, _, _, err := repo.ImportTar(ctx, tx, bytes.NewReader(sample.Tar(1)), repo.ImportOptions{})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled import: %v", err)
	}
	repotest.AssertUnchanged(t, r, before)
}

// TestTarTruncated: an archive cut anywhere, between members included
// (where archive/tar itself reports a clean end), is refused rather than
// committed as a smaller tree, whatever its compression.
func TestTarTruncated(t *testing.T) {
	full := sample.Tar(1)
	// Where each member's header and data start, from a counting pass.
	cr := &countReader{r: bytes.NewReader(full)}
	tr := tar.NewReader(cr)
	cuts := []int{0, 100, 512}
	for {
		before := cr.n
		if _, err := tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		cuts = append(cuts, before, cr.n, cr.n+7, cr.n-1)
	}
	cuts = append(cuts, len(full)-1024, len(full)-513, len(full)-512, len(full)-1)
	ctx := t.Context()
	for _, cut := range cuts {
		if cut < 0 || cut >= len(full) {
			continue
		}
		for _, c := range []repotest.Compression{repotest.Plain, repotest.Gzip} {
			b := mustCompress(t, full[:cut], c)
			_, _, st, err := repo.ImportTar(ctx, &objtest.MemStore{}, bytes.NewReader(b), repo.ImportOptions{})
			if err == nil {
				t.Errorf("%s archive cut at byte %d of %d: imported %+v without error", c, cut, len(full), st)
			} else if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "archive") {
				t.Errorf("cut at %d: unclear error %v", cut, err)
			}
		}
	}
	// The whole archive, and one with trailing zero blocks (tar(1) pads
	// to 10 KiB records), are complete.
	for _, b := range [][]byte{full, append(slices.Clone(full), make([]byte, 8192)...)} {
		if _, _, _, err := repo.ImportTar(ctx, &objtest.MemStore{}, bytes.NewReader(b), repo.ImportOptions{}); err != nil {
			t.Errorf("complete archive of %d bytes: %v", len(b), err)
		}
	}
	// An empty archive is just the end marker.
	empty := craftTar(t)
	tree, _, _, err := repo.ImportTar(ctx, &objtest.MemStore{}, bytes.NewReader(empty), repo.ImportOptions{})
	if err != nil {
		t.Errorf("empty archive: %v", err)
	}
	if want := (&objects.DirTree{}); tree != mustID(want.Encode()) {
		t.Errorf("empty archive: tree %s, want the empty dirtree", tree.Short())
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func mustID(b []byte, err error) objects.ID {
	if err != nil {
		panic(err)
	}
	return objects.Sum(b)
}
