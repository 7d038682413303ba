package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/arbor-ota/arbor/internal/crash"
)

// Where health checks live, relative to a deployment's root: the device's
// own (in /etc, which an administrator may change) and the deployment's
// (shipped in the tree). A check in /etc replaces the tree's check of the
// same name.
const (
	HealthDirEtc = "etc/arbor/health.d"
	HealthDirUsr = "usr/lib/arbor/health.d"
)

// HealthOptions controls a health run.
type HealthOptions struct {
	// Timeout bounds each check (default 2 minutes); a check that runs
	// longer is killed and fails.
	Timeout time.Duration
	// MarkBad uses up a failing entry's tries (instead of leaving them to
	// count down), so that the next boot falls back at once.
	MarkBad bool
}

// CheckResult is one check's outcome.
type CheckResult struct {
	Name     string        `json:"name"`
	Path     string        `json:"path"`
	OK       bool          `json:"ok"`
	Error    string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// HealthResult reports a health run.
type HealthResult struct {
	Deployment string        `json:"deployment"`
	Entry      string        `json:"entry"`
	Checks     []CheckResult `json:"checks"`
	OK         bool          `json:"ok"`
	// OnTrial says the booted entry was counting its tries.
	OnTrial bool `json:"on_trial"`
	// Blessed says this run blessed the entry.
	Blessed bool `json:"blessed"`
	// Reboot says the caller should reboot: the entry on trial failed.
	Reboot bool `json:"reboot"`
	// MarkedBad says the failing entry's tries were used up.
	MarkedBad bool `json:"marked_bad"`
}

// ErrHealthFailed is returned (wrapped) when a check fails.
var ErrHealthFailed = errors.New("health check failed")

// Health runs the booted deployment's health checks: every executable in
// etc/arbor/health.d and usr/lib/arbor/health.d, in name order, each with
// a timeout. When all pass and the booted entry is on trial, it blesses
// the entry (the boot loader stops counting and keeps picking it). When
// one fails and the entry is on trial, the result asks for a reboot
// without blessing, so that the boot loader counts down and in the end
// falls back by itself; an entry not on trial is left as it is and the
// error is returned.
func (s *Sysroot) Health(ctx context.Context, opts HealthOptions) (*HealthResult, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
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
	if v.booted == "" {
		return nil, fmt.Errorf("%w: no arbor=/arbor/deploy/%s/... on the kernel command line (%s)", ErrNotBooted, s.cfg.OS, s.opts.Cmdline)
	}
	be := v.bootedEntry()
	res := &HealthResult{Deployment: v.booted, OK: true}
	if be != nil {
		res.Entry = be.Name
		res.OnTrial = be.Counting()
	}
	checks, err := findChecks(s.DeploymentDir(v.booted))
	if err != nil {
		return nil, err
	}
	for _, c := range checks {
		r := runCheck(ctx, c, opts.Timeout, s.DeploymentDir(v.booted), v.booted)
		res.Checks = append(res.Checks, r)
		if !r.OK {
			res.OK = false
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	crash.Point("health.checked")
	if !res.OK {
		var failed []string
		for _, c := range res.Checks {
			if !c.OK {
				failed = append(failed, c.Name)
			}
		}
		herr := fmt.Errorf("%w: %s", ErrHealthFailed, strings.Join(failed, ", "))
		if !res.OnTrial {
			return res, herr
		}
		res.Reboot = true
		if opts.MarkBad {
			if err := s.boot.MarkBad(*be); err != nil {
				return res, err
			}
			res.MarkedBad = true
		}
		if err := s.record(Event{Kind: "health-failed", Deployment: v.booted, Entry: be.Number, Detail: strings.Join(failed, ", ")}); err != nil {
			return res, err
		}
		return res, herr
	}
	if res.OnTrial {
		if err := s.boot.Bless(*be); err != nil {
			return res, fmt.Errorf("bless %s: %w", be.Name, err)
		}
		crash.Point("health.blessed")
		res.Blessed = true
		if err := s.record(Event{Kind: "blessed", Deployment: v.booted, Entry: be.Number}); err != nil {
			return res, err
		}
	}
	return res, nil
}

type check struct{ name, path string }

// findChecks lists the executables of both health.d directories of a
// deployment, the /etc one replacing the tree's of the same name.
func findChecks(root string) ([]check, error) {
	byName := map[string]string{}
	for _, d := range []string{HealthDirUsr, HealthDirEtc} {
		dir := filepath.Join(root, d)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
				continue
			}
			byName[n] = filepath.Join(dir, n)
		}
	}
	var out []check
	for n, p := range byName {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue // a dangling link, a directory or a disabled (non-executable) check
		}
		out = append(out, check{n, p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func runCheck(ctx context.Context, c check, timeout time.Duration, root, name string) CheckResult {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.path)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "ARBOR_DEPLOYMENT="+name, "ARBOR_DEPLOYMENT_ROOT="+root)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The check and whatever it starts are killed together on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := CheckResult{Name: c.name, Path: c.path, OK: err == nil, Duration: time.Since(start)}
	if err != nil {
		r.Error = err.Error()
		if ctx.Err() == context.DeadlineExceeded {
			r.Error = fmt.Sprintf("timed out after %s", timeout)
		}
	}
	const maxOut = 4 << 10
	o := out.String()
	if len(o) > maxOut {
		o = o[len(o)-maxOut:]
	}
	r.Output = o
	return r
}
