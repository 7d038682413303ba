package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/server"
)

func newPublishCommand(g *globals) *cobra.Command {
	var keys, siteDir string
	var refresh, dryRun, jsonOut bool
	var exp expiryFlags
	cmd := &cobra.Command{
		Use:   "publish --site SITE --keys KEYS [REF...]",
		Short: "Publish refs to a static site, signed",
		Long: `Publish REFs (default: every branch of --repo) to SITE: the units (objects)
the site lacks go into one new immutable pack, beside its index; then the
commits, one descriptor per ref, and the signed TUF metadata, the timestamp
last. Publishing a commit that differs from the last one by a few files writes
a small pack. Static deltas stored in the repository ('arbor delta generate')
that end at a published commit are published too, under deltas/, and listed in
its descriptor. Serve SITE with any web server.

--refresh-timestamp re-signs the timestamp (and targets and snapshot if they
expire within a day) without publishing anything; run it from cron more often
than the timestamp expires.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if keys == "" || siteDir == "" {
				return usagef("publish needs --site and --keys")
			}
			o, err := exp.options()
			if err != nil {
				return err
			}
			st := server.DirStore{Root: siteDir}
			p, err := openPublisher(ctx, keys, st, o)
			if err != nil {
				return err
			}
			if refresh {
				if len(args) > 0 {
					return usagef("--refresh-timestamp publishes no refs")
				}
				files, err := p.RefreshExpiring(24 * time.Hour)
				if err != nil {
					return err
				}
				return writeSiteFiles(ctx, g, st, files)
			}
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			start := time.Now()
			rep, err := server.Publish(ctx, r, st, p, server.PublishOptions{Refs: args, DryRun: dryRun})
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, rep)
			}
			for _, f := range rep.Files {
				fmt.Fprintf(g.stdout, "wrote %s\n", f)
			}
			for _, rr := range rep.Refs {
				if rr.Unchanged {
					fmt.Fprintf(g.stderr, "%s: already published at %s\n", rr.Ref, rr.Commit.Short())
					continue
				}
				fmt.Fprintf(g.stderr, "%s: %s, %d new units; full download %s from %d packs; %d static deltas\n",
					rr.Ref, rr.Commit.Short(), rr.NewUnits, humanBytes(rr.FullSize), rr.Packs, rr.Deltas)
			}
			if rep.Pack != nil {
				fmt.Fprintf(g.stderr, "new pack %s: %d units in %d blocks, %s, in %.1fs\n",
					rep.Pack.Short(), rep.Units, rep.Blocks, humanBytes(rep.PackSize), time.Since(start).Seconds())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "directory of the private keys")
	cmd.Flags().StringVar(&siteDir, "site", "", "site directory")
	cmd.Flags().BoolVar(&refresh, "refresh-timestamp", false, "only re-sign metadata before it expires")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be written, write nothing")
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the report as JSON")
	exp.add(cmd)
	return cmd
}
