package deploy_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/arbor-ota/arbor/deploy"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo/repotest"
)

func TestDeployLayout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bls", deploy.Config{Kargs: []string{"console=ttyS0", "quiet"}})
	c1 := f.commit(1, nil)
	r1 := f.deploy(c1, deploy.DeployOptions{Origin: "os/stable"})
	name1 := r1.Record.Name
	if name1 != c1.String()+".0" {
		t.Fatalf("deployment named %s", name1)
	}
	dep := f.s.DeploymentDir(name1)
	if dep != filepath.Join(f.root, "arbor", "deploy", "myos", name1) {
		t.Fatalf("deployment in %s", dep)
	}
	// /etc defaults in usr/etc (hard links into the repository), /etc a copy.
	for _, p := range []string{"usr/etc/hostname", "etc/hostname", "etc/shadow", "usr/bin/app", "usr/lib/modules/" + kver + "/vmlinuz"} {
		if _, err := os.Lstat(filepath.Join(dep, p)); err != nil {
			t.Errorf("deployment lacks %s: %v", p, err)
		}
	}
	var a, b syscall.Stat_t
	syscall.Stat(filepath.Join(dep, "usr/etc/os-release"), &a)
	syscall.Stat(filepath.Join(dep, "etc/os-release"), &b)
	if a.Ino == b.Ino || a.Nlink < 2 || b.Nlink != 1 {
		t.Errorf("/etc must be copies and usr/etc hard links: usr/etc nlink %d ino %d, etc nlink %d ino %d", a.Nlink, a.Ino, b.Nlink, b.Ino)
	}
	syscall.Stat(filepath.Join(dep, "etc/shadow"), &b)
	if b.Gid != 42 || b.Mode&0o777 != 0o640 {
		t.Errorf("/etc/shadow copied as gid %d mode %o", b.Gid, b.Mode&0o777)
	}
	// The shared /var got the tree's var once.
	if got, _ := os.ReadFile(filepath.Join(f.s.VarDir(), "lib/app/state")); string(got) != "initial\n" {
		t.Errorf("shared /var: %q", got)
	}
	// Kernel in the boot directory, an entry without a counter (nothing to
	// fall back to), the kernel arguments with arbor=.
	kdir := filepath.Join(f.bootDir, r1.Record.BootDir)
	if got, _ := os.ReadFile(filepath.Join(kdir, "vmlinuz")); string(got) != "kernel "+kver+"\n" {
		t.Errorf("kernel: %q", got)
	}
	entry, err := os.ReadFile(filepath.Join(f.bootDir, "loader/entries/arbor-myos-0001.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version 0001\n", "linux /arbor/myos-", "initrd /arbor/myos-",
		"options console=ttyS0 quiet arbor=/arbor/deploy/myos/" + name1 + "\n"} {
		if !strings.Contains(string(entry), want) {
			t.Errorf("entry lacks %q:\n%s", want, entry)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "arbor/state/deployments", name1+".json")); err != nil {
		t.Error(err)
	}
	if id, err := f.s.Repo().Ref("deploy/myos/" + name1); err != nil || id != c1 {
		t.Errorf("ref deploy/myos/%s = %v, %v", name1, id, err)
	}

	// A second release: counted, the same kernel reused, unchanged files shared.
	f.boot()
	c2 := f.commit(2, repotest.Tree{"usr/share/doc/NEWS": repotest.File(0o644, "new in 2\n")})
	r2 := f.deploy(c2, deploy.DeployOptions{Kargs: []string{"quiet=no", "debug"}, KargsDelete: []string{"console"}})
	if r2.Tries != 3 || r2.Entry != "arbor-myos-0002" {
		t.Errorf("second deployment: entry %s, %d tries", r2.Entry, r2.Tries)
	}
	if _, err := os.Stat(filepath.Join(f.bootDir, "loader/entries/arbor-myos-0002+3.conf")); err != nil {
		t.Error(err)
	}
	if !slices.Equal(r2.Record.Kargs, []string{"quiet=no", "debug"}) {
		t.Errorf("kargs %v", r2.Record.Kargs)
	}
	kernels, _ := os.ReadDir(filepath.Join(f.bootDir, "arbor"))
	if len(kernels) != 1 || r2.Record.BootDir != r1.Record.BootDir {
		t.Errorf("the same kernel twice: %v", kernels)
	}
	dep2 := f.s.DeploymentDir(r2.Record.Name)
	shared, copied := 0, []string{}
	filepath.Walk(dep2, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dep2, p)
		if strings.HasPrefix(rel, "etc/") {
			return nil
		}
		var s1, s2 syscall.Stat_t
		if syscall.Stat(filepath.Join(dep, rel), &s1) == nil && syscall.Stat(p, &s2) == nil && s1.Ino == s2.Ino {
			shared++
		} else {
			copied = append(copied, rel)
		}
		return nil
	})
	slices.Sort(copied)
	// Only what changed costs space: the new files and the changed ones.
	if want := []string{"usr/bin/app", "usr/etc/os-release", "usr/share/doc/NEWS"}; !slices.Equal(copied, want) {
		t.Errorf("files not shared with the first deployment: %v, want %v", copied, want)
	}
	if shared < 8 {
		t.Errorf("only %d files shared", shared)
	}
	// The shared /var is not touched again.
	os.WriteFile(filepath.Join(f.s.VarDir(), "lib/app/state"), []byte("device data\n"), 0o644)
	c3 := f.commit(3, repotest.Tree{"var/lib/app/state": repotest.File(0o644, "release 3\n")})
	f.deploy(c3, deploy.DeployOptions{})
	if got, _ := os.ReadFile(filepath.Join(f.s.VarDir(), "lib/app/state")); string(got) != "device data\n" {
		t.Errorf("shared /var changed by a deployment: %q", got)
	}
}

func TestEtcMergeThroughDeploy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "none", deploy.Config{})
	c1 := f.commit(1, repotest.Tree{
		"etc/ssh/sshd_config": repotest.File(0o644, "Port 22\n"),
		"etc/motd":            repotest.File(0o644, "hello\n"),
		"etc/old.conf":        repotest.File(0o644, "old\n"),
		"etc/both.conf":       repotest.File(0o644, "v1\n"),
		"etc/deleted.conf":    repotest.File(0o644, "x\n"),
	})
	r1 := f.deploy(c1, deploy.DeployOptions{})
	f.boot()
	etc := filepath.Join(f.s.DeploymentDir(r1.Record.Name), "etc")
	// The device changes its /etc.
	os.WriteFile(filepath.Join(etc, "motd"), []byte("welcome to device 7\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "both.conf"), []byte("device\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "local.conf"), []byte("mine\n"), 0o600)
	os.Remove(filepath.Join(etc, "deleted.conf"))
	os.Chmod(filepath.Join(etc, "hostname"), 0o600)
	// Release 2 changes defaults.
	c2 := f.commit(2, repotest.Tree{
		"etc/ssh/sshd_config": repotest.File(0o644, "Port 22\nPermitRootLogin no\n"),
		"etc/motd":            repotest.File(0o644, "hello\n"),
		"etc/both.conf":       repotest.File(0o644, "v2\n"),
		"etc/deleted.conf":    repotest.File(0o644, "x, changed\n"),
		"etc/new.conf":        repotest.File(0o644, "new\n"),
	})
	r2 := f.deploy(c2, deploy.DeployOptions{})
	etc2 := filepath.Join(f.s.DeploymentDir(r2.Record.Name), "etc")
	want := map[string]string{
		"ssh/sshd_config": "Port 22\nPermitRootLogin no\n", // new default arrives
		"motd":            "welcome to device 7\n",         // the device's change survives
		"both.conf":       "device\n",                      // conflict: the device's version kept
		"local.conf":      "mine\n",                        // the device's own file
		"new.conf":        "new\n",                         // a new default
		"os-release":      "ID=myos\nVERSION_ID=2\n",
	}
	for p, w := range want {
		if got, err := os.ReadFile(filepath.Join(etc2, p)); err != nil || string(got) != w {
			t.Errorf("/etc/%s = %q, %v; want %q", p, got, err, w)
		}
	}
	for _, p := range []string{"old.conf", "deleted.conf"} {
		if _, err := os.Lstat(filepath.Join(etc2, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("/etc/%s: %v, want it gone", p, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(etc2, "hostname")); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the device's mode change of /etc/hostname was lost: %v", fi)
	}
	if fi, _ := os.Stat(filepath.Join(etc2, "local.conf")); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("/etc/local.conf mode: %v", fi)
	}
	var paths []string
	for _, c := range r2.Record.EtcConflicts {
		paths = append(paths, c.Path)
	}
	if !slices.Equal(paths, []string{"/etc/both.conf", "/etc/deleted.conf"}) {
		t.Errorf("conflicts %+v", r2.Record.EtcConflicts)
	}
	st := f.status()
	if st.Deployments[0].Name != r2.Record.Name || len(st.Deployments[0].Conflict) != 2 {
		t.Errorf("status does not report the conflicts: %+v", st.Deployments[0])
	}
}

func TestTreeWithUsrEtc(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "none", deploy.Config{})
	tree := osTree(1, nil)
	for k, v := range tree {
		if rest, ok := strings.CutPrefix(k, "etc/"); ok {
			tree["usr/etc/"+rest] = v
			delete(tree, k)
		}
	}
	id := repotest.CommitFS(t, f.s.Repo(), "os/stable", tree)
	r := f.deploy(id, deploy.DeployOptions{})
	if got, _ := os.ReadFile(filepath.Join(f.s.DeploymentDir(r.Record.Name), "etc/os-release")); !strings.Contains(string(got), "VERSION_ID=1") {
		t.Errorf("/etc from usr/etc: %q", got)
	}
}

func TestRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bls", deploy.Config{HWCompat: "board-a"})
	good := f.commit(1, nil)
	f.deploy(good, deploy.DeployOptions{})
	f.boot()
	noKernel := f.commit(2, repotest.Tree{"usr/lib/modules/" + kver + "/vmlinuz": gone})
	noInitrd := f.commit(3, repotest.Tree{"usr/lib/modules/" + kver + "/initramfs.img": gone})
	bothEtc := f.commit(4, repotest.Tree{"usr/etc/x": repotest.File(0o644, "x\n")})
	f2 := f.commit(5, nil)
	before := files(t, f.root, f.bootDir)
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"no kernel", func() error { _, err := f.s.Deploy(t.Context(), noKernel, deploy.DeployOptions{}); return err }, deploy.ErrNoKernel},
		{"no initramfs", func() error { _, err := f.s.Deploy(t.Context(), noInitrd, deploy.DeployOptions{}); return err }, deploy.ErrNoKernel},
		{"etc twice", func() error { _, err := f.s.Deploy(t.Context(), bothEtc, deploy.DeployOptions{}); return err }, deploy.ErrEtcLayout},
		{"bad karg", func() error {
			_, err := f.s.Deploy(t.Context(), f2, deploy.DeployOptions{Kargs: []string{"arbor=/elsewhere"}})
			return err
		}, nil},
	}
	for _, tc := range cases {
		err := tc.do()
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Hardware: a commit for another board.
	hw := commitWithHW(t, f, "board-b")
	before = files(t, f.root, f.bootDir)
	if _, err := f.s.Deploy(t.Context(), hw, deploy.DeployOptions{}); !errors.Is(err, deploy.ErrHWCompat) {
		t.Errorf("hw-compat: %v", err)
	}
	// Space: the sysroot or the boot directory is full.
	for _, full := range []string{f.root, f.bootDir} {
		f.statfs = func(p string) (deploy.Space, error) {
			if strings.HasPrefix(p, full) && (full != f.root || !strings.HasPrefix(p, f.bootDir)) {
				return deploy.Space{Bytes: 100 << 10, Inodes: 1000}, nil
			}
			return deploy.Space{Bytes: 1 << 40, Inodes: 1 << 20}, nil
		}
		f.reopen()
		// A new kernel needs boot space; the same kernel does not.
		id := f.commit(6, repotest.Tree{"usr/lib/modules/" + kver + "/vmlinuz": repotest.File(0o644, strings.Repeat("k", 200<<10))})
		before = files(t, f.root, f.bootDir)
		if _, err := f.s.Deploy(t.Context(), id, deploy.DeployOptions{}); !errors.Is(err, deploy.ErrNoSpace) {
			t.Errorf("%s full: %v", full, err)
		}
		if d := diffFiles(before, files(t, f.root, f.bootDir)); len(d) > 0 {
			t.Errorf("%s full: the refused deploy changed %v", full, d)
		}
	}
	f.statfs = nil
	f.reopen()
	// Not initialised.
	if _, err := deploy.Open(filepath.Join(f.dir, "nothing"), deploy.Options{}); !errors.Is(err, deploy.ErrNotInitialized) {
		t.Errorf("Open of nothing: %v", err)
	}
	if _, err := deploy.InitOS(t.Context(), f.root, deploy.Config{OS: "other"}, deploy.Options{}); !errors.Is(err, deploy.ErrExists) {
		t.Errorf("InitOS twice: %v", err)
	}
	if d := diffFiles(before, files(t, f.root, f.bootDir)); len(d) > 0 {
		t.Errorf("refused changes changed %v", d)
	}
}

func commitWithHW(t *testing.T, f *fixture, hw string) objects.ID {
	t.Helper()
	return commitMeta(t, f, map[string]any{"arbor.hw-compat": []string{hw}})
}

func TestHealthBlessAndFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bls", deploy.Config{BootTries: 2})
	r1 := f.deploy(f.commit(1, nil), deploy.DeployOptions{})
	if _, err := f.s.Health(t.Context(), deploy.HealthOptions{}); !errors.Is(err, deploy.ErrNotBooted) {
		t.Fatalf("health before booting a deployment: %v", err)
	}
	if got := f.boot(); got != r1.Record.Name {
		t.Fatalf("booted %s", got)
	}
	res, err := f.s.Health(t.Context(), deploy.HealthOptions{})
	if err != nil || !res.OK || res.OnTrial || res.Blessed || len(res.Checks) != 1 {
		t.Fatalf("health of an uncounted deployment: %+v, %v", res, err)
	}
	// A failing check of the device's replaces nothing; both run.
	f.writeCheck(r1.Record.Name, "#!/bin/sh\necho broken; exit 3\n")
	res, err = f.s.Health(t.Context(), deploy.HealthOptions{})
	if !errors.Is(err, deploy.ErrHealthFailed) || res.Reboot || len(res.Checks) != 2 {
		t.Fatalf("a failing check on a blessed entry: %+v, %v", res, err)
	}
	if res.Checks[0].Output != "broken\n" || res.Checks[0].OK {
		t.Errorf("check result %+v", res.Checks[0])
	}
	// A check that hangs is killed at the timeout.
	f.writeCheck(r1.Record.Name, "#!/bin/sh\nsleep 30\n")
	res, err = f.s.Health(t.Context(), deploy.HealthOptions{Timeout: 200e6})
	if !errors.Is(err, deploy.ErrHealthFailed) || !strings.Contains(res.Checks[0].Error, "timed out") || res.Checks[0].Duration > 5e9 {
		t.Fatalf("hanging check: %+v, %v", res, err)
	}
	// Disabled (not executable) checks do not run.
	os.Chmod(filepath.Join(f.s.DeploymentDir(r1.Record.Name), "etc/arbor/health.d/50-test"), 0o644)
	if res, err = f.s.Health(t.Context(), deploy.HealthOptions{}); err != nil || len(res.Checks) != 1 {
		t.Fatalf("with a disabled check: %+v, %v", res, err)
	}
}

func TestPinUndeployRollbackCleanup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bls", deploy.Config{})
	r1 := f.deploy(f.commit(1, nil), deploy.DeployOptions{})
	f.boot()
	r2 := f.deploy(f.commit(2, nil), deploy.DeployOptions{})
	// Rollback while r2 is pending: r1 (booted) becomes the next boot again.
	rb, err := f.s.Rollback(t.Context())
	if err != nil || rb.To != r1.Record.Name || rb.From != r2.Record.Name {
		t.Fatalf("rollback: %+v, %v", rb, err)
	}
	st := f.status()
	if st.Deployments[0].Name != r1.Record.Name || st.Deployments[0].State != "booted" || st.Deployments[1].Name != r2.Record.Name {
		t.Fatalf("after rollback: %+v", st.Deployments)
	}
	if got := f.boot(); got != r1.Record.Name {
		t.Fatalf("booted %s after rollback", got)
	}
	// Pinned deployments survive later deploys.
	if _, err := f.s.Pin(t.Context(), "1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Undeploy(t.Context(), "1"); !errors.Is(err, deploy.ErrPinned) {
		t.Fatalf("undeploy of a pinned deployment: %v", err)
	}
	r3 := f.deploy(f.commit(3, nil), deploy.DeployOptions{})
	f.boot()
	r4 := f.deploy(f.commit(4, nil), deploy.DeployOptions{})
	var names []string
	for _, d := range f.status().Deployments {
		names = append(names, d.Name)
	}
	// r4 new, r3 booted and previous, r2 pinned; r1 removed.
	if !slices.Equal(names, []string{r4.Record.Name, r3.Record.Name, r2.Record.Name}) {
		t.Fatalf("deployments %v", names)
	}
	if _, err := os.Stat(f.s.DeploymentDir(r1.Record.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("r1's directory is still there: %v", err)
	}
	if _, err := f.s.Repo().Ref("deploy/myos/" + r1.Record.Name); err == nil {
		t.Errorf("r1's ref is still there")
	}
	if _, err := f.s.Undeploy(t.Context(), r3.Record.Name[:12]); !errors.Is(err, deploy.ErrBooted) {
		t.Errorf("undeploy of the booted deployment: %v", err)
	}
	if _, err := f.s.Undeploy(t.Context(), "7"); !errors.Is(err, deploy.ErrNoDeployment) {
		t.Errorf("undeploy 7: %v", err)
	}
	if _, err := f.s.Pin(t.Context(), r2.Record.Name, false); err != nil {
		t.Fatal(err)
	}
	if name, err := f.s.Undeploy(t.Context(), "2"); err != nil || name != r2.Record.Name {
		t.Fatalf("undeploy 2: %s, %v", name, err)
	}
	if _, err := os.Stat(f.s.DeploymentDir(r2.Record.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("undeployed directory still there")
	}
	// Cleanup finds nothing more; repository objects of gone commits went.
	cs, err := f.s.Cleanup(t.Context())
	if err != nil || len(cs.Deployments) != 0 || len(cs.Entries) != 0 {
		t.Fatalf("cleanup: %+v, %v", cs, err)
	}
	rep, err := f.s.Repo().Fsck(t.Context())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("fsck after cleanup: %+v, %v", rep, err)
	}
}
