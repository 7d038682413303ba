package repo

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/arbor-ota/arbor/objects"
)

// ImportPath imports a directory, or a tar archive (plain, gzip or zstd).
func ImportPath(ctx context.Context, w objects.Store, src string, opts ImportOptions) (tree, meta objects.ID, stats ImportStats, err error) {
	fi, err := os.Stat(src)
	if err != nil {
		return tree, meta, stats, err
	}
	if fi.IsDir() {
		return ImportDir(ctx, w, src, opts)
	}
	f, err := os.Open(src)
	if err != nil {
		return tree, meta, stats, err
	}
	defer f.Close()
	tree, meta, stats, err = ImportTar(ctx, w, f, opts)
	if err != nil {
		err = fmt.Errorf("%s: %w", src, err)
	}
	return tree, meta, stats, err
}

// smallFile is the size up to which tar members are read into memory and
// stored by a worker; larger ones are stored as they are read.
const smallFile = 1 << 20

// ImportTar stores the tree held in a tar stream (plain, gzip or zstd,
// detected from its first bytes). Members are relative to the tree's root;
// "./" names the root. Absolute names, ".." and hard links that point
// outside the archive are refused. Directories the archive implies but does
// not list get DefaultDirMeta.
func ImportTar(ctx context.Context, w objects.Store, r io.Reader, opts ImportOptions) (tree, meta objects.ID, stats ImportStats, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, _ := br.Peek(6)
	var in io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return tree, meta, stats, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		in = gz
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return tree, meta, stats, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		in = zr
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return tree, meta, stats, errors.New("xz-compressed archives are not supported; decompress it first (xz -d) or use gzip or zstd")
	case bytes.HasPrefix(magic, []byte("BZh")):
		return tree, meta, stats, errors.New("bzip2-compressed archives are not supported; decompress it first or use gzip or zstd")
	}
	b := newTreeBuilder(ctx, w, opts)
	cr := &countingReader{r: in}
	err = importTarEntries(b, tar.NewReader(cr), cr)
	if err != nil {
		b.fail(err)
	}
	tree, meta, err2 := b.finish()
	if err == nil {
		err = err2
	}
	return tree, meta, b.stats, err
}

// cleanTarName turns a member name into a tree path ("" for the root), or
// refuses it.
func cleanTarName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", &InvalidPathError{Path: name, Reason: "absolute member name in archive"}
	}
	p := strings.TrimSuffix(name, "/")
	for strings.HasPrefix(p, "./") {
		p = p[2:]
	}
	if p == "." || p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", &InvalidPathError{Path: name, Reason: "member name with '..' would escape the tree"}
		}
		if seg == "." || seg == "" {
			return "", &InvalidPathError{Path: name, Reason: "member name is not clean (has '.' or '//')"}
		}
		if !objects.ValidName(seg) {
			return "", &InvalidPathError{Path: name, Reason: "name cannot be stored (not valid UTF-8, NUL, or too long)"}
		}
	}
	return p, nil
}

func tarXattrs(h *tar.Header) []objects.Xattr {
	var xs []objects.Xattr
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			xs = append(xs, objects.Xattr{Name: name, Value: []byte(v)})
		}
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].Name < xs[j].Name })
	return xs
}

// countingReader counts the bytes the tar reader consumed.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func importTarEntries(b *treeBuilder, tr *tar.Reader, cr *countingReader) error {
	seen := map[string]*fileFuture{} // regular files and symlinks, for hard links
	// archive/tar reports io.EOF both after the end-of-archive marker (two
	// zero blocks) and when the stream just stops between members or in a
	// member's padding: a truncated archive must not become a smaller tree.
	var end int64 // where the last member's data ends, padding included
	for {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		if b.failed.Load() {
			return nil
		}
		h, err := tr.Next()
		if err == io.EOF {
			if cr.n < end+2*512 {
				return fmt.Errorf("read archive: %w: it stops without the end-of-archive marker (truncated?)", io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		end = cr.n
		switch h.Typeflag {
		case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		default:
			end += (h.Size + 511) &^ 511
		}
		p, err := cleanTarName(h.Name)
		if err != nil {
			return err
		}
		perm := uint32(h.Mode) & objects.ModePermMask
		uid, gid := uint32(h.Uid), uint32(h.Gid)
		switch h.Typeflag {
		case tar.TypeDir:
			err = b.setDirMeta(p, objects.DirMeta{Mode: objects.ModeDir | perm, UID: uid, GID: gid, Xattrs: tarXattrs(h)})
		case tar.TypeReg, tar.TypeRegA:
			if p == "" {
				return &InvalidPathError{Path: h.Name, Reason: "the archive's root is not a directory"}
			}
			meta := objects.File{Mode: objects.ModeRegular | perm, UID: uid, GID: gid, Xattrs: tarXattrs(h)}
			var fut *fileFuture
			if h.Size <= smallFile {
				buf := make([]byte, h.Size)
				if _, err := io.ReadFull(tr, buf); err != nil {
					return fmt.Errorf("read %s from archive: %w", h.Name, err)
				}
				fut = b.async(p, meta, func(*objects.File) (io.Reader, func(), error) {
					return bytes.NewReader(buf), func() {}, nil
				})
			} else {
				id, err := b.storeFile(meta, tr)
				if err != nil {
					return fmt.Errorf("%s: %w", displayPath(p), err)
				}
				fut = resolved(id)
			}
			seen[p] = fut
			err = b.addFile(p, fut)
		case tar.TypeSymlink:
			if p == "" {
				return &InvalidPathError{Path: h.Name, Reason: "the archive's root is not a directory"}
			}
			id, serr := b.storeFile(objects.File{Mode: objects.ModeSymlink | 0o777, UID: uid, GID: gid, Xattrs: tarXattrs(h), Target: h.Linkname}, nil)
			if serr != nil {
				return fmt.Errorf("%s: %w", displayPath(p), serr)
			}
			seen[p] = resolved(id)
			err = b.addFile(p, seen[p])
		case tar.TypeLink:
			target, lerr := cleanTarName(h.Linkname)
			if lerr != nil {
				return fmt.Errorf("hard link %s: %w", h.Name, lerr)
			}
			fut, ok := seen[target]
			if !ok {
				return &InvalidPathError{Path: h.Name, Reason: fmt.Sprintf("hard link to %q, which is not an earlier file in the archive", h.Linkname)}
			}
			seen[p] = fut
			err = b.addFile(p, fut)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			typ := map[byte]string{tar.TypeChar: "character device", tar.TypeBlock: "block device", tar.TypeFifo: "FIFO"}[h.Typeflag]
			if !b.opts.SkipSpecial {
				return &SpecialFileError{Path: displayPath(p), Type: typ}
			}
			b.warn("skipping %s %s", typ, displayPath(p))
		case tar.TypeXGlobalHeader:
		default:
			return &InvalidPathError{Path: h.Name, Reason: fmt.Sprintf("unsupported archive member type %q", h.Typeflag)}
		}
		if err != nil {
			return fmt.Errorf("member %s: %w", h.Name, err)
		}
	}
}
