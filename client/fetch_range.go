package client

import (
	"errors"
	"strconv"
	"strings"
)

var errFetchContentRange = errors.New("malformed Content-Range")

// parseContentRange parses the Content-Range of a single-range answer
// (RFC 9110 §14.4): "bytes first-last/complete", where complete may be "*"
// (total -1), or "bytes */complete" for an unsatisfiable range (first and
// last -1). It refuses anything else: other units, spaces, signs, a range that
// ends before it starts or at or past the complete length, numbers that
// overflow int64.
func parseContentRange(s string) (first, last, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, errFetchContentRange
	}
	rng, comp, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, errFetchContentRange
	}
	total = -1
	if comp != "*" {
		if total, ok = fetchParseUint(comp); !ok {
			return 0, 0, 0, errFetchContentRange
		}
	}
	if rng == "*" {
		if total < 0 {
			return 0, 0, 0, errFetchContentRange
		}
		return -1, -1, total, nil
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, errFetchContentRange
	}
	if first, ok = fetchParseUint(a); !ok {
		return 0, 0, 0, errFetchContentRange
	}
	if last, ok = fetchParseUint(b); !ok {
		return 0, 0, 0, errFetchContentRange
	}
	if last < first || total >= 0 && last >= total {
		return 0, 0, 0, errFetchContentRange
	}
	return first, last, total, nil
}

// fetchParseUint parses 1*DIGIT into an int64.
func fetchParseUint(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
