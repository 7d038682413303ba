package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-ota/arbor/deploy"
	"github.com/arbor-ota/arbor/deploy/boot"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

const kver = "6.1.0-test"

// osTree is release n of a small OS: a few files that change with each
// release, a large one that never does, /etc defaults, a kernel and
// initramfs (the same in every release unless kernel is set) and /var.
func osTree(n int, extra repotest.Tree) repotest.Tree {
	t := repotest.Tree{
		"etc/hostname":             repotest.File(0o644, "device\n"),
		"etc/os-release":           repotest.File(0o644, fmt.Sprintf("ID=myos\nVERSION_ID=%d\n", n)),
		"etc/app.conf":             repotest.File(0o644, "level=1\n"),
		"etc/shadow":               repotest.File(0o640, "root:*:19000::::::\n").Owned(0, 42),
		"etc/localtime":            repotest.Symlink("/usr/share/zoneinfo/UTC"),
		"usr/bin/app":              repotest.File(0o755, fmt.Sprintf("#!/bin/sh\necho release %d\n", n)),
		"usr/lib/libbig.so":        repotest.File(0o644, strings.Repeat("unchanged library bytes ", 4000)),
		"usr/share/doc/README":     repotest.File(0o644, "docs\n"),
		"usr/lib/modules/" + kver:  repotest.Dir(0o755),
		"var/lib/app/state":        repotest.File(0o644, "initial\n"),
		"usr/lib/arbor/health.d/x": repotest.File(0o755, "#!/bin/sh\nexit 0\n"),
	}
	t["usr/lib/modules/"+kver+"/vmlinuz"] = repotest.File(0o644, "kernel "+kver+"\n")
	t["usr/lib/modules/"+kver+"/initramfs.img"] = repotest.File(0o644, "initramfs "+kver+"\n")
	for k, v := range extra {
		if v.Mode == 0xffffffff {
			delete(t, k)
			continue
		}
		t[k] = v
	}
	return t
}

// gone, in an extra tree, removes the path from osTree.
var gone = repotest.Entry{Mode: 0xffffffff}

// fixture is a sysroot in a temporary directory with a fake running
// system: a kernel command line file and an efivarfs directory.
type fixture struct {
	t                                        *testing.T
	dir, root, bootDir, efivars, cmdline, fw string
	loader                                   string
	now                                      time.Time
	s                                        *deploy.Sysroot
	statfs                                   func(string) (deploy.Space, error) // nil: the real one
}

func newFixture(t *testing.T, loader string, cfg deploy.Config) *fixture {
	t.Helper()
	repotest.RequireRoot(t)
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, root: filepath.Join(dir, "sysroot"), efivars: filepath.Join(dir, "efivars"),
		cmdline: filepath.Join(dir, "cmdline"), loader: loader, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	f.bootDir = filepath.Join(f.root, "boot")
	if cfg.BootDir != "" {
		f.bootDir = cfg.BootDir
	}
	os.MkdirAll(f.efivars, 0o755)
	os.WriteFile(f.cmdline, []byte("console=ttyS0 root=LABEL=sys\n"), 0o644)
	cfg.OS, cfg.Bootloader = "myos", loader
	if loader == "uboot" {
		f.fw = ubootEnv(t, dir)
		cfg.FwEnvConfig = f.fw
	}
	s, err := deploy.InitOS(t.Context(), f.root, cfg, f.options())
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(func() { f.s.Close() })
	return f
}

func (f *fixture) options() deploy.Options {
	return deploy.Options{EFIVars: f.efivars, Cmdline: f.cmdline, Clock: func() time.Time { return f.now },
		Warn: func(m string) { f.t.Logf("warning: %s", m) }, LockTimeout: 5 * time.Second, Statfs: f.statfs}
}

// reopen opens the sysroot again, as the next command would.
func (f *fixture) reopen() {
	f.t.Helper()
	f.s.Close()
	s, err := deploy.Open(f.root, f.options())
	if err != nil {
		f.t.Fatal(err)
	}
	f.s = s
}

func (f *fixture) commit(n int, extra repotest.Tree) objects.ID {
	f.t.Helper()
	return repotest.CommitFS(f.t, f.s.Repo(), "os/stable", osTree(n, extra))
}

func (f *fixture) deploy(id objects.ID, opts deploy.DeployOptions) *deploy.DeployResult {
	f.t.Helper()
	f.now = f.now.Add(time.Minute)
	res, err := f.s.Deploy(f.t.Context(), id, opts)
	if err != nil {
		f.t.Fatalf("deploy %s: %v", id.Short(), err)
	}
	return res
}

func (f *fixture) status() *deploy.Status {
	f.t.Helper()
	st, err := f.s.Status()
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// ubootEnv makes a file-backed redundant environment with a bootcmd.
func ubootEnv(t *testing.T, dir string) string {
	t.Helper()
	env := filepath.Join(dir, "uboot.env")
	const size = 0x4000
	v := &boot.Vars{}
	v.Set("bootcmd", "run arbor_bootcmd")
	v.Set("altbootcmd", "run arbor_altbootcmd")
	b, err := boot.FormatUBootEnvCopy(v, 1, size)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(env, append(b, make([]byte, size)...), 0o644)
	cfg := filepath.Join(dir, "fw_env.config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("%s 0 0x%x\n%s 0x%x 0x%x\n", env, size, env, size, size)), 0o644)
	return cfg
}

// boot plays the boot loader for one boot, as the real one would: choose
// an entry, count a try, tell the system (kernel command line, EFI
// variable). It returns the deployment booted.
func (f *fixture) boot() string {
	f.t.Helper()
	var options string
	switch f.loader {
	case "bls", "none":
		options = f.bootBLS()
	case "grub":
		options = f.bootGrub()
	case "uboot":
		options = f.bootUBoot()
	}
	if err := os.WriteFile(f.cmdline, []byte(options+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	name := strings.TrimPrefix(boot.KernelArg(options, "arbor"), "/arbor/deploy/myos/")
	dir := f.s.DeploymentDir(name)
	if _, err := os.Stat(filepath.Join(dir, "usr/bin/app")); err != nil {
		f.t.Fatalf("booted %s, which is not complete: %v", name, err)
	}
	return name
}

// bootBLS does what systemd-boot 252 does: entries whose tries ran out go
// last, then the highest name first; a counted entry is renamed with one
// try less before it boots, and LoaderBootCountPath names it.
func (f *fixture) bootBLS() string {
	dir := filepath.Join(f.bootDir, "loader", "entries")
	ents, err := os.ReadDir(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	type cand struct {
		name  string
		n     int
		tries *boot.Tries
	}
	var cs []cand
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		_, n, tries, err := boot.ParseEntryName(e.Name())
		if err != nil {
			f.t.Fatalf("boot entry %s: %v", e.Name(), err)
		}
		cs = append(cs, cand{e.Name(), n, tries})
	}
	if len(cs) == 0 {
		f.t.Fatal("no boot entries")
	}
	sort.Slice(cs, func(i, j int) bool {
		bi, bj := cs[i].tries != nil && cs[i].tries.Left == 0, cs[j].tries != nil && cs[j].tries.Left == 0
		if bi != bj {
			return !bi
		}
		return cs[i].n > cs[j].n
	})
	c := cs[0]
	var1 := filepath.Join(f.efivars, "LoaderBootCountPath-"+boot.LoaderVendorGUID)
	os.Remove(var1)
	name := c.name
	if c.tries != nil && f.loader == "bls" {
		if c.tries.Left > 0 {
			name = boot.EntryName("myos", c.n, &boot.Tries{Left: c.tries.Left - 1, Done: c.tries.Done + 1})
			if err := os.Rename(filepath.Join(dir, c.name), filepath.Join(dir, name)); err != nil {
				f.t.Fatal(err)
			}
		}
		os.WriteFile(var1, boot.EncodeEFIString(`\loader\entries\`+name), 0o644)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		f.t.Fatal(err)
	}
	e, err := boot.ParseEntry(name, b)
	if err != nil {
		f.t.Fatal(err)
	}
	f.checkKernel(e.Linux, e.Initrd)
	return e.Options
}

func (f *fixture) checkKernel(linux, initrd string) {
	f.t.Helper()
	for _, p := range []string{linux, initrd} {
		if _, err := os.Stat(filepath.Join(f.bootDir, p)); err != nil {
			f.t.Fatalf("entry's %s: %v", p, err)
		}
	}
}

// bootGrub does what the generated grub.cfg does.
func (f *fixture) bootGrub() string {
	b, err := os.ReadFile(filepath.Join(f.bootDir, "grub", "grub.cfg"))
	if err != nil {
		f.t.Fatal(err)
	}
	es, tries, err := boot.ParseGrubCfg(b)
	if err != nil || len(es) == 0 {
		f.t.Fatalf("grub.cfg: %d entries, %v", len(es), err)
	}
	envPath := filepath.Join(f.bootDir, "grub", "grubenv")
	eb, _ := os.ReadFile(envPath)
	env, err := boot.ParseGrubEnv(eb)
	if err != nil {
		f.t.Fatal(err)
	}
	def := 0
	if trial, _ := env.Get("arbor_trial"); tries > 0 && trial == fmt.Sprintf("%04d", es[0].Number) {
		left, _ := env.Get("arbor_left")
		n, err := strconv.Atoi(left)
		if err == nil && n >= 1 && n <= tries {
			env.Set("arbor_left", strconv.Itoa(n-1))
		} else if len(es) > 1 {
			def = 1
		}
		out, _ := boot.FormatGrubEnv(env)
		os.WriteFile(envPath, out, 0o644)
	}
	f.checkKernel(es[def].Linux, es[def].Initrd)
	return es[def].Options
}

// bootUBoot does what U-Boot's bootcount does.
func (f *fixture) bootUBoot() string {
	u, err := boot.OpenUBootEnv(f.fw)
	if err != nil {
		f.t.Fatal(err)
	}
	v, _, _, err := u.Read()
	if err != nil {
		f.t.Fatal(err)
	}
	prefix := "arbor_"
	if avail, _ := v.Get("upgrade_available"); avail == "1" {
		c, _ := v.Get("bootcount")
		n, _ := strconv.Atoi(c)
		v.Set("bootcount", strconv.Itoa(n+1))
		if err := u.Write(v); err != nil {
			f.t.Fatal(err)
		}
		l, _ := v.Get("bootlimit")
		if limit, _ := strconv.Atoi(l); n+1 > limit {
			prefix = "arbor_alt_"
		}
	}
	k, _ := v.Get(prefix + "kernel")
	i, _ := v.Get(prefix + "initrd")
	f.checkKernel(k, i)
	args, _ := v.Get(prefix + "bootargs")
	return args
}

// writeCheck installs a health check into a deployment's /etc.
func (f *fixture) writeCheck(name, script string) {
	f.t.Helper()
	dir := filepath.Join(f.s.DeploymentDir(name), "etc", "arbor", "health.d")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "50-test"), []byte(script), 0o755); err != nil {
		f.t.Fatal(err)
	}
}

// files lists every path under dirs with its size, type and (for small
// files) content: a snapshot to compare before and after a refused change.
func files(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range dirs {
		filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			v := fi.Mode().String()
			if fi.Mode().IsRegular() && fi.Size() < 1<<16 && !strings.HasSuffix(p, "/lock") {
				b, _ := os.ReadFile(p)
				v += " " + string(b)
			}
			out[p] = v
			return nil
		})
	}
	return out
}

func diffFiles(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, "removed "+k)
		} else if v != w {
			out = append(out, "changed "+k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, "added "+k)
		}
	}
	sort.Strings(out)
	return out
}

// commitMeta commits release 1 of osTree with extra commit metadata.
func commitMeta(t *testing.T, f *fixture, meta map[string]any) objects.ID {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tree")
	os.Mkdir(dir, 0o755)
	repotest.Write(t, dir, osTree(1, nil))
	var id objects.ID
	err := f.s.Repo().Update(t.Context(), func(tx *repo.Tx) error {
		tree, dmeta, _, err := repo.ImportDir(t.Context(), tx, dir, repo.ImportOptions{})
		if err != nil {
			return err
		}
		c := &objects.Commit{Tree: tree, Meta: dmeta, Timestamp: 1700000000, Subject: "meta",
			Metadata: objects.Metadata{objects.MetaRefBinding: []string{"os/stable"}, objects.MetaRelease: int64(99)}}
		for k, v := range meta {
			c.Metadata[k] = v
		}
		id, err = repo.WriteCommit(t.Context(), tx, c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
