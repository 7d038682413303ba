package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	bolt "go.etcd.io/bbolt"

	"github.com/arbor-ota/arbor/internal/fsmeta"
	"github.com/arbor-ota/arbor/objects"
)

// storedObject is one object file found in objects/.
type storedObject struct {
	kind    objects.Kind
	id      objects.ID
	content bool // a bare repository's .content file
	size    int64
}

func (o storedObject) key() stageKey { return stageKey{o.kind, o.id} }

// scan lists every object file, calling fn for each. Names that are not
// objects are reported through stray.
func (r *Repo) scan(fn func(storedObject), stray func(path string)) error {
	for i := 0; i < 256; i++ {
		dir := filepath.Join(r.path, "objects", fmt.Sprintf("%02x", i))
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			rest, ext, ok := strings.Cut(e.Name(), ".")
			id, err := objects.ParseID(dir[len(dir)-2:] + rest)
			if !ok || err != nil {
				stray(filepath.Join(dir, e.Name()))
				continue
			}
			o := storedObject{id: id}
			if ext == "content" {
				o.kind, o.content = objects.KindFile, true
			} else if o.kind, err = objects.ParseKind(ext); err != nil {
				stray(filepath.Join(dir, e.Name()))
				continue
			}
			if info, err := e.Info(); err == nil {
				o.size = info.Size()
			}
			fn(o)
		}
	}
	return nil
}

// Problem is one piece of damage fsck found.
type Problem struct {
	Kind    objects.Kind `json:"kind"`
	ID      objects.ID   `json:"id"`
	Path    string       `json:"path,omitempty"`  // the object's file in the repository
	Where   string       `json:"where,omitempty"` // a ref and tree path that reaches it
	Problem string       `json:"problem"`
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s %s: %s", p.Kind, p.ID, p.Problem)
	if strings.HasPrefix(p.Problem, p.Kind.String()+" "+p.ID.String()) || strings.HasPrefix(p.Problem, p.Kind.String()+" "+p.ID.Short()) {
		s = p.Problem // the error names the object already
	}
	if p.Kind == 0 {
		s = p.Problem
	}
	if p.Where != "" {
		s += " (reached from " + p.Where + ")"
	}
	if p.Path != "" {
		s += " [" + p.Path + "]"
	}
	return s
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Objects  int       `json:"objects"`
	Commits  int       `json:"commits_checked"`
	Problems []Problem `json:"problems"`
}

// Fsck verifies every stored object's bytes (hash, size, canonical
// encoding; in a bare repository every file's content, mode, owner and
// xattrs) and that every ref reaches a complete tree. It returns an error
// only when it cannot run; damage is listed in the report.
func (r *Repo) Fsck(ctx context.Context) (*FsckReport, error) {
	rep := &FsckReport{}
	var mu sync.Mutex
	add := func(p Problem) {
		mu.Lock()
		rep.Problems = append(rep.Problems, p)
		mu.Unlock()
	}
	var all []storedObject
	present := map[stageKey]bool{}
	err := r.scan(func(o storedObject) {
		all = append(all, o)
		if !o.content {
			present[o.key()] = true
		}
	}, func(p string) {
		add(Problem{Path: p, Problem: "stray file in objects/ (not an object name)"})
	})
	if err != nil {
		return nil, err
	}
	rep.Objects = len(all)
	bad := map[stageKey]bool{}
	// 1. Every object's bytes, in parallel.
	work := make(chan storedObject)
	var wg sync.WaitGroup
	for i := 0; i < runtime.NumCPU(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := r.verifyStored(ctx, o, present); err != nil {
					mu.Lock()
					bad[o.key()] = true
					mu.Unlock()
					p := r.objectPath(o.kind, o.id)
					if o.content {
						p = r.contentPath(o.id)
					}
					add(Problem{Kind: o.kind, ID: o.id, Path: p, Problem: err.Error()})
				}
			}
		}()
	}
	for _, o := range all {
		if ctx.Err() != nil {
			break
		}
		work <- o
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.mode == Bare {
		for _, o := range all {
			if o.kind == objects.KindFile && !o.content {
				if _, err := os.Lstat(r.contentPath(o.id)); err != nil {
					add(Problem{Kind: o.kind, ID: o.id, Path: r.contentPath(o.id), Problem: "file content is missing"})
					bad[o.key()] = true
				}
			}
		}
	}
	// 2. Every ref reaches a complete tree.
	partial, err := r.PartialCommits()
	if err != nil {
		return nil, err
	}
	refs, err := r.Refs()
	if err != nil {
		return nil, err
	}
	w := &Walker{R: r}
	w.Visit = func(kind objects.Kind, id objects.ID, where string) bool {
		if kind == objects.KindChunk && r.mode == Bare {
			// Verified inside its file's content; here only check that
			// the chunk index can find it (pulls and copies rely on it).
			if ok, err := r.Has(ctx, kind, id); err == nil && !ok {
				add(Problem{Kind: kind, ID: id, Where: where, Problem: "not in the chunk index (run 'arbor fsck --repair')"})
			}
			return false
		}
		k := stageKey{kind, id}
		if !present[k] {
			add(Problem{Kind: kind, ID: id, Where: where, Problem: "missing"})
			return false
		}
		return !bad[k]
	}
	w.Missing = func(kind objects.Kind, id objects.ID, where string, err error) {
		if !bad[stageKey{kind, id}] {
			add(Problem{Kind: kind, ID: id, Where: where, Problem: err.Error()})
		}
	}
	for _, ref := range refs {
		if partial[ref.Commit] {
			add(Problem{Kind: objects.KindCommit, ID: ref.Commit, Where: "ref " + ref.Name, Problem: "ref points at a commit whose pull did not complete"})
		}
		if err := w.Commit(ctx, ref.Commit, "ref "+ref.Name); err != nil {
			return nil, err
		}
		rep.Commits++
	}
	slices.SortFunc(rep.Problems, func(a, b Problem) int {
		if c := a.ID.Compare(b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Problem+a.Path, b.Problem+b.Path)
	})
	return rep, nil
}

// verifyStored checks one object file.
func (r *Repo) verifyStored(ctx context.Context, o storedObject, present map[stageKey]bool) error {
	if o.content {
		return r.verifyContent(ctx, o.id)
	}
	b, err := objects.ReadRaw(ctx, r, o.kind, o.id)
	if err != nil {
		return err
	}
	switch o.kind {
	case objects.KindFile:
		_, err = objects.DecodeFile(b)
	case objects.KindDirTree:
		_, err = objects.DecodeDirTree(b)
	case objects.KindDirMeta:
		_, err = objects.DecodeDirMeta(b)
	case objects.KindCommit:
		_, err = objects.DecodeCommit(b)
	}
	return err
}

// verifyContent checks a bare repository's file against its object: each
// chunk of content, then mode, owner and xattrs.
func (r *Repo) verifyContent(ctx context.Context, id objects.ID) error {
	f, err := objects.ReadFile(ctx, r, id)
	if err != nil {
		// Content without its object is an orphan left by an interrupted
		// prune: harmless, and the next prune removes it. A damaged object
		// is reported for itself.
		return nil
	}
	p := r.contentPath(id)
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Mode != f.Mode {
		return fmt.Errorf("content has mode %o, want %o", st.Mode, f.Mode)
	}
	if st.Uid != f.UID || st.Gid != f.GID {
		return fmt.Errorf("content owned by %d:%d, want %d:%d", st.Uid, st.Gid, f.UID, f.GID)
	}
	if xs, err := fsmeta.ListXattrs(p); err == nil && len(xs)+len(f.Xattrs) > 0 && !xattrsEqual(xs, f.Xattrs) {
		return errors.New("content's xattrs differ from the file object's")
	}
	if f.IsSymlink() {
		t, err := os.Readlink(p)
		if err != nil {
			return err
		}
		if t != f.Target {
			return fmt.Errorf("symlink points at %q, want %q", t, f.Target)
		}
		return nil
	}
	if fi.Size() != f.Size() {
		return fmt.Errorf("%w: content is %d bytes, want %d", objects.ErrCorrupt, fi.Size(), f.Size())
	}
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	buf := make([]byte, objects.MaxChunkSize)
	for i, c := range f.Chunks {
		b := buf[:c.Size]
		if _, err := io.ReadFull(in, b); err != nil {
			return fmt.Errorf("%w: chunk %d: %v", objects.ErrCorrupt, i, err)
		}
		if got := objects.Sum(b); got != c.ID {
			return &objects.CorruptError{Kind: objects.KindChunk, Want: c.ID, Got: got, Reason: fmt.Sprintf("content of file %s at chunk %d differs", id.Short(), i)}
		}
	}
	return nil
}

func xattrsEqual(a, b []objects.Xattr) bool {
	return slices.EqualFunc(a, b, func(x, y objects.Xattr) bool {
		return x.Name == y.Name && bytes.Equal(x.Value, y.Value)
	})
}

// PartialCommits returns the commits marked partial (a pull not finished).
func (r *Repo) PartialCommits() (map[objects.ID]bool, error) {
	out := map[objects.ID]bool{}
	if _, err := os.Stat(r.indexPath()); errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	db, err := r.index()
	if err != nil {
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPartial).ForEach(func(k, _ []byte) error {
			var id objects.ID
			copy(id[:], k)
			out[id] = true
			return nil
		})
	})
	return out, err
}
