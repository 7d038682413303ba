package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/arbor-ota/arbor/deploy/boot"
	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/internal/crash"
	"github.com/arbor-ota/arbor/repo"
)

// RollbackResult reports a rollback.
type RollbackResult struct {
	From  string `json:"from"`  // the deployment that was the next boot's
	To    string `json:"to"`    // the deployment that is now
	Entry string `json:"entry"` // its new boot entry
}

// Rollback makes the previous deployment the next boot's: when a pending
// deployment waits for a reboot, the booted one (the pending one is
// cancelled but kept); otherwise the first deployment after the default
// that is not bad. The target gets a new entry, numbered above all others
// and not counted (it ran before), then its old entry is removed: at every
// moment the boot directory selects the old default or the target.
func (s *Sysroot) Rollback(ctx context.Context) (*RollbackResult, error) {
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
	if len(v.entries) == 0 {
		return nil, fmt.Errorf("%w: no boot entries", ErrNoRollback)
	}
	def := v.entries[0]
	var target *boot.Entry
	if be := v.bootedEntry(); be != nil && v.entryName(*be) != v.entryName(def) {
		target = be
	} else {
		for i := 1; i < len(v.entries); i++ {
			if !v.entries[i].Bad && v.entryName(v.entries[i]) != v.entryName(def) {
				target = &v.entries[i]
				break
			}
		}
	}
	if target == nil {
		return nil, fmt.Errorf("%w: %s is the only bootable deployment", ErrNoRollback, v.entryName(def))
	}
	old := *target
	number := v.newest().Number + 1
	ne := old
	ne.Number, ne.Tries, ne.Bad, ne.Name = number, nil, false, ""
	if err := s.boot.Add(ne, 0); err != nil {
		return nil, err
	}
	crash.Point("rollback.added")
	if err := s.removeEntryIfPresent(old); err != nil {
		return nil, err
	}
	res := &RollbackResult{From: v.entryName(def), To: v.entryName(old), Entry: fmt.Sprintf("arbor-%s-%04d", s.cfg.OS, number)}
	return res, s.record(Event{Kind: "rollback", Deployment: res.To, From: res.From, Entry: number})
}

// removeEntryIfPresent removes an entry unless the backend dropped it
// already (uboot keeps two).
func (s *Sysroot) removeEntryIfPresent(e boot.Entry) error {
	es, err := s.boot.Entries(s.cfg.OS)
	if err != nil {
		return err
	}
	for _, x := range es {
		if x.Name == e.Name && x.Number == e.Number {
			return s.boot.Remove(x)
		}
	}
	return nil
}

// resolve returns the index-th deployment in boot order, or the one whose
// name (COMMIT.SERIAL, or a unique prefix of it) is given.
func (v *view) resolve(which string) (*boot.Entry, string, error) {
	var n int
	if _, err := fmt.Sscanf(which, "%d", &n); err == nil && fmt.Sprint(n) == which {
		if n < 0 || n >= len(v.entries) {
			return nil, "", fmt.Errorf("%w: index %d (status lists %d)", ErrNoDeployment, n, len(v.entries))
		}
		return &v.entries[n], v.entryName(v.entries[n]), nil
	}
	var found *boot.Entry
	for i := range v.entries {
		if name := v.entryName(v.entries[i]); len(which) >= 4 && strings.HasPrefix(name, which) {
			if found != nil && v.entryName(*found) != name {
				return nil, "", fmt.Errorf("%w: %q names several deployments", ErrNoDeployment, which)
			}
			if found == nil {
				found = &v.entries[i]
			}
		}
	}
	if found == nil {
		return nil, "", fmt.Errorf("%w: %q", ErrNoDeployment, which)
	}
	return found, v.entryName(*found), nil
}

// Undeploy removes a deployment (by index in Status order or name): its
// boot entries, then its files. The booted deployment, a pinned one and
// the last bootable one are refused.
func (s *Sysroot) Undeploy(ctx context.Context, which string) (string, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	v, err := s.load()
	if err != nil {
		return "", err
	}
	if _, err := s.noticeRollback(v); err != nil {
		return "", err
	}
	_, name, err := v.resolve(which)
	if err != nil {
		return "", err
	}
	if name == v.booted && name != "" {
		return "", fmt.Errorf("%w: %s is running; undeploy it after booting another", ErrBooted, name)
	}
	if r := v.records[name]; r != nil && r.Pinned {
		return "", fmt.Errorf("%w: %s; unpin it first (arbor pin --unpin)", ErrPinned, name)
	}
	bootable := 0
	for _, e := range v.entries {
		if v.entryName(e) != name && !e.Bad {
			bootable++
		}
	}
	if bootable == 0 {
		return "", fmt.Errorf("%w: %s is the only bootable deployment", ErrBooted, name)
	}
	// Remove the default entry last, so that the next one takes over only
	// when the others are gone.
	for i := len(v.entries) - 1; i >= 0; i-- {
		if e := v.entries[i]; v.entryName(e) == name {
			if err := s.boot.Remove(e); err != nil {
				return "", err
			}
			crash.Point("undeploy.entry")
		}
	}
	if err := s.record(Event{Kind: "undeployed", Deployment: name}); err != nil {
		return "", err
	}
	_, err = s.cleanup(ctx)
	return name, err
}

// Pin keeps a deployment (and its boot entry) through deploys and
// cleanups; unpin lets them remove it again.
func (s *Sysroot) Pin(ctx context.Context, which string, pin bool) (string, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	v, err := s.load()
	if err != nil {
		return "", err
	}
	_, name, err := v.resolve(which)
	if err != nil {
		return "", err
	}
	r := v.records[name]
	if r == nil {
		return "", fmt.Errorf("%w: %s has no record in %s", ErrNoDeployment, name, s.recordsDir())
	}
	if r.Pinned == pin {
		return name, nil
	}
	r.Pinned = pin
	if err := s.writeRecord(r); err != nil {
		return "", err
	}
	kind := "pinned"
	if !pin {
		kind = "unpinned"
	}
	return name, s.record(Event{Kind: kind, Deployment: name})
}

// CleanupStats reports what a cleanup removed.
type CleanupStats struct {
	Entries     []string        `json:"entries"`     // bad boot entries removed
	Deployments []string        `json:"deployments"` // deployment directories removed
	Kernels     []string        `json:"kernels"`     // kernel directories removed from the boot directory
	Repo        repo.PruneStats `json:"repo"`
}

// Cleanup removes what no boot entry needs: entries whose tries ran out
// (unless booted or pinned), deployments and kernels no entry names,
// leftovers of killed deploys, and repository objects no deployment or
// ref reaches (keeping only what refs point at, no history).
func (s *Sysroot) Cleanup(ctx context.Context) (*CleanupStats, error) {
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
	be := v.bootedEntry()
	var removed []string
	for _, e := range v.entries {
		if !e.Bad || (be != nil && e.Name == be.Name) {
			continue
		}
		if r := v.records[v.entryName(e)]; r != nil && r.Pinned {
			continue
		}
		if err := s.boot.Remove(e); err != nil {
			return nil, err
		}
		crash.Point("cleanup.entry")
		removed = append(removed, e.Name)
	}
	st, err := s.cleanup(ctx)
	if err != nil {
		return nil, err
	}
	st.Entries = removed
	return st, nil
}

// cleanup removes deployments, records, refs and kernels that no boot
// entry names, what killed writers left, and unreachable objects. The
// caller holds the lock and has removed the entries it wanted gone.
func (s *Sysroot) cleanup(ctx context.Context) (*CleanupStats, error) {
	st := &CleanupStats{Entries: []string{}, Deployments: []string{}, Kernels: []string{}}
	if err := s.boot.Clean(); err != nil {
		return nil, err
	}
	v, err := s.load()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	kernels := map[string]bool{}
	for _, e := range v.entries {
		used[v.entryName(e)] = true
		if rel, ok := strings.CutPrefix(e.Linux, "/arbor/"); ok {
			kernels[strings.Split(rel, "/")[0]] = true
		}
	}
	// Pinned deployments stay even without an entry.
	recs, err := os.ReadDir(s.recordsDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, de := range recs {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok {
			continue
		}
		if r, err := s.readRecord(name); err == nil && r != nil && r.Pinned {
			used[name] = true
		}
	}
	// Deployment directories, and staging or removal leftovers.
	ents, err := os.ReadDir(s.osDir())
	if err != nil {
		return nil, err
	}
	for _, de := range ents {
		n := de.Name()
		if n == "var" || used[n] {
			continue
		}
		if _, _, err := ParseName(n); err != nil && !strings.HasPrefix(n, ".") {
			continue // not arbor's
		}
		if err := removeTree(s.osDir(), n); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(n, ".") {
			st.Deployments = append(st.Deployments, n)
		}
	}
	// Records of deployments that are gone.
	for _, de := range recs {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || used[name] {
			continue
		}
		if err := atomicfile.Remove(filepath.Join(s.recordsDir(), de.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	// Refs of deployments that are gone.
	refs, err := s.repo.Refs()
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, r := range refs {
		if name, ok := strings.CutPrefix(r.Name, "deploy/"+s.cfg.OS+"/"); ok && !used[name] {
			stale = append(stale, r.Name)
		}
	}
	if len(stale) > 0 {
		err := s.repo.Update(ctx, func(tx *repo.Tx) error {
			for _, r := range stale {
				if err := tx.DeleteRef(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// Kernels in the boot directory.
	arborDir := filepath.Join(s.BootDir(), "arbor")
	kents, err := os.ReadDir(arborDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, de := range kents {
		n := de.Name()
		if kernels[n] {
			if err := boot.CleanTemp(filepath.Join(arborDir, n)); err != nil {
				return nil, err
			}
			continue
		}
		if !strings.HasPrefix(n, s.cfg.OS+"-") {
			continue
		}
		if err := removeBootTree(arborDir, n); err != nil {
			return nil, err
		}
		crash.Point("cleanup.kernel")
		st.Kernels = append(st.Kernels, n)
	}
	crash.Point("cleanup.prune")
	ps, err := s.repo.Prune(ctx, repo.PruneOptions{HistoryLimit: 1})
	if err != nil {
		return nil, err
	}
	st.Repo = ps
	return st, nil
}

// removeTree removes dir/name: renamed to a hidden name first (so a
// deployment is never seen half-removed under its own name), then removed.
func removeTree(dir, name string) error {
	victim := filepath.Join(dir, name)
	if !strings.HasPrefix(name, ".") {
		hidden := filepath.Join(dir, ".removing-"+name)
		if err := os.Rename(victim, hidden); err != nil {
			return err
		}
		if err := atomicfile.SyncDir(dir); err != nil {
			return err
		}
		victim = hidden
	}
	crash.Point("cleanup.deployment")
	if err := makeWritable(victim); err != nil {
		return err
	}
	return os.RemoveAll(victim)
}

// makeWritable gives every directory under root its owner's write bit, so
// that read-only directories of a tree can be emptied.
func makeWritable(root string) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o700 != 0o700 {
				return os.Chmod(p, fi.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

// removeBootTree removes a kernel directory of the boot directory: its
// files, then the directory (no directory renames on a FAT partition).
func removeBootTree(dir, name string) error {
	victim := filepath.Join(dir, name)
	ents, err := os.ReadDir(victim)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(victim, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(victim); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return boot.SyncDir(dir)
}
