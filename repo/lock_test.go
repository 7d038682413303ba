package repo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-ota/arbor/internal/sample"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// openAgain opens a second *Repo on the same directory. flock locks
// belong to open file descriptions, so two Repo values in one process
// exclude each other exactly as two processes do.
func openAgain(t *testing.T, r *repo.Repo) *repo.Repo {
	t.Helper()
	r2, err := repo.Open(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Close() })
	return r2
}

// holdLock runs an Update on r that holds the writer lock until release
// is closed; it returns once the lock is held.
func holdLock(t *testing.T, r *repo.Repo, release <-chan struct{}, fn func(tx *repo.Tx) error) <-chan error {
	t.Helper()
	held := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- r.Update(context.Background(), func(tx *repo.Tx) error {
			close(held)
			<-release
			if fn != nil {
				return fn(tx)
			}
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("holding the lock: %v", err)
	}
	return done
}

func TestLockExcludesWriters(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			r1 := repotest.New(t, mode)
			r2 := openAgain(t, r1)
			ctx := t.Context()

			// A writer with a short timeout fails with ErrLocked, naming the holder.
			release := make(chan struct{})
			var first objects.ID
			done := holdLock(t, r1, release, func(tx *repo.Tx) error {
				var err error
				first, err = putCommit(ctx, tx, "first", 1, nil)
				if err != nil {
					return err
				}
				return tx.SetRef("main", first)
			})
			r2.LockTimeout = 150 * time.Millisecond
			start := time.Now()
			entered := false
			err := r2.Update(ctx, func(tx *repo.Tx) error { entered = true; return nil })
			if !errors.Is(err, repo.ErrLocked) || entered {
				t.Fatalf("second writer: %v (entered %v), want ErrLocked", err, entered)
			}
			if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
				t.Errorf("ErrLocked does not name the holder's pid: %v", err)
			}
			if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
				t.Errorf("gave up after %v, LockTimeout is 150ms", d)
			}

			// A cancelled wait returns the context's error.
			r2.LockTimeout = time.Minute
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			err = r2.Update(cctx, func(tx *repo.Tx) error { return nil })
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cancelled wait: %v", err)
			}

			// A patient writer waits, then sees what the first committed.
			var seen objects.ID
			waited := make(chan error, 1)
			go func() {
				waited <- r2.Update(ctx, func(tx *repo.Tx) error {
					var err error
					seen, err = r2.Ref("main")
					return err
				})
			}()
			select {
			case err := <-waited:
				t.Fatalf("second writer ran while the first held the lock: %v", err)
			case <-time.After(200 * time.Millisecond):
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := <-waited; err != nil || seen != first {
				t.Fatalf("waiting writer: %v, saw main = %s, want %s", err, seen.Short(), first.Short())
			}
		})
	}
}

// TestLockSerializesReadModifyWrite: writers on separate Repo values (as
// separate processes would be) each read the branch and commit on top of
// it; with the lock no update is lost, so the history is one chain.
func TestLockSerializesReadModifyWrite(t *testing.T) {
	for _, mode := range []repo.Mode{repo.Archive, repo.Bare} {
		t.Run(string(mode), func(t *testing.T) {
			r := repotest.New(t, mode)
			const writers, each = 4, 8
			var wg sync.WaitGroup
			errs := make(chan error, writers*each)
			for w := 0; w < writers; w++ {
				rw := openAgain(t, r)
				rw.LockTimeout = time.Minute
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						errs <- rw.Update(t.Context(), func(tx *repo.Tx) error {
							var parent *objects.ID
							if head, err := rw.Ref("main"); err == nil {
								parent = &head
							}
							time.Sleep(time.Millisecond) // widen the window a lost update needs
							id, err := putCommit(t.Context(), tx, fmt.Sprintf("writer %d commit %d", w, i), int64(i), parent)
							if err != nil {
								return err
							}
							return tx.SetRef("main", id)
						})
					}
					rw.Close()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			for id, err := r.Ref("main"); ; n++ {
				if err != nil {
					t.Fatal(err)
				}
				c := readCommit(t, r, id)
				if c.Parent == nil {
					n++
					break
				}
				id = *c.Parent
			}
			if n != writers*each {
				t.Errorf("history has %d commits, want %d: updates were lost", n, writers*each)
			}
		})
	}
}

// TestLockBetweenProcesses: an arbor process committing into a
// repository whose lock this process holds waits for it, then succeeds.
func TestLockBetweenProcesses(t *testing.T) {
	bin := arborBinary(t)
	r := repotest.New(t, repo.Archive)
	tarPath := filepath.Join(t.TempDir(), "tree.tar")
	if err := os.WriteFile(tarPath, sample.Tar(1), 0o644); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	done := holdLock(t, r, release, nil)
	cmd := exec.Command(bin, "--repo", r.Path(), "commit", "--branch", "main", "--timestamp", "1700000000", tarPath)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("arbor commit finished while the lock was held: %v\n%s", err, out.String())
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("arbor commit after the lock was released: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("arbor commit still waiting a minute after the lock was released")
	}
	if _, err := r.Ref("main"); err != nil {
		t.Fatal(err)
	}
}

// TestLockBareIndexHeldOpen: a bare repository's chunk index stays open
// in a Repo after its first use. Another writer (another Repo value, or
// another process) then either gets through or fails with ErrLocked
// within its LockTimeout, never with another error.
func TestLockBareIndexHeldOpen(t *testing.T) {
	repotest.RequireRoot(t)
	r1 := repotest.New(t, repo.Bare)
	repotest.CommitFS(t, r1, "one", repotest.Tree{"a": repotest.File(0o644, "uses the chunk index")})
	r2 := openAgain(t, r1)
	r2.LockTimeout = 200 * time.Millisecond
	dir := writeTree(t, repotest.Tree{"b": repotest.File(0o644, "also uses the chunk index")})
	start := time.Now()
	_, err := repotest.TryCommitDir(t.Context(), r2, "two", dir, repo.ImportOptions{})
	if err != nil && !errors.Is(err, repo.ErrLocked) {
		t.Fatalf("second writer while the first holds the index open: %v, want success or ErrLocked", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second writer took %v with a LockTimeout of 200ms", d)
	}
	r2.Close()
	// Once the first lets go, the second gets through.
	r1.Close()
	r3 := openAgain(t, r1)
	if _, err := repotest.TryCommitDir(t.Context(), r3, "two", dir, repo.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	r3.Close()
}
