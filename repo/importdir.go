package repo

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/arbor-ota/arbor/internal/fsmeta"
	"github.com/arbor-ota/arbor/objects"
)

// ImportDir stores the tree rooted at dir (the root's own metadata
// included) into w and returns the root dirtree and dirmeta.
func ImportDir(ctx context.Context, w objects.Store, dir string, opts ImportOptions) (tree, meta objects.ID, stats ImportStats, err error) {
	b := newTreeBuilder(ctx, w, opts)
	d := &dirImporter{b: b, base: dir, inodes: map[inodeKey]*fileFuture{}}
	err = d.walk("")
	if err != nil {
		b.fail(err)
	}
	tree, meta, err2 := b.finish()
	if err == nil {
		err = err2
	}
	return tree, meta, b.stats, err
}

type inodeKey struct{ dev, ino uint64 }

type dirImporter struct {
	b      *treeBuilder
	base   string
	inodes map[inodeKey]*fileFuture // hard links: one object per inode
}

func (d *dirImporter) walk(rel string) error {
	if err := d.b.ctx.Err(); err != nil {
		return err
	}
	if d.b.failed.Load() {
		return nil
	}
	full := filepath.Join(d.base, filepath.FromSlash(rel))
	fi, err := os.Lstat(full)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", full)
	}
	mode, uid, gid, _ := fsmeta.FromStat(fi)
	xs, err := fsmeta.ListXattrs(full)
	if err != nil {
		return err
	}
	if err := d.b.setDirMeta(rel, objects.DirMeta{Mode: mode, UID: uid, GID: gid, Xattrs: xs}); err != nil {
		return err
	}
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("read directory %s: %w", full, err)
	}
	sort.Strings(names)
	for _, name := range names {
		p := path.Join(rel, name)
		if !objects.ValidName(name) {
			return &InvalidPathError{Path: filepath.Join(d.base, p), Reason: "name cannot be stored (not valid UTF-8, or too long)"}
		}
		if err := d.entry(p, filepath.Join(full, name)); err != nil {
			return err
		}
	}
	return nil
}

func (d *dirImporter) entry(p, full string) error {
	fi, err := os.Lstat(full)
	if err != nil {
		return err
	}
	mode, uid, gid, _ := fsmeta.FromStat(fi)
	switch fi.Mode().Type() {
	case fs.ModeDir:
		return d.walk(p)
	case fs.ModeSymlink:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		xs, err := fsmeta.ListXattrs(full)
		if err != nil {
			return err
		}
		id, err := d.b.storeFile(objects.File{Mode: objects.ModeSymlink | 0o777, UID: uid, GID: gid, Xattrs: xs, Target: target}, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", full, err)
		}
		return d.b.addFile(p, resolved(id))
	case 0:
		st := fi.Sys().(*syscall.Stat_t)
		key := inodeKey{uint64(st.Dev), st.Ino}
		if st.Nlink > 1 {
			if f, ok := d.inodes[key]; ok {
				return d.b.addFile(p, f)
			}
		}
		meta := objects.File{Mode: mode, UID: uid, GID: gid}
		size := fi.Size()
		fut := d.b.async(full, meta, func(m *objects.File) (io.Reader, func(), error) {
			f, err := os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOATIME, 0)
			if err != nil {
				f, err = os.OpenFile(full, os.O_RDONLY|unix.O_NOFOLLOW, 0)
			}
			if err != nil {
				return nil, nil, err
			}
			if m.Xattrs, err = fsmeta.ListXattrsFd(int(f.Fd())); err != nil {
				f.Close()
				return nil, nil, err
			}
			return io.LimitReader(f, size), func() { f.Close() }, nil
		})
		if st.Nlink > 1 {
			d.inodes[key] = fut
		}
		return d.b.addFile(p, fut)
	default:
		return d.special(full, fi.Mode())
	}
}

func (d *dirImporter) special(full string, m fs.FileMode) error {
	typ := "special file"
	switch {
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		typ = "character device"
	case m&fs.ModeDevice != 0:
		typ = "block device"
	case m&fs.ModeNamedPipe != 0:
		typ = "FIFO"
	case m&fs.ModeSocket != 0:
		typ = "socket"
	}
	if d.b.opts.SkipSpecial {
		d.b.warn("skipping %s %s", typ, full)
		return nil
	}
	return &SpecialFileError{Path: full, Type: typ}
}
