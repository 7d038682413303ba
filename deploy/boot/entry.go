package boot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxEntrySize caps a boot entry file that ParseEntry reads.
const MaxEntrySize = 64 << 10

// ErrBadEntry is matched by errors of ParseEntry and ParseEntryName.
var ErrBadEntry = errors.New("malformed boot entry")

// EntryName returns the file name of an entry in loader/entries:
// arbor-OS-NNNN.conf, with +LEFT or +LEFT-DONE before .conf when counted.
func EntryName(os string, number int, tries *Tries) string {
	s := fmt.Sprintf("arbor-%s-%04d", os, number)
	if tries != nil {
		s += "+" + strconv.Itoa(tries.Left)
		if tries.Done > 0 {
			s += "-" + strconv.Itoa(tries.Done)
		}
	}
	return s + ".conf"
}

// ParseEntryName parses a file name written by EntryName, as systemd-boot
// may have renamed it (its counter counted down). It fails with ErrBadEntry
// for a name arbor did not write.
func ParseEntryName(name string) (os string, number int, tries *Tries, err error) {
	bad := func(why string) (string, int, *Tries, error) {
		return "", 0, nil, fmt.Errorf("%w: file name %q: %s", ErrBadEntry, name, why)
	}
	rest, ok := strings.CutPrefix(name, "arbor-")
	if !ok {
		return bad("does not start with arbor-")
	}
	rest, ok = strings.CutSuffix(rest, ".conf")
	if !ok {
		return bad("does not end in .conf")
	}
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		counter := rest[i+1:]
		rest = rest[:i]
		left, done, hasDone := strings.Cut(counter, "-")
		l, ok1 := parseDecimal(left)
		d, ok2 := 0, true
		if hasDone {
			d, ok2 = parseDecimal(done)
		}
		if !ok1 || !ok2 {
			return bad("bad boot counter")
		}
		tries = &Tries{Left: l, Done: d}
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return bad("no entry number")
	}
	os, num := rest[:i], rest[i+1:]
	if len(num) < 4 {
		return bad("entry number has fewer than 4 digits")
	}
	n, ok := parseDecimal(num)
	if !ok || n > 99999999 {
		return bad("bad entry number")
	}
	if err := CheckOSName(os); err != nil {
		return bad(err.Error())
	}
	return os, n, tries, nil
}

// parseDecimal accepts 1 to 9 ASCII digits.
func parseDecimal(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// FormatEntry returns the Boot Loader Specification (type #1) entry file
// for e. Its version is the zero-padded entry number, so that a loader
// ordering by version agrees with one ordering by file name.
func FormatEntry(e Entry) ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "title %s\n", e.Title)
	fmt.Fprintf(&b, "version %04d\n", e.Number)
	fmt.Fprintf(&b, "linux %s\n", e.Linux)
	if e.Initrd != "" {
		fmt.Fprintf(&b, "initrd %s\n", e.Initrd)
	}
	fmt.Fprintf(&b, "options %s\n", e.Options)
	return b.Bytes(), nil
}

// ParseEntry parses a boot entry file named name (as found in
// loader/entries). Keys other than title, version, linux, initrd and
// options are ignored, as boot loaders do; options lines are joined; the
// entry must have a kernel and its version must match its file name's
// number.
func ParseEntry(name string, data []byte) (Entry, error) {
	os, n, tries, err := ParseEntryName(name)
	if err != nil {
		return Entry{}, err
	}
	if len(data) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: %s is over %d bytes", ErrBadEntry, name, MaxEntrySize)
	}
	e := Entry{OS: os, Number: n, Tries: tries, Name: name}
	var opts []string
	version := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxEntrySize+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			key, val = line[:i], strings.TrimSpace(line[i+1:])
		}
		if strings.ContainsRune(val, 0) {
			return Entry{}, fmt.Errorf("%w: %s: NUL in %s", ErrBadEntry, name, key)
		}
		switch key {
		case "title":
			e.Title = val
		case "version":
			version = val
		case "linux":
			e.Linux = val
		case "initrd":
			if e.Initrd == "" {
				e.Initrd = val
			}
		case "options":
			if val != "" {
				opts = append(opts, val)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Entry{}, fmt.Errorf("%w: %s: %v", ErrBadEntry, name, err)
	}
	e.Options = strings.Join(opts, " ")
	if e.Linux == "" {
		return Entry{}, fmt.Errorf("%w: %s has no linux line", ErrBadEntry, name)
	}
	if v, ok := parseDecimal(version); !ok || v != n {
		return Entry{}, fmt.Errorf("%w: %s: version %q does not match its number", ErrBadEntry, name, version)
	}
	if err := e.validate(); err != nil {
		return Entry{}, fmt.Errorf("%w: %s: %v", ErrBadEntry, name, err)
	}
	return e, nil
}
