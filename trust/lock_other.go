//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package trust

import (
	"context"
	"os"
	"path/filepath"
)

// lockDir creates dir/lock but does not lock it: this platform has no flock.
// Only one process may refresh a state directory at a time.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
