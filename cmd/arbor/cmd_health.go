package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/deploy"
)

func newHealthCommand(g *globals) *cobra.Command {
	var opts deploy.HealthOptions
	var noReboot, jsonOut bool
	var rebootCmd string
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Run the booted deployment's health checks; bless it or reboot",
		Long: `Run the health checks of the booted deployment (the one arbor= on the kernel
command line names): every executable in /etc/arbor/health.d/ and in the
deployment's own /usr/lib/arbor/health.d/ (one in /etc replaces the tree's of
the same name), in name order, each killed after --timeout. They run with
ARBOR_DEPLOYMENT and ARBOR_DEPLOYMENT_ROOT set.

All pass: the booted entry is blessed (its boot counter goes; the boot loader
keeps booting it). One fails while the entry is on trial: arbor reboots
without blessing (--reboot-command, default 'systemctl reboot' under systemd,
else 'reboot -f'; --no-reboot leaves it to the caller), so the boot loader
counts a try and, when none are left, boots the previous deployment by
itself; --mark-bad uses up the tries first, so the fallback is the next boot.
A failure on a blessed entry only exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.Health(ctx, opts)
			if res != nil {
				if jsonOut {
					if werr := writeJSON(g.stdout, res); werr != nil {
						return werr
					}
				} else {
					for _, c := range res.Checks {
						status := "ok  "
						if !c.OK {
							status = "FAIL"
						}
						fmt.Fprintf(g.stdout, "%s %s (%.1fs)", status, c.Name, c.Duration.Seconds())
						if c.Error != "" {
							fmt.Fprintf(g.stdout, ": %s", c.Error)
						}
						fmt.Fprintln(g.stdout)
						if !c.OK && c.Output != "" {
							for _, l := range strings.Split(strings.TrimRight(c.Output, "\n"), "\n") {
								fmt.Fprintf(g.stdout, "     | %s\n", l)
							}
						}
					}
					switch {
					case res.Blessed:
						fmt.Fprintf(g.stdout, "healthy: blessed %s (boot entry %s)\n", res.Deployment, res.Entry)
					case res.OK:
						fmt.Fprintf(g.stdout, "healthy: %s (boot entry %s, not on trial)\n", res.Deployment, orDash(res.Entry))
					case res.Reboot:
						fmt.Fprintf(g.stdout, "unhealthy: %s stays unblessed (boot entry %s)\n", res.Deployment, res.Entry)
					}
				}
			}
			if err != nil && errors.Is(err, deploy.ErrHealthFailed) && res != nil && res.Reboot && !noReboot {
				if rerr := g.reboot(ctx, rebootCmd); rerr != nil {
					return fmt.Errorf("%w; and %w", err, rerr)
				}
				return fmt.Errorf("%w; rebooting without blessing", err)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&opts.Timeout, "timeout", 2*time.Minute, "time each check may take")
	fl.BoolVar(&opts.MarkBad, "mark-bad", false, "on failure, use up the entry's tries so the next boot falls back")
	fl.BoolVar(&noReboot, "no-reboot", false, "on failure, do not reboot (exit 1 and leave it to the caller)")
	fl.StringVar(&rebootCmd, "reboot-command", "", "command that reboots (default $ARBOR_REBOOT_COMMAND, else 'systemctl reboot' or 'reboot -f')")
	fl.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}
