package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
)

// Mode is how a repository stores file content.
type Mode string

const (
	// Archive keeps chunks zstd-compressed, loose: for build machines and servers.
	Archive Mode = "archive"
	// Bare keeps each file whole as a real file carrying its mode, owner and
	// xattrs, so checkouts are hard links: for devices.
	Bare Mode = "bare"
)

// ParseMode parses "archive" or "bare".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Archive, Bare:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown repository mode %q (want archive or bare)", s)
}

// Sentinel errors.
var (
	ErrNotRepo      = errors.New("not an arbor repository")
	ErrExists       = errors.New("repository already exists")
	ErrLocked       = errors.New("repository is locked by another writer")
	ErrRefNotFound  = errors.New("ref not found")
	ErrAmbiguous    = errors.New("ambiguous object ID prefix")
	ErrInvalidRef   = errors.New("invalid ref name")
	ErrNeedsRoot    = errors.New("operation needs root")
	ErrCommitNotSet = errors.New("no commit named")
)

const formatVersion = 1

type config struct {
	Format int  `json:"format"`
	Mode   Mode `json:"mode"`
}

// Repo is an open repository. It is safe for concurrent use by goroutines;
// between processes, writers exclude each other through a lock file.
type Repo struct {
	path string
	mode Mode
	// Clock returns the current time; tests replace it.
	Clock func() time.Time
	// LockTimeout is how long Update waits for another writer; zero means 10 minutes.
	LockTimeout time.Duration
	// Progress, if set, receives progress events from long operations.
	Progress Progress

	idx indexDB
}

var _ objects.Reader = (*Repo)(nil)

// Progress receives events from long operations. Implementations must be
// safe for concurrent use.
type Progress interface {
	// Event reports that n more units (files, objects) of the named phase are done.
	Event(phase string, n int64, bytes int64)
}

// Init creates a repository at path, which must not exist or be an empty directory.
func Init(path string, mode Mode) (*Repo, error) {
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(path, "config")); err == nil {
		return nil, fmt.Errorf("init %s: %w", path, ErrExists)
	}
	if ents, err := os.ReadDir(path); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("init %s: directory is not empty", path)
	}
	dirs := []string{"", "objects", "refs/heads", "refs/remotes", "tmp", "state"}
	for i := 0; i < 256; i++ {
		dirs = append(dirs, fmt.Sprintf("objects/%02x", i))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(path, d), 0o755); err != nil {
			return nil, fmt.Errorf("init %s: %w", path, err)
		}
	}
	b, _ := json.MarshalIndent(config{Format: formatVersion, Mode: mode}, "", "  ")
	if err := atomicfile.Write(filepath.Join(path, "config"), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(filepath.Clean(path))); err != nil {
		return nil, err
	}
	return Open(path)
}

// Open opens the repository at path.
func Open(path string) (*Repo, error) {
	b, err := os.ReadFile(filepath.Join(path, "config"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (create one with 'arbor --repo %s init')", path, ErrNotRepo, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", path, err)
	}
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s/config: %w: %v", path, ErrNotRepo, err)
	}
	if c.Format != formatVersion {
		return nil, fmt.Errorf("%s: repository format %d is not supported (this arbor reads %d)", path, c.Format, formatVersion)
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return nil, fmt.Errorf("%s/config: %w", path, err)
	}
	return &Repo{path: path, mode: c.Mode, Clock: time.Now}, nil
}

// Path returns the repository's directory.
func (r *Repo) Path() string { return r.path }

// Mode returns the repository's mode.
func (r *Repo) Mode() Mode { return r.mode }

func (r *Repo) now() time.Time {
	if r.Clock != nil {
		return r.Clock()
	}
	return time.Now()
}

// lock takes the writer lock, waiting up to LockTimeout. The returned
// function releases it.
func (r *Repo) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.path, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", r.path, err)
	}
	deadline := time.Now().Add(r.lockTimeout())
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", r.path, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(f.Name())
			f.Close()
			return nil, fmt.Errorf("%s: %w (pid %s); wait for it or stop it", r.path, ErrLocked, strings.TrimSpace(string(holder)))
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

func (r *Repo) lockTimeout() time.Duration {
	if r.LockTimeout == 0 {
		return 10 * time.Minute
	}
	return r.LockTimeout
}

func (r *Repo) indexPath() string { return filepath.Join(r.path, "index.db") }

// objectPath returns where an object of the given kind lives. In a bare
// repository a file's content lives beside it with the suffix ".content".
func (r *Repo) objectPath(kind objects.Kind, id objects.ID) string {
	s := id.String()
	return filepath.Join(r.path, "objects", s[:2], s[2:]+"."+kind.String())
}

func (r *Repo) contentPath(id objects.ID) string {
	s := id.String()
	return filepath.Join(r.path, "objects", s[:2], s[2:]+".content")
}
