// Package crash names the points at which crash tests stop a process.
//
// A test sets ARBOR_CRASH_AT=<name> (optionally <name>:<n> to fire on the
// n-th time the point is reached) in the environment of an arbor process;
// when the process reaches that point it kills itself with SIGKILL, exactly
// as a power cut or the OOM killer would, leaving files half-done.
// Without the variable, Point costs one atomic load.
package crash

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

var (
	target  string
	nth     int64 = 1
	counter atomic.Int64
	enabled bool
	once    sync.Once
)

func setup() {
	v := os.Getenv("ARBOR_CRASH_AT")
	if v == "" {
		return
	}
	target = v
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if n, err := strconv.ParseInt(v[i+1:], 10, 64); err == nil && n > 0 {
			target, nth = v[:i], n
		}
	}
	enabled = true
}

// Point kills the process if the environment names this point.
func Point(name string) {
	once.Do(setup)
	if !enabled || name != target {
		return
	}
	if counter.Add(1) == nth {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never returns: the signal is on its way
	}
}
