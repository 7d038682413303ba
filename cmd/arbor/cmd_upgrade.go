package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/client"
	"github.com/arbor-ota/arbor/deploy"
)

func newUpgradeCommand(g *globals) *cobra.Command {
	var f deployFlags
	var maxBytes, limitRate, progressMode, rebootCmd string
	var reboot, retryFailed, allowDowngrade bool
	cmd := &cobra.Command{
		Use:   "upgrade [REMOTE REF]",
		Short: "Pull a ref into the sysroot's repository and deploy it",
		Long: `Pull REF from REMOTE into the sysroot's repository (SYSROOT/arbor/repo; see
'arbor pull') and deploy it (see 'arbor deploy'). Without arguments, the
remote and ref the next boot's deployment came from.

Nothing is deployed when the pulled commit already is the next boot's, or when
it failed on this device before (the boot loader fell back from it): upgrade
says so and exits 0; --retry-failed deploys it anyway. --reboot reboots into
the new deployment (--reboot-command, default 'systemctl reboot' under
systemd, else 'reboot -f').`,
		Example: `  arbor --sysroot /sysroot upgrade origin os/stable --reboot
  arbor upgrade      # what the arbor-upgrade.timer runs`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 1 {
				return usagef("upgrade takes REMOTE REF, or nothing")
			}
			opts := client.PullOptions{AllowDowngrade: allowDowngrade}
			if maxBytes != "" {
				n, err := parseSize(maxBytes)
				if err != nil {
					return usagef("--max-bytes %q: %v", maxBytes, err)
				}
				opts.MaxBytes = n
			}
			var rate int64
			if limitRate != "" {
				n, err := client.ParseRate(limitRate)
				if err != nil {
					return usagef("--limit-rate %q: %v", limitRate, err)
				}
				rate = n
			}
			switch progressMode {
			case "auto":
				if isTerminal(g.stderr) {
					opts.Progress = newPullBar(g.stderr)
				}
			case "plain":
				opts.Progress = &textProgress{w: g.stderr}
			case "none":
			default:
				return usagef("--progress %q: want auto, plain or none", progressMode)
			}
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			// Seeing a fallback first records it, so that its commit counts as failed.
			st, err := s.Status()
			if err != nil {
				return err
			}
			remote, ref := "", ""
			if len(args) == 2 {
				remote, ref = args[0], args[1]
			} else {
				for _, d := range st.Deployments {
					if r, l, ok := strings.Cut(d.Origin, ":"); ok {
						remote, ref = r, l
						break
					}
				}
				if remote == "" {
					return usagef("no REMOTE REF given and no deployment was deployed from one")
				}
			}
			dopts, err := f.options(s, remote+":"+ref)
			if err != nil {
				return err
			}
			rm, err := client.LoadRemote(s.Repo().Path(), remote)
			if err != nil {
				return err
			}
			if rm.HWCompat == "" {
				rm.HWCompat = s.Config().HWCompat
			}
			stats := &client.FetchStats{}
			fetcher, err := buildFetcher(rm, stats, rate)
			if err != nil {
				return err
			}
			opts.Stats = stats
			res, err := client.Pull(ctx, s.Repo(), rm, fetcher, ref, opts)
			if p, ok := opts.Progress.(interface{ done() }); ok {
				p.done()
			}
			if err != nil {
				return fmt.Errorf("pull %s %s: %w", remote, ref, err)
			}
			if !f.jsonOut {
				printPull(g.stdout, res, false)
			}
			if fl, err := s.Failure(res.Commit); err != nil {
				return err
			} else if fl != nil && !retryFailed {
				fmt.Fprintf(g.stdout, "not deploying %s: it failed on this device (%s, %s); --retry-failed deploys it anyway\n",
					res.Commit, fl.Reason, fl.Time.Format("2006-01-02 15:04:05Z"))
				return nil
			}
			dopts.IfChanged = true
			dres, err := s.Deploy(ctx, res.Commit, dopts)
			if errors.Is(err, deploy.ErrUnchanged) {
				fmt.Fprintf(g.stdout, "%s is already the next boot's deployment; nothing to do\n", res.Commit)
				return nil
			}
			if err != nil {
				return fmt.Errorf("deploy %s: %w", res.Commit.Short(), err)
			}
			if f.jsonOut {
				if err := writeJSON(g.stdout, map[string]any{"pull": res, "deploy": dres}); err != nil {
					return err
				}
			} else {
				printDeploy(g.stdout, dres)
			}
			if reboot {
				return g.reboot(ctx, rebootCmd)
			}
			return nil
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&reboot, "reboot", false, "reboot into the new deployment")
	fl.StringVar(&rebootCmd, "reboot-command", "", "command that reboots (default $ARBOR_REBOOT_COMMAND, else 'systemctl reboot' or 'reboot -f')")
	fl.BoolVar(&retryFailed, "retry-failed", false, "deploy a commit even if it failed on this device before")
	fl.BoolVar(&allowDowngrade, "allow-downgrade", false, "accept a lower release than the repository has")
	fl.StringVar(&maxBytes, "max-bytes", "", "refuse an update that costs more (e.g. 20M)")
	fl.StringVar(&limitRate, "limit-rate", "", "cap the download rate (e.g. 256k bytes/s)")
	fl.StringVar(&progressMode, "progress", "auto", "progress display: auto (a bar on a terminal), plain or none")
	return cmd
}
