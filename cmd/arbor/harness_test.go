package main

// The harness for the command-line tests in cli_test.go: each scenario is a
// table of argument lists run in order against run(ctx, args, stdout,
// stderr), in-process, on a fresh temporary directory.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/arbor-ota/arbor/internal/sample"
)

// anyFailure as a row's code accepts any non-zero exit code.
const anyFailure = -1

// row is one command line and what it must do.
type row struct {
	args   []string       // command line; ${VAR} is replaced by the scenario's variables
	code   int            // exit code; anyFailure accepts any non-zero code
	out    []string       // substrings of stdout
	err    []string       // substrings of stderr
	notOut []string       // strings stdout must not contain
	json   map[string]any // stdout is JSON: slash-separated path -> value or matcher
	env    map[string]string

	save     string            // set this variable to the trimmed stdout
	saveJSON map[string]string // set variables to values at JSON paths of stdout
	rootOnly bool              // skip the rest of the scenario unless running as root

	before func(t *testing.T, v vars)                // runs before the command
	check  func(t *testing.T, v vars, stdout []byte) // runs after the other checks
}

type scenario struct {
	name string
	rows []row
}

// vars are a scenario's variables: T (its temporary directory), R (the
// repository path, not created), sample inputs, and what rows saved.
type vars map[string]string

func (v vars) expand(t *testing.T, s string) string {
	t.Helper()
	return os.Expand(s, func(name string) string {
		val, ok := v[name]
		if !ok {
			t.Fatalf("no variable %s in %q", name, s)
		}
		return val
	})
}

// set stores a variable; an object ID also gets NAME_PREFIX, its first 8 digits.
func (v vars) set(name, val string) {
	v[name] = val
	if idPattern.MatchString(val) {
		v[name+"_PREFIX"] = val[:8]
	}
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// newFixture makes a scenario's directory and sample inputs:
// TAR1..TAR4 (sample releases), TGZ and TZST (release 1 compressed),
// DIR1 and DIR2 (two small directories that differ in every way diff
// reports), FIFODIR (a directory holding a FIFO), ZERO (an ID no object has).
func newFixture(t *testing.T) vars {
	t.Helper()
	dir := t.TempDir()
	v := vars{"T": dir, "R": filepath.Join(dir, "repo"), "ZERO": strings.Repeat("0", 64)}
	for rel := 1; rel <= 4; rel++ {
		p := filepath.Join(dir, fmt.Sprintf("sample-r%d.tar", rel))
		writeFile(t, p, sample.Tar(rel), 0o644)
		v[fmt.Sprintf("TAR%d", rel)] = p
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(sample.Tar(1))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	v["TGZ"] = filepath.Join(dir, "sample-r1.tar.gz")
	writeFile(t, v["TGZ"], gz.Bytes(), 0o644)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	v["TZST"] = filepath.Join(dir, "sample-r1.tar.zst")
	writeFile(t, v["TZST"], enc.EncodeAll(sample.Tar(1), nil), 0o644)

	v["DIR1"] = filepath.Join(dir, "dir1")
	writeFile(t, filepath.Join(v["DIR1"], "a.txt"), []byte("one\n"), 0o644)
	writeFile(t, filepath.Join(v["DIR1"], "b.txt"), []byte("bee\n"), 0o644)
	writeFile(t, filepath.Join(v["DIR1"], "sub", "c.txt"), []byte("sea\n"), 0o644)
	symlink(t, "a.txt", filepath.Join(v["DIR1"], "link"))
	v["DIR2"] = filepath.Join(dir, "dir2")
	writeFile(t, filepath.Join(v["DIR2"], "a.txt"), []byte("one, changed\n"), 0o644)
	writeFile(t, filepath.Join(v["DIR2"], "b.txt"), []byte("bee\n"), 0o644)
	writeFile(t, filepath.Join(v["DIR2"], "d.txt"), []byte("dee\n"), 0o644)
	symlink(t, "b.txt", filepath.Join(v["DIR2"], "link"))

	v["FIFODIR"] = filepath.Join(dir, "fifodir")
	writeFile(t, filepath.Join(v["FIFODIR"], "plain"), []byte("plain\n"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(v["FIFODIR"], "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	return v
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// arbor runs one command line in-process.
func arbor(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(t.Context(), args, &o, &e)
	return code, o.String(), e.String()
}

// TestMain clears the environment variables the CLI reads, so that the
// tests give everything on the command line; rows that test the variables
// set them (and their scenarios do not run in parallel).
func TestMain(m *testing.M) {
	os.Unsetenv("ARBOR_REPO")
	os.Unsetenv("SOURCE_DATE_EPOCH")
	os.Exit(m.Run())
}

// runScenarios runs each scenario as a subtest, in parallel with other
// scenarios unless one of its rows sets environment variables.
func runScenarios(t *testing.T, scenarios []scenario) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if !slices.ContainsFunc(sc.rows, func(r row) bool { return r.env != nil }) {
				t.Parallel()
			}
			v := newFixture(t)
			for i, r := range sc.rows {
				if r.rootOnly && os.Geteuid() != 0 {
					t.Skipf("row %d and the rest need root", i)
				}
				if !runRow(t, v, i, r) {
					t.Fatalf("stopping scenario %q at row %d: later rows depend on it", sc.name, i)
				}
			}
		})
	}
}

// runRow runs one row and reports whether it did what the row says.
func runRow(t *testing.T, v vars, i int, r row) bool {
	t.Helper()
	args := make([]string, len(r.args))
	for j, a := range r.args {
		args[j] = v.expand(t, a)
	}
	name := fmt.Sprintf("row %d: arbor %s", i, strings.Join(args, " "))
	for k, val := range r.env {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v.expand(t, val))
		defer func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		}()
	}
	if r.before != nil {
		r.before(t, v)
	}
	ok := true
	fail := func(format string, a ...any) {
		t.Helper()
		ok = false
		t.Errorf("%s: %s", name, fmt.Sprintf(format, a...))
	}
	code, stdout, stderr := arbor(t, args...)
	show := func() string {
		return fmt.Sprintf("\n--- stdout:\n%s--- stderr:\n%s---", clip(stdout), clip(stderr))
	}
	if code != r.code && !(r.code == anyFailure && code != 0) {
		fail("exit code %d, want %d%s", code, r.code, show())
	}
	if msg := checkStderrFormat(code, stderr); msg != "" {
		fail("%s%s", msg, show())
	}
	for _, s := range r.out {
		if s = v.expand(t, s); !strings.Contains(stdout, s) {
			fail("stdout lacks %q%s", s, show())
		}
	}
	for _, s := range r.notOut {
		if s = v.expand(t, s); strings.Contains(stdout, s) {
			fail("stdout has %q%s", s, show())
		}
	}
	for _, s := range r.err {
		if s = v.expand(t, s); !strings.Contains(stderr, s) {
			fail("stderr lacks %q%s", s, show())
		}
	}
	if r.json != nil || r.saveJSON != nil {
		var doc any
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			fail("stdout is not JSON: %v%s", err, show())
		} else {
			for path, want := range r.json {
				got, found := jsonAt(doc, path)
				if !found {
					fail("JSON has no %s%s", path, show())
					continue
				}
				if msg := matchJSON(t, v, got, want); msg != "" {
					fail("JSON %s: %s%s", path, msg, show())
				}
			}
			for name, path := range r.saveJSON {
				got, found := jsonAt(doc, path)
				s, isString := got.(string)
				if !found || !isString {
					fail("JSON %s: want a string to save as %s, got %v%s", path, name, got, show())
					continue
				}
				v.set(name, s)
			}
		}
	}
	if r.save != "" {
		v.set(r.save, strings.TrimSpace(stdout))
	}
	if r.check != nil && ok {
		before := t.Failed()
		r.check(t, v, []byte(stdout))
		if !before && t.Failed() {
			t.Logf("%s: failed its check%s", name, show())
			ok = false
		}
	}
	return ok
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:4000] + "\n[... clipped]\n"
	}
	return s
}

// checkStderrFormat says what is wrong with stderr, or "". An error is
// exactly one line starting with "arbor: ", the last one; warnings start
// with "arbor: warning: "; no usage text is dumped.
func checkStderrFormat(code int, stderr string) string {
	if stderr != "" && !strings.HasSuffix(stderr, "\n") {
		return "stderr does not end with a newline"
	}
	if strings.Contains(stderr, "Usage:") {
		return "stderr shows the usage text"
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	var errLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, "arbor: ") && !strings.HasPrefix(l, "arbor: warning: ") {
			errLines = append(errLines, l)
		}
	}
	switch {
	case code == 0 && len(errLines) > 0:
		return fmt.Sprintf("exit 0 but stderr has an error line %q", errLines[0])
	case code != 0 && len(errLines) != 1:
		return fmt.Sprintf("exit %d: want exactly one error line starting with \"arbor: \" on stderr, got %d", code, len(errLines))
	case code != 0 && lines[len(lines)-1] != errLines[0]:
		return fmt.Sprintf("exit %d: the error line is not the last line of stderr", code)
	}
	return ""
}

// jsonAt follows a slash-separated path of object keys and array indexes.
func jsonAt(doc any, path string) (any, bool) {
	if path == "" {
		return doc, true
	}
	cur := doc
	for _, key := range strings.Split(path, "/") {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[key]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(c) {
				return nil, false
			}
			cur = c[n]
		default:
			return nil, false
		}
	}
	return cur, true
}

// matcher checks a JSON value; it returns "" or what is wrong.
type matcher func(got any) string

var (
	isID matcher = func(got any) string {
		if s, ok := got.(string); !ok || !idPattern.MatchString(s) {
			return fmt.Sprintf("%v is not a 64-digit object ID", got)
		}
		return ""
	}
	isNull matcher = func(got any) string {
		if got != nil {
			return fmt.Sprintf("%v, want null", got)
		}
		return ""
	}
	isPositive matcher = func(got any) string {
		if n, ok := got.(float64); !ok || n <= 0 {
			return fmt.Sprintf("%v, want a number above 0", got)
		}
		return ""
	}
)

func hasLen(n int) matcher {
	return func(got any) string {
		l, ok := got.([]any)
		if !ok || len(l) != n {
			return fmt.Sprintf("%v, want a list of %d", got, n)
		}
		return ""
	}
}

// matchJSON compares a decoded JSON value with a matcher or a literal Go
// value (strings get ${VAR} expansion, numbers and lists are compared as
// JSON would decode them).
func matchJSON(t *testing.T, v vars, got, want any) string {
	if m, ok := want.(matcher); ok {
		return m(got)
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("bad wanted value %v: %v", want, err)
	}
	var w any
	if err := json.Unmarshal([]byte(v.expand(t, string(b))), &w); err != nil {
		t.Fatalf("bad wanted value %v: %v", want, err)
	}
	if !reflect.DeepEqual(got, w) {
		return fmt.Sprintf("got %v, want %v", got, w)
	}
	return ""
}

// sampleFile returns a file's content from the sample tree of a release.
func sampleFile(t *testing.T, release int, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(sample.Tar(release)))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("sample release %d has no %s: %v", release, name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// objectFile returns the path of a stored object's file, whatever its kind.
func objectFile(t *testing.T, repo, id, suffix string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repo, "objects", id[:2], id[2:]+suffix))
	if err != nil || len(matches) != 1 {
		t.Fatalf("object %s%s: found %v (%v)", id, suffix, matches, err)
	}
	return matches[0]
}

// flipByte inverts one byte of a file in place, as a failing disk might.
func flipByte(t *testing.T, path string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		// Stored objects are read-only: damage does not ask.
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			t.Fatal(err)
		}
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
}
