package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/client"
)

type pullFlags struct {
	dryRun, allowDowngrade, jsonOut bool
	maxBytes, limitRate, progress   string
	connections                     int
	via                             string
	noFull                          bool
}

func newPullCommand(g *globals) *cobra.Command {
	var f pullFlags
	cmd := &cobra.Command{
		Use:   "pull REMOTE REF",
		Short: "Fetch a ref from a site, only the bytes this repository lacks",
		Long: `Fetch REF from REMOTE into the repository as REMOTE:REF. The site's signed
metadata is refreshed and checked (signatures, expiry, rollback), then the
commit: it must be bound to REF, not older than the release this repository
has (unless --allow-downgrade), and made for this device's hardware. The tree is
walked against what the repository holds; only the blocks holding missing
objects are fetched, a few range requests at a time, each verified and
journaled before use: an interrupted pull resumes where it stopped. Objects are
written, verified, in one transaction: a failed pull changes nothing.

Before it downloads any content, the planner prices every way to get the
commit from signed sizes: a static delta from a commit this repository holds,
the chunk path (the tree walk and the blocks holding what is missing), and the
full download (every block of the commit). It takes the cheapest that --max-bytes
and the device's policy (--no-full) allow; --via forces one. When nothing
fits it stops with the options and their costs, having downloaded nothing but
metadata.

--dry-run prints the plan: each option with its cost, the one it picks, and
bytes and requests split into what the device already has, what is journaled,
and what would be fetched.`,
		Example: `  arbor --repo DEV pull origin os/stable --dry-run
  arbor --repo DEV pull origin os/stable --max-bytes 20M --limit-rate 256k
  arbor --repo DEV pull origin os/stable --via delta`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			opts := client.PullOptions{DryRun: f.dryRun, AllowDowngrade: f.allowDowngrade, Connections: f.connections,
				Via: f.via, NoFull: f.noFull}
			switch f.via {
			case "", client.ViaDelta, client.ViaChunks, client.ViaFull:
			default:
				return usagef("--via %q: want delta, chunks or full", f.via)
			}
			if f.maxBytes != "" {
				n, err := parseSize(f.maxBytes)
				if err != nil {
					return usagef("--max-bytes %q: %v", f.maxBytes, err)
				}
				opts.MaxBytes = n
			}
			var rate int64
			if f.limitRate != "" {
				n, err := client.ParseRate(f.limitRate)
				if err != nil {
					return usagef("--limit-rate %q: %v", f.limitRate, err)
				}
				rate = n
			}
			switch f.progress {
			case "auto":
				if isTerminal(g.stderr) {
					opts.Progress = newPullBar(g.stderr)
				}
			case "plain":
				opts.Progress = &textProgress{w: g.stderr}
			case "json":
				opts.Progress = &textProgress{w: g.stderr, json: true}
			case "none":
			default:
				return usagef("--progress %q: want auto, plain, json or none", f.progress)
			}
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			rm, err := client.LoadRemote(r.Path(), args[0])
			if err != nil {
				return err
			}
			stats := &client.FetchStats{}
			fetcher, err := buildFetcher(rm, stats, rate)
			if err != nil {
				return err
			}
			opts.Stats = stats
			res, err := client.Pull(ctx, r, rm, fetcher, args[1], opts)
			if p, ok := opts.Progress.(interface{ done() }); ok {
				p.done()
			}
			if err != nil {
				return fmt.Errorf("pull %s %s: %w", args[0], args[1], err)
			}
			if f.jsonOut {
				return writeJSON(g.stdout, res)
			}
			printPull(g.stdout, res, f.dryRun)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan and its cost; fetch no content")
	fl.StringVar(&f.maxBytes, "max-bytes", "", "refuse an update that costs more (e.g. 20M)")
	fl.StringVar(&f.limitRate, "limit-rate", "", "cap the download rate (e.g. 256k bytes/s)")
	fl.BoolVar(&f.allowDowngrade, "allow-downgrade", false, "accept a lower release than this repository has")
	fl.StringVar(&f.progress, "progress", "auto", "progress display: auto (a bar on a terminal), plain, json or none")
	fl.IntVar(&f.connections, "connections", 4, "range requests at once")
	fl.BoolVar(&f.jsonOut, "json", false, "print the result as JSON")
	fl.StringVar(&f.via, "via", "", "force a way: delta, chunks or full (default: the cheapest)")
	fl.BoolVar(&f.noFull, "no-full", false, "policy: never take the full download")
	return cmd
}

// buildFetcher assembles the fetch stack of a remote: one fetcher per URL,
// failing over in turn, under an optional rate limit.
func buildFetcher(rm *client.Remote, stats *client.FetchStats, rate int64) (client.Fetcher, error) {
	var fs []client.Fetcher
	for _, u := range rm.URLs() {
		f, err := client.NewFetcher(u, client.FetchOptions{Stats: stats})
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	var f client.Fetcher = fs[0]
	if len(fs) > 1 {
		f = &client.Mirrors{Fetchers: fs}
	}
	if rate > 0 {
		f = &client.RateLimited{Fetcher: f, Limiter: client.NewFetchLimiter(rate)}
	}
	return f, nil
}

func printPull(w io.Writer, res *client.Result, dry bool) {
	p := res.Plan
	if p.UpToDate {
		fmt.Fprintf(w, "%s is up to date at %s (release %d)\n", p.Ref, p.Commit.Short(), p.Release)
		return
	}
	fmt.Fprintf(w, "%s: commit %s, release %d %s\n", p.Ref, p.Commit, p.Release, p.Version)
	printOptions(w, p)
	fmt.Fprintf(w, "  metadata  %10s in %d requests (signed metadata, indexes, tree walk)\n", humanBytes(p.Metadata.Bytes), p.Metadata.Requests)
	fmt.Fprintf(w, "  local     %10s of content already on this device\n", humanBytes(p.Local))
	fmt.Fprintf(w, "  journaled %10s fetched by an earlier attempt\n", humanBytes(p.Journaled))
	if p.DeltaFrom != nil {
		fmt.Fprintf(w, "  fetch     %10s in %d requests (static delta from %s)\n", humanBytes(p.Fetch.Bytes), p.Fetch.Requests, p.DeltaFrom.Short())
	} else {
		fmt.Fprintf(w, "  fetch     %10s in %d requests (%d chunks for %d files)\n", humanBytes(p.Fetch.Bytes), p.Fetch.Requests, p.Chunks, p.Files)
	}
	fmt.Fprintf(w, "  total     %10s; a full download would be %s\n", humanBytes(p.Total()), humanBytes(p.Full))
	if dry {
		fmt.Fprintln(w, "dry run: no content fetched")
		return
	}
	fmt.Fprintf(w, "received %s in %d requests in %.1fs\n", humanBytes(res.Received.Bytes), res.Received.Requests, res.Duration.Seconds())
}

// printOptions lists the ways the planner priced, the chosen one marked.
func printOptions(w io.Writer, p client.Plan) {
	if len(p.Options) == 0 {
		return
	}
	fmt.Fprintln(w, "  ways to get it (bytes beyond the signed metadata already fetched):")
	for _, o := range p.Options {
		mark := " "
		if o.Via == p.Via && (o.From == nil || p.DeltaFrom != nil && *o.From == *p.DeltaFrom) {
			mark = "*"
		}
		name := o.Via
		if o.From != nil {
			name += " from " + o.From.Short()
		}
		note := ""
		switch {
		case o.Excluded != "":
			note = "  (" + o.Excluded + ")"
		case o.Estimated:
			note = "  (publisher's figure; the walk gives the exact one)"
		case o.Walked:
			note = "  (walked)"
		}
		fmt.Fprintf(w, "  %s %-22s %10s in %d requests%s\n", mark, name, humanBytes(o.Bytes), o.Requests, note)
	}
	fmt.Fprintf(w, "  picks %s\n", p.Via)
}

// parseSize reads sizes such as 20M, 512k, 1G, 1000 (bytes).
func parseSize(s string) (int64, error) {
	return client.ParseRate(s)
}

// textProgress prints a line per second: bytes, rate, time left.
type textProgress struct {
	w     io.Writer
	json  bool
	mu    sync.Mutex
	phase string
	total int64
	done_ int64
	start time.Time
	last  time.Time
}

func (t *textProgress) Phase(name string, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.phase, t.total, t.done_, t.start, t.last = name, total, 0, time.Now(), time.Time{}
	t.print()
}

func (t *textProgress) Add(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done_ += n
	if time.Since(t.last) >= time.Second || t.done_ == t.total {
		t.print()
	}
}

func (t *textProgress) print() {
	t.last = time.Now()
	el := time.Since(t.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(t.done_) / el
	}
	left := -1.0
	if rate > 0 && t.total > 0 {
		left = float64(t.total-t.done_) / rate
	}
	if t.json {
		b, _ := json.Marshal(map[string]any{"phase": t.phase, "done": t.done_, "total": t.total, "rate": int64(rate), "eta_s": int64(left)})
		fmt.Fprintln(t.w, string(b))
		return
	}
	eta := "?"
	if left >= 0 {
		eta = (time.Duration(left) * time.Second).String()
	}
	unit := humanBytes
	if t.phase == "assemble" {
		unit = func(n int64) string { return fmt.Sprintf("%d files", n) }
	}
	fmt.Fprintf(t.w, "%s: %s / %s, %s/s, %s left\n", t.phase, unit(t.done_), unit(t.total), strings.TrimSuffix(humanBytes(int64(rate)), " B"), eta)
}

// pullBar draws a progress bar per phase on a terminal.
type pullBar struct {
	w   io.Writer
	mu  sync.Mutex
	bar *progress
}

func newPullBar(w io.Writer) *pullBar { return &pullBar{w: w} }

func (b *pullBar) Phase(name string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.done()
	}
	if total == 0 {
		total = -1
	}
	b.bar = newProgress(b.w, name, total, name != "assemble")
}

func (b *pullBar) Add(n int64) {
	b.mu.Lock()
	bar := b.bar
	b.mu.Unlock()
	if bar != nil {
		bar.add(n)
	}
}

func (b *pullBar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.done()
	}
}
