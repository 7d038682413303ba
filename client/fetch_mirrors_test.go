package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFetchMirrorsFirstDead(t *testing.T) {
	data := fetchTestData(100_000)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // connections refused
	good := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	var deadStats, goodStats FetchStats
	m := &Mirrors{Fetchers: []Fetcher{newTestHTTPFetcher(dead.URL, &deadStats), newTestHTTPFetcher(good.URL, &goodStats)}}
	var got bytes.Buffer
	if err := m.Fetch(t.Context(), Request{Path: "a", Offset: 500, Length: 50_000}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data[500:50_500]) {
		t.Fatalf("got %d bytes", got.Len())
	}
	if deadStats.Requests() != 4 || goodStats.Requests() != 1 {
		t.Errorf("requests: %d to the dead mirror (want 4: MaxRetries 3), %d to the good one (want 1)", deadStats.Requests(), goodStats.Requests())
	}
}

func TestFetchMirrorsContinueAtOffset(t *testing.T) {
	data := fetchTestData(100_000)
	// The first mirror always dies 30 000 bytes into its answer, and may not
	// resume; the second must start where it stopped.
	first := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		start, end, _ := fetchParseRange(t, r)
		fetchWriteRange(w, start, end, int64(len(data)), data[start:start+30_000], true)
	})
	second := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	f1 := newTestHTTPFetcher(first.URL, nil)
	f1.MaxRetries = -1
	var wire FetchStats
	f2 := newTestHTTPFetcher(second.URL, &wire)
	var got bytes.Buffer
	if err := (&Mirrors{Fetchers: []Fetcher{f1, f2}}).Fetch(t.Context(), Request{Path: "a", Offset: 1000, Length: 90_000}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data[1000:91_000]) {
		t.Fatalf("got %d bytes, want the 90000 of the range, each once", got.Len())
	}
	seen := second.requests()
	if len(seen) != 1 || len(seen[0].ranges) != 1 || seen[0].ranges[0] != "bytes=31000-90999" {
		t.Fatalf("second mirror saw %+v, want one request for bytes=31000-90999", seen)
	}
	if wire.Bytes() != 60_000 {
		t.Errorf("second mirror sent %d bytes, want 60000", wire.Bytes())
	}
}

func TestFetchMirrorsNotFound(t *testing.T) {
	data := fetchTestData(1000)
	unsynced := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { http.NotFound(w, r) })
	synced := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	down := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	short := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data[:500]) })
	fetcher := func(s *fetchTestSite) Fetcher {
		f := newTestHTTPFetcher(s.URL, nil)
		f.MaxRetries = -1
		return f
	}
	req := Request{Path: "packs/p.pack", Length: 1000}

	// Not yet synced on the first mirror: the second has it.
	var got bytes.Buffer
	if err := (&Mirrors{Fetchers: []Fetcher{fetcher(unsynced), fetcher(synced)}}).Fetch(t.Context(), req, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("404 then 206: %v, %d bytes", err, got.Len())
	}

	cases := []struct {
		name     string
		mirrors  []*fetchTestSite
		notFound bool
		short    bool
	}{
		{"all not found", []*fetchTestSite{unsynced, unsynced}, true, false},
		{"down and not found", []*fetchTestSite{down, unsynced}, false, false},
		{"not found and short", []*fetchTestSite{unsynced, short}, false, true},
	}
	for _, c := range cases {
		var fs []Fetcher
		for _, s := range c.mirrors {
			fs = append(fs, fetcher(s))
		}
		err := (&Mirrors{Fetchers: fs}).Fetch(t.Context(), req, io.Discard)
		var me *MirrorsError
		if !errors.As(err, &me) || len(me.Errs) != len(fs) {
			t.Errorf("%s: got %v, want a *MirrorsError of %d errors", c.name, err, len(fs))
		}
		if errors.Is(err, ErrNotFound) != c.notFound || errors.Is(err, ErrShort) != c.short {
			t.Errorf("%s: %v: ErrNotFound %v, ErrShort %v; want %v, %v", c.name, err,
				errors.Is(err, ErrNotFound), errors.Is(err, ErrShort), c.notFound, c.short)
		}
	}
}

func TestFetchMirrorsNoFailover(t *testing.T) {
	data := fetchTestData(100_000)
	good := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	other := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	m := &Mirrors{Fetchers: []Fetcher{newTestHTTPFetcher(good.URL, nil), newTestHTTPFetcher(other.URL, nil)}}

	// The caller's writer failing is the caller's problem.
	boom := errors.New("disk full")
	if err := m.Fetch(t.Context(), Request{Path: "a", Length: 1000}, fetchFailingWriter{boom}); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the writer's error", err)
	}
	// Nor is a cancelled fetch.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Fetch(ctx, Request{Path: "a", Length: 1000}, io.Discard); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("second mirror got %d requests, want none", n)
	}

	// A mutable whole file cut half way is not spliced from another mirror.
	cut := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Length", "1000")
		w.Write(data[:400])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	f1 := newTestHTTPFetcher(cut.URL, nil)
	f1.MaxRetries = -1
	m = &Mirrors{Fetchers: []Fetcher{f1, newTestHTTPFetcher(other.URL, nil)}}
	if err := m.Fetch(t.Context(), Request{Path: "tuf/timestamp.json", MaxLength: 1 << 20}, io.Discard); !errors.Is(err, ErrShort) {
		t.Fatalf("got %v, want ErrShort", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Fatalf("second mirror got %d requests, want none", n)
	}
}
