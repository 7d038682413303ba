package client

// The fetch layer moves byte ranges of site files and gives them no meaning.
// One interface, Fetcher, and small types around it, each doing one thing:
//
//	HTTPFetcher   one site over HTTP(S): ranges, retries with backoff, resume
//	FileFetcher   one site in a local directory (file://, a USB stick)
//	Mirrors       failover between sites, continuing at the offset reached
//	RateLimited   a cap on bytes per second
//	CountingFetcher  requests and bytes, for the pull's report
//
// cmd/ assembles them (NewFetcher for one URL, then the wrappers); nothing in
// this package builds a stack on its own.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync/atomic"
)

// Request names a byte range of a site file.
//
// Length > 0: exactly Length bytes from Offset, a length known from signed
// data; MaxLength is ignored.
// Length == 0: from Offset to the end of the file, at most MaxLength bytes (for
// TUF metadata, whose length is only capped); MaxLength must then be > 0.
type Request struct {
	Path      string // slash-separated, relative to the site root: "packs/3fa2….pack"
	Offset    int64
	Length    int64
	MaxLength int64
}

// Fetcher moves the bytes of one Request to w.
//
// Fetch writes the requested bytes to w in order, each exactly once: when a
// connection dies mid-body and the fetcher retries, it resumes at the next
// offset itself. It never writes more than Length bytes (Length == 0: more
// than MaxLength). It returns nil only when all of them were written, and an
// error otherwise; bytes already written stay written, since the caller
// verifies as it goes. An error from w stops the fetch at once and is
// returned (wrapped); no fetcher retries it or fails over on it.
//
// A file the site does not hold yields an error matching ErrNotFound. When ctx
// is done, Fetch returns promptly with an error matching ctx's error.
// Implementations in this package are safe for concurrent use; each call needs
// its own w.
type Fetcher interface {
	Fetch(ctx context.Context, req Request, w io.Writer) error
}

// Sentinel errors of the fetch layer. Test for them with errors.Is.
var (
	// ErrNotFound: the site does not hold the file (HTTP 404 or 410, or no
	// such file in a local site).
	ErrNotFound = errors.New("not found on site")
	// ErrTooLong: the site sent, or holds, more bytes than the request
	// allows. At most Length (or MaxLength) bytes were written.
	ErrTooLong = errors.New("longer than expected")
	// ErrShort: the file ends before the requested range does, or the bytes
	// stopped coming and resuming did not get the rest.
	ErrShort = errors.New("shorter than expected")
	// ErrNoRangeSupport: the server ignored or mangled a Range header, so
	// the requested bytes cannot be had from it without downloading others.
	ErrNoRangeSupport = errors.New("server does not honour byte ranges")
	// ErrTooSlow: the bytes came slower than the fetcher's minimum rate.
	ErrTooSlow = errors.New("transfer too slow")
	// ErrBadStatus: the server answered with an HTTP status the fetcher
	// cannot use; errors.As with *StatusError gives the status.
	ErrBadStatus = errors.New("unexpected HTTP status")
)

// errFetchInvalid marks a Request that no site could satisfy.
var errFetchInvalid = errors.New("invalid fetch request")

// StatusError is an HTTP status a fetcher could not use. It matches
// ErrNotFound for 404 and 410, ErrShort for 416 (the file ends before the
// range starts), and ErrBadStatus for every other status.
type StatusError struct {
	StatusCode int
	Status     string // "503 Service Unavailable"
	URL        string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

// Unwrap returns the sentinel the status maps to.
func (e *StatusError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return ErrNotFound
	case http.StatusRequestedRangeNotSatisfiable:
		return ErrShort
	}
	return ErrBadStatus
}

// whole reports whether r asks for the rest of the file under a cap.
func (r Request) whole() bool { return r.Length == 0 }

// limit is the most bytes r may deliver.
func (r Request) limit() int64 {
	if r.whole() {
		return r.MaxLength
	}
	return r.Length
}

// advance returns the request for what remains after n bytes were written.
func (r Request) advance(n int64) Request {
	r.Offset += n
	if r.whole() {
		r.MaxLength -= n
	} else {
		r.Length -= n
	}
	return r
}

func (r Request) String() string {
	if r.whole() {
		return fmt.Sprintf("%s[%d:, max %d]", r.Path, r.Offset, r.MaxLength)
	}
	return fmt.Sprintf("%s[%d:+%d]", r.Path, r.Offset, r.Length)
}

func (r Request) validate() error {
	switch {
	case !fs.ValidPath(r.Path) || r.Path == ".":
		return fmt.Errorf("fetch %q: %w: path must be slash-separated and relative to the site root", r.Path, errFetchInvalid)
	case r.Offset < 0 || r.Length < 0 || r.MaxLength < 0:
		return fmt.Errorf("fetch %s: %w: negative offset or length", r, errFetchInvalid)
	case r.whole() && r.MaxLength == 0:
		return fmt.Errorf("fetch %s: %w: neither Length nor MaxLength is set", r, errFetchInvalid)
	case r.Offset > (1<<63-1)-r.limit():
		return fmt.Errorf("fetch %s: %w: range overflows", r, errFetchInvalid)
	}
	return nil
}

// fetchCtxErr returns the error to report once ctx is done: it matches
// ctx.Err(), and the cause ctx was cancelled with, if any.
func fetchCtxErr(ctx context.Context, req Request) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return fmt.Errorf("fetch %s: %w: %w", req, ctx.Err(), cause)
	}
	return fmt.Errorf("fetch %s: %w", req, ctx.Err())
}

// fetchCountingWriter counts the bytes w accepted and remembers w's error, so
// that a wrapper can tell the caller's failure from the site's.
type fetchCountingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *fetchCountingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// fetchCopy copies at most max bytes from r to w through buf. It reports
// whether the stop came from w (werr) or from r or ctx (rerr; io.EOF
// included, but only before max bytes).
func fetchCopy(ctx context.Context, w io.Writer, r io.Reader, max int64, buf []byte) (n int64, rerr, werr error) {
	for n < max {
		if err := ctx.Err(); err != nil {
			return n, err, nil
		}
		b := buf
		if int64(len(b)) > max-n {
			b = b[:max-n]
		}
		nr, err := r.Read(b)
		if nr > 0 {
			nw, err := w.Write(b[:nr])
			n += int64(nw)
			if err == nil && nw < nr {
				err = io.ErrShortWrite
			}
			if err != nil {
				return n, nil, err
			}
		}
		if err != nil && (err != io.EOF || n < max) {
			return n, err, nil
		}
	}
	return n, nil, nil
}

// FetchStats counts what fetchers did: requests sent and body bytes received.
// Give one to an HTTPFetcher or FileFetcher for wire-level counts (every
// retry and resume is a request), or to a CountingFetcher for counts as seen
// by its caller. Safe for concurrent use; the zero value is ready.
type FetchStats struct {
	requests atomic.Int64
	bytes    atomic.Int64
}

// Requests returns the number of requests counted.
func (s *FetchStats) Requests() int64 { return s.requests.Load() }

// Bytes returns the number of body bytes counted.
func (s *FetchStats) Bytes() int64 { return s.bytes.Load() }

func (s *FetchStats) addRequest() {
	if s != nil {
		s.requests.Add(1)
	}
}

func (s *FetchStats) addBytes(n int) {
	if s != nil && n > 0 {
		s.bytes.Add(int64(n))
	}
}

// CountingFetcher counts the Fetch calls made through it and the bytes they
// delivered to their writers, into Stats.
//
// It does not see what happens on the wire (retries, resumes, bytes read and
// discarded): give the same or another FetchStats to an HTTPFetcher for that.
type CountingFetcher struct {
	Fetcher Fetcher
	Stats   *FetchStats
}

// Fetch implements Fetcher.
func (c *CountingFetcher) Fetch(ctx context.Context, req Request, w io.Writer) error {
	c.Stats.addRequest()
	return c.Fetcher.Fetch(ctx, req, &fetchStatsWriter{w: w, s: c.Stats})
}

// Unwrap returns the wrapped fetcher.
func (c *CountingFetcher) Unwrap() Fetcher { return c.Fetcher }

type fetchStatsWriter struct {
	w io.Writer
	s *FetchStats
}

func (c *fetchStatsWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.s.addBytes(n)
	return n, err
}
