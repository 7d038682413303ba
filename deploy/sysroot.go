package deploy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/deploy/boot"
	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/repo"
)

// Sentinel errors. The CLI maps them to exit codes.
var (
	ErrNotInitialized = errors.New("sysroot not initialised")
	ErrExists         = errors.New("sysroot already initialised")
	ErrLocked         = errors.New("sysroot is locked by another arbor")
	ErrNoKernel       = errors.New("tree has no kernel")
	ErrHWCompat       = errors.New("commit is not for this hardware")
	ErrNoSpace        = errors.New("not enough free space")
	ErrNotBooted      = errors.New("not booted from an arbor deployment")
	ErrBooted         = errors.New("deployment is the booted one")
	ErrPinned         = errors.New("deployment is pinned")
	ErrNoDeployment   = errors.New("no such deployment")
	ErrNoRollback     = errors.New("no deployment to roll back to")
	ErrEtcLayout      = errors.New("tree has both /etc and /usr/etc")
)

// Config is a sysroot's configuration, written by InitOS into
// SYSROOT/arbor/state/sysroot.json.
type Config struct {
	Format int    `json:"format"`
	OS     string `json:"os"`
	// BootDir is the boot directory: relative to the sysroot when it is
	// inside it, else absolute. Options.BootDir overrides it (a device may
	// mount its boot partition elsewhere than the image builder did).
	BootDir    string `json:"boot_dir"`
	Bootloader string `json:"bootloader"`
	// BootTries is how many boots a new entry gets before the boot loader
	// falls back (default 3).
	BootTries int `json:"boot_tries"`
	// HWCompat is this device's hardware ID: commits that list hardware
	// IDs deploy only if they list it.
	HWCompat string `json:"hw_compat,omitempty"`
	// Kargs are kernel arguments of the first deployment; later ones
	// inherit their predecessor's.
	Kargs []string `json:"kargs,omitempty"`
	// FwEnvConfig is the fw_env.config of the U-Boot environment (uboot).
	FwEnvConfig string `json:"fw_env_config,omitempty"`
}

const configFormat = 1

// DefaultBootTries is how many boots a new entry gets by default.
const DefaultBootTries = 3

// Options are a sysroot's run-time settings; the zero value means a real
// device (efivarfs, /proc/cmdline, the recorded boot directory).
type Options struct {
	// BootDir overrides the boot directory recorded at init-os.
	BootDir string
	// EFIVars is the efivarfs directory (default /sys/firmware/efi/efivars).
	EFIVars string
	// Cmdline is the file holding the running kernel's command line
	// (default /proc/cmdline); it says which deployment is booted.
	Cmdline string
	// Clock returns the time for history records (default time.Now).
	Clock func() time.Time
	// Statfs reports free bytes and inodes of the file system holding a
	// path (default statfs(2)); tests shrink it.
	Statfs func(path string) (Space, error)
	// Warn receives warnings (default: dropped).
	Warn func(msg string)
	// LockTimeout is how long a change waits for another arbor holding
	// the sysroot (default 10 minutes).
	LockTimeout time.Duration
}

// Space is free space on a file system.
type Space struct {
	Bytes  uint64
	Inodes uint64 // 0 when the file system does not count inodes (FAT)
}

// Sysroot is an initialised sysroot: its repository, deployments, state
// and boot directory.
type Sysroot struct {
	path string
	cfg  Config
	opts Options
	repo *repo.Repo
	boot boot.Loader
}

// Paths inside a sysroot.
func repoPath(root string) string  { return filepath.Join(root, "arbor", "repo") }
func statePath(root string) string { return filepath.Join(root, "arbor", "state") }
func configPath(root string) string {
	return filepath.Join(statePath(root), "sysroot.json")
}

// InitOS initialises a sysroot for one OS: SYSROOT/arbor/repo (a bare
// repository), SYSROOT/arbor/deploy/OS/var, SYSROOT/arbor/state, and the
// boot loader's directories in the boot directory. The boot directory
// defaults to SYSROOT/boot.
func InitOS(ctx context.Context, sysroot string, cfg Config, opts Options) (*Sysroot, error) {
	if err := boot.CheckOSName(cfg.OS); err != nil {
		return nil, err
	}
	if cfg.Bootloader == "" {
		cfg.Bootloader = "bls"
	}
	if cfg.BootTries == 0 {
		cfg.BootTries = DefaultBootTries
	}
	if cfg.BootTries < 0 || cfg.BootTries > boot.MaxGrubTries {
		return nil, fmt.Errorf("boot tries %d: want 1 to %d", cfg.BootTries, boot.MaxGrubTries)
	}
	abs, err := filepath.Abs(sysroot)
	if err != nil {
		return nil, err
	}
	bootDir := cfg.BootDir
	if bootDir == "" {
		bootDir = filepath.Join(abs, "boot")
	}
	if bootDir, err = filepath.Abs(bootDir); err != nil {
		return nil, err
	}
	cfg.BootDir = bootDir
	if rel, err := filepath.Rel(abs, bootDir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		cfg.BootDir = rel
	}
	if cfg.FwEnvConfig != "" {
		if cfg.FwEnvConfig, err = filepath.Abs(cfg.FwEnvConfig); err != nil {
			return nil, err
		}
	}
	if cfg.Bootloader == "uboot" && cfg.FwEnvConfig == "" {
		cfg.FwEnvConfig = "/etc/fw_env.config"
	}
	for _, k := range cfg.Kargs {
		if err := checkKarg(k); err != nil {
			return nil, err
		}
	}
	cfg.Format = configFormat
	if b, err := os.ReadFile(configPath(abs)); err == nil {
		var old Config
		if err := decodeStrict(b, &old); err == nil {
			return nil, fmt.Errorf("%s: %w for OS %s; arbor manages one OS per sysroot", abs, ErrExists, old.OS)
		}
		return nil, fmt.Errorf("%s: %w", abs, ErrExists)
	}
	ld, err := boot.Open(cfg.Bootloader, boot.Options{Dir: bootDir, EFIVars: opts.EFIVars, FwEnvConfig: cfg.FwEnvConfig})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(bootDir, 0o755); err != nil {
		return nil, err
	}
	if err := ld.Init(); err != nil {
		return nil, fmt.Errorf("boot loader %s in %s: %w", ld.Name(), bootDir, err)
	}
	if err := boot.Mkdirs(bootDir, "arbor"); err != nil {
		return nil, err
	}
	for _, d := range []string{statePath(abs), filepath.Join(abs, "arbor", "deploy", cfg.OS, "var")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(repoPath(abs), 0o755); err != nil {
		return nil, err
	}
	r, err := repo.Open(repoPath(abs))
	if errors.Is(err, repo.ErrNotRepo) {
		r, err = repo.Init(repoPath(abs), repo.Bare)
	}
	if err != nil {
		return nil, err
	}
	if r.Mode() != repo.Bare {
		r.Close()
		return nil, fmt.Errorf("%s is an %s repository; a sysroot needs a bare one", repoPath(abs), r.Mode())
	}
	r.Close()
	for _, d := range []string{filepath.Join(abs, "arbor", "deploy", cfg.OS), filepath.Join(abs, "arbor", "deploy"), filepath.Join(abs, "arbor"), abs} {
		if err := atomicfile.SyncDir(d); err != nil {
			return nil, err
		}
	}
	// The configuration goes last: a sysroot is initialised once it exists.
	if err := writeJSON(configPath(abs), cfg); err != nil {
		return nil, err
	}
	return Open(abs, opts)
}

// Open opens an initialised sysroot.
func Open(sysroot string, opts Options) (*Sysroot, error) {
	abs, err := filepath.Abs(sysroot)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(configPath(abs))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (initialise it with 'arbor --sysroot %s init-os NAME')", abs, ErrNotInitialized, sysroot)
	}
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", configPath(abs), err)
	}
	s := &Sysroot{path: abs, cfg: cfg, opts: opts}
	if s.opts.Clock == nil {
		s.opts.Clock = time.Now
	}
	if s.opts.Statfs == nil {
		s.opts.Statfs = statfs
	}
	if s.opts.Warn == nil {
		s.opts.Warn = func(string) {}
	}
	if s.opts.Cmdline == "" {
		s.opts.Cmdline = "/proc/cmdline"
	}
	ld, err := boot.Open(cfg.Bootloader, boot.Options{Dir: s.BootDir(), EFIVars: opts.EFIVars, FwEnvConfig: cfg.FwEnvConfig})
	if err != nil {
		return nil, err
	}
	s.boot = ld
	r, err := repo.Open(repoPath(abs))
	if err != nil {
		return nil, err
	}
	s.repo = r
	return s, nil
}

// ParseConfig decodes sysroot.json, refusing unknown fields and values
// arbor would not write.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := decodeStrict(b, &c); err != nil {
		return Config{}, err
	}
	if c.Format != configFormat {
		return Config{}, fmt.Errorf("sysroot format %d is not supported (this arbor reads %d)", c.Format, configFormat)
	}
	if err := boot.CheckOSName(c.OS); err != nil {
		return Config{}, err
	}
	if c.BootDir == "" || c.BootTries < 1 || c.BootTries > boot.MaxGrubTries {
		return Config{}, fmt.Errorf("sysroot.json: bad boot_dir or boot_tries")
	}
	known := false
	for _, n := range boot.Names {
		known = known || n == c.Bootloader
	}
	if !known {
		return Config{}, fmt.Errorf("sysroot.json: %w %q", boot.ErrUnknownLoader, c.Bootloader)
	}
	return c, nil
}

// Close releases the repository.
func (s *Sysroot) Close() error { return s.repo.Close() }

// Path returns the sysroot's directory.
func (s *Sysroot) Path() string { return s.path }

// Config returns the sysroot's configuration.
func (s *Sysroot) Config() Config { return s.cfg }

// Repo returns the sysroot's repository (SYSROOT/arbor/repo).
func (s *Sysroot) Repo() *repo.Repo { return s.repo }

// Loader returns the boot loader backend.
func (s *Sysroot) Loader() boot.Loader { return s.boot }

// BootDir returns the boot directory in use.
func (s *Sysroot) BootDir() string {
	if s.opts.BootDir != "" {
		return s.opts.BootDir
	}
	if filepath.IsAbs(s.cfg.BootDir) {
		return s.cfg.BootDir
	}
	return filepath.Join(s.path, s.cfg.BootDir)
}

func (s *Sysroot) osDir() string { return filepath.Join(s.path, "arbor", "deploy", s.cfg.OS) }

// DeploymentDir returns the directory of a deployment.
func (s *Sysroot) DeploymentDir(name string) string { return filepath.Join(s.osDir(), name) }

// VarDir returns the shared /var of the OS.
func (s *Sysroot) VarDir() string { return filepath.Join(s.osDir(), "var") }

// KernelArgPath returns the value of arbor= for a deployment: its path
// relative to the sysroot's root.
func (s *Sysroot) KernelArgPath(name string) string {
	return "/arbor/deploy/" + s.cfg.OS + "/" + name
}

// lock takes the sysroot's lock (SYSROOT/arbor/state/lock); changes hold it
// for their whole run. The returned function releases it.
func (s *Sysroot) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(statePath(s.path), "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	timeout := s.opts.LockTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(f.Name())
			f.Close()
			return nil, fmt.Errorf("%s: %w (pid %s)", s.path, ErrLocked, strings.TrimSpace(string(holder)))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		f.Truncate(0)
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// tryLock takes the lock only if it is free at once.
func (s *Sysroot) tryLock() (func(), bool) {
	f, err := os.OpenFile(filepath.Join(statePath(s.path), "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil, false
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, true
}

func statfs(path string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Space{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	if st.Blocks == 0 {
		// A file system that does not count (fusefat): nothing to check.
		return Space{Bytes: math.MaxUint64}, nil
	}
	return Space{Bytes: st.Bavail * uint64(st.Bsize), Inodes: st.Ffree}, nil
}
