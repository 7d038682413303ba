package client

import (
	"fmt"
	"net/url"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// FetchOptions are the settings NewFetcher passes to the fetcher it builds.
// The zero value gives the defaults; see HTTPFetcher for each field.
type FetchOptions struct {
	Client         *retryablehttp.Client // HTTP(S) only
	RequestTimeout time.Duration         // HTTP(S) only
	MinRate        int64                 // HTTP(S) only
	MinRateWindow  time.Duration         // HTTP(S) only
	MaxRetries     int                   // HTTP(S) only
	RetryWait      time.Duration         // HTTP(S) only
	Stats          *FetchStats           // requests and bytes read, for both kinds
}

// NewFetcher returns the fetcher for the site at rawURL: an *HTTPFetcher for
// http:// and https://, a *FileFetcher for file:///absolute/path. It refuses
// other schemes, and a file:// URL with a host or without an absolute path.
// It does not wrap the result (mirrors, rate limits and counts are the
// caller's to add) and does not check that the site exists.
func NewFetcher(rawURL string, opts FetchOptions) (Fetcher, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("site URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		return NewHTTPFetcher(rawURL, opts)
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.Opaque != "" || u.Path == "" || u.Path[0] != '/' {
			return nil, fmt.Errorf("site URL %q: a file URL needs an absolute path on this machine, as file:///media/usb/site", rawURL)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("site URL %q: a query or fragment is not allowed", rawURL)
		}
		return &FileFetcher{Root: u.Path, Stats: opts.Stats}, nil
	case "":
		return nil, fmt.Errorf("site URL %q has no scheme: want http://, https:// or, for a local directory, file:///path", rawURL)
	}
	return nil, fmt.Errorf("site URL %q: unsupported scheme %q: want http, https or file", rawURL, u.Scheme)
}
