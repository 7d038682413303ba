package client

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	good := map[string]int64{
		"1":           1,
		"1000":        1000,
		"256k":        256 << 10,
		"256K":        256 << 10,
		"2M":          2 << 20,
		"2m":          2 << 20,
		"1G":          1 << 30,
		"0010k":       10 << 10,
		"8589934591G": 8589934591 << 30,
	}
	for s, want := range good {
		if got, err := ParseRate(s); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "k", "0", "0k", "-1", "+5", "1.5M", "256 k", " 256k", "256kb", "256KiB", "1T", "9223372036854775808", "8589934592G", "0x10"} {
		if got, err := ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", s, got)
		}
	}
}

func TestFetchRateLimited(t *testing.T) {
	data := fetchTestData(64 << 10)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	f := &RateLimited{Fetcher: newTestHTTPFetcher(site.URL, nil), Limiter: NewFetchLimiter(128 << 10)}
	var got bytes.Buffer
	start := time.Now()
	if err := f.Fetch(t.Context(), Request{Path: "a", Length: int64(len(data))}, &got); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes", got.Len())
	}
	// 64 KiB at 128 KiB/s from an empty bucket: half a second. Only a lower
	// bound: a loaded machine may take longer.
	if elapsed < 450*time.Millisecond {
		t.Errorf("64 KiB at 128 KiB/s took %s, want about 500ms", elapsed)
	}
}

func TestFetchRateLimitedNotTooSlow(t *testing.T) {
	// A cap far below MinRate must not make a fast server look slow: the
	// minimum rate counts only time spent waiting for the server.
	data := fetchTestData(12 << 10)
	site := newFetchTestSite(t, func(w http.ResponseWriter, r *http.Request, _ int) { fetchServeContent(w, r, data) })
	hf := newTestHTTPFetcher(site.URL, nil)
	hf.MinRate, hf.MinRateWindow, hf.MaxRetries = 1<<20, 100*time.Millisecond, -1
	f := &RateLimited{Fetcher: hf, Limiter: NewFetchLimiter(16 << 10)}
	var got bytes.Buffer
	if err := f.Fetch(t.Context(), Request{Path: "a", Length: int64(len(data))}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes", got.Len())
	}
}
