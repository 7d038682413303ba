package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// a shortens the argument lists of the tables.
func a(args ...string) []string { return args }

// commitLine is what commit prints on stdout: the new commit's ID.
func commitLine(t *testing.T, _ vars, stdout []byte) {
	t.Helper()
	if s := string(stdout); !idPattern.MatchString(strings.TrimSuffix(s, "\n")) || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("commit printed %q, want one line holding the commit ID", s)
	}
}

func TestInit(t *testing.T) {
	runScenarios(t, []scenario{{"init", []row{
		{args: a("--repo", "${R}", "init"), out: []string{"initialized archive repository in ${R}"},
			check: func(t *testing.T, v vars, _ []byte) {
				b, err := os.ReadFile(filepath.Join(v["R"], "config"))
				if err != nil || !strings.Contains(string(b), `"archive"`) {
					t.Errorf("config: %q, %v", b, err)
				}
				for _, d := range []string{"objects/00", "objects/ff", "refs/heads", "refs/remotes", "tmp"} {
					if fi, err := os.Stat(filepath.Join(v["R"], d)); err != nil || !fi.IsDir() {
						t.Errorf("%s: %v", d, err)
					}
				}
			}},
		{args: a("--repo", "${R}", "init"), code: exitError, err: []string{"arbor: init ${R}: repository already exists"}},
		{args: a("--repo", "${R}", "init", "--mode", "bare"), code: exitError, err: []string{"already exists"}},
		{args: a("--repo", "${R}", "refs"), code: exitOK},
		{args: a("--repo", "${R}", "refs", "--json"), json: map[string]any{"": hasLen(0)}},
		{args: a("--repo", "${T}/bare", "init", "--mode", "bare"), out: []string{"initialized bare repository in ${T}/bare"}},
		{args: a("--repo", "${T}/bad", "init", "--mode", "tarball"), code: exitUsage, err: []string{`unknown repository mode "tarball"`}},
		{args: a("--repo", "${T}/x", "init", "extra"), code: exitUsage, err: []string{"unknown command"}},
		{args: a("init"), code: exitUsage, err: []string{"no repository: give --repo PATH"}},
		{args: a("--repo", "${T}/env", "init"), env: map[string]string{"ARBOR_REPO": "${T}/ignored"}, out: []string{"in ${T}/env"}},
		{args: a("refs"), env: map[string]string{"ARBOR_REPO": "${T}/env"}, code: exitOK},
	}}})
}

func TestCommit(t *testing.T) {
	runScenarios(t, []scenario{
		{"sources", []row{
			{args: a("--repo", "${R}", "init")},
			{args: a("--repo", "${R}", "commit", "--branch", "src/tar", "--timestamp", "1700000000", "${TAR1}"), save: "C_TAR",
				err: []string{"committed ", " to src/tar in "}, check: commitLine},
			{args: a("--repo", "${R}", "commit", "-b", "src/gz", "--timestamp", "1700000000", "${TGZ}"), save: "C_GZ", check: commitLine},
			{args: a("--repo", "${R}", "commit", "-b", "src/zst", "--timestamp", "1700000000", "${TZST}"), save: "C_ZST", check: commitLine},
			// Same tree, same time, same metadata but another ref binding:
			// the trees are equal, the commits are not.
			{args: a("--repo", "${R}", "show", "--json", "src/tar"), saveJSON: map[string]string{"TREE": "tree"}},
			{args: a("--repo", "${R}", "show", "--json", "src/gz"), json: map[string]any{"tree": "${TREE}", "id": "${C_GZ}"}},
			{args: a("--repo", "${R}", "show", "--json", "src/zst"), json: map[string]any{"tree": "${TREE}", "id": "${C_ZST}"}},
			// A directory: the small one, and the sample tree checked out.
			{args: a("--repo", "${R}", "commit", "-b", "src/dir", "${DIR1}"), check: commitLine},
			{args: a("--repo", "${R}", "ls", "-R", "src/dir"), out: []string{"/a.txt\n", "/sub/\n", "/sub/c.txt\n", "/link\n"}},
			{args: a("--repo", "${R}", "cat", "src/dir", "/sub/c.txt"), out: []string{"sea\n"}},
			{args: a("--repo", "${R}", "checkout", "src/tar", "${T}/co")},
			// As root the checkout keeps owners, so committing it gives the tar's tree back.
			{rootOnly: true, args: a("--repo", "${R}", "commit", "-b", "src/co", "${T}/co"), check: commitLine},
			{rootOnly: true, args: a("--repo", "${R}", "show", "--json", "src/co"), json: map[string]any{"tree": "${TREE}"}},
		}},
		{"refused", []row{
			{args: a("--repo", "${R}", "init")},
			{args: a("--repo", "${R}", "commit", "-b", "x", "${T}/missing"), code: exitNotFound, err: []string{"no such path", "${T}/missing"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "${FIFODIR}"), code: exitError, err: []string{"FIFO", "--skip-special"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--skip-special", "${FIFODIR}"), err: []string{"arbor: warning: skipping FIFO"}, check: commitLine},
			{args: a("--repo", "${R}", "ls", "x"), out: []string{"/plain\n"}, notOut: []string{"pipe"}},
			{args: a("--repo", "${R}", "commit", "-b", "bad branch", "${TAR1}"), code: exitUsage, err: []string{`--branch "bad branch": not a valid ref name`}},
			{args: a("--repo", "${R}", "commit", "-b", "os//stable", "${TAR1}"), code: exitUsage, err: []string{"not a valid ref name"}},
			{args: a("--repo", "${R}", "commit", "-b", ".hidden", "${TAR1}"), code: exitUsage, err: []string{"not a valid ref name"}},
			{args: a("--repo", "${R}", "commit", "-b", "origin:os/stable", "${TAR1}"), code: exitUsage, err: []string{"not a valid ref name"}},
			{args: a("--repo", "${R}", "commit", "${TAR1}"), code: exitUsage, err: []string{`required flag(s) "branch" not set`}},
			{args: a("--repo", "${R}", "commit", "-b", "x"), code: exitUsage, err: []string{"accepts 1 arg(s), received 0"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "${TAR1}", "${TAR2}"), code: exitUsage},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--bind", "no way", "${TAR1}"), code: exitUsage, err: []string{"--bind"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--metadata", "novalue", "${TAR1}"), code: exitUsage, err: []string{"want KEY=VALUE"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--metadata", "arbor.release=9", "${TAR1}"), code: exitUsage, err: []string{"set by their own flags"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--owner-uid", "-1", "${TAR1}"), code: exitUsage, err: []string{"--owner-uid -1 out of range"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--owner-gid", "4294967296", "${TAR1}"), code: exitUsage, err: []string{"--owner-gid"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--timestamp", "yesterday", "${TAR1}"), code: exitUsage, err: []string{"--timestamp"}},
			{args: a("--repo", "${R}", "commit", "-b", "x", "--release", "many", "${TAR1}"), code: exitUsage, err: []string{"invalid argument"}},
			{args: a("commit", "-b", "x", "${TAR1}"), code: exitUsage, err: []string{"no repository"}},
			{args: a("--repo", "${T}/nowhere", "commit", "-b", "x", "${TAR1}"), code: exitNotFound, err: []string{"not an arbor repository"}},
			// Nothing refused above left a ref behind.
			{args: a("--repo", "${R}", "refs"), out: []string{" x\n"}, notOut: []string{"os/stable", "hidden"}},
		}},
		{"releases and metadata", []row{
			{args: a("--repo", "${R}", "init")},
			{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--timestamp", "1700000000", "-s", "first", "--body", "line one\nline two", "${TAR1}"), save: "C1"},
			{args: a("--repo", "${R}", "show", "--json", "os/stable"), json: map[string]any{
				"id": "${C1}", "tree": isID, "meta": isID, "parent": isNull, "timestamp": 1700000000,
				"subject": "first", "body": "line one\nline two",
				"metadata/arbor.release": 1, "metadata/arbor.ref-binding": []string{"os/stable"},
			}},
			// The default release is the parent's plus one.
			{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--timestamp", "2023-11-15T22:13:20Z", "${TAR2}"), save: "C2"},
			{args: a("--repo", "${R}", "show", "--json", "os/stable"), json: map[string]any{
				"id": "${C2}", "parent": "${C1}", "timestamp": 1700086400, "metadata/arbor.release": 2, "subject": "", "body": "",
			}},
			// Releases must increase along a ref.
			{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--release", "2", "${TAR3}"), code: exitUsage,
				err: []string{"--release 2 is not above release 2 of the current os/stable", "${C2_PREFIX}"}},
			{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--release", "1", "${TAR3}"), code: exitUsage, err: []string{"releases must increase"}},
			{args: a("--repo", "${R}", "refs"), out: []string{"${C2} os/stable\n"}},
			{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--release", "10", "--version", "1.2.3",
				"--bind", "os/stable", "--bind", "os/beta", "--hw-compat", "board-a", "--hw-compat", "board-b",
				"--metadata", "build=42", "--metadata", "channel=nightly=1", "${TAR3}"), save: "C3"},
			{args: a("--repo", "${R}", "show", "--json", "os/stable"), json: map[string]any{
				"id": "${C3}", "parent": "${C2}",
				"metadata/arbor.release":     10,
				"metadata/arbor.version":     "1.2.3",
				"metadata/arbor.ref-binding": []string{"os/stable", "os/beta"},
				"metadata/arbor.hw-compat":   []string{"board-a", "board-b"},
				"metadata/build":             "42",
				"metadata/channel":           "nightly=1",
			}},
			{args: a("--repo", "${R}", "show", "os/stable"), out: []string{
				"commit ${C3}\n", "parent ${C2}\n", "release 10  version 1.2.3\n",
				"arbor.ref-binding: os/stable, os/beta\n", "arbor.hw-compat: board-a, board-b\n", "build: 42\n",
			}},
			{args: a("--repo", "${R}", "commit", "-b", "os/stable", "${TAR4}")},
			{args: a("--repo", "${R}", "show", "--json", "os/stable"), json: map[string]any{"metadata/arbor.release": 11, "parent": "${C3}"}},
			// A new branch starts at release 1; --release may set any first value.
			{args: a("--repo", "${R}", "commit", "-b", "os/lts", "--release", "500", "${TAR1}")},
			{args: a("--repo", "${R}", "show", "--json", "os/lts"), json: map[string]any{"metadata/arbor.release": 500, "parent": isNull}},
			// Owners forced at commit.
			{args: a("--repo", "${R}", "commit", "-b", "owned", "--owner-uid", "1000", "--owner-gid", "2000", "${TAR1}")},
			{args: a("--repo", "${R}", "ls", "-l", "owned", "/etc"), out: []string{" 1000  2000 ", "/etc/shadow"}},
			{args: a("--repo", "${R}", "ls", "--json", "-R", "owned"), check: func(t *testing.T, _ vars, stdout []byte) {
				var list []lsEntry
				if err := json.Unmarshal(stdout, &list); err != nil || len(list) < 10 {
					t.Fatalf("ls --json: %v, %d entries", err, len(list))
				}
				for _, e := range list {
					if e.UID != 1000 || e.GID != 2000 {
						t.Errorf("%s: owner %d:%d, want 1000:2000", e.Path, e.UID, e.GID)
					}
				}
			}},
			{args: a("--repo", "${R}", "ls", "-l", "os/stable", "/etc/shadow"), out: []string{"    0    42 "}},
			{args: a("--repo", "${R}", "commit", "-b", "j", "--json", "${TAR1}"), json: map[string]any{
				"commit": isID, "branch": "j", "files": isPositive, "dirs": isPositive, "symlinks": 3, "bytes": isPositive}},
		}},
	})
}

// browse is a repository with two commits on os/stable and one on os/beta.
func browseRows() []row {
	return []row{
		{args: a("--repo", "${R}", "init")},
		{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--timestamp", "1700000000", "-s", "release one", "${TAR1}"), save: "C1"},
		{args: a("--repo", "${R}", "commit", "-b", "os/stable", "--timestamp", "1700086400", "-s", "release two", "${TAR2}"), save: "C2"},
		{args: a("--repo", "${R}", "commit", "-b", "os/beta", "--timestamp", "1700086400", "-s", "beta", "${TAR3}"), save: "CB"},
	}
}

func TestBrowse(t *testing.T) {
	runScenarios(t, []scenario{
		{"refs log show", append(browseRows(),
			row{args: a("--repo", "${R}", "refs"), out: []string{"${CB} os/beta\n${C2} os/stable\n"}},
			row{args: a("--repo", "${R}", "refs", "--json"), json: map[string]any{
				"": hasLen(2), "0/name": "os/beta", "0/commit": "${CB}", "1/name": "os/stable", "1/commit": "${C2}"}},
			row{args: a("--repo", "${R}", "log", "os/stable"), out: []string{
				"commit ${C2}\nparent ${C1}\ndate   2023-11-15T22:13:20Z\nrelease 2\n",
				"    release two\n\ncommit ${C1}\ndate   2023-11-14T22:13:20Z\nrelease 1\n", "    release one\n"}},
			row{args: a("--repo", "${R}", "log", "-n", "1", "os/stable"), out: []string{"commit ${C2}"}, notOut: []string{"commit ${C1}"}},
			row{args: a("--repo", "${R}", "log", "--json", "os/stable"), json: map[string]any{
				"": hasLen(2), "0/id": "${C2}", "0/parent": "${C1}", "0/subject": "release two",
				"1/id": "${C1}", "1/parent": isNull, "1/metadata/arbor.release": 1}},
			row{args: a("--repo", "${R}", "log", "--json", "--max-count", "1", "os/stable"), json: map[string]any{"": hasLen(1), "0/id": "${C2}"}},
			row{args: a("--repo", "${R}", "log", "os/beta"), out: []string{"commit ${CB}"}, notOut: []string{"parent"}},
			row{args: a("--repo", "${R}", "log"), code: exitUsage},
			row{args: a("--repo", "${R}", "show", "os/stable"), out: []string{
				"commit ${C2}\n", "parent ${C1}\n", "    release two\n", "\ntree ", "\nmeta "}},
			row{args: a("--repo", "${R}", "show", "--json", "os/stable"), json: map[string]any{
				"id": "${C2}", "tree": isID, "meta": isID, "parent": "${C1}", "timestamp": 1700086400,
				"subject": "release two", "body": "", "metadata/arbor.release": 2}},
			row{args: a("--repo", "${R}", "show"), code: exitUsage},
		)},
		{"naming", append(browseRows(),
			row{args: a("--repo", "${R}", "show", "--json", "os/stable"), json: map[string]any{"id": "${C2}"}},
			row{args: a("--repo", "${R}", "show", "--json", "${C2}"), json: map[string]any{"id": "${C2}"}},
			row{args: a("--repo", "${R}", "show", "--json", "${C2_PREFIX}"), json: map[string]any{"id": "${C2}"}},
			row{args: a("--repo", "${R}", "show", "--json", "os/stable^"), json: map[string]any{"id": "${C1}"}},
			row{args: a("--repo", "${R}", "show", "--json", "os/stable~1"), json: map[string]any{"id": "${C1}"}},
			row{args: a("--repo", "${R}", "show", "--json", "os/stable~0"), json: map[string]any{"id": "${C2}"}},
			row{args: a("--repo", "${R}", "show", "--json", "${C2}^"), json: map[string]any{"id": "${C1}"}},
			row{args: a("--repo", "${R}", "show", "--json", "${C2_PREFIX}~1"), json: map[string]any{"id": "${C1}"}},
			row{args: a("--repo", "${R}", "show", "--json", "${C1_PREFIX}"), json: map[string]any{"id": "${C1}"}},
			row{args: a("--repo", "${R}", "log", "--json", "os/stable^"), json: map[string]any{"": hasLen(1), "0/id": "${C1}"}},
			row{args: a("--repo", "${R}", "show", "nope"), code: exitNotFound, err: []string{`arbor: ref not found: "nope"`}},
			row{args: a("--repo", "${R}", "show", "os/nope^"), code: exitNotFound},
			row{args: a("--repo", "${R}", "show", "${ZERO}"), code: exitNotFound, err: []string{"not found"}},
			row{args: a("--repo", "${R}", "show", "abc"), code: exitNotFound}, // too short to be a prefix
			// Past the first commit. (Today exit 1; not-found would be 3.)
			row{args: a("--repo", "${R}", "show", "os/stable~2"), code: anyFailure, err: []string{"has no parent"}},
			row{args: a("--repo", "${R}", "show", "os/stable~x"), code: anyFailure, err: []string{"NAME~N"}},
		)},
		{"ls cat", append(browseRows(),
			row{args: a("--repo", "${R}", "ls", "os/stable"), out: []string{"/bin\n", "/etc/\n", "/tmp/\n", "/usr/\n", "/var/\n"},
				notOut: []string{"/etc/hostname"}},
			row{args: a("--repo", "${R}", "ls", "os/stable", "/"), out: []string{"/bin\n", "/etc/\n"}},
			row{args: a("--repo", "${R}", "ls", "os/stable", "/etc"), out: []string{"/etc/hostname\n", "/etc/localtime\n", "/etc/os-release\n", "/etc/shadow\n"}},
			row{args: a("--repo", "${R}", "ls", "os/stable", "etc/"), out: []string{"/etc/hostname\n"}},
			row{args: a("--repo", "${R}", "ls", "os/stable", "/etc/hostname"), out: []string{"/etc/hostname\n"}},
			row{args: a("--repo", "${R}", "ls", "-l", "os/stable", "/"), out: []string{" /bin -> usr/bin\n", "drwxrwxrwt ", " /tmp\n"}},
			row{args: a("--repo", "${R}", "ls", "-l", "os/stable", "/usr/bin"), out: []string{
				"-rwxr-xr-x     0     0         32 /usr/bin/hello\n", "-rwsr-xr-x     0     0         13 /usr/bin/su-demo\n"}},
			row{args: a("--repo", "${R}", "ls", "-R", "os/stable"), out: []string{
				"/usr/lib/modules/6.1.0-arbor-demo/vmlinuz\n", "/usr/share/doc/arbor-demo/README\n", "/var/empty/\n"}},
			row{args: a("--repo", "${R}", "ls", "-R", "-l", "os/stable", "/usr/lib"), out: []string{" /usr/lib/libdemo.so.1 -> libdemo.so.1.0\n", "     614400 /usr/lib/libdemo.so.1.0\n"}},
			row{args: a("--repo", "${R}", "ls", "--json", "os/stable", "/etc"), json: map[string]any{
				"": hasLen(4), "0/path": "/etc/hostname", "0/type": "file", "0/mode": "100644", "0/size": 7, "0/id": isID,
				"1/path": "/etc/localtime", "1/type": "symlink", "1/target": "/usr/share/zoneinfo/Etc/UTC",
				"3/path": "/etc/shadow", "3/gid": 42, "3/mode": "100640"}},
			row{args: a("--repo", "${R}", "ls", "--json", "os/stable", "/usr/bin/su-demo"), json: map[string]any{
				"": hasLen(1), "0/mode": "104755", "0/xattrs": []string{"user.arbor.demo"}}},
			row{args: a("--repo", "${R}", "ls", "--json", "os/stable", "/var/empty"), json: map[string]any{"": hasLen(0)}},
			row{args: a("--repo", "${R}", "ls", "os/stable", "/nope"), code: exitNotFound, err: []string{"no such path"}},
			row{args: a("--repo", "${R}", "ls", "os/stable", "/etc/hostname/x"), code: exitNotFound},
			row{args: a("--repo", "${R}", "ls", "nope"), code: exitNotFound},
			row{args: a("--repo", "${R}", "cat", "os/stable", "/etc/os-release"), out: []string{"VERSION_ID=2\n"}},
			row{args: a("--repo", "${R}", "cat", "os/stable^", "/etc/os-release"), out: []string{"VERSION_ID=1\n"}},
			row{args: a("--repo", "${R}", "cat", "os/stable", "/usr/lib/libdemo.so.1.0"), check: func(t *testing.T, _ vars, stdout []byte) {
				if want := sampleFile(t, 2, "usr/lib/libdemo.so.1.0"); !bytes.Equal(stdout, want) {
					t.Errorf("cat gave %d bytes that differ from the committed file's %d", len(stdout), len(want))
				}
			}},
			row{args: a("--repo", "${R}", "cat", "os/stable", "/usr/bin/hello-again"), out: []string{"echo hello from arbor\n"}},
			row{args: a("--repo", "${R}", "cat", "os/stable", "/etc"), code: exitError, err: []string{"/etc is a directory"}},
			row{args: a("--repo", "${R}", "cat", "os/stable", "/bin"), code: exitError, err: []string{"/bin is a symlink to usr/bin"}},
			row{args: a("--repo", "${R}", "cat", "os/stable", "/nope"), code: exitNotFound},
			row{args: a("--repo", "${R}", "cat", "os/stable"), code: exitUsage},
		)},
		{"diff", []row{
			{args: a("--repo", "${R}", "init")},
			{args: a("--repo", "${R}", "commit", "-b", "d", "${DIR1}")},
			{args: a("--repo", "${R}", "commit", "-b", "d", "${DIR2}")},
			{args: a("--repo", "${R}", "diff", "d^", "d"), out: []string{"M /a.txt\nA /d.txt\nM /link\nD /sub\n"}, notOut: []string{"b.txt", "c.txt"}},
			{args: a("--repo", "${R}", "diff", "d", "d^"), out: []string{"M /a.txt\nD /d.txt\nM /link\nA /sub\n"}},
			{args: a("--repo", "${R}", "diff", "d", "d"), out: nil, check: func(t *testing.T, _ vars, stdout []byte) {
				if len(stdout) != 0 {
					t.Errorf("diff of a commit with itself printed %q", stdout)
				}
			}},
			{args: a("--repo", "${R}", "diff", "--stat", "d^", "d"), out: []string{"1 added, 1 removed, 2 modified; file content +13 bytes"}},
			{args: a("--repo", "${R}", "diff", "--json", "d^", "d"), json: map[string]any{
				"": hasLen(4), "0/type": "modified", "0/path": "/a.txt", "1/type": "added", "1/path": "/d.txt",
				"3/type": "removed", "3/path": "/sub"}},
			{args: a("--repo", "${R}", "diff", "--json", "--stat", "d^", "d"), json: map[string]any{
				"added": 1, "removed": 1, "modified": 2, "size_delta": 13}},
			{args: a("--repo", "${R}", "diff", "--json", "d", "d"), json: map[string]any{"": hasLen(0)}},
			{args: a("--repo", "${R}", "diff", "nope", "d"), code: exitNotFound},
			{args: a("--repo", "${R}", "diff", "d"), code: exitUsage},
		}},
	})
}

func TestCheckout(t *testing.T) {
	runScenarios(t, []scenario{
		{"archive", append(browseRows(),
			row{args: a("--repo", "${R}", "checkout", "os/stable", "${T}/co"), err: []string{"checked out ${C2_PREFIX}", "into ${T}/co"},
				check: func(t *testing.T, v vars, _ []byte) {
					co := v["T"] + "/co"
					if b, err := os.ReadFile(co + "/etc/os-release"); err != nil || !strings.Contains(string(b), "VERSION_ID=2") {
						t.Errorf("etc/os-release: %q, %v", b, err)
					}
					if b, err := os.ReadFile(co + "/usr/lib/libdemo.so.1.0"); err != nil || !bytes.Equal(b, sampleFile(t, 2, "usr/lib/libdemo.so.1.0")) {
						t.Errorf("usr/lib/libdemo.so.1.0 differs from the committed file (%v)", err)
					}
					if l, err := os.Readlink(co + "/bin"); err != nil || l != "usr/bin" {
						t.Errorf("bin -> %q, %v", l, err)
					}
					if fi, err := os.Lstat(co + "/usr/bin/su-demo"); err != nil || fi.Mode()&os.ModeSetuid == 0 || fi.ModTime().Unix() != 0 {
						t.Errorf("usr/bin/su-demo: %v (want setuid, mtime 0), %v", fi.Mode(), err)
					}
					if fi, err := os.Lstat(co + "/tmp"); err != nil || fi.Mode()&os.ModeSticky == 0 {
						t.Errorf("tmp: %v (want sticky), %v", fi.Mode(), err)
					}
				}},
			row{args: a("--repo", "${R}", "checkout", "os/stable", "${T}/co"), code: exitError,
				err: []string{"not empty", "choose a new directory"}},
			row{before: func(t *testing.T, v vars) {
				if err := os.Mkdir(v["T"]+"/empty", 0o755); err != nil {
					t.Fatal(err)
				}
			}, args: a("--repo", "${R}", "checkout", "os/stable^", "${T}/empty")},
			row{args: a("--repo", "${R}", "checkout", "nope", "${T}/co2"), code: exitNotFound},
			row{args: a("--repo", "${R}", "checkout", "os/stable"), code: exitUsage},
		)},
		{"bare", []row{
			{args: a("--repo", "${R}", "init", "--mode", "bare")},
			{rootOnly: true, args: a("--repo", "${R}", "commit", "-b", "os/stable", "${TAR1}"), check: commitLine},
			{args: a("--repo", "${R}", "checkout", "os/stable", "${T}/co"), err: []string{" hard-linked, 0 copied"},
				check: func(t *testing.T, v vars, _ []byte) {
					var st syscall.Stat_t
					if err := syscall.Stat(v["T"]+"/co/etc/hostname", &st); err != nil || st.Nlink < 2 {
						t.Errorf("etc/hostname: %d links, want a hard link into the repository (%v)", st.Nlink, err)
					}
				}},
			{args: a("--repo", "${R}", "checkout", "--copy", "os/stable", "${T}/co2"), err: []string{"(0 hard-linked, 10 copied"}},
			{args: a("--repo", "${R}", "fsck"), err: []string{"0 problems"}},
		}},
	})
}

func TestFsck(t *testing.T) {
	runScenarios(t, []scenario{
		{"archive", append(browseRows(),
			row{args: a("--repo", "${R}", "fsck"), err: []string{"refs: 0 problems\n"}},
			row{args: a("--repo", "${R}", "fsck", "--json"), json: map[string]any{"objects": isPositive, "commits_checked": 2}},
			row{args: a("--repo", "${R}", "show", "--json", "os/stable"), saveJSON: map[string]string{"TREE": "tree"}},
			row{args: a("--repo", "${R}", "ls", "--json", "os/stable", "/etc/hostname"), saveJSON: map[string]string{"FILE": "0/id"}},
			row{before: func(t *testing.T, v vars) {
				flipByte(t, objectFile(t, v["R"], v["TREE"], ".dirtree"), 3)
			}, args: a("--repo", "${R}", "fsck"), code: exitDamage,
				out: []string{"dirtree ${TREE}", "hash mismatch"}, err: []string{"arbor: fsck found 1 problems in ${R}"}},
			row{args: a("--repo", "${R}", "fsck", "--json"), code: exitDamage, json: map[string]any{
				"problems": hasLen(1), "problems/0/id": "${TREE}"}},
			// Reading through the damaged tree fails as damage too.
			row{args: a("--repo", "${R}", "ls", "os/stable"), code: exitDamage},
			row{args: a("--repo", "${R}", "cat", "os/stable^", "/etc/hostname"), out: []string{"device\n"}},
			row{before: func(t *testing.T, v vars) {
				flipByte(t, objectFile(t, v["R"], v["FILE"], ".file"), 5)
			}, args: a("--repo", "${R}", "fsck"), code: exitDamage, out: []string{"dirtree ${TREE}", "file ${FILE}"},
				err: []string{"fsck found 2 problems"}},
		)},
		{"bare", []row{
			{args: a("--repo", "${R}", "init", "--mode", "bare")},
			{rootOnly: true, args: a("--repo", "${R}", "commit", "-b", "os/stable", "${TAR1}")},
			{args: a("--repo", "${R}", "fsck"), err: []string{"0 problems"}},
			{args: a("--repo", "${R}", "ls", "--json", "os/stable", "/usr/lib/libdemo.so.1.0"), saveJSON: map[string]string{"FILE": "0/id"}},
			{before: func(t *testing.T, v vars) {
				flipByte(t, objectFile(t, v["R"], v["FILE"], ".content"), 1000)
			}, args: a("--repo", "${R}", "fsck"), code: exitDamage, out: []string{"${FILE}"}},
		}},
	})
}

func TestPrune(t *testing.T) {
	runScenarios(t, []scenario{{"prune", []row{
		{args: a("--repo", "${R}", "init")},
		// os/stable: two commits made now; old: two commits from 2023.
		{args: a("--repo", "${R}", "commit", "-b", "os/stable", "${TAR1}"), save: "S1"},
		{args: a("--repo", "${R}", "commit", "-b", "os/stable", "${TAR2}"), save: "S2"},
		{args: a("--repo", "${R}", "commit", "-b", "old", "--timestamp", "1700000000", "${TAR3}"), save: "O1"},
		{args: a("--repo", "${R}", "commit", "-b", "old", "--timestamp", "1700086400", "${TAR4}"), save: "O2"},
		{args: a("--repo", "${R}", "prune"), out: []string{"removed 0 objects, 0 B freed; "}},
		{args: a("--repo", "${R}", "prune", "--json"), json: map[string]any{"objects_removed": 0, "bytes_freed": 0, "objects_kept": isPositive}},
		{args: a("--repo", "${R}", "prune", "--dry-run", "--depth", "0"), out: []string{"would remove "}, notOut: []string{"would remove 0 "}},
		{args: a("--repo", "${R}", "prune", "--dry-run", "--depth", "0", "--json"), json: map[string]any{"objects_removed": isPositive, "bytes_freed": isPositive}},
		{args: a("--repo", "${R}", "show", "${S1}"), out: []string{"commit ${S1}"}},
		{args: a("--repo", "${R}", "show", "${O1}"), out: []string{"commit ${O1}"}},
		// Young history stays; old history beyond depth 0 goes.
		{args: a("--repo", "${R}", "prune", "--depth", "0", "--keep-younger-than", "30d"), out: []string{"removed "}, notOut: []string{"removed 0 "}},
		{args: a("--repo", "${R}", "show", "os/stable^"), out: []string{"commit ${S1}"}},
		{args: a("--repo", "${R}", "show", "${O1}"), code: exitNotFound},
		{args: a("--repo", "${R}", "show", "old"), out: []string{"commit ${O2}"}},
		{args: a("--repo", "${R}", "log", "old"), out: []string{"(history continues at ${O1_PREFIX}"}},
		{args: a("--repo", "${R}", "prune", "--depth", "0", "--keep-younger-than", "12h", "--json"), json: map[string]any{"objects_removed": 0}},
		{args: a("--repo", "${R}", "prune", "--depth", "0", "--json"), json: map[string]any{"objects_removed": isPositive}},
		{args: a("--repo", "${R}", "show", "os/stable^"), code: exitNotFound},
		{args: a("--repo", "${R}", "cat", "os/stable", "/etc/os-release"), out: []string{"VERSION_ID=2"}},
		{args: a("--repo", "${R}", "cat", "old", "/etc/os-release"), out: []string{"VERSION_ID=4"}},
		{args: a("--repo", "${R}", "fsck"), err: []string{"0 problems"}},
		{args: a("--repo", "${R}", "prune", "--keep-younger-than", "3x"), code: exitUsage, err: []string{`--keep-younger-than "3x"`}},
		{args: a("--repo", "${R}", "prune", "--depth", "one"), code: exitUsage},
		{args: a("--repo", "${R}", "prune", "extra"), code: exitUsage},
	}}})
}

func TestUsage(t *testing.T) {
	runScenarios(t, []scenario{{"usage", []row{
		{args: a(), out: []string{"Usage:", "Available Commands:"}},
		{args: a("frob"), code: exitUsage, err: []string{`arbor: unknown command "frob" for "arbor" (see 'arbor --help')`}},
		{args: a("--frob"), code: exitUsage, err: []string{"unknown flag: --frob"}},
		{args: a("--repo", "${R}", "refs", "--frob"), code: exitUsage, err: []string{"unknown flag: --frob"}},
		{args: a("--repo", "${R}", "log", "-x", "os/stable"), code: exitUsage, err: []string{"unknown shorthand flag"}},
		{args: a("--repo"), code: exitUsage, err: []string{"flag needs an argument"}},
		{args: a("refs"), code: exitUsage, err: []string{"no repository: give --repo PATH or set ARBOR_REPO"}},
		{args: a("--repo", "${T}/nowhere", "refs"), code: exitNotFound, err: []string{"${T}/nowhere: not an arbor repository"}},
		{args: a("--repo", "${T}/nowhere", "fsck"), code: exitNotFound},
		{args: a("--repo", "${T}/nowhere", "prune"), code: exitNotFound},
		{args: a("--repo", "${T}/nowhere", "log", "x"), code: exitNotFound},
	}}})
}

func TestDemo(t *testing.T) {
	runScenarios(t, []scenario{{"demo", []row{
		{args: a("demo", "--dir", "${T}/demo"), out: []string{
			"$ arbor --repo ${T}/demo/repo init --mode archive\n", "$ arbor --repo ${T}/demo/repo fsck\n",
			"M /etc/os-release\n", "demo finished"},
			check: func(t *testing.T, v vars, _ []byte) {
				b, err := os.ReadFile(v["T"] + "/demo/checkout/etc/os-release")
				if err != nil || !strings.Contains(string(b), "VERSION_ID=2") {
					t.Errorf("demo checkout: %q, %v", b, err)
				}
			}},
		// The demo leaves a repository the other commands can use.
		{args: a("--repo", "${T}/demo/repo", "log", "--json", "os/stable"), json: map[string]any{"": hasLen(2), "0/subject": "release 2: security fix"}},
		// Run twice into the same directory it refuses to mix.
		{args: a("demo", "--dir", "${T}/demo"), code: anyFailure},
		// Without --dir it works in a temporary directory and says it removed it.
		{args: a("demo"), out: []string{"demo finished; removed ", "--keep"}},
	}}})
}

// TestNilArgs checks that run reads only the arguments it is given, never
// the process's own (a test binary's are -test.* flags).
func TestNilArgs(t *testing.T) {
	saved := os.Args
	os.Args = []string{saved[0], "frob"}
	defer func() { os.Args = saved }()
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Usage:") {
		t.Errorf("run with no arguments: exit %d, stdout %q, stderr %q; want the help", code, stdout.String(), stderr.String())
	}
}

// TestInterrupted checks that a cancelled command exits 130.
func TestInterrupted(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := arbor(t, "--repo", dir+"/r", "init"); code != 0 {
		t.Fatal(stderr)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	src := filepath.Join(dir, "tree")
	writeFile(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	code := run(ctx, []string{"--repo", dir + "/r", "commit", "-b", "x", src}, &stdout, &stderr)
	if code != exitInterrupted {
		t.Errorf("commit with a cancelled context: exit %d, want %d: %s", code, exitInterrupted, stderr.String())
	}
	if msg := checkStderrFormat(code, stderr.String()); msg != "" {
		t.Error(msg)
	}
	if code, out, _ := arbor(t, "--repo", dir+"/r", "refs"); code != 0 || out != "" {
		t.Errorf("after an interrupted commit: refs exit %d, %q; want no ref", code, out)
	}
}

// TestHelp runs --help of every command: it exits 0, prints to stdout
// only, and mentions every flag the command has.
func TestHelp(t *testing.T) {
	root := newRootCommand(&globals{})
	cmds := []*cobra.Command{root}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			cmds = append(cmds, sub)
			walk(sub)
		}
	}
	walk(root)
	for _, c := range cmds {
		path := strings.Fields(c.CommandPath())[1:]
		for _, form := range [][]string{append(append([]string{}, path...), "--help"), append(append([]string{}, path...), "-h")} {
			code, stdout, stderr := arbor(t, form...)
			if code != 0 || stderr != "" {
				t.Errorf("arbor %s: exit %d, stderr %q", strings.Join(form, " "), code, stderr)
				continue
			}
			if !strings.Contains(stdout, "Usage:") {
				t.Errorf("arbor %s: no usage in %q", strings.Join(form, " "), stdout)
			}
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				want := "--" + f.Name
				if f.Shorthand != "" {
					want = "-" + f.Shorthand + ", --" + f.Name
				}
				if !strings.Contains(stdout, want) {
					t.Errorf("arbor %s does not mention %s", strings.Join(form, " "), want)
				}
			})
		}
		if c != root {
			if code, stdout, _ := arbor(t, append([]string{"help"}, path...)...); code != 0 || !strings.Contains(stdout, "Usage:") {
				t.Errorf("arbor help %s: exit %d", strings.Join(path, " "), code)
			}
		}
	}
	t.Logf("checked --help of %d commands", len(cmds))
	// The exit codes in --help are the ones run returns.
	_, stdout, _ := arbor(t, "--help")
	for _, want := range []string{"0 success", "1 error", "2 bad usage", "3 not found", "4 damage found", "5 repository locked", "130 interrupted"} {
		if !strings.Contains(strings.Join(strings.Fields(stdout), " "), want) {
			t.Errorf("arbor --help does not document exit code %q", want)
		}
	}
}
