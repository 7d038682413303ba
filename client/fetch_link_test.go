package client

// Link faults, through Toxiproxy run in this process: slow, lossy and cut
// links between the fetcher and an httptest site.

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// newFetchLink starts a Toxiproxy proxy in front of site and returns it; its
// Listen field is the address to dial.
func newFetchLink(t *testing.T, site *fetchTestSite) *toxiproxy.Proxy {
	t.Helper()
	zerolog.SetGlobalLevel(zerolog.Disabled) // some toxics log through the global logger
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", site.Listener.Addr().String())
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// fetchLinkContext bounds a link test, so that a fetch that never ends fails
// the test instead of hanging it.
func fetchLinkContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func addFetchToxic(t *testing.T, p *toxiproxy.Proxy, json string) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		t.Fatalf("toxic %s: %v", json, err)
	}
}

// checkFetchWire fails the test if the fetch took more than 5% over size in
// body bytes, as it would if a cut made it start over.
func checkFetchWire(t *testing.T, stats *FetchStats, size int) {
	t.Helper()
	if limit := int64(size) * 105 / 100; stats.Bytes() > limit {
		t.Errorf("received %d body bytes for %d, over the 5%% allowance (%d)", stats.Bytes(), size, limit)
	}
	t.Logf("%d requests, %d body bytes received for %d", stats.Requests(), stats.Bytes(), size)
}

func TestFetchLinkSlow(t *testing.T) {
	// 256 kbit/s with 300 ms latency, as on a poor cellular link.
	size := 160 << 10 // 5 s at 32 kB/s
	if testing.Short() {
		size = 32 << 10
	}
	data := fetchTestData(size)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	link := newFetchLink(t, site)
	addFetchToxic(t, link, `{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":32}}`)
	addFetchToxic(t, link, `{"name":"lat","type":"latency","stream":"downstream","attributes":{"latency":300}}`)

	var stats FetchStats
	f := newTestHTTPFetcher("http://"+link.Listen, &stats)
	f.MinRate, f.MinRateWindow = 8<<10, 2*time.Second // well under the link's rate
	var got bytes.Buffer
	start := time.Now()
	if err := f.Fetch(fetchLinkContext(t), Request{Path: "packs/p.pack", Length: int64(size)}, &got); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes, want %d", got.Len(), size)
	}
	if floor := time.Duration(size) * time.Millisecond / 32_000; elapsed < floor {
		t.Errorf("took %s, faster than the link allows (%s): the toxics did not apply", elapsed, floor)
	}
	if stats.Requests() != 1 {
		t.Errorf("%d requests, want 1", stats.Requests())
	}
	checkFetchWire(t, &stats, size)
}

func TestFetchLinkResetEveryMiB(t *testing.T) {
	// Each connection is cut after 1 MiB: a 3 MiB range takes four
	// connections, each resuming where the last one stopped.
	const size = 3 << 20
	data := fetchTestData(size)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	link := newFetchLink(t, site)
	addFetchToxic(t, link, `{"name":"cut","type":"limit_data","stream":"downstream","attributes":{"bytes":1048576}}`)

	var stats FetchStats
	var got bytes.Buffer
	if err := newTestHTTPFetcher("http://"+link.Listen, &stats).Fetch(fetchLinkContext(t), Request{Path: "packs/p.pack", Length: size}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes, want %d", got.Len(), size)
	}
	if stats.Requests() < 4 {
		t.Errorf("%d requests, want at least 4: the link was not cut", stats.Requests())
	}
	checkFetchWire(t, &stats, size)
	seen := site.requests()
	checkFetchSingleRanges(t, seen)
	if last := seen[len(seen)-1].ranges; len(last) != 1 || strings.HasPrefix(last[0], "bytes=0-") {
		t.Errorf("last request Range %q, want a resume from past byte 0", last)
	}
}

func TestFetchLinkCutThenResume(t *testing.T) {
	// A fast-enough link (2 MB/s) is cut mid-transfer: every connection is
	// reset for half a second, then the link comes back. The fetch rides it
	// out with retries and resumes from the byte it reached.
	size := 3 << 20
	if testing.Short() {
		size = 1 << 20
	}
	data := fetchTestData(size)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	link := newFetchLink(t, site)
	addFetchToxic(t, link, `{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":2000}}`)

	var stats FetchStats
	f := newTestHTTPFetcher("http://"+link.Listen, &stats)
	f.RetryWait, f.MaxRetries = 50*time.Millisecond, 6
	var got bytes.Buffer
	done := make(chan error, 1)
	ctx := fetchLinkContext(t)
	go func() { done <- f.Fetch(ctx, Request{Path: "packs/p.pack", Length: int64(size)}, &got) }()

	time.Sleep(300 * time.Millisecond)
	addFetchToxic(t, link, `{"name":"reset","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)
	time.Sleep(500 * time.Millisecond)
	if err := link.Toxics.RemoveToxic(context.Background(), "reset"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes, want %d", got.Len(), size)
	}
	if stats.Requests() < 2 {
		t.Errorf("%d requests, want at least 2: the link was not cut", stats.Requests())
	}
	checkFetchWire(t, &stats, size)
	seen := site.requests()
	checkFetchSingleRanges(t, seen)
	if last := seen[len(seen)-1].ranges; len(last) != 1 || strings.HasPrefix(last[0], "bytes=0-") {
		t.Errorf("last request Range %q, want a resume from past byte 0", last)
	}
}
