package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// fetchConformance runs the cases every Fetcher must pass against a site
// holding fetchConformanceSite's files.
func fetchConformance(t *testing.T, f Fetcher) {
	data := fetchTestData(200_000)
	small := []byte(`{"signed":{"_type":"timestamp"}}`)
	cases := []struct {
		name string
		req  Request
		want []byte
		err  error
	}{
		{"range", Request{Path: "packs/p1.pack", Offset: 12_345, Length: 100_000}, data[12_345:112_345], nil},
		{"one byte", Request{Path: "packs/p1.pack", Offset: 199_999, Length: 1}, data[199_999:], nil},
		{"whole as range", Request{Path: "packs/p1.pack", Length: 200_000}, data, nil},
		{"whole file", Request{Path: "tuf/timestamp.json", MaxLength: 1 << 20}, small, nil},
		{"whole file at its cap", Request{Path: "tuf/timestamp.json", MaxLength: int64(len(small))}, small, nil},
		{"whole file over its cap", Request{Path: "tuf/timestamp.json", MaxLength: int64(len(small)) - 1}, nil, ErrTooLong},
		{"rest of a file", Request{Path: "packs/p1.pack", Offset: 150_000, MaxLength: 1 << 20}, data[150_000:], nil},
		{"not found", Request{Path: "packs/missing.pack", Length: 10}, nil, ErrNotFound},
		{"not found whole", Request{Path: "tuf/9.root.json", MaxLength: 1 << 20}, nil, ErrNotFound},
		{"range past the end", Request{Path: "packs/p1.pack", Offset: 199_000, Length: 2000}, nil, ErrShort},
		{"range after the end", Request{Path: "packs/p1.pack", Offset: 300_000, Length: 10}, nil, ErrShort},
		{"invalid path", Request{Path: "../secret", Length: 10}, nil, errFetchInvalid},
		{"absolute path", Request{Path: "/etc/passwd", Length: 10}, nil, errFetchInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bytes.Buffer
			err := f.Fetch(t.Context(), c.req, &got)
			if c.err == nil && err != nil || !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
			if c.err == nil && !bytes.Equal(got.Bytes(), c.want) {
				t.Fatalf("got %d bytes, want %d", got.Len(), len(c.want))
			}
			if c.err != nil && got.Len() != 0 {
				t.Fatalf("%d bytes written on error, want none", got.Len())
			}
		})
	}
}

// fetchConformanceSite writes the files fetchConformance expects.
func fetchConformanceSite(t *testing.T) string {
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		"packs/p1.pack":      fetchTestData(200_000),
		"tuf/timestamp.json": []byte(`{"signed":{"_type":"timestamp"}}`),
		"secret":             []byte("outside the site"),
	} {
		p := filepath.Join(dir, "site", filepath.FromSlash(name))
		if name == "secret" {
			p = filepath.Join(dir, name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "site")
}

// TestFetchConformance runs the same cases against every fetcher and wrapper.
func TestFetchConformance(t *testing.T) {
	root := fetchConformanceSite(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	unsynced := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(unsynced.Close)

	file, err := NewFetcher("file://"+root, FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	httpf, err := NewFetcher(srv.URL, FetchOptions{RetryWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	unsyncedf := newTestHTTPFetcher(unsynced.URL, nil)
	for name, f := range map[string]Fetcher{
		"file":          file,
		"http":          httpf,
		"mirrors":       &Mirrors{Fetchers: []Fetcher{unsyncedf, httpf}},
		"mirrors, file": &Mirrors{Fetchers: []Fetcher{&FileFetcher{Root: t.TempDir()}, file}},
		"rate limited":  &RateLimited{Fetcher: httpf, Limiter: rate.NewLimiter(rate.Limit(64<<20), 64<<10)},
		"counting":      &CountingFetcher{Fetcher: file, Stats: &FetchStats{}},
	} {
		t.Run(name, func(t *testing.T) { fetchConformance(t, f) })
	}
}

func TestFetchFileStaysInRoot(t *testing.T) {
	root := fetchConformanceSite(t)
	if err := os.Symlink("../secret", filepath.Join(root, "packs", "escape.pack")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "deltas"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &FileFetcher{Root: root}
	var got bytes.Buffer
	if err := f.Fetch(t.Context(), Request{Path: "packs/escape.pack", Length: 5}, &got); err == nil || got.Len() != 0 {
		t.Errorf("symlink out of the root: %v, %q", err, got.String())
	}
	if err := f.Fetch(t.Context(), Request{Path: "deltas", Length: 5}, &got); !errors.Is(err, ErrNotFound) {
		t.Errorf("directory: got %v, want ErrNotFound", err)
	}
}

func TestFetchFileStatsAndCancel(t *testing.T) {
	root := fetchConformanceSite(t)
	var stats FetchStats
	f := &FileFetcher{Root: root, Stats: &stats}
	if err := f.Fetch(t.Context(), Request{Path: "packs/p1.pack", Offset: 10, Length: 150_000}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if stats.Requests() != 1 || stats.Bytes() != 150_000 {
		t.Errorf("stats: %d requests, %d bytes; want 1, 150000", stats.Requests(), stats.Bytes())
	}
	// Cancelled while writing: stops before the next read.
	ctx, cancel := context.WithCancel(t.Context())
	w := fetchWriterFunc(func(p []byte) (int, error) { cancel(); return len(p), nil })
	err := f.Fetch(ctx, Request{Path: "packs/p1.pack", Length: 200_000}, w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

type fetchWriterFunc func(p []byte) (int, error)

func (f fetchWriterFunc) Write(p []byte) (int, error) { return f(p) }
