package repo_test

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

var (
	seedFlag   = flag.Uint64("seed", 0, "seed for the random tests (default: $"+repotest.SeedEnv+", else the clock)")
	iterations = flag.Int("iterations", 0, "random trees per property test (default 3, 1 with -short)")
)

// Compile-time checks of the interfaces the repository types implement.
var (
	_ objects.Reader  = (*repo.Repo)(nil)
	_ checkout.Linker = (*repo.Repo)(nil)
	_ objects.Store   = (*repo.Tx)(nil)
	_ repo.Progress   = (*countingProgress)(nil)
	_ objects.Reader  = (*countingReader)(nil)
)

// binDir holds the arbor binary the crash tests build once.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// Directories that a tar archive implies are created with the umask by
	// tar(1); the tree importers give them 0755, so use the usual umask.
	syscall.Umask(0o022)
	d, err := os.MkdirTemp("", "arbor-repo-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	arborPath string
	buildErr  error
)

// arborBinary builds cmd/arbor once per test binary and returns its path.
func arborBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("no go command to build arbor: %w", err)
			return
		}
		p := filepath.Join(binDir, "arbor")
		cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", p, "../cmd/arbor")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ../cmd/arbor: %v\n%s", err, out)
			return
		}
		arborPath = p
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return arborPath
}

// iters returns how many random trees a property test runs.
func iters() int {
	switch {
	case *iterations > 0:
		return *iterations
	case testing.Short():
		return 1
	}
	return 3
}

// countingProgress counts Progress events.
type countingProgress struct {
	mu     sync.Mutex
	events map[string]int64
	bytes  int64
}

func (p *countingProgress) Event(phase string, n, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.events == nil {
		p.events = map[string]int64{}
	}
	p.events[phase] += n
	p.bytes += bytes
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
