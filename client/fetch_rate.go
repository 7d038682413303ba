package client

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// RateLimited caps the bytes per second that Fetcher delivers, through
// Limiter; share one Limiter between fetchers to cap them together. The cap
// holds on the wire too, give or take the socket buffers: while the writer
// waits, the fetcher does not read, and TCP stops the sender.
//
// RateLimited does not limit requests (only bytes), count, or retry. Build
// Limiter with NewFetchLimiter, or give it a burst of at least a few KiB: a
// write is let through in pieces of at most Limiter.Burst() bytes.
type RateLimited struct {
	Fetcher Fetcher
	Limiter *rate.Limiter
}

// Fetch implements Fetcher.
func (r *RateLimited) Fetch(ctx context.Context, req Request, w io.Writer) error {
	if r.Limiter == nil || r.Limiter.Limit() == rate.Inf {
		return r.Fetcher.Fetch(ctx, req, w)
	}
	// io.Writer has no ctx: this writer lives for this call only.
	return r.Fetcher.Fetch(ctx, req, &fetchLimitedWriter{ctx: ctx, w: w, l: r.Limiter})
}

// Unwrap returns the wrapped fetcher.
func (r *RateLimited) Unwrap() Fetcher { return r.Fetcher }

type fetchLimitedWriter struct {
	ctx context.Context
	w   io.Writer
	l   *rate.Limiter
}

func (lw *fetchLimitedWriter) Write(p []byte) (int, error) {
	burst := max(lw.l.Burst(), 1)
	written := 0
	for len(p) > 0 {
		k := min(len(p), burst)
		if err := lw.l.WaitN(lw.ctx, k); err != nil {
			return written, err
		}
		n, err := lw.w.Write(p[:k])
		written += n
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

// NewFetchLimiter returns a limiter of bytesPerSec for RateLimited. Its burst
// is a sixteenth of a second's worth (1 KiB to 64 KiB), and it starts empty,
// so the cap holds from the first byte.
func NewFetchLimiter(bytesPerSec int64) *rate.Limiter {
	burst := int(min(max(bytesPerSec/16, 1<<10), 64<<10))
	l := rate.NewLimiter(rate.Limit(bytesPerSec), burst)
	l.AllowN(time.Now(), burst)
	return l
}

// ParseRate parses a rate in bytes per second, as given to --limit-rate: a
// positive decimal integer with an optional suffix k or K (×1024), m or M
// (×1024²), g or G (×1024³). "256k" is 262144.
func ParseRate(s string) (int64, error) {
	num, mult := s, int64(1)
	if len(s) > 0 {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			num = s[:len(s)-1]
		}
	}
	bad := fmt.Errorf("rate %q: want a positive number of bytes per second, with an optional suffix k, M or G", s)
	if num == "" {
		return 0, bad
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, bad
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("rate %q: too large", s)
	}
	return n * mult, nil
}
