package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/arbor-ota/arbor/internal/crash"
)

// tmpPrefix starts the names of files being written in the boot directory.
// Boot loaders read only *.conf entries and the exact config file names,
// so a temporary file is never taken for configuration.
const tmpPrefix = ".arbor-tmp-"

// WriteFile replaces dir/name with data so that a crash leaves the old
// file or the new one: write a temporary file beside it, fsync, rename,
// fsync the directory. Unlike internal/atomicfile it never changes modes,
// which a FAT file system refuses. The crash points boot.written (the
// temporary file is durable) and boot.renamed (renamed, directory not yet
// synced) come between the steps.
func WriteFile(dir, name string, data []byte) error {
	return writeFrom(dir, name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// CopyFile copies src into dir/name the way WriteFile writes.
func CopyFile(dir, name, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFrom(dir, name, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

func writeFrom(dir, name string, fill func(io.Writer) error) error {
	tmp := filepath.Join(dir, tmpPrefix+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	crash.Point("boot.written")
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	ok = true
	crash.Point("boot.renamed")
	return SyncDir(dir)
}

// Rename renames a file within the boot directory and makes it durable.
func Rename(dir, from, to string) error {
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		return err
	}
	crash.Point("boot.renamed")
	return SyncDir(dir)
}

// RemoveFile removes dir/name and makes the removal durable.
func RemoveFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		return err
	}
	crash.Point("boot.removed")
	return SyncDir(dir)
}

// SyncDir fsyncs a directory. A file system that cannot sync directories
// (EINVAL) is accepted: FAT drivers sync directory entries with their files.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// CleanTemp removes the temporary files a killed writer left in dir.
func CleanTemp(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	removed := false
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
			removed = true
		}
	}
	if removed {
		return SyncDir(dir)
	}
	return nil
}
