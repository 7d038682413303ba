package repo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/objects"
)

// CheckRefName reports whether name may name a ref: slash-separated
// segments of letters, digits, '.', '_' and '-', none empty or starting with
// '.', at most 255 bytes. A remote's ref is written "remote:name".
func CheckRefName(name string) error {
	remote, local, found := strings.Cut(name, ":")
	if found {
		if err := checkSegment(remote); err != nil || strings.Contains(remote, "/") {
			return fmt.Errorf("%w %q: bad remote name", ErrInvalidRef, name)
		}
		name = local
	}
	if name == "" || len(name) > 255 {
		return fmt.Errorf("%w %q", ErrInvalidRef, name)
	}
	for _, seg := range strings.Split(name, "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("%w %q: %v", ErrInvalidRef, name, err)
		}
	}
	return nil
}

func checkSegment(seg string) error {
	if seg == "" || seg[0] == '.' || strings.HasSuffix(seg, ".lock") {
		return fmt.Errorf("segment %q is empty, starts with '.' or ends in .lock", seg)
	}
	for _, c := range seg {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("segment %q has %q (use letters, digits, '.', '_', '-')", seg, c)
		}
	}
	return nil
}

func (r *Repo) refPath(name string) string {
	if remote, local, ok := strings.Cut(name, ":"); ok {
		return filepath.Join(r.path, "refs", "remotes", remote, filepath.FromSlash(local))
	}
	return filepath.Join(r.path, "refs", "heads", filepath.FromSlash(name))
}

// Ref returns the commit a ref points at; an error matching ErrRefNotFound if none.
func (r *Repo) Ref(name string) (objects.ID, error) {
	if err := CheckRefName(name); err != nil {
		return objects.ID{}, err
	}
	b, err := os.ReadFile(r.refPath(name))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || isNotDir(err) {
		return objects.ID{}, fmt.Errorf("%w: %s", ErrRefNotFound, name)
	}
	if err != nil {
		return objects.ID{}, err
	}
	id, err := objects.ParseID(strings.TrimSpace(string(b)))
	if err != nil {
		return objects.ID{}, fmt.Errorf("ref %s: %w", name, err)
	}
	return id, nil
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && (strings.Contains(pe.Err.Error(), "not a directory") || strings.Contains(pe.Err.Error(), "is a directory"))
}

// writeRef points the ref at id, or deletes it when id is nil.
func (r *Repo) writeRef(name string, id *objects.ID) error {
	p := r.refPath(name)
	if id == nil {
		err := atomicfile.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write ref %s: %w", name, err)
	}
	if err := atomicfile.Write(p, []byte(id.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write ref %s: %w", name, err)
	}
	return nil
}

// RefEntry is a ref and the commit it points at.
type RefEntry struct {
	Name   string     `json:"name"`
	Commit objects.ID `json:"commit"`
}

// Refs lists local refs, and remote refs as "remote:name", sorted by name.
func (r *Repo) Refs() ([]RefEntry, error) {
	var out []RefEntry
	add := func(base, prefix string) error {
		return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				return nil
			}
			rel, _ := filepath.Rel(base, p)
			name := prefix + filepath.ToSlash(rel)
			id, err := r.Ref(name)
			if err != nil {
				return err
			}
			out = append(out, RefEntry{Name: name, Commit: id})
			return nil
		})
	}
	if err := add(filepath.Join(r.path, "refs", "heads"), ""); err != nil {
		return nil, err
	}
	remotes, _ := os.ReadDir(filepath.Join(r.path, "refs", "remotes"))
	for _, rm := range remotes {
		if rm.IsDir() {
			if err := add(filepath.Join(r.path, "refs", "remotes", rm.Name()), rm.Name()+":"); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Resolve names a commit by a ref, a full ID or a unique ID prefix of at
// least 4 hex digits, each optionally followed by "^" (parent, repeatable)
// or "~N" (N-th ancestor).
func (r *Repo) Resolve(ctx context.Context, spec string) (objects.ID, error) {
	base, up, err := splitAncestry(spec)
	if err != nil {
		return objects.ID{}, err
	}
	id, err := r.resolveBase(base)
	if err != nil {
		return objects.ID{}, err
	}
	for i := 0; i < up; i++ {
		c, err := objects.ReadCommit(ctx, r, id)
		if err != nil {
			return objects.ID{}, fmt.Errorf("resolve %s: %w", spec, err)
		}
		if c.Parent == nil {
			return objects.ID{}, fmt.Errorf("resolve %s: commit %s has no parent", spec, id.Short())
		}
		id = *c.Parent
	}
	return id, nil
}

func splitAncestry(spec string) (string, int, error) {
	up := 0
	for {
		switch {
		case strings.HasSuffix(spec, "^"):
			spec = spec[:len(spec)-1]
			up++
			continue
		case strings.Contains(spec, "~"):
			i := strings.LastIndexByte(spec, '~')
			n, err := strconv.Atoi(spec[i+1:])
			if err != nil || n < 0 {
				return "", 0, fmt.Errorf("bad ancestor suffix in %q (want NAME~N)", spec)
			}
			spec = spec[:i]
			up += n
			continue
		}
		return spec, up, nil
	}
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (r *Repo) resolveBase(spec string) (objects.ID, error) {
	if spec == "" {
		return objects.ID{}, ErrCommitNotSet
	}
	if CheckRefName(spec) == nil {
		id, err := r.Ref(spec)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, ErrRefNotFound) {
			return id, err
		}
	}
	if len(spec) == 64 && isHex(spec) {
		id, _ := objects.ParseID(spec)
		if ok, err := r.Has(context.Background(), objects.KindCommit, id); err != nil || !ok {
			return id, fmt.Errorf("%w", &objects.NotFoundError{Kind: objects.KindCommit, ID: id})
		}
		return id, nil
	}
	if len(spec) >= 4 && len(spec) < 64 && isHex(spec) {
		ents, err := os.ReadDir(filepath.Join(r.path, "objects", spec[:2]))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return objects.ID{}, err
		}
		var found []objects.ID
		for _, e := range ents {
			rest, ok := strings.CutSuffix(e.Name(), ".commit")
			if ok && strings.HasPrefix(rest, spec[2:]) {
				if id, err := objects.ParseID(spec[:2] + rest); err == nil {
					found = append(found, id)
				}
			}
		}
		switch len(found) {
		case 1:
			return found[0], nil
		case 0:
		default:
			return objects.ID{}, fmt.Errorf("%w %s: matches %d commits; give more digits", ErrAmbiguous, spec, len(found))
		}
	}
	return objects.ID{}, fmt.Errorf("%w: %q is neither a ref nor a commit ID (see 'arbor refs')", ErrRefNotFound, spec)
}
