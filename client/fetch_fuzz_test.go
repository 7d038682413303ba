package client

import (
	"fmt"
	"strconv"
	"testing"
)

// FuzzParseContentRange checks that parseContentRange never panics, that what
// it accepts is consistent, and that it accepts its own canonical form.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 100-199/*", "bytes */1000", "bytes 0-0/1", "bytes 9-5/10", "bytes 0-10/10", "bytes=0-1/2", "bytes 00-01/02", "bytes -1-5/10", "bytes 0-9223372036854775807/*", "bytes 0-9223372036854775808/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if total < -1 || (first == -1) != (last == -1) || first < -1 {
			t.Fatalf("%q: %d-%d/%d", s, first, last, total)
		}
		var canon string
		if first == -1 {
			if total < 0 {
				t.Fatalf("%q: unsatisfied range without a length", s)
			}
			canon = fmt.Sprintf("bytes */%d", total)
		} else {
			if last < first || total >= 0 && last >= total {
				t.Fatalf("%q: inconsistent %d-%d/%d", s, first, last, total)
			}
			comp := "*"
			if total >= 0 {
				comp = strconv.FormatInt(total, 10)
			}
			canon = fmt.Sprintf("bytes %d-%d/%s", first, last, comp)
		}
		f2, l2, t2, err := parseContentRange(canon)
		if err != nil || f2 != first || l2 != last || t2 != total {
			t.Fatalf("%q: canonical form %q parses as %d-%d/%d, %v", s, canon, f2, l2, t2, err)
		}
	})
}

// FuzzParseRate checks that ParseRate never panics, accepts only positive
// rates, and accepts the plain decimal form of what it returns.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"256k", "1M", "1G", "100", "0", "", "k", "-1", "1.5M", "9223372036854775807", "8589934592G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseRate(s)
		if err != nil {
			return
		}
		if n <= 0 {
			t.Fatalf("%q: %d", s, n)
		}
		if m, err := ParseRate(strconv.FormatInt(n, 10)); err != nil || m != n {
			t.Fatalf("%q: %d does not round-trip: %d, %v", s, n, m, err)
		}
	})
}
