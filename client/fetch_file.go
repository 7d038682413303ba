package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FileFetcher fetches byte ranges of the files of a site kept in a local
// directory: a site copied to a USB stick, or a file:// URL.
//
// Its answers match HTTPFetcher's: a missing file (or one that is not a
// regular file) is ErrNotFound; a file that ends before the range does is
// ErrShort; a Length == 0 request for more than MaxLength bytes is ErrTooLong,
// with nothing written. Paths cannot leave Root, through ".." or through a
// symbolic link.
//
// FileFetcher does not retry (a local read that fails is reported), verify the
// bytes, or interrupt a read the disk is stuck in: ctx is checked between
// reads of at most 64 KiB. It is safe for concurrent use.
type FileFetcher struct {
	Root  string      // the site root directory
	Stats *FetchStats // nil: no counts; each Fetch is one request
}

// Fetch implements Fetcher.
func (f *FileFetcher) Fetch(ctx context.Context, req Request, w io.Writer) error {
	if err := req.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fetchCtxErr(ctx, req)
	}
	root, err := os.OpenRoot(f.Root)
	if err != nil {
		return fmt.Errorf("fetch %s: site root: %w", req, err)
	}
	defer root.Close()
	file, err := root.Open(filepath.FromSlash(req.Path))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fetch %s: %w", req, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("fetch %s: %w", req, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fmt.Errorf("fetch %s: %w", req, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("fetch %s: %w: not a regular file", req, ErrNotFound)
	}
	f.Stats.addRequest()

	size := fi.Size()
	n := req.Length
	switch {
	case req.Offset > size || !req.whole() && req.Length > size-req.Offset:
		return fmt.Errorf("fetch %s: %w: the file has %d bytes", req, ErrShort, size)
	case req.whole() && size-req.Offset > req.MaxLength:
		return fmt.Errorf("fetch %s: %w: %d bytes, at most %d allowed", req, ErrTooLong, size-req.Offset, req.MaxLength)
	case req.whole():
		n = size - req.Offset
	}
	r := &fetchStatsReader{r: io.NewSectionReader(file, req.Offset, n), stats: f.Stats}
	got, rerr, werr := fetchCopy(ctx, w, r, n, make([]byte, 64<<10))
	switch {
	case werr != nil:
		return fmt.Errorf("fetch %s: %w", req, werr)
	case ctx.Err() != nil:
		return fetchCtxErr(ctx, req)
	case rerr == io.EOF:
		return fmt.Errorf("fetch %s: %w: the file shrank to %d bytes while read", req, ErrShort, req.Offset+got)
	case rerr != nil:
		return fmt.Errorf("fetch %s: %w", req, rerr)
	}
	return nil
}

// fetchStatsReader counts what it reads.
type fetchStatsReader struct {
	r     io.Reader
	stats *FetchStats
}

func (c *fetchStatsReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.stats.addBytes(n)
	return n, err
}
