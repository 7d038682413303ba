package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/arbor-ota/arbor/internal/atomicfile"
	"github.com/arbor-ota/arbor/trust"
)

// Remote is a site a repository pulls from.
type Remote struct {
	Name    string   `json:"name"`
	URL     string   `json:"url"`
	Mirrors []string `json:"mirrors,omitempty"`
	// HWCompat is this device's hardware ID: commits listing hardware IDs
	// are accepted only if they list it.
	HWCompat string `json:"hw_compat,omitempty"`

	dir string // state directory of this remote
}

// ErrNoRemote is returned for a remote that was never added.
var ErrNoRemote = errors.New("no such remote")

var remoteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func remotesDir(repoPath string) string { return filepath.Join(repoPath, "state", "remotes") }

// URLs returns the site's URL followed by its mirrors.
func (rm *Remote) URLs() []string { return append([]string{rm.URL}, rm.Mirrors...) }

// AddRemote records a remote in the repository at repoPath and installs the
// site's root of trust (the operator-given tuf root.json).
func AddRemote(repoPath string, rm Remote, rootJSON []byte) error {
	if !remoteName.MatchString(rm.Name) {
		return fmt.Errorf("remote name %q: use letters, digits, '.', '_', '-'", rm.Name)
	}
	for _, u := range rm.URLs() {
		if err := checkURL(u); err != nil {
			return err
		}
	}
	dir := filepath.Join(remotesDir(repoPath), rm.Name)
	if _, err := os.Stat(filepath.Join(dir, "remote.json")); err == nil {
		return fmt.Errorf("remote %s already exists (remove it first: arbor remote remove %s)", rm.Name, rm.Name)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tuf"), 0o700); err != nil {
		return err
	}
	if err := trust.InstallRoot(filepath.Join(dir, "tuf"), rootJSON); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("remote %s: %w", rm.Name, err)
	}
	b, _ := json.MarshalIndent(rm, "", "  ")
	return atomicfile.Write(filepath.Join(dir, "remote.json"), append(b, '\n'), 0o644)
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("remote URL %q: %v", u, err)
	}
	switch p.Scheme {
	case "http", "https", "file":
		return nil
	}
	return fmt.Errorf("remote URL %q: want http://, https:// or file://", u)
}

// LoadRemote reads a remote's configuration.
func LoadRemote(repoPath, name string) (*Remote, error) {
	dir := filepath.Join(remotesDir(repoPath), name)
	b, err := os.ReadFile(filepath.Join(dir, "remote.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q (add it with 'arbor remote add %s URL --root ROOT.json')", ErrNoRemote, name, name)
	}
	if err != nil {
		return nil, err
	}
	var rm Remote
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rm); err != nil {
		return nil, fmt.Errorf("remote %s: %w", name, err)
	}
	rm.dir = dir
	return &rm, nil
}

// Remotes lists the configured remotes.
func Remotes(repoPath string) ([]*Remote, error) {
	ents, err := os.ReadDir(remotesDir(repoPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Remote
	for _, e := range ents {
		if rm, err := LoadRemote(repoPath, e.Name()); err == nil {
			out = append(out, rm)
		}
	}
	return out, nil
}

// RemoveRemote forgets a remote and its trusted metadata.
func RemoveRemote(repoPath, name string) error {
	if _, err := LoadRemote(repoPath, name); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(remotesDir(repoPath), name))
}

// trustClient opens the remote's TUF client, fetching through p.
func (rm *Remote) trustClient(p *puller) (*trust.Client, error) {
	clock := p.opts.Clock
	if clock == nil {
		clock = time.Now
	}
	fetch := func(ctx context.Context, name string, maxLength int64) ([]byte, error) {
		var buf bytes.Buffer
		if err := p.fetch(Request{Path: name, MaxLength: maxLength}, &buf); err != nil {
			switch {
			case errors.Is(err, ErrNotFound):
				return nil, fmt.Errorf("%w (%w)", err, fs.ErrNotExist)
			case errors.Is(err, ErrTooLong):
				return nil, fmt.Errorf("%w (%w)", err, trust.ErrTooLarge)
			}
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return trust.OpenClient(filepath.Join(rm.dir, "tuf"), fetch, clock)
}
