package deploy_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/arbor-ota/arbor/deploy"
)

// TestBootCycle runs the life of a device on each boot loader, with the
// boot loader played by the fixture (as systemd-boot, GRUB's generated
// script and U-Boot's bootcount behave): an image with A; B deployed and
// booted, its health check failing until its tries run out and the boot
// loader falls back to A by itself; status on A reporting the rollback
// once; C deployed, healthy, blessed and kept.
func TestBootCycle(t *testing.T) {
	for _, loader := range []string{"bls", "grub", "uboot", "none"} {
		t.Run(loader, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, loader, deploy.Config{BootTries: 2})
			bootCycle(t, f)
		})
	}
}

func bootCycle(t *testing.T, f *fixture) {
	a := f.deploy(f.commit(1, nil), deploy.DeployOptions{Origin: "origin:os/stable"}).Record.Name
	if got := f.boot(); got != a {
		t.Fatalf("first boot: %s", got)
	}
	st := f.status()
	if st.Booted != a || len(st.Deployments) != 1 || st.Deployments[0].State != "booted" || !st.Deployments[0].Blessed {
		t.Fatalf("status on A: %+v", st)
	}

	b := f.deploy(f.commit(2, nil), deploy.DeployOptions{}).Record.Name
	st = f.status()
	if st.Deployments[0].Name != b || st.Deployments[0].State != "pending" || st.Deployments[1].State != "booted" {
		t.Fatalf("status with B pending: %+v", st.Deployments)
	}
	counting := f.loader != "none"
	if counting && (st.Deployments[0].Tries == nil || st.Deployments[0].Tries.Left != 2) {
		t.Fatalf("B is not counted: %+v", st.Deployments[0])
	}
	f.writeCheck(b, "#!/bin/sh\necho B is broken\nexit 1\n")
	booted := []string{}
	for range 4 {
		got := f.boot()
		booted = append(booted, got)
		if got != b {
			break
		}
		res, err := f.s.Health(t.Context(), deploy.HealthOptions{})
		if !errors.Is(err, deploy.ErrHealthFailed) {
			t.Fatalf("health of B: %+v, %v", res, err)
		}
		if res.Reboot != counting || res.Blessed {
			t.Fatalf("health of B on trial: %+v", res)
		}
		if !counting {
			break
		}
	}
	if !counting {
		if !slices.Equal(booted, []string{b}) {
			t.Fatalf("booted %v", booted)
		}
		return // without counting the boot loader never falls back
	}
	if !slices.Equal(booted, []string{b, b, a}) {
		t.Fatalf("boots: %v, want B, B, A", booted)
	}
	st = f.status()
	if st.RolledBackFrom != b || st.Booted != a || st.Last == nil || st.Last.Kind != "rolled-back" || st.Last.From != b {
		t.Fatalf("status after the fallback: %+v", st)
	}
	i := slices.IndexFunc(st.Deployments, func(d deploy.DeploymentStatus) bool { return d.Name == b })
	if i < 0 || st.Deployments[i].State != "bad" || !st.Deployments[i].Failed {
		t.Fatalf("B after the fallback: %+v", st.Deployments)
	}
	if fl, err := f.s.Failure(st.Deployments[i].Commit); err != nil || fl == nil || fl.Deployment != b {
		t.Fatalf("B not recorded as failed: %+v, %v", fl, err)
	}
	// Seen again (another status, another boot of A), it is recorded once.
	f.reopen()
	f.status()
	f.boot()
	f.status()
	n := 0
	for _, e := range readAgent(t, f).Events {
		if e.Kind == "rolled-back" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the rollback is recorded %d times", n)
	}

	// C: healthy, blessed, kept; B, failed, goes out of the boot menu.
	c := f.deploy(f.commit(3, nil), deploy.DeployOptions{}).Record.Name
	if got := f.boot(); got != c {
		t.Fatalf("booted %s, want C", got)
	}
	res, err := f.s.Health(t.Context(), deploy.HealthOptions{})
	if err != nil || !res.Blessed || !res.OnTrial {
		t.Fatalf("health of C: %+v, %v", res, err)
	}
	for range 3 {
		if got := f.boot(); got != c {
			t.Fatalf("blessed C not booted: %s", got)
		}
	}
	st = f.status()
	if st.Deployments[0].Name != c || !st.Deployments[0].Blessed || st.Deployments[1].Name != a || len(st.Deployments) != 2 {
		t.Fatalf("status on C: %+v", st.Deployments)
	}
	if _, err := os.Stat(f.s.DeploymentDir(b)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("B's deployment is still there")
	}
}

func readAgent(t *testing.T, f *fixture) *deploy.AgentState {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, "arbor", "state", "agent.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := deploy.ParseAgentState(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestBootCycleOnFAT runs the bls cycle with the boot directory on a real
// FAT file system, mounted with fusefat (no kernel vfat module is needed):
// FAT has no symlinks, no hard links, no modes, and renames replace. At the
// end fsck.fat finds the file system clean.
func TestBootCycleOnFAT(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"fusefat", "mkfs.vfat", "fsck.vfat", "fusermount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install fusefat dosfstools fuse3)", tool)
		}
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "esp.img"), filepath.Join(dir, "esp")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mkfs.vfat", "-C", "-F", "32", img, "65536").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	if out, err := exec.Command("fusefat", "-o", "rw+", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("fusefat cannot mount: %v\n%s", err, out)
	}
	unmount := func() {
		exec.Command("fusermount", "-u", mnt).Run()
	}
	t.Cleanup(unmount)
	f := newFixture(t, "bls", deploy.Config{BootTries: 2, BootDir: mnt})
	bootCycle(t, f)
	f.s.Close()
	unmount()
	if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.vfat: %v\n%s", err, out)
	}
}
