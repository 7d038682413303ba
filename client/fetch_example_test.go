package client_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/arbor-ota/arbor/client"
)

// A fetcher stack as cmd/ assembles it: two mirrors, the first not synced
// yet, a rate cap shared by every request, and counts for the report.
func ExampleNewFetcher() {
	pack := strings.Repeat("arbor", 1000)
	primary := httptest.NewServer(http.NotFoundHandler())
	defer primary.Close()
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(pack))
	}))
	defer mirror.Close()

	var wire, delivered client.FetchStats
	var mirrors []client.Fetcher
	for _, u := range []string{primary.URL, mirror.URL} {
		f, err := client.NewFetcher(u, client.FetchOptions{Stats: &wire})
		if err != nil {
			fmt.Println(err)
			return
		}
		mirrors = append(mirrors, f)
	}
	rate, _ := client.ParseRate("256k") // --limit-rate 256k
	var f client.Fetcher = &client.Mirrors{Fetchers: mirrors}
	f = &client.RateLimited{Fetcher: f, Limiter: client.NewFetchLimiter(rate)}
	f = &client.CountingFetcher{Fetcher: f, Stats: &delivered}

	var buf bytes.Buffer
	err := f.Fetch(context.Background(), client.Request{Path: "packs/p.pack", Offset: 100, Length: 2000}, &buf)
	fmt.Println(err, buf.String() == pack[100:2100])
	fmt.Printf("wire: %d requests, %d bytes; delivered: %d bytes\n", wire.Requests(), wire.Bytes(), delivered.Bytes())
	// Output:
	// <nil> true
	// wire: 2 requests, 2000 bytes; delivered: 2000 bytes
}
