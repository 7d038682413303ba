package client

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fetchTestData returns n pseudo-random bytes, the same for the same n.
func fetchTestData(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fetchTestSite is an httptest server whose handler sees which request of the
// test it answers (0, 1, ...), and which records the headers that matter.
type fetchTestSite struct {
	*httptest.Server
	mu   sync.Mutex
	seen []fetchSeen
}

type fetchSeen struct {
	path    string
	ranges  []string // every Range header value
	ifRange string
}

func newFetchTestSite(t *testing.T, h func(w http.ResponseWriter, r *http.Request, i int)) *fetchTestSite {
	t.Helper()
	s := &fetchTestSite{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		i := len(s.seen)
		s.seen = append(s.seen, fetchSeen{path: r.URL.Path, ranges: r.Header.Values("Range"), ifRange: r.Header.Get("If-Range")})
		s.mu.Unlock()
		h(w, r, i)
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns what the site has seen so far.
func (s *fetchTestSite) requests() []fetchSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fetchSeen(nil), s.seen...)
}

// fetchServeContent answers like a good static server.
func fetchServeContent(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("ETag", `"v1"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// fetchParseRange parses the single "bytes=a-b" or "bytes=a-" the fetchers
// send; end is -1 for an open range. ok is false without a Range header.
func fetchParseRange(t *testing.T, r *http.Request) (start, end int64, ok bool) {
	h := r.Header.Get("Range")
	if h == "" {
		return 0, -1, false
	}
	spec, found := strings.CutPrefix(h, "bytes=")
	a, b, found2 := strings.Cut(spec, "-")
	if !found || !found2 || strings.Contains(h, ",") {
		t.Errorf("unexpected Range header %q", h)
		return 0, -1, false
	}
	start, _ = strconv.ParseInt(a, 10, 64)
	end = -1
	if b != "" {
		end, _ = strconv.ParseInt(b, 10, 64)
	}
	return start, end, true
}

// fetchWriteRange answers a ranged request with a 206 for data[start:end+1]
// but sends only body (which may be shorter or longer), then cuts the
// connection if cut is set.
func fetchWriteRange(w http.ResponseWriter, start, end, size int64, body []byte, cut bool) {
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	w.Write(body)
	if cut {
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// newTestHTTPFetcher returns an HTTPFetcher for url with short waits.
func newTestHTTPFetcher(url string, stats *FetchStats) *HTTPFetcher {
	return &HTTPFetcher{BaseURL: url, RetryWait: 5 * time.Millisecond, MaxRetries: 3, Stats: stats}
}

// checkFetchSingleRanges fails the test if any request carried more than one
// range.
func checkFetchSingleRanges(t *testing.T, seen []fetchSeen) {
	t.Helper()
	for i, s := range seen {
		if len(s.ranges) > 1 || len(s.ranges) == 1 && strings.Contains(s.ranges[0], ",") {
			t.Errorf("request %d: Range %q: want one single range", i, s.ranges)
		}
	}
}

func TestFetchRequestValidate(t *testing.T) {
	bad := []Request{
		{Path: "", Length: 1},
		{Path: ".", Length: 1},
		{Path: "/packs/a", Length: 1},
		{Path: "packs/../../etc/passwd", Length: 1},
		{Path: "packs//a", Length: 1},
		{Path: "packs/a", Offset: -1, Length: 1},
		{Path: "packs/a", Length: -1},
		{Path: "packs/a"}, // neither Length nor MaxLength
		{Path: "packs/a", Offset: 1 << 62, Length: 1 << 62},
	}
	for _, r := range bad {
		if err := r.validate(); !errors.Is(err, errFetchInvalid) {
			t.Errorf("%+v: got %v, want errFetchInvalid", r, err)
		}
	}
	good := []Request{
		{Path: "packs/a.pack", Length: 1},
		{Path: "tuf/timestamp.json", MaxLength: 1 << 20},
		{Path: "a", Offset: 1 << 40, Length: 1},
	}
	for _, r := range good {
		if err := r.validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}
