package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/deploy"
)

func newStatusCommand(g *globals) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the sysroot's deployments and what happened last",
		Long: `List the sysroot's deployments in boot order (the next boot's first), with
their index (what undeploy and pin take), state, version, boot entry and boot
counter, and the /etc conflicts their merge kept; then what happened last.

States: booted (running now), pending (the next boot, not booted yet),
rollback (where the boot loader falls back), bad (its tries ran out, or it
failed). When this boot is the boot loader's fallback, status says "rolled back
from X" and records it (once): upgrade will not deploy X again unless told to
with --retry-failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			st, err := s.Status()
			if err != nil {
				return err
			}
			if jsonOut {
				return writeJSON(g.stdout, st)
			}
			printStatus(g.stdout, st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the status as JSON")
	return cmd
}

func printStatus(w io.Writer, st *deploy.Status) {
	fmt.Fprintf(w, "OS %s in %s (boot loader %s, boot directory %s)\n", st.OS, st.Sysroot, st.Bootloader, st.BootDir)
	if len(st.Deployments) == 0 {
		fmt.Fprintln(w, "no deployments (deploy one with 'arbor deploy COMMIT')")
	}
	for _, d := range st.Deployments {
		mark := " "
		if d.Booted {
			mark = "*"
		}
		state := d.State
		if state == "" {
			state = "-"
		}
		fmt.Fprintf(w, "%s %d %-8s %s  %s (release %d)\n", mark, d.Index, state, d.Name, orDash(d.Version), d.Release)
		var info []string
		info = append(info, "entry "+d.Entry)
		switch {
		case d.Tries != nil && d.Tries.Left == 0 && d.Booted:
			info = append(info, fmt.Sprintf("on its last try (%d done)", d.Tries.Done))
		case d.Tries != nil && d.Tries.Left == 0:
			info = append(info, fmt.Sprintf("tries ran out (%d done)", d.Tries.Done))
		case d.Tries != nil:
			info = append(info, fmt.Sprintf("%d tries left, %d done", d.Tries.Left, d.Tries.Done))
		default:
			info = append(info, "blessed")
		}
		if d.Pinned {
			info = append(info, "pinned")
		}
		if d.Failed {
			info = append(info, "failed")
		}
		if d.Origin != "" {
			info = append(info, "from "+d.Origin)
		}
		fmt.Fprintf(w, "      %s\n", strings.Join(info, ", "))
		for _, c := range d.Conflict {
			fmt.Fprintf(w, "      /etc conflict %s: %s\n", c.Path, c.Reason)
		}
	}
	if st.Booted == "" {
		fmt.Fprintln(w, "booted: not from this sysroot (no arbor= on the kernel command line)")
	}
	if st.RolledBackFrom != "" {
		fmt.Fprintf(w, "rolled back from %s: the boot loader gave up on it and booted %s\n", st.RolledBackFrom, st.Booted)
	}
	if e := st.Last; e != nil {
		fmt.Fprintf(w, "last: %s\n", describeEvent(*e))
	}
}

func describeEvent(e deploy.Event) string {
	when := e.Time.Format("2006-01-02 15:04:05Z")
	switch e.Kind {
	case "rolled-back":
		return fmt.Sprintf("rolled back from %s to %s (%s) at %s", e.From, e.Deployment, e.Detail, when)
	case "rollback":
		return fmt.Sprintf("rollback from %s to %s asked for at %s", e.From, e.Deployment, when)
	case "health-failed":
		return fmt.Sprintf("health check of %s failed (%s) at %s", e.Deployment, e.Detail, when)
	}
	s := fmt.Sprintf("%s %s at %s", e.Kind, e.Deployment, when)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}
