package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestFetchHTTPExactRange(t *testing.T) {
	data := fetchTestData(100_000)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path != "/site/packs/p1.pack" {
			http.NotFound(w, r)
			return
		}
		fetchServeContent(w, r, data)
	})
	cases := []struct {
		name      string
		req       Request
		want      []byte
		wantRange string
	}{
		{"middle", Request{Offset: 1000, Length: 5000}, data[1000:6000], "bytes=1000-5999"},
		{"first byte", Request{Offset: 0, Length: 1}, data[:1], "bytes=0-0"},
		{"last byte", Request{Offset: 99_999, Length: 1}, data[99_999:], "bytes=99999-99999"},
		{"all as a range", Request{Offset: 0, Length: 100_000}, data, "bytes=0-99999"},
		{"whole file", Request{MaxLength: 100_000}, data, ""},
		{"whole file under a larger cap", Request{MaxLength: 1 << 30}, data, ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stats FetchStats
			f := newTestHTTPFetcher(site.URL+"/site/", &stats)
			c.req.Path = "packs/p1.pack"
			var got bytes.Buffer
			if err := f.Fetch(t.Context(), c.req, &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), c.want) {
				t.Fatalf("got %d bytes, want %d (contents differ: %v)", got.Len(), len(c.want), got.Len() == len(c.want))
			}
			seen := site.requests()[i]
			if c.wantRange == "" && len(seen.ranges) != 0 || c.wantRange != "" && (len(seen.ranges) != 1 || seen.ranges[0] != c.wantRange) {
				t.Errorf("Range headers %q, want %q", seen.ranges, c.wantRange)
			}
			if stats.Requests() != 1 || stats.Bytes() != int64(len(c.want)) {
				t.Errorf("stats: %d requests, %d bytes; want 1, %d", stats.Requests(), stats.Bytes(), len(c.want))
			}
		})
	}
	checkFetchSingleRanges(t, site.requests())
}

func TestFetchHTTPNoRangeSupport(t *testing.T) {
	data := fetchTestData(10_000)
	// An old server or a misconfigured proxy: 200 and the whole file, always.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	})
	f := newTestHTTPFetcher(site.URL, nil)
	for _, req := range []Request{
		{Path: "a", Offset: 0, Length: 100},
		{Path: "a", Offset: 10, Length: 100},
		{Path: "a", Offset: 10, Length: 9_990},
	} {
		var got bytes.Buffer
		err := f.Fetch(t.Context(), req, &got)
		if !errors.Is(err, ErrNoRangeSupport) {
			t.Errorf("%v: got %v, want ErrNoRangeSupport", req, err)
		}
		if got.Len() != 0 {
			t.Errorf("%v: %d bytes written, want none", req, got.Len())
		}
	}
	// When the range is the whole file, the 200 is the answer.
	var got bytes.Buffer
	if err := f.Fetch(t.Context(), Request{Path: "a", Length: 10_000}, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("whole file as a range: %v, %d bytes", err, got.Len())
	}
	if n := len(site.requests()); n != 4 {
		t.Errorf("%d requests, want 4 (no retries of a refusal)", n)
	}
}

func TestFetchHTTPBadContentRange(t *testing.T) {
	data := fetchTestData(1000)
	cases := []struct {
		name   string
		header string
		want   error
	}{
		{"wrong start", "bytes 0-99/1000", ErrNoRangeSupport},
		{"wider", "bytes 100-299/1000", ErrTooLong},
		{"narrower, not at the end", "bytes 100-149/1000", ErrNoRangeSupport},
		{"file ends early", "bytes 100-149/150", ErrShort},
		{"garbage", "bytes=100-199", ErrNoRangeSupport},
		{"missing", "", ErrNoRangeSupport},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				if c.header != "" {
					w.Header().Set("Content-Range", c.header)
				}
				w.WriteHeader(http.StatusPartialContent)
				w.Write(data[100:200])
			})
			var got bytes.Buffer
			err := newTestHTTPFetcher(site.URL, nil).Fetch(t.Context(), Request{Path: "a", Offset: 100, Length: 100}, &got)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if got.Len() != 0 {
				t.Errorf("%d bytes written, want none", got.Len())
			}
		})
	}
}

func TestFetchHTTPLongerThanPromised(t *testing.T) {
	data := fetchTestData(10_000)
	// The right Content-Range, then more body than it says: without a
	// Content-Length (chunked), only the fetcher can notice.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		start, end, _ := fetchParseRange(t, r)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[start : end+1])
		w.(http.Flusher).Flush()
		w.Write(data[end+1:])
	})
	var got bytes.Buffer
	err := newTestHTTPFetcher(site.URL, nil).Fetch(t.Context(), Request{Path: "a", Offset: 100, Length: 1000}, &got)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if got.Len() > 1000 || !bytes.Equal(got.Bytes(), data[100:100+got.Len()]) {
		t.Fatalf("%d bytes written, want at most 1000, all of the range", got.Len())
	}
}

func TestFetchHTTPEndlessStream(t *testing.T) {
	// A hostile server streams without end to a request for a capped file.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		chunk := bytes.Repeat([]byte("{}"), 16<<10)
		for range 1000 { // bounded: 32 MiB at most
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	var stats FetchStats
	var got bytes.Buffer
	const max = 100_000
	err := newTestHTTPFetcher(site.URL, &stats).Fetch(t.Context(), Request{Path: "tuf/timestamp.json", MaxLength: max}, &got)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if got.Len() != max {
		t.Errorf("%d bytes written, want the cap, %d", got.Len(), max)
	}
	if stats.Requests() != 1 {
		t.Errorf("%d requests, want 1", stats.Requests())
	}
	// With a Content-Length over the cap, nothing is read at all.
	site2 := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		fetchServeContent(w, r, fetchTestData(max+1))
	})
	got.Reset()
	err = newTestHTTPFetcher(site2.URL, nil).Fetch(t.Context(), Request{Path: "tuf/timestamp.json", MaxLength: max}, &got)
	if !errors.Is(err, ErrTooLong) || got.Len() != 0 {
		t.Fatalf("Content-Length over the cap: %v, %d bytes written; want ErrTooLong, none", err, got.Len())
	}
}

func TestFetchHTTPResumeShortBody(t *testing.T) {
	data := fetchTestData(300_000)
	// The connection dies after 100 000 bytes of each of the first two answers.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, i int) {
		start, end, _ := fetchParseRange(t, r)
		body := data[start : end+1]
		cut := i < 2 && len(body) > 100_000
		if cut {
			body = body[:100_000]
		}
		fetchWriteRange(w, start, end, int64(len(data)), body, cut)
	})
	var stats FetchStats
	var got bytes.Buffer
	req := Request{Path: "packs/p.pack", Offset: 1000, Length: 250_000}
	if err := newTestHTTPFetcher(site.URL, &stats).Fetch(t.Context(), req, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data[1000:251_000]) {
		t.Fatalf("got %d bytes, want exactly the 250000 of the range", got.Len())
	}
	seen := site.requests()
	want := []string{"bytes=1000-250999", "bytes=101000-250999", "bytes=201000-250999"}
	if len(seen) != len(want) {
		t.Fatalf("%d requests, want %d", len(seen), len(want))
	}
	for i := range want {
		if len(seen[i].ranges) != 1 || seen[i].ranges[0] != want[i] {
			t.Errorf("request %d: Range %q, want %q", i, seen[i].ranges, want[i])
		}
	}
	if stats.Requests() != 3 || stats.Bytes() != 250_000 {
		t.Errorf("stats: %d requests, %d bytes; want 3, 250000", stats.Requests(), stats.Bytes())
	}
}

func TestFetchHTTPResumeWholeFile(t *testing.T) {
	data := fetchTestData(50_000)
	// A whole-file fetch cut half way resumes with an open range guarded by
	// If-Range, so a changed file cannot be spliced.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, i int) {
		if i == 0 {
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:20_000])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		fetchServeContent(w, r, data)
	})
	var got bytes.Buffer
	if err := newTestHTTPFetcher(site.URL, nil).Fetch(t.Context(), Request{Path: "tuf/1.root.json", MaxLength: 1 << 20}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes, want the file's %d", got.Len(), len(data))
	}
	seen := site.requests()
	if len(seen) != 2 || len(seen[1].ranges) != 1 || seen[1].ranges[0] != "bytes=20000-" || seen[1].ifRange != `"v1"` {
		t.Fatalf("requests %+v, want a resume from 20000 with If-Range \"v1\"", seen)
	}

	// The file changed between the two requests: the server answers 200 to
	// the If-Range, and the fetch fails instead of splicing two versions.
	site2 := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, i int) {
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, i))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:20_000])
		if i == 0 {
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(data[20_000:])
	})
	got.Reset()
	err := newTestHTTPFetcher(site2.URL, nil).Fetch(t.Context(), Request{Path: "tuf/timestamp.json", MaxLength: 1 << 20}, &got)
	if !errors.Is(err, ErrNoRangeSupport) || got.Len() != 20_000 {
		t.Fatalf("changed file: %v, %d bytes written; want ErrNoRangeSupport after 20000", err, got.Len())
	}
}

func TestFetchHTTPShortGivesUp(t *testing.T) {
	data := fetchTestData(10_000)
	// Every answer dies after 10 bytes: each resume makes too little progress.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, i int) {
		start, end, _ := fetchParseRange(t, r)
		fetchWriteRange(w, start, end, int64(len(data)), data[start:start+10], true)
	})
	var stats FetchStats
	var got bytes.Buffer
	f := newTestHTTPFetcher(site.URL, &stats)
	f.MaxRetries = 2
	err := f.Fetch(t.Context(), Request{Path: "a", Length: 10_000}, &got)
	if !errors.Is(err, ErrShort) {
		t.Fatalf("got %v, want ErrShort", err)
	}
	if stats.Requests() != 3 || !bytes.Equal(got.Bytes(), data[:30]) {
		t.Errorf("%d requests, %d bytes; want 3 requests and the first 30 bytes", stats.Requests(), got.Len())
	}
}

func TestFetchHTTPFileShorterThanRange(t *testing.T) {
	data := fetchTestData(1000)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	f := newTestHTTPFetcher(site.URL, nil)
	for _, req := range []Request{
		{Path: "a", Offset: 900, Length: 200},  // 206 bytes 900-999/1000
		{Path: "a", Offset: 2000, Length: 100}, // 416
	} {
		err := f.Fetch(t.Context(), req, io.Discard)
		if !errors.Is(err, ErrShort) {
			t.Errorf("%v: got %v, want ErrShort", req, err)
		}
	}
	if n := len(site.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (no retries)", n)
	}
}

func TestFetchHTTPTrickle(t *testing.T) {
	// One byte per second, headers at once: abandoned after one window.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		start, end, _ := fetchParseRange(t, r)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, end+1))
		w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
		w.WriteHeader(http.StatusPartialContent)
		for range end - start + 1 {
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
	for _, retries := range []int{-1, 1} {
		t.Run(fmt.Sprintf("retries=%d", retries), func(t *testing.T) {
			var stats FetchStats
			f := newTestHTTPFetcher(site.URL, &stats)
			f.MinRate, f.MinRateWindow, f.MaxRetries = 1024, 500*time.Millisecond, retries
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			err := f.Fetch(ctx, Request{Path: "a", Length: 1 << 20}, io.Discard)
			elapsed := time.Since(start)
			if !errors.Is(err, ErrTooSlow) {
				t.Fatalf("got %v, want ErrTooSlow", err)
			}
			attempts := int64(max(retries, 0) + 1)
			if stats.Requests() != attempts {
				t.Errorf("%d requests, want %d", stats.Requests(), attempts)
			}
			if limit := time.Duration(attempts)*time.Second + time.Second; elapsed > limit {
				t.Errorf("took %s, want under %s", elapsed, limit)
			}
		})
	}
}

func TestFetchHTTPHeaderTimeout(t *testing.T) {
	// Accepts, then never answers.
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	var stats FetchStats
	f := newTestHTTPFetcher(site.URL, &stats)
	f.RequestTimeout, f.MaxRetries = 200*time.Millisecond, 1
	start := time.Now()
	err := f.Fetch(t.Context(), Request{Path: "a", Length: 10}, io.Discard)
	if !errors.Is(err, ErrTooSlow) {
		t.Fatalf("got %v, want ErrTooSlow", err)
	}
	if stats.Requests() != 2 {
		t.Errorf("%d requests, want 2 (one retry)", stats.Requests())
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %s", elapsed)
	}
}

func TestFetchHTTPRetries(t *testing.T) {
	data := fetchTestData(5000)
	cases := []struct {
		name   string
		status int
	}{{"500", http.StatusInternalServerError}, {"503", http.StatusServiceUnavailable}, {"429", http.StatusTooManyRequests}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, i int) {
				if i == 0 {
					http.Error(w, "busy", c.status)
					return
				}
				fetchServeContent(w, r, data)
			})
			var stats FetchStats
			var got bytes.Buffer
			if err := newTestHTTPFetcher(site.URL, &stats).Fetch(t.Context(), Request{Path: "a", Offset: 10, Length: 4000}, &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data[10:4010]) {
				t.Fatalf("got %d bytes", got.Len())
			}
			if stats.Requests() != 2 {
				t.Errorf("%d requests, want 2", stats.Requests())
			}
		})
	}
	t.Run("always 503", func(t *testing.T) {
		site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, i int) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		})
		var stats FetchStats
		f := newTestHTTPFetcher(site.URL, &stats)
		f.MaxRetries = 2
		err := f.Fetch(t.Context(), Request{Path: "a", Length: 10}, io.Discard)
		var se *StatusError
		if !errors.Is(err, ErrBadStatus) || !errors.As(err, &se) || se.StatusCode != 503 {
			t.Fatalf("got %v, want a *StatusError 503 matching ErrBadStatus", err)
		}
		if stats.Requests() != 3 {
			t.Errorf("%d requests, want 3", stats.Requests())
		}
	})
}

func TestFetchHTTPNotFound(t *testing.T) {
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { http.NotFound(w, r) })
	var stats FetchStats
	var got bytes.Buffer
	err := newTestHTTPFetcher(site.URL, &stats).Fetch(t.Context(), Request{Path: "deltas/a-b/superblock", Length: 10}, &got)
	var se *StatusError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("got %v, want a *StatusError 404 matching ErrNotFound", err)
	}
	if errors.Is(err, ErrBadStatus) {
		t.Errorf("404 matches ErrBadStatus")
	}
	if stats.Requests() != 1 || got.Len() != 0 {
		t.Errorf("%d requests, %d bytes; want 1 request, no bytes", stats.Requests(), got.Len())
	}
}

func TestFetchHTTPCancel(t *testing.T) {
	data := fetchTestData(100_000)
	// Half the body, then silence.
	stalled := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data[:50_000])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	down := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	for name, f := range map[string]*HTTPFetcher{
		"mid-body":       {BaseURL: stalled.URL},
		"during backoff": {BaseURL: down.URL, RetryWait: 10 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(200*time.Millisecond, cancel)
			start := time.Now()
			err := f.Fetch(ctx, Request{Path: "a", MaxLength: 1 << 20}, io.Discard)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Errorf("returned %s after the start, want promptly after the cancel at 200ms", elapsed)
			}
		})
	}
}

func TestFetchHTTPWriterError(t *testing.T) {
	data := fetchTestData(100_000)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	var stats FetchStats
	boom := errors.New("verifier: hash mismatch")
	err := newTestHTTPFetcher(site.URL, &stats).Fetch(t.Context(), Request{Path: "a", Length: 100_000}, fetchFailingWriter{boom})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the writer's error", err)
	}
	if stats.Requests() != 1 {
		t.Errorf("%d requests, want 1: a writer's error is not retried", stats.Requests())
	}
}

type fetchFailingWriter struct{ err error }

func (w fetchFailingWriter) Write(p []byte) (int, error) { return 0, w.err }

func TestNewFetcher(t *testing.T) {
	dir := t.TempDir()
	good := map[string]string{
		"https://updates.example.com/os/": "*client.HTTPFetcher",
		"http://127.0.0.1:8080":           "*client.HTTPFetcher",
		"file://" + dir:                   "*client.FileFetcher",
		"file://localhost" + dir:          "*client.FileFetcher",
	}
	for u, typ := range good {
		f, err := NewFetcher(u, FetchOptions{})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if got := fmt.Sprintf("%T", f); got != typ {
			t.Errorf("%s: %s, want %s", u, got, typ)
		}
	}
	for _, u := range []string{"ftp://example.com/site", "s3://bucket/site", dir, "file:relative/site", "file://host/site", "https:///nohost", "https://example.com/site?x=1", "::"} {
		if _, err := NewFetcher(u, FetchOptions{}); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}
