package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Defaults of HTTPFetcher, used where a field is zero.
const (
	DefaultFetchRequestTimeout = 60 * time.Second
	DefaultFetchMinRate        = 1 << 10 // bytes per second
	DefaultFetchMinRateWindow  = 30 * time.Second
	DefaultFetchMaxRetries     = 5
	DefaultFetchRetryWait      = time.Second
	fetchRetryWaitMax          = 30 * time.Second
)

// fetchResumeProgress is the progress that makes a resume free: an attempt
// that delivered at least this much (or all that remained) does not count
// against MaxRetries, so a link that drops every few megabytes still gets a
// large file through, while a server that sends a byte and hangs up does not
// get a request per byte.
const fetchResumeProgress = 64 << 10

// HTTPFetcher fetches byte ranges of the files of one site over HTTP(S).
//
// Each attempt is one GET with a single Range header ("bytes=a-b"; never a
// multi-range request). A ranged answer must be 206 with a Content-Range that
// matches; 200 with the whole file is accepted only when the range is the
// whole file (offset 0 and Content-Length equal to Length), and otherwise
// refused with ErrNoRangeSupport before a byte is written. A Length == 0
// request is a plain GET, capped at MaxLength. A response that promises or
// sends one byte more than the request allows stops with ErrTooLong, after
// at most Length (MaxLength) bytes were written.
//
// Connection errors, timeouts, 429 and 5xx are retried by Client with
// exponential backoff. A body that ends early, or that comes slower than
// MinRate, is resumed with a new Range request from the first missing byte;
// attempts that deliver less than 64 KiB count against MaxRetries, after
// which Fetch fails with ErrShort (or ErrTooSlow). 404 and 410 fail at once
// with ErrNotFound, other unusable statuses with a *StatusError.
//
// HTTPFetcher does not verify the bytes (the caller does), fail over to other
// sites (see Mirrors), limit its rate (see RateLimited), cache, or merge
// requests. It is safe for concurrent use; do not change its fields once it
// has been used.
type HTTPFetcher struct {
	// BaseURL is the site root, http:// or https://. A request's Path is
	// joined below it, each segment escaped.
	BaseURL string
	// Client sends the requests and retries them. Nil: one is built on first
	// use from the fields below, with a *FetchTransport that enforces
	// RequestTimeout and counts into Stats. A client set here is used as it
	// is: wrap its transport in a *FetchTransport for the same effects, and
	// give it ErrorHandler = retryablehttp.PassthroughErrorHandler so that a
	// last 5xx is reported with its status.
	Client *retryablehttp.Client
	// RequestTimeout bounds the wait for each request's response headers
	// (each retry has its own); the body is then held to MinRate instead.
	// 0: DefaultFetchRequestTimeout; < 0: no bound.
	RequestTimeout time.Duration
	// MinRate is the slowest body accepted, in bytes per second averaged over
	// MinRateWindow of time spent waiting for the server (time spent in the
	// caller's writer, as under RateLimited, does not count). 0:
	// DefaultFetchMinRate; < 0: no minimum.
	MinRate int64
	// MinRateWindow: 0: DefaultFetchMinRateWindow.
	MinRateWindow time.Duration
	// MaxRetries bounds the retries of one request by the built Client, and
	// the resumes without progress of one Fetch. 0: DefaultFetchMaxRetries;
	// < 0: none.
	MaxRetries int
	// RetryWait is the first wait before a retry or a resume without
	// progress; it doubles each time, up to 30 s. 0: DefaultFetchRetryWait.
	RetryWait time.Duration
	// Stats, if set, counts the requests the built Client sends on the wire
	// (every retry and resume) and the body bytes it receives.
	Stats *FetchStats

	once    sync.Once
	base    *url.URL
	client  *retryablehttp.Client
	initErr error
}

// NewHTTPFetcher returns an HTTPFetcher for the site at baseURL, with the
// settings of opts. It fails if baseURL is not an http:// or https:// URL.
func NewHTTPFetcher(baseURL string, opts FetchOptions) (*HTTPFetcher, error) {
	f := &HTTPFetcher{
		BaseURL:        baseURL,
		Client:         opts.Client,
		RequestTimeout: opts.RequestTimeout,
		MinRate:        opts.MinRate,
		MinRateWindow:  opts.MinRateWindow,
		MaxRetries:     opts.MaxRetries,
		RetryWait:      opts.RetryWait,
		Stats:          opts.Stats,
	}
	f.init()
	if f.initErr != nil {
		return nil, f.initErr
	}
	return f, nil
}

func (f *HTTPFetcher) init() {
	f.once.Do(func() {
		u, err := url.Parse(f.BaseURL)
		switch {
		case err != nil:
			f.initErr = fmt.Errorf("fetch: site URL %q: %w", f.BaseURL, err)
			return
		case u.Scheme != "http" && u.Scheme != "https":
			f.initErr = fmt.Errorf("fetch: site URL %q: scheme must be http or https", f.BaseURL)
			return
		case u.Host == "":
			f.initErr = fmt.Errorf("fetch: site URL %q has no host", f.BaseURL)
			return
		case u.RawQuery != "" || u.Fragment != "":
			f.initErr = fmt.Errorf("fetch: site URL %q: a query or fragment is not allowed", f.BaseURL)
			return
		}
		f.base = u
		f.client = f.Client
		if f.client == nil {
			f.client = f.newClient()
		}
	})
}

func (f *HTTPFetcher) maxRetries() int {
	switch {
	case f.MaxRetries < 0:
		return 0
	case f.MaxRetries == 0:
		return DefaultFetchMaxRetries
	}
	return f.MaxRetries
}

func (f *HTTPFetcher) retryWait() time.Duration {
	if f.RetryWait > 0 {
		return f.RetryWait
	}
	return DefaultFetchRetryWait
}

func (f *HTTPFetcher) newClient() *retryablehttp.Client {
	timeout := f.RequestTimeout
	if timeout == 0 {
		timeout = DefaultFetchRequestTimeout
	}
	c := retryablehttp.NewClient()
	c.Logger = nil // libraries never print
	c.RetryMax = f.maxRetries()
	c.RetryWaitMin = f.retryWait()
	c.RetryWaitMax = max(fetchRetryWaitMax, c.RetryWaitMin)
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	c.HTTPClient = &http.Client{Transport: &FetchTransport{
		Base:          http.DefaultTransport.(*http.Transport).Clone(),
		HeaderTimeout: timeout,
		Stats:         f.Stats,
	}}
	return c
}

// Fetch implements Fetcher.
func (f *HTTPFetcher) Fetch(ctx context.Context, req Request, w io.Writer) error {
	if err := req.validate(); err != nil {
		return err
	}
	f.init()
	if f.initErr != nil {
		return f.initErr
	}
	u := f.base.JoinPath(strings.Split(req.Path, "/")...)
	st := &fetchHTTPState{url: u.String(), shown: u.Redacted(), total: -1}
	buf := make([]byte, 32<<10)
	var done int64
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return fetchCtxErr(ctx, req)
		}
		r := req.advance(done)
		n, resumable, err := f.attempt(ctx, st, r, w, buf)
		done += n
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fetchCtxErr(ctx, req)
		case !resumable || done == req.limit():
			return fmt.Errorf("fetch %s: %w", req, err)
		}
		if n < min(fetchResumeProgress, r.limit()) {
			failures++
			if failures > f.maxRetries() {
				return fmt.Errorf("fetch %s: %d bytes in, %d attempts without progress: %w", req, done, failures, err)
			}
			if err := fetchSleep(ctx, f.backoff(failures-1)); err != nil {
				return fetchCtxErr(ctx, req)
			}
		}
	}
}

func (f *HTTPFetcher) backoff(attempt int) time.Duration {
	c := f.client
	if c.Backoff == nil {
		return retryablehttp.DefaultBackoff(f.retryWait(), fetchRetryWaitMax, attempt, nil)
	}
	return c.Backoff(c.RetryWaitMin, c.RetryWaitMax, attempt, nil)
}

func fetchSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fetchHTTPState is what one Fetch learns across its attempts.
type fetchHTTPState struct {
	url       string
	shown     string // url without a password, for errors
	total     int64  // size of the file, once a response told it; -1 before
	validator string // strong ETag or Last-Modified of a whole-file answer, for If-Range
}

// attempt sends one request for r and copies its body to w. It returns the
// bytes written, and whether a new request could get the rest.
func (f *HTTPFetcher) attempt(ctx context.Context, st *fetchHTTPState, r Request, w io.Writer, buf []byte) (n int64, resumable bool, err error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hreq, err := retryablehttp.NewRequestWithContext(actx, http.MethodGet, st.url, nil)
	if err != nil {
		return 0, false, err
	}
	switch {
	case !r.whole():
		hreq.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r.Offset, r.Offset+r.Length-1))
	case r.Offset > 0:
		hreq.Header.Set("Range", fmt.Sprintf("bytes=%d-", r.Offset))
		if st.validator != "" {
			hreq.Header.Set("If-Range", st.validator)
		}
	}
	resp, err := f.client.Do(hreq)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	want, err := st.check(resp, r)
	if err != nil {
		return 0, false, err
	}

	var body io.Reader = resp.Body
	if f.MinRate >= 0 {
		rate, window := f.MinRate, f.MinRateWindow
		if rate == 0 {
			rate = DefaultFetchMinRate
		}
		if window <= 0 {
			window = DefaultFetchMinRateWindow
		}
		slow := newFetchSlowWatch(resp.Body, rate, window, cancel)
		defer slow.stop()
		body = slow
	}

	limit := r.limit()
	if want >= 0 {
		limit = want
	}
	n, rerr, werr := fetchCopy(actx, w, body, limit, buf)
	switch {
	case werr != nil:
		return n, false, werr
	case rerr == nil:
		// All the bytes this answer owes are written; one more is too many.
		var one [1]byte
		if k, _ := io.ReadFull(body, one[:]); k > 0 {
			return n, false, fmt.Errorf("%w: the server sent more than %d bytes", ErrTooLong, limit)
		}
		return n, false, nil
	case rerr == io.EOF && want < 0:
		return n, false, nil // the whole file, under its cap
	case rerr == io.EOF:
		rerr = io.ErrUnexpectedEOF
	}
	if ctx.Err() != nil {
		return n, false, ctx.Err()
	}
	if cause := context.Cause(actx); errors.Is(cause, ErrTooSlow) {
		rerr = cause
	}
	if errors.Is(rerr, ErrTooSlow) {
		return n, true, rerr
	}
	if want >= 0 {
		return n, true, fmt.Errorf("%w: body ended after %d of %d bytes: %w", ErrShort, n, want, rerr)
	}
	return n, true, fmt.Errorf("%w: body ended after %d bytes: %w", ErrShort, n, rerr)
}

// check validates the status and headers of an answer to a request for r,
// and returns how many body bytes the answer owes (-1: unknown, up to r's
// cap). Nothing has been written when it fails.
func (st *fetchHTTPState) check(resp *http.Response, r Request) (int64, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "multipart/byteranges" {
			return 0, fmt.Errorf("%w: multipart answer to a single range", ErrNoRangeSupport)
		}
		cr := resp.Header.Get("Content-Range")
		start, end, total, err := parseContentRange(cr)
		if err != nil || end < 0 {
			return 0, fmt.Errorf("%w: 206 with Content-Range %q", ErrNoRangeSupport, cr)
		}
		if start != r.Offset {
			return 0, fmt.Errorf("%w: asked for bytes from %d, got Content-Range %q", ErrNoRangeSupport, r.Offset, cr)
		}
		want := end - start + 1
		if r.whole() {
			switch {
			case total >= 0 && end != total-1:
				return 0, fmt.Errorf("%w: asked for bytes from %d to the end, got Content-Range %q", ErrNoRangeSupport, r.Offset, cr)
			case total >= 0 && st.total >= 0 && total != st.total:
				return 0, fmt.Errorf("file changed between requests: %d bytes, now %d", st.total, total)
			case want > r.MaxLength:
				return 0, fmt.Errorf("%w: %d more bytes, at most %d allowed", ErrTooLong, want, r.MaxLength)
			}
		} else {
			reqEnd := r.Offset + r.Length - 1
			switch {
			case end > reqEnd:
				return 0, fmt.Errorf("%w: asked for bytes %d-%d, got Content-Range %q", ErrTooLong, r.Offset, reqEnd, cr)
			case end < reqEnd && total == end+1:
				return 0, fmt.Errorf("%w: asked for bytes %d-%d of a file of %d bytes", ErrShort, r.Offset, reqEnd, total)
			case end < reqEnd:
				return 0, fmt.Errorf("%w: asked for bytes %d-%d, got Content-Range %q", ErrNoRangeSupport, r.Offset, reqEnd, cr)
			}
		}
		if resp.ContentLength > want {
			return 0, fmt.Errorf("%w: Content-Length %d for Content-Range %q", ErrTooLong, resp.ContentLength, cr)
		}
		if resp.ContentLength >= 0 && resp.ContentLength < want {
			return 0, fmt.Errorf("%w: Content-Length %d for Content-Range %q", ErrNoRangeSupport, resp.ContentLength, cr)
		}
		if total >= 0 {
			st.total = total
		}
		return want, nil

	case http.StatusOK:
		cl := resp.ContentLength
		switch {
		case r.Offset > 0 && r.whole():
			return 0, fmt.Errorf("%w: 200 to a request from byte %d (or the file changed)", ErrNoRangeSupport, r.Offset)
		case r.Offset > 0:
			return 0, fmt.Errorf("%w: 200 to a request for bytes %d-%d", ErrNoRangeSupport, r.Offset, r.Offset+r.Length-1)
		case !r.whole() && cl >= 0 && cl != r.Length:
			return 0, fmt.Errorf("%w: 200 with %d bytes to a request for bytes 0-%d", ErrNoRangeSupport, cl, r.Length-1)
		case !r.whole():
			return r.Length, nil // the whole file is the range; more is ErrTooLong
		case cl > r.MaxLength:
			return 0, fmt.Errorf("%w: Content-Length %d, at most %d allowed", ErrTooLong, cl, r.MaxLength)
		}
		st.total = cl
		if etag := resp.Header.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
			st.validator = etag
		} else {
			st.validator = resp.Header.Get("Last-Modified")
		}
		return cl, nil
	}
	return 0, &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, URL: st.shown}
}

// fetchSlowWatch fails a body that delivers fewer than need bytes over a
// window of time spent inside Read. Time the caller spends elsewhere (in a
// rate-limited writer) does not count, so the watch blames only the link.
type fetchSlowWatch struct {
	r      io.Reader
	need   int64
	window time.Duration
	err    error
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	timer     *time.Timer
	inRead    bool
	readStart time.Time
	spent     time.Duration // time in Read in this window, before the current Read
	got       int64         // bytes in this window
	tripped   bool
}

func newFetchSlowWatch(r io.Reader, rate int64, window time.Duration, cancel context.CancelCauseFunc) *fetchSlowWatch {
	s := &fetchSlowWatch{
		r:      r,
		need:   int64(float64(rate) * window.Seconds()),
		window: window,
		err:    fmt.Errorf("%w: under %d bytes/s over %s", ErrTooSlow, rate, window),
		cancel: cancel,
	}
	s.timer = time.AfterFunc(time.Hour, s.fire)
	s.timer.Stop()
	return s
}

func (s *fetchSlowWatch) Read(p []byte) (int, error) {
	s.mu.Lock()
	if s.tripped {
		s.mu.Unlock()
		return 0, s.err
	}
	s.inRead = true
	s.readStart = time.Now()
	s.timer.Reset(s.window - s.spent)
	s.mu.Unlock()

	n, err := s.r.Read(p)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer.Stop()
	s.inRead = false
	s.spent += time.Since(s.readStart)
	s.got += int64(n)
	if s.spent >= s.window && !s.tripped {
		if s.got < s.need {
			s.trip()
		} else {
			s.spent, s.got = 0, 0
		}
	}
	if s.tripped && err == nil {
		err = s.err
	}
	return n, err
}

// fire runs when a Read has been waiting to the end of the window.
func (s *fetchSlowWatch) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.inRead || s.tripped {
		return
	}
	inRead := time.Since(s.readStart)
	if left := s.window - s.spent - inRead; left > 0 {
		s.timer.Reset(left)
		return
	}
	if s.got < s.need {
		s.trip()
		return
	}
	// Enough came in this window; the next one starts now, inside this Read.
	s.spent, s.got = -inRead, 0
	s.timer.Reset(s.window)
}

func (s *fetchSlowWatch) trip() {
	s.tripped = true
	s.cancel(s.err)
}

func (s *fetchSlowWatch) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer.Stop()
}

// FetchTransport is an http.RoundTripper for fetchers. It counts each request
// and the response body bytes read into Stats, and fails a request whose
// response headers do not arrive within HeaderTimeout with a timeout error
// that matches ErrTooSlow (and that retryablehttp retries).
//
// It does not retry, and does not bound the time a body takes: HTTPFetcher's
// MinRate does. Bytes are counted as the caller reads them, after any
// Content-Encoding was decoded.
type FetchTransport struct {
	Base          http.RoundTripper // nil: http.DefaultTransport
	HeaderTimeout time.Duration     // 0: no bound
	Stats         *FetchStats       // nil: no counts
}

// RoundTrip implements http.RoundTripper.
func (t *FetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	t.Stats.addRequest()
	if t.HeaderTimeout <= 0 {
		resp, err := base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		resp.Body = &fetchWireBody{rc: resp.Body, stats: t.Stats}
		return resp, nil
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	timeout := &fetchHeaderTimeout{t.HeaderTimeout}
	timer := time.AfterFunc(t.HeaderTimeout, func() { cancel(timeout) })
	resp, err := base.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		if err == nil {
			resp.Body.Close()
		}
		cancel(nil)
		return nil, timeout
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = &fetchWireBody{rc: resp.Body, stats: t.Stats, cancel: func() { cancel(nil) }}
	return resp, nil
}

// fetchHeaderTimeout is a request whose response headers did not come in time.
type fetchHeaderTimeout struct{ d time.Duration }

func (e *fetchHeaderTimeout) Error() string {
	return fmt.Sprintf("no response headers within %s", e.d)
}
func (e *fetchHeaderTimeout) Timeout() bool   { return true }
func (e *fetchHeaderTimeout) Temporary() bool { return true }
func (e *fetchHeaderTimeout) Unwrap() error   { return ErrTooSlow }

// fetchWireBody counts the body bytes read.
type fetchWireBody struct {
	rc     io.ReadCloser
	stats  *FetchStats
	cancel func()
}

func (b *fetchWireBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.stats.addBytes(n)
	return n, err
}

func (b *fetchWireBody) Close() error {
	err := b.rc.Close()
	if b.cancel != nil {
		b.cancel()
	}
	return err
}
