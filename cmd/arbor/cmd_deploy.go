package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/deploy"
	"github.com/arbor-ota/arbor/objects"
)

type deployFlags struct {
	os          string
	kargs       []string
	kargsDelete []string
	bootTries   int
	jsonOut     bool
}

func (f *deployFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.os, "os", "", "the sysroot's OS (checked; a sysroot holds one)")
	fl.StringArrayVar(&f.kargs, "karg", nil, "set a kernel argument KEY=VALUE or KEY, replacing an inherited one with that key (repeatable)")
	fl.StringArrayVar(&f.kargsDelete, "karg-delete", nil, "drop an inherited kernel argument by key (repeatable)")
	fl.IntVar(&f.bootTries, "boot-tries", 0, "boots the new deployment gets before the boot loader falls back (default: the sysroot's; -1: no counting)")
	fl.BoolVar(&f.jsonOut, "json", false, "print the result as JSON")
}

func (f *deployFlags) options(s *deploy.Sysroot, origin string) (deploy.DeployOptions, error) {
	if f.os != "" && f.os != s.Config().OS {
		return deploy.DeployOptions{}, usagef("--os %s: sysroot %s holds OS %s", f.os, s.Path(), s.Config().OS)
	}
	if f.bootTries > 9 || f.bootTries < -1 {
		return deploy.DeployOptions{}, usagef("--boot-tries %d: want 1 to 9, or -1 for none", f.bootTries)
	}
	return deploy.DeployOptions{Origin: origin, Kargs: f.kargs, KargsDelete: f.kargsDelete, BootTries: f.bootTries}, nil
}

func newDeployCommand(g *globals) *cobra.Command {
	var f deployFlags
	cmd := &cobra.Command{
		Use:   "deploy COMMIT",
		Short: "Stage a commit of the sysroot's repository as the next boot",
		Long: `Deploy COMMIT (a ref such as origin:os/stable, an ID or a prefix) from the
sysroot's repository beside the running system and make it the next boot:

  - refuse, before writing anything, a commit for other hardware, a tree without
    usr/lib/modules/VERSION/vmlinuz and initramfs.img, or a deployment that
    does not fit in the free space of the sysroot or the boot directory;
  - check the tree out as hard links into SYSROOT/arbor/deploy/OS/COMMIT.SERIAL
    (only directories and /etc cost new space), keep its /etc defaults in
    usr/etc, and merge /etc three ways with the running deployment's (the
    device's changes survive, new defaults arrive, deletions stay deleted,
    conflicts keep the device's version and are listed);
  - copy the kernel and initramfs into BOOT/arbor/OS-BOOTCSUM (once per
    distinct pair) and write the boot entry, counting --boot-tries boots:
    'arbor health' blesses it, or the boot loader falls back by itself;
  - take out of the boot menu all but the new, booted, previous and pinned
    deployments, and remove what nothing needs any more.

A crash at any moment leaves the boot directory selecting the old deployment
or the complete new one.`,
		Example: `  arbor --sysroot /sysroot deploy origin:os/stable --karg console=ttyS0,115200`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := g.openSysroot()
			if err != nil {
				return err
			}
			defer s.Close()
			id, _, err := resolveCommit(ctx, s.Repo(), args[0])
			if err != nil {
				return err
			}
			opts, err := f.options(s, args[0])
			if err != nil {
				return err
			}
			return runDeploy(ctx, g, s, id, opts, f.jsonOut)
		},
	}
	f.register(cmd)
	return cmd
}

// runDeploy deploys and prints the result.
func runDeploy(ctx context.Context, g *globals, s *deploy.Sysroot, id objects.ID, opts deploy.DeployOptions, jsonOut bool) error {
	if fl, err := s.Failure(id); err == nil && fl != nil {
		fmt.Fprintf(g.stderr, "arbor: warning: %s failed on this device (%s, %s); deploying it again as asked\n",
			fl.Deployment, fl.Reason, fl.Time.Format("2006-01-02 15:04:05Z"))
	}
	res, err := s.Deploy(ctx, id, opts)
	if err != nil {
		return fmt.Errorf("deploy %s: %w", id.Short(), err)
	}
	if jsonOut {
		return writeJSON(g.stdout, res)
	}
	printDeploy(g.stdout, res)
	return nil
}

func printDeploy(w io.Writer, res *deploy.DeployResult) {
	r := res.Record
	st := res.Checkout
	fmt.Fprintf(w, "deployed %s (%s, release %d) in %.2fs: %d files hard-linked, %d copied, %d directories\n",
		r.Name, orDash(r.Version), r.Release, res.Duration.Seconds(), st.Links, st.Files, st.Dirs)
	fmt.Fprintf(w, "  kernel %s in %s; kernel arguments: %s\n", r.Kernel, r.BootDir, strings.Join(r.Kargs, " "))
	if r.EtcMergedFrom != "" {
		fmt.Fprintf(w, "  /etc merged from %s: %d conflicts\n", r.EtcMergedFrom, len(r.EtcConflicts))
	}
	for _, c := range r.EtcConflicts {
		fmt.Fprintf(w, "    %s: %s\n", c.Path, c.Reason)
	}
	for _, n := range res.Removed {
		fmt.Fprintf(w, "  removed from the boot menu: %s\n", n)
	}
	if cs := res.Cleanup; cs != nil && (len(cs.Deployments) > 0 || cs.Repo.Objects > 0) {
		fmt.Fprintf(w, "  cleaned up %d deployments, %d kernels, %d objects (%s)\n", len(cs.Deployments), len(cs.Kernels), cs.Repo.Objects, humanBytes(cs.Repo.Bytes))
	}
	if res.Tries > 0 {
		fmt.Fprintf(w, "next boot: %s (boot entry %s, %d tries; 'arbor health' on it blesses it)\n", r.Name, res.Entry, res.Tries)
	} else {
		fmt.Fprintf(w, "next boot: %s (boot entry %s, not counted)\n", r.Name, res.Entry)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
