package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/deploy/boot"
	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/internal/crash"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

// DeployOptions controls a deployment. The zero value deploys with the
// sysroot's defaults.
type DeployOptions struct {
	// Origin records what was deployed (remote:ref, ref or ID); upgrade
	// without arguments pulls it again.
	Origin string
	// Kargs set kernel arguments on top of the ones the new deployment
	// inherits from the one it merges /etc from (or the sysroot's
	// defaults): KEY=VALUE replaces an argument with the same key, a bare
	// KEY replaces KEY.
	Kargs []string
	// KargsDelete removes inherited arguments by key.
	KargsDelete []string
	// BootTries overrides the sysroot's boot tries; negative: no counting.
	BootTries int
	// IfChanged returns ErrUnchanged (changing nothing) when the next
	// boot's deployment already runs this commit.
	IfChanged bool
	// Progress, if set, hears about each phase.
	Progress func(phase string)
}

// ErrUnchanged is returned with DeployOptions.IfChanged when there is nothing to do.
var ErrUnchanged = errors.New("commit is already the next boot's deployment")

// DeployResult reports a deployment.
type DeployResult struct {
	Record   *Record        `json:"deployment"`
	Entry    string         `json:"entry"`
	Tries    int            `json:"tries"`
	Checkout checkout.Stats `json:"checkout"`
	// Removed lists the deployments taken out of the boot menu to keep
	// the sysroot small.
	Removed  []string      `json:"removed"`
	Cleanup  *CleanupStats `json:"cleanup"`
	Duration time.Duration `json:"duration_ns"`
}

// Deploy makes commit (which must be complete in the sysroot's repository)
// the next boot's deployment:
//
//  1. checks before writing anything: the commit's hardware IDs, a kernel
//     and initramfs in the tree, free space and inodes on the sysroot and
//     the boot directory;
//  2. checks the tree out with hard links into
//     SYSROOT/arbor/deploy/OS/.staging-*, moves its /etc defaults to usr/etc,
//     merges /etc three ways (mergeEtc), fills the shared /var if it is
//     empty, syncs, and renames it to COMMIT.SERIAL;
//  3. copies the kernel and initramfs into BOOT/arbor/OS-BOOTCSUM/ unless a
//     deployment with the same ones did already;
//  4. writes the deployment's record, then its boot entry (counted with
//     the boot tries), which switches the next boot;
//  5. takes out of the boot menu every entry but the new one, the booted
//     one, the previous default and pinned ones, and removes what no entry
//     needs any more (Cleanup).
//
// A crash at any point leaves the boot directory selecting the old
// deployment or the complete new one; what a killed deploy left behind is
// removed by the next deploy or cleanup.
func (s *Sysroot) Deploy(ctx context.Context, commit objects.ID, opts DeployOptions) (*DeployResult, error) {
	start := time.Now()
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	v, err := s.load()
	if err != nil {
		return nil, err
	}
	if _, err := s.noticeRollback(v); err != nil {
		return nil, err
	}
	if opts.IfChanged && len(v.entries) > 0 {
		if id, _, err := ParseName(v.entryName(v.entries[0])); err == nil && id == commit {
			return nil, fmt.Errorf("%s: %w", commit.Short(), ErrUnchanged)
		}
	}
	progress("check")
	c, ti, err := s.checkCommit(ctx, commit)
	if err != nil {
		return nil, err
	}
	// The deployment whose /etc is merged and whose kernel arguments are inherited.
	var base *Record
	baseName := v.booted
	if baseName == "" && len(v.entries) > 0 {
		baseName = v.entryName(v.entries[0])
	}
	if baseName != "" {
		if base, err = s.readRecord(baseName); err != nil {
			return nil, err
		}
		if _, err := os.Stat(s.DeploymentDir(baseName)); err != nil {
			base, baseName = nil, ""
		}
	}
	kargs := s.cfg.Kargs
	if base != nil {
		kargs = base.Kargs
	}
	kargs, err = editKargs(kargs, opts.Kargs, opts.KargsDelete)
	if err != nil {
		return nil, err
	}
	bootcsum := objects.Sum(append(ti.kernel.linux[:], ti.kernel.initrd[:]...)).String()
	kernelDir := s.cfg.OS + "-" + bootcsum
	if err := s.checkSpace(ti, baseName, kernelDir); err != nil {
		return nil, err
	}
	serial, err := s.nextSerial(commit)
	if err != nil {
		return nil, err
	}
	name := DeploymentName(commit, serial)
	rec := &Record{Name: name, Commit: commit, Serial: serial, Origin: opts.Origin, Version: c.Version(),
		Release: c.Release(), Created: s.opts.Clock().UTC(), Kernel: ti.kernel.version,
		BootDir: "arbor/" + kernelDir, Kargs: kargs, EtcMergedFrom: baseName}

	// The repository keeps what a deployment needs: a ref per deployment.
	if err := s.repo.Update(ctx, func(tx *repo.Tx) error { return tx.SetRef(s.deployRef(name), commit) }); err != nil {
		return nil, err
	}
	progress("checkout")
	stats, conflicts, err := s.stage(ctx, c, ti, name, baseName)
	if err != nil {
		return nil, err
	}
	rec.EtcConflicts = conflicts
	progress("kernel")
	if err := s.installKernel(kernelDir, name, ti.kernel.version); err != nil {
		return nil, err
	}
	if err := s.writeRecord(rec); err != nil {
		return nil, err
	}
	crash.Point("deploy.recorded")

	progress("switch")
	tries := s.cfg.BootTries
	if opts.BootTries != 0 {
		tries = max(opts.BootTries, 0)
	}
	if !slices.ContainsFunc(v.entries, func(e boot.Entry) bool { return !e.Bad }) {
		tries = 0 // nothing to fall back to: counting would only end in booting it anyway
	}
	number := 1
	for _, e := range v.entries {
		number = max(number, e.Number+1)
	}
	title := fmt.Sprintf("%s %s (%s.%d)", s.cfg.OS, displayVersion(c), commit.Short(), serial)
	entry := boot.Entry{OS: s.cfg.OS, Number: number, Title: title,
		Linux:   "/" + rec.BootDir + "/vmlinuz",
		Initrd:  "/" + rec.BootDir + "/initramfs.img",
		Options: strings.Join(append(slices.Clone(kargs), "arbor="+s.KernelArgPath(name)), " ")}
	if err := s.boot.Add(entry, tries); err != nil {
		return nil, fmt.Errorf("write boot entry: %w", err)
	}
	crash.Point("deploy.switched")
	res := &DeployResult{Record: rec, Entry: fmt.Sprintf("arbor-%s-%04d", s.cfg.OS, number), Tries: tries, Checkout: stats}
	// Deployed again, a failed commit is on trial again: its mark goes.
	err = s.updateAgent(func(a *AgentState) {
		a.Events = append(a.Events, Event{Time: s.opts.Clock().UTC(), Kind: "deployed", Deployment: name, Entry: number, Detail: opts.Origin})
		a.Failed = slices.DeleteFunc(a.Failed, func(f Failure) bool { return f.Commit == commit })
	})
	if err != nil {
		return nil, err
	}

	progress("cleanup")
	// Keep the new entry, the booted one, the previous default and pinned ones.
	keep := map[string]bool{}
	if len(v.entries) > 0 {
		keep[v.entries[0].Name] = true
	}
	if be := v.bootedEntry(); be != nil {
		keep[be.Name] = true
	}
	after, err := s.boot.Entries(s.cfg.OS)
	if err != nil {
		return nil, err
	}
	for _, e := range after {
		if e.Number == number {
			keep[e.Name] = true
		}
		if r := v.records[v.entryName(e)]; r != nil && r.Pinned {
			keep[e.Name] = true
		}
	}
	for _, e := range after {
		if keep[e.Name] {
			continue
		}
		if err := s.boot.Remove(e); err != nil {
			return nil, fmt.Errorf("remove boot entry %s: %w", e.Name, err)
		}
		crash.Point("deploy.pruned")
		res.Removed = append(res.Removed, v.entryName(e))
	}
	cs, err := s.cleanup(ctx)
	if err != nil {
		return nil, err
	}
	res.Cleanup = cs
	res.Duration = time.Since(start)
	return res, nil
}

func displayVersion(c *objects.Commit) string {
	if v := c.Version(); v != "" {
		return v
	}
	return fmt.Sprintf("release %d", c.Release())
}

func (s *Sysroot) deployRef(name string) string { return "deploy/" + s.cfg.OS + "/" + name }

// checkCommit reads a commit and refuses one that cannot be deployed here.
func (s *Sysroot) checkCommit(ctx context.Context, commit objects.ID) (*objects.Commit, *treeInfo, error) {
	partial, err := s.repo.PartialCommits()
	if err != nil {
		return nil, nil, err
	}
	if partial[commit] {
		return nil, nil, fmt.Errorf("commit %s is only partly pulled; pull it again first", commit.Short())
	}
	c, err := objects.ReadCommit(ctx, s.repo, commit)
	if err != nil {
		return nil, nil, fmt.Errorf("commit %s: %w", commit.Short(), err)
	}
	if hw := c.HWCompat(); len(hw) > 0 && !slices.Contains(hw, s.cfg.HWCompat) {
		if s.cfg.HWCompat == "" {
			return nil, nil, fmt.Errorf("%w: commit %s is for %v and this sysroot's hardware ID is not set (init-os --hw-compat ID)", ErrHWCompat, commit.Short(), hw)
		}
		return nil, nil, fmt.Errorf("%w: commit %s is for %v, this device is %s", ErrHWCompat, commit.Short(), hw, s.cfg.HWCompat)
	}
	ti, err := inspectTree(ctx, s.repo, c)
	if err != nil {
		return nil, nil, fmt.Errorf("commit %s: %w", commit.Short(), err)
	}
	return c, ti, nil
}

// editKargs applies deletions, then settings, to inherited arguments.
func editKargs(base, set, del []string) ([]string, error) {
	key := func(a string) string { k, _, _ := strings.Cut(a, "="); return k }
	var out []string
	for _, a := range base {
		if !slices.Contains(del, key(a)) {
			out = append(out, a)
		}
	}
	for _, a := range set {
		if err := checkKarg(a); err != nil {
			return nil, err
		}
		i := slices.IndexFunc(out, func(b string) bool { return key(b) == key(a) })
		if i >= 0 {
			out[i] = a
		} else {
			out = append(out, a)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// checkSpace refuses a deployment that does not fit, before anything is written.
func (s *Sysroot) checkSpace(ti *treeInfo, baseName, kernelDir string) error {
	need := ti.dirs*4096 + ti.etcBytes + 1<<20
	inodes := ti.dirs + ti.etcFiles
	if baseName != "" {
		n, files, err := duDir(filepath.Join(s.DeploymentDir(baseName), "etc"))
		if err != nil {
			return err
		}
		need += n
		inodes += files
	}
	if empty, err := isEmptyDir(s.VarDir()); err == nil && empty {
		need += ti.varBytes
		inodes += ti.varFiles
	}
	sp, err := s.opts.Statfs(s.osDir())
	if err != nil {
		return err
	}
	if uint64(need) > sp.Bytes {
		return fmt.Errorf("%w on %s: a deployment needs about %d bytes, %d are free; run 'arbor cleanup' or free some",
			ErrNoSpace, s.path, need, sp.Bytes)
	}
	if sp.Inodes > 0 && uint64(inodes) > sp.Inodes {
		return fmt.Errorf("%w on %s: a deployment needs about %d inodes, %d are free", ErrNoSpace, s.path, inodes, sp.Inodes)
	}
	if _, err := os.Stat(filepath.Join(s.BootDir(), "arbor", kernelDir)); err == nil {
		return nil // the kernel is there already
	}
	sp, err = s.opts.Statfs(s.BootDir())
	if err != nil {
		return err
	}
	bootNeed := ti.kernel.linuxSz + ti.kernel.initrdSz + 64<<10
	if uint64(bootNeed) > sp.Bytes {
		return fmt.Errorf("%w in the boot directory %s: the kernel and initramfs need %d bytes, %d are free; run 'arbor cleanup'",
			ErrNoSpace, s.BootDir(), bootNeed, sp.Bytes)
	}
	return nil
}

// duDir returns the bytes (rounded to blocks) and entries under dir.
func duDir(dir string) (int64, int64, error) {
	var n, files int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		files++
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += roundBlock(fi.Size())
			}
		} else {
			n += 4096
		}
		return nil
	})
	return n, files, err
}

// nextSerial returns the lowest serial above every deployment of commit
// that exists in any form (directory, record, staging leftover).
func (s *Sysroot) nextSerial(commit objects.ID) (int, error) {
	serial := 0
	for _, dir := range []string{s.osDir(), s.recordsDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		for _, e := range ents {
			n := strings.TrimSuffix(e.Name(), ".json")
			if id, sr, err := ParseName(n); err == nil && id == commit {
				serial = max(serial, sr+1)
			}
		}
	}
	return serial, nil
}

// stage checks the tree out and prepares /etc and /var, then moves the
// deployment to its final name.
func (s *Sysroot) stage(ctx context.Context, c *objects.Commit, ti *treeInfo, name, baseName string) (checkout.Stats, []Conflict, error) {
	staging := filepath.Join(s.osDir(), ".staging-"+name)
	if err := os.RemoveAll(staging); err != nil {
		return checkout.Stats{}, nil, err
	}
	stats, err := checkout.Tree(ctx, s.repo, c.Tree, c.Meta, staging, checkout.Options{
		NoOwners: os.Geteuid() != 0,
		Warn:     s.opts.Warn,
	})
	if err != nil {
		return stats, nil, fmt.Errorf("check out %s: %w", c.Tree.Short(), err)
	}
	crash.Point("deploy.checkout")
	// The defaults live in usr/etc (read-only with /usr); /etc is the merge.
	newDefaults := filepath.Join(staging, "usr", "etc")
	if ti.etcDir == "etc" {
		if err := os.MkdirAll(filepath.Join(staging, "usr"), 0o755); err != nil {
			return stats, nil, err
		}
		if err := os.Rename(filepath.Join(staging, "etc"), newDefaults); err != nil {
			return stats, nil, err
		}
	}
	var oldDefaults, device string
	if baseName != "" {
		oldDefaults = filepath.Join(s.DeploymentDir(baseName), "usr", "etc")
		device = filepath.Join(s.DeploymentDir(baseName), "etc")
	}
	etc := filepath.Join(staging, "etc")
	conflicts, err := mergeEtc(oldDefaults, device, newDefaults, etc)
	if err != nil {
		return stats, nil, fmt.Errorf("merge /etc: %w", err)
	}
	if err := copyRootMeta(newDefaults, etc); err != nil {
		return stats, nil, err
	}
	crash.Point("deploy.etc")
	// The shared /var gets the tree's var only while it is empty (first boot).
	if empty, err := isEmptyDir(s.VarDir()); err == nil && empty {
		if _, err := os.Stat(filepath.Join(staging, "var")); err == nil {
			if err := copyTree(filepath.Join(staging, "var"), s.VarDir()); err != nil {
				return stats, nil, fmt.Errorf("fill %s: %w", s.VarDir(), err)
			}
		}
	}
	if err := syncfs(staging); err != nil {
		return stats, nil, err
	}
	final := s.DeploymentDir(name)
	if err := os.Rename(staging, final); err != nil {
		return stats, nil, err
	}
	if err := atomicfile.SyncDir(s.osDir()); err != nil {
		return stats, nil, err
	}
	crash.Point("deploy.staged")
	return stats, conflicts, ctx.Err()
}

// copyRootMeta gives /etc the mode and owner of the defaults' directory.
func copyRootMeta(from, to string) error {
	fi, err := os.Stat(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if err := os.Chown(to, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
		}
	}
	return os.Chmod(to, fi.Mode().Perm())
}

func syncfs(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", path, err)
	}
	return nil
}

// installKernel copies the deployment's kernel and initramfs into
// BOOT/arbor/DIR. Each file is written under a temporary name, synced and
// renamed, so a file that is there is complete; a directory that a killed
// deploy or cleanup left half-filled is completed. (No directory is ever
// renamed on the boot partition: not every FAT driver does that right.)
func (s *Sysroot) installKernel(dir, name, kver string) error {
	final := filepath.Join(s.BootDir(), "arbor", dir)
	if err := boot.Mkdirs(s.BootDir(), "arbor/"+dir); err != nil {
		return err
	}
	src := filepath.Join(s.DeploymentDir(name), modulesDir, kver)
	for _, f := range []string{"vmlinuz", "initramfs.img"} {
		if _, err := os.Stat(filepath.Join(final, f)); err == nil {
			continue
		}
		if err := boot.CopyFile(final, f, filepath.Join(src, f)); err != nil {
			return fmt.Errorf("install kernel: %w", err)
		}
		crash.Point("deploy.kernel")
	}
	return nil
}
