package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Mirrors fetches from the first of Fetchers that can deliver, in order. When
// one fails, the next continues at the offset reached, so no byte is fetched
// twice and w still sees each byte once, in order.
//
// It fails over on every error except the caller's own (ctx done, or w
// failing), and including ErrNotFound: the files it moves are immutable and
// named by their hash, so a mirror without one has not synced yet, and another
// may have it. A Length == 0 request (mutable TUF metadata) fails over only
// before its first byte, since two mirrors may hold different versions. When
// every mirror fails, the error is a *MirrorsError.
//
// Mirrors does not retry a mirror (each fetcher retries on its own), remember
// which mirror failed between calls, race mirrors against each other, or
// verify the bytes. An empty Fetchers fails every Fetch.
type Mirrors struct {
	Fetchers []Fetcher
}

// Fetch implements Fetcher.
func (m *Mirrors) Fetch(ctx context.Context, req Request, w io.Writer) error {
	if err := req.validate(); err != nil {
		return err
	}
	if len(m.Fetchers) == 0 {
		return fmt.Errorf("fetch %s: no mirrors", req)
	}
	cw := &fetchCountingWriter{w: w}
	var errs []error
	for _, f := range m.Fetchers {
		r := req.advance(cw.n)
		err := f.Fetch(ctx, r, cw)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fetchCtxErr(ctx, req)
		case cw.err != nil:
			return err // the caller's writer failed; another mirror would not help
		}
		errs = append(errs, err)
		if req.advance(cw.n).limit() == 0 || req.whole() && cw.n > 0 {
			break
		}
	}
	return &MirrorsError{Req: req, Errs: errs}
}

// Unwrap returns the mirrors, in order.
func (m *Mirrors) Unwrap() []Fetcher { return m.Fetchers }

// MirrorsError is the failure of every mirror Mirrors tried, in order; Errs
// gives each one's error. It matches ErrNotFound (errors.Is) only when every
// mirror answered not found, and another target when every mirror that had
// the file failed with it: one mirror not synced yet and another serving a
// truncated file is ErrShort, one mirror down and another answering 404 is
// not ErrNotFound.
type MirrorsError struct {
	Req  Request
	Errs []error
}

func (e *MirrorsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fetch %s: %d mirror(s) failed", e.Req, len(e.Errs))
	for i, err := range e.Errs {
		fmt.Fprintf(&b, "; mirror %d: %v", i+1, err)
	}
	return b.String()
}

// Is reports whether the mirrors' errors match target, as described above.
func (e *MirrorsError) Is(target error) bool {
	matched := false
	for _, err := range e.Errs {
		if target != ErrNotFound && errors.Is(err, ErrNotFound) {
			continue
		}
		if !errors.Is(err, target) {
			return false
		}
		matched = true
	}
	return matched
}
