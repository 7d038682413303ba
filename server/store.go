package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/arbor-ota/arbor/internal/atomicfile"
)

// Store is where a site is written: a directory, later an S3-compatible
// bucket. Names are slash-separated paths relative to the site root.
//
// Write must be atomic: a reader sees the old content or the whole new
// content, never a part (on a directory: temporary file, fsync, rename,
// fsync the directory). Read returns an error matching fs.ErrNotExist for a
// missing file. Implementations need not be safe for concurrent Writes to
// the same name.
type Store interface {
	Read(ctx context.Context, name string) ([]byte, error)
	Write(ctx context.Context, name string, r io.Reader) error
	Exists(ctx context.Context, name string) (bool, error)
}

// DirStore is a Store on a local directory.
type DirStore struct {
	Root string
}

var _ Store = DirStore{}

func (d DirStore) path(name string) (string, error) {
	clean := path.Clean("/" + name)[1:]
	if clean == "" || clean != name || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("site path %q is not clean", name)
	}
	return filepath.Join(d.Root, filepath.FromSlash(clean)), nil
}

// Read implements Store.
func (d DirStore) Read(ctx context.Context, name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// Exists implements Store.
func (d DirStore) Exists(ctx context.Context, name string) (bool, error) {
	p, err := d.path(name)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Write implements Store.
func (d DirStore) Write(ctx context.Context, name string, r io.Reader) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	ok = true
	return atomicfile.SyncDir(dir)
}
