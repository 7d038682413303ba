package main

import (
	"encoding/json"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/arbor-ota/arbor/repo"
)

func (g *globals) openRepo() (*repo.Repo, error) {
	if g.repo == "" {
		g.repo = g.sysrootRepo()
	}
	if g.repo == "" {
		return nil, usagef("no repository: give --repo PATH or set ARBOR_REPO")
	}
	return repo.Open(g.repo)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// isTerminal reports whether w is a terminal, for progress bars.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress draws a bar on stderr when it is a terminal; otherwise nothing.
type progress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer, desc string, total int64, bytes bool) *progress {
	if !isTerminal(w) {
		return &progress{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100e6),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetElapsedTime(true),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	}
	return &progress{bar: progressbar.NewOptions64(total, opts...)}
}

// Event implements repo.Progress; it counts bytes.
func (p *progress) Event(phase string, n, bytes int64) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	p.bar.Add64(bytes)
	p.mu.Unlock()
}

func (p *progress) add(n int64) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	p.bar.Add64(n)
	p.mu.Unlock()
}

func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
