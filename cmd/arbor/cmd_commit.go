package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/repo"
)

type commitFlags struct {
	branch, subject, body, version, timestamp string
	release                                   int64
	bind, hwCompat, metadata                  []string
	ownerUID, ownerGID                        int64
	skipSpecial, jsonOut                      bool
}

func newCommitCommand(g *globals) *cobra.Command {
	var f commitFlags
	cmd := &cobra.Command{
		Use:   "commit --branch REF [flags] TREE",
		Short: "Commit a directory or tar archive onto a branch",
		Long: `Commit TREE, a directory or a tar archive (plain, gzip or zstd), as a new
commit on --branch, and print the commit ID.

Regular files, symlinks, directories, modes (setuid, setgid, sticky), owners
and extended attributes are kept; timestamps are not (checkouts get mtime 0).
Device nodes, FIFOs and sockets are refused unless --skip-special. Committing
a tar archive gives the same tree as committing its extracted directory.

The new commit's parent is the branch's current commit. Its release number
(--release) must be higher than the parent's; by default it is the parent's
plus one. --bind lists the refs the commit may be served as (default: the
branch); devices refuse it under any other ref.`,
		Example: `  arbor --repo R commit --branch os/stable --subject "1.4.2" --release 7 --version 1.4.2 rootfs/
  arbor --repo R commit --branch os/stable --owner-uid 0 --owner-gid 0 rootfs.tar.zst`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCommit(cmd.Context(), g, &f, args[0], cmd.Flags().Changed("release"),
				cmd.Flags().Changed("owner-uid"), cmd.Flags().Changed("owner-gid"))
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.branch, "branch", "b", "", "branch (ref) to commit onto (required)")
	fl.StringVarP(&f.subject, "subject", "s", "", "one-line subject")
	fl.StringVar(&f.body, "body", "", "longer description")
	fl.Int64Var(&f.release, "release", 0, "release number, higher than the parent's (default: parent's + 1)")
	fl.StringVar(&f.version, "version", "", "display version (arbor.version)")
	fl.StringArrayVar(&f.bind, "bind", nil, "ref the commit may be served as (repeatable; default: --branch)")
	fl.StringArrayVar(&f.hwCompat, "hw-compat", nil, "hardware ID the commit may be installed on (repeatable; default: any)")
	fl.StringArrayVar(&f.metadata, "metadata", nil, "extra metadata KEY=VALUE (string value; repeatable)")
	fl.Int64Var(&f.ownerUID, "owner-uid", 0, "make every file owned by this uid")
	fl.Int64Var(&f.ownerGID, "owner-gid", 0, "make every file owned by this gid")
	fl.BoolVar(&f.skipSpecial, "skip-special", false, "skip device nodes, FIFOs and sockets with a warning")
	fl.StringVar(&f.timestamp, "timestamp", "", "commit time, Unix seconds or RFC 3339 (default: $SOURCE_DATE_EPOCH or now)")
	fl.BoolVar(&f.jsonOut, "json", false, "print the commit ID and counts as JSON")
	cmd.MarkFlagRequired("branch")
	return cmd
}

func runCommit(ctx context.Context, g *globals, f *commitFlags, src string, releaseSet, uidSet, gidSet bool) error {
	if err := repo.CheckRefName(f.branch); err != nil || strings.Contains(f.branch, ":") {
		return usagef("--branch %q: not a valid ref name (letters, digits, '.', '_', '-', separated by '/')", f.branch)
	}
	ts, err := commitTime(f.timestamp)
	if err != nil {
		return err
	}
	bind := f.bind
	if len(bind) == 0 {
		bind = []string{f.branch}
	}
	for _, b := range bind {
		if err := repo.CheckRefName(b); err != nil {
			return usagef("--bind: %v", err)
		}
	}
	md := objects.Metadata{objects.MetaRefBinding: bind}
	if f.version != "" {
		md[objects.MetaVersion] = f.version
	}
	if len(f.hwCompat) > 0 {
		md[objects.MetaHWCompat] = f.hwCompat
	}
	for _, kv := range f.metadata {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--metadata %q: want KEY=VALUE", kv)
		}
		if strings.HasPrefix(k, "arbor.") {
			return usagef("--metadata %q: keys starting with 'arbor.' are set by their own flags", kv)
		}
		md[k] = v
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("%w: %v", errPathNotFound, err)
	}
	r, err := g.openRepo()
	if err != nil {
		return err
	}
	defer r.Close()
	opts := repo.ImportOptions{SkipSpecial: f.skipSpecial, Warn: func(m string) { fmt.Fprintln(g.stderr, "arbor: warning:", m) }}
	if uidSet {
		if f.ownerUID < 0 || f.ownerUID > 1<<32-1 {
			return usagef("--owner-uid %d out of range", f.ownerUID)
		}
		u := uint32(f.ownerUID)
		opts.OwnerUID = &u
	}
	if gidSet {
		if f.ownerGID < 0 || f.ownerGID > 1<<32-1 {
			return usagef("--owner-gid %d out of range", f.ownerGID)
		}
		gg := uint32(f.ownerGID)
		opts.OwnerGID = &gg
	}
	prog := newProgress(g.stderr, "committing", -1, true)
	opts.Progress = prog
	var id objects.ID
	var stats repo.ImportStats
	start := time.Now()
	err = r.Update(ctx, func(tx *repo.Tx) error {
		var parent *objects.ID
		release := f.release
		if head, err := r.Ref(f.branch); err == nil {
			parent = &head
			pc, err := objects.ReadCommit(ctx, r, head)
			if err != nil {
				return fmt.Errorf("read current %s: %w", f.branch, err)
			}
			if !releaseSet {
				release = pc.Release() + 1
			} else if release <= pc.Release() {
				return usagef("--release %d is not above release %d of the current %s (%s); releases must increase along a ref",
					release, pc.Release(), f.branch, head.Short())
			}
		} else if !errors.Is(err, repo.ErrRefNotFound) {
			return err
		} else if !releaseSet {
			release = 1
		}
		md[objects.MetaRelease] = release
		tree, meta, st, err := repo.ImportPath(ctx, tx, src, opts)
		stats = st
		if err != nil {
			return fmt.Errorf("commit %s: %w", src, err)
		}
		c := &objects.Commit{Tree: tree, Meta: meta, Parent: parent, Timestamp: ts.Unix(),
			Subject: f.subject, Body: f.body, Metadata: md}
		if id, err = repo.WriteCommit(ctx, tx, c); err != nil {
			return err
		}
		return tx.SetRef(f.branch, id)
	})
	prog.done()
	if err != nil {
		return err
	}
	if f.jsonOut {
		return writeJSON(g.stdout, map[string]any{"commit": id, "branch": f.branch, "files": stats.Files,
			"dirs": stats.Dirs, "symlinks": stats.Symlinks, "bytes": stats.Bytes})
	}
	fmt.Fprintln(g.stdout, id)
	fmt.Fprintf(g.stderr, "committed %d files, %d symlinks, %d directories (%s) to %s in %.1fs\n",
		stats.Files, stats.Symlinks, stats.Dirs, humanBytes(stats.Bytes), f.branch, time.Since(start).Seconds())
	return nil
}

func commitTime(s string) (time.Time, error) {
	if s == "" {
		s = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if s == "" {
		return time.Now().UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, usagef("--timestamp %q: want Unix seconds or RFC 3339", s)
	}
	return t.UTC(), nil
}

func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
