package deploy_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/arbor-ota/arbor/deploy"
	"github.com/arbor-ota/arbor/deploy/boot"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

var (
	buildOnce sync.Once
	arborPath string
	buildErr  error
)

// arborBinary builds cmd/arbor once per test binary.
func arborBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "arbor-deploy-test-")
		if err != nil {
			buildErr = err
			return
		}
		p := filepath.Join(dir, "arbor")
		if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", p, "../cmd/arbor").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ../cmd/arbor: %v\n%s", err, out)
			return
		}
		arborPath = p
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return arborPath
}

func TestMain(m *testing.M) {
	syscall.Umask(0o022)
	code := m.Run()
	if arborPath != "" {
		os.RemoveAll(filepath.Dir(arborPath))
	}
	os.Exit(code)
}

// device is a sysroot on disk with a fake running system, for commands
// run by the arbor binary.
type device struct {
	root, efivars, cmdline string
}

// run runs arbor on the device with extra environment; killed reports
// whether the process died of SIGKILL (a crash point fired).
func (d *device) run(t *testing.T, env []string, args ...string) (out string, killed bool, err error) {
	t.Helper()
	cmd := exec.Command(arborBinary(t), append([]string{"--sysroot", d.root}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARBOR_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "ARBOR_CMDLINE="+d.cmdline, "ARBOR_EFIVARS="+d.efivars, "ARBOR_REBOOT_COMMAND=true")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		return stdout.String(), true, nil
	}
	if err != nil {
		err = fmt.Errorf("arbor %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), false, err
}

// copyDevice copies a device directory tree (with hard links kept) for one run.
func copyDevice(t *testing.T, base *device, baseDir string) (*device, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dev")
	if out, err := exec.Command("cp", "-a", baseDir, dir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	rel := func(p string) string {
		r, _ := filepath.Rel(baseDir, p)
		return filepath.Join(dir, r)
	}
	return &device{root: rel(base.root), efivars: rel(base.efivars), cmdline: rel(base.cmdline)}, dir
}

// nextBoot returns the entry systemd-boot would boot now (without
// counting a try).
func nextBoot(t *testing.T, bootDir string) boot.Entry {
	t.Helper()
	l, _ := boot.Open("bls", boot.Options{Dir: bootDir})
	es, err := l.Entries("myos")
	if err != nil {
		t.Fatalf("boot entries: %v", err)
	}
	if len(es) == 0 {
		t.Fatal("no boot entries: the device cannot boot")
	}
	return es[0]
}

// checkBootable checks that the next boot's entry names one of the
// allowed commits' deployments, complete: every path of the commit's tree
// in the deployment directory (the /etc defaults in usr/etc), /etc
// present, and the entry's kernel and initramfs in the boot directory with
// the tree's bytes. It returns the commit booted.
func checkBootable(t *testing.T, r *repo.Repo, d *device, allowed ...objects.ID) objects.ID {
	t.Helper()
	bootDir := filepath.Join(d.root, "boot")
	e := nextBoot(t, bootDir)
	name := strings.TrimPrefix(e.Deployment(), "/arbor/deploy/myos/")
	id, _, err := deploy.ParseName(name)
	if err != nil {
		t.Fatalf("next boot's entry %s names %q", e.Name, e.Deployment())
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == id
	}
	if !ok {
		t.Fatalf("next boot is %s, neither the old nor the new commit", name)
	}
	dir := filepath.Join(d.root, "arbor", "deploy", "myos", name)
	c, err := objects.ReadCommit(t.Context(), r, id)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(tree objects.ID, p string)
	walk = func(tree objects.ID, p string) {
		dt, err := objects.ReadDirTree(t.Context(), r, tree)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range dt.Entries {
			rel := path.Join(p, ent.Name)
			at := rel
			if rel == "etc" || strings.HasPrefix(rel, "etc/") {
				at = "usr/" + rel
			}
			fi, err := os.Lstat(filepath.Join(dir, at))
			if err != nil {
				t.Fatalf("deployment %s is incomplete: %v", name, err)
			}
			if ent.IsDir() {
				walk(ent.Tree, rel)
				continue
			}
			f, err := objects.ReadFile(t.Context(), r, ent.File)
			if err != nil {
				t.Fatal(err)
			}
			if !f.IsSymlink() && fi.Size() != f.Size() {
				t.Fatalf("deployment %s: /%s has %d bytes, want %d", name, rel, fi.Size(), f.Size())
			}
		}
	}
	walk(c.Tree, "")
	if _, err := os.Stat(filepath.Join(dir, "etc", "os-release")); err != nil {
		t.Fatalf("deployment %s has no /etc: %v", name, err)
	}
	for _, p := range [][2]string{{e.Linux, "vmlinuz"}, {e.Initrd, "initramfs.img"}} {
		got, err := os.ReadFile(filepath.Join(bootDir, p[0]))
		want, _ := os.ReadFile(filepath.Join(dir, "usr/lib/modules", kver, p[1]))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("boot directory's %s for %s: %v (%d bytes, want %d)", p[0], name, err, len(got), len(want))
		}
	}
	return id
}

// leftovers lists what killed commands may leave and cleanup must remove.
func leftovers(t *testing.T, d *device) []string {
	t.Helper()
	var out []string
	filepath.Walk(d.root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		n := fi.Name()
		if strings.HasPrefix(n, ".staging-") || strings.HasPrefix(n, ".removing-") || strings.HasPrefix(n, ".arbor-tmp-") {
			out = append(out, p)
			if fi.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	return out
}

// crashPoints are the named points a deploy passes (repository points
// from setting the deployment's ref and the cleanup's prune).
var crashAll = flag.Bool("crash.all", false, "crash upgrade at every point of its deploy phase too, not only at its pull's")

var crashPoints = []string{
	"tx.ref", "deploy.checkout", "deploy.etc", "deploy.staged", "deploy.kernel",
	"deploy.recorded", "boot.written", "boot.renamed", "deploy.switched", "boot.removed", "deploy.pruned",
	"cleanup.deployment", "cleanup.kernel", "cleanup.prune", "prune.removed", "prune.removed:3",
}

// crashBase makes a device on which release 1 is booted and release 2 is
// in the repository, and release 0 before them still deployed (so that
// the deploy of 2 prunes it): the base of the deploy crash tests.
func crashBase(t *testing.T) (base *device, baseDir string, old, new objects.ID) {
	f := newFixture(t, "bls", deploy.Config{})
	r0 := f.commit(0, repotest.Tree{"usr/lib/modules/" + kver + "/vmlinuz": repotest.File(0o644, "kernel zero\n")})
	f.deploy(r0, deploy.DeployOptions{})
	f.boot()
	old = f.commit(1, nil)
	f.deploy(old, deploy.DeployOptions{})
	f.boot()
	if _, err := f.s.Health(t.Context(), deploy.HealthOptions{}); err != nil {
		t.Fatal(err)
	}
	new = f.commit(2, repotest.Tree{"usr/share/new": repotest.File(0o644, "new file\n"),
		"usr/lib/modules/" + kver + "/vmlinuz": repotest.File(0o644, "kernel two\n")})
	f.s.Close()
	return &device{root: f.root, efivars: f.efivars, cmdline: f.cmdline}, f.dir, old, new
}

// TestCrashDeploy kills 'arbor deploy' at every named point and checks
// that the device boots the old deployment or the complete new one, that
// running deploy again gives the new one, and that nothing is left behind.
func TestCrashDeploy(t *testing.T) {
	t.Parallel()
	arborBinary(t)
	base, baseDir, old, new := crashBase(t)
	for _, point := range crashPoints {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			d, _ := copyDevice(t, base, baseDir)
			_, killed, err := d.run(t, []string{"ARBOR_CRASH_AT=" + point}, "deploy", new.String())
			if err != nil {
				t.Fatal(err)
			}
			if !killed {
				t.Fatalf("deploy did not reach %s", point)
			}
			checkAfterCrash(t, d, []string{"deploy", new.String()}, old, new)
		})
	}
}

// checkAfterCrash checks the device after a killed command, then runs
// the command that recovers and checks the result.
func checkAfterCrash(t *testing.T, d *device, recover []string, old, new objects.ID) {
	t.Helper()
	r, err := repo.Open(filepath.Join(d.root, "arbor", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	checkBootable(t, r, d, old, new)
	r.Close()
	if _, _, err := d.run(t, nil, recover...); err != nil {
		t.Fatal(err)
	}
	r, err = repo.Open(filepath.Join(d.root, "arbor", "repo"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := checkBootable(t, r, d, new); got != new {
		t.Fatalf("after recovery the next boot is %s", got.Short())
	}
	if l := leftovers(t, d); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
	rep, err := r.Fsck(t.Context())
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("fsck: %+v, %v", rep, err)
	}
}

// TestCrashHealth kills 'arbor health' on a deployment on trial at each
// of its points: the entry stays counted or is blessed, and boots either way.
func TestCrashHealth(t *testing.T) {
	t.Parallel()
	arborBinary(t)
	f := newFixture(t, "bls", deploy.Config{})
	f.deploy(f.commit(1, nil), deploy.DeployOptions{})
	f.boot()
	c2 := f.commit(2, nil)
	name := f.deploy(c2, deploy.DeployOptions{}).Record.Name
	f.boot()
	f.s.Close()
	base := &device{root: f.root, efivars: f.efivars, cmdline: f.cmdline}
	for _, point := range []string{"health.checked", "boot.renamed", "health.blessed"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			d, _ := copyDevice(t, base, f.dir)
			if _, killed, err := d.run(t, []string{"ARBOR_CRASH_AT=" + point}, "health"); err != nil || !killed {
				t.Fatalf("health not killed at %s: %v", point, err)
			}
			e := nextBoot(t, filepath.Join(d.root, "boot"))
			if e.Deployment() != "/arbor/deploy/myos/"+name {
				t.Fatalf("next boot %s", e.Deployment())
			}
			if _, _, err := d.run(t, nil, "health"); err != nil {
				t.Fatal(err)
			}
			if e := nextBoot(t, filepath.Join(d.root, "boot")); e.Tries != nil || e.Deployment() != "/arbor/deploy/myos/"+name {
				t.Fatalf("after health: %+v", e)
			}
		})
	}
}

// TestCrashCleanup kills 'arbor cleanup' after a fallback (a bad entry,
// its deployment and kernel to remove, objects to prune) at each point.
func TestCrashCleanup(t *testing.T) {
	t.Parallel()
	arborBinary(t)
	f := newFixture(t, "bls", deploy.Config{BootTries: 1})
	c1 := f.commit(1, nil)
	f.deploy(c1, deploy.DeployOptions{})
	f.boot()
	c2 := f.commit(2, repotest.Tree{"usr/lib/modules/" + kver + "/vmlinuz": repotest.File(0o644, "kernel two\n")})
	f.deploy(c2, deploy.DeployOptions{})
	f.boot() // B, its last try
	f.boot() // the fallback to A
	f.status()
	// Nothing but B's deployment keeps its objects: cleanup prunes them.
	if err := f.s.Repo().Update(t.Context(), func(tx *repo.Tx) error { return tx.DeleteRef("os/stable") }); err != nil {
		t.Fatal(err)
	}
	f.s.Close()
	base := &device{root: f.root, efivars: f.efivars, cmdline: f.cmdline}
	points := []string{"boot.removed", "cleanup.entry", "cleanup.deployment", "cleanup.kernel", "cleanup.prune", "prune.removed", "prune.removed:5"}
	sort.Strings(points)
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			d, _ := copyDevice(t, base, f.dir)
			if _, killed, err := d.run(t, []string{"ARBOR_CRASH_AT=" + point}, "cleanup"); err != nil || !killed {
				t.Fatalf("cleanup not killed at %s: %v", point, err)
			}
			checkAfterCrash(t, d, []string{"cleanup"}, c1, c1)
		})
	}
}

// TestCrashUpgrade kills 'arbor upgrade' (a pull from a file:// site, then
// a deploy) at the points of its pull (the repository transaction) and of
// its deploy (all of them with -crash.all; the deploy phase is the code
// TestCrashDeploy kills at every point), then runs upgrade again.
func TestCrashUpgrade(t *testing.T) {
	t.Parallel()
	repotest.RequireRoot(t)
	arborBinary(t)
	dir := t.TempDir()
	base := &device{root: filepath.Join(dir, "sysroot"), efivars: filepath.Join(dir, "efivars"), cmdline: filepath.Join(dir, "cmdline")}
	os.Mkdir(base.efivars, 0o755)
	os.WriteFile(base.cmdline, []byte("quiet\n"), 0o644)
	build, site, keys := filepath.Join(dir, "build"), filepath.Join(dir, "site"), filepath.Join(dir, "keys")
	must := func(args ...string) string {
		t.Helper()
		out, _, err := base.run(t, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	commit := func(n int, extra repotest.Tree) objects.ID {
		tar := filepath.Join(dir, fmt.Sprintf("r%d.tar", n))
		os.WriteFile(tar, repotest.Tar(t, osTree(n, extra), repotest.Plain), 0o644)
		id, err := objects.ParseID(must("--repo", build, "commit", "-b", "os/stable", "--timestamp", fmt.Sprint(1700000000+n), tar))
		if err != nil {
			t.Fatal(err)
		}
		must("--repo", build, "publish", "--site", site, "--keys", keys)
		return id
	}
	must("--repo", build, "init")
	must("trust", "init", "--keys", keys, "--site", site)
	old := commit(1, nil)
	must("init-os", "myos")
	must("remote", "add", "origin", "file://"+site, "--root", filepath.Join(site, "tuf", "1.root.json"))
	must("upgrade", "origin", "os/stable", "--progress", "none")
	entry := nextBoot(t, filepath.Join(base.root, "boot"))
	os.WriteFile(base.cmdline, []byte(entry.Options+"\n"), 0o644)
	new := commit(2, repotest.Tree{"usr/share/new": repotest.File(0o644, strings.Repeat("new content ", 20000))})
	points := []string{"tx.synced", "tx.rename", "tx.rename:5", "tx.visible", "tx.indexed", "tx.ref:1",
		"deploy.staged", "deploy.switched", "cleanup.prune"}
	if *crashAll {
		points = append(points, crashPoints...)
	}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			d, _ := copyDevice(t, base, dir)
			_, killed, err := d.run(t, []string{"ARBOR_CRASH_AT=" + point}, "upgrade", "origin", "os/stable", "--progress", "none")
			if err != nil {
				t.Fatal(err)
			}
			if !killed {
				t.Fatalf("upgrade did not reach %s", point)
			}
			checkAfterCrash(t, d, []string{"upgrade", "--progress", "none"}, old, new)
		})
	}
}
