// Command arbor commits filesystem trees into a content-addressed
// repository, publishes them as a static site, pulls them onto devices and
// deploys them. Run 'arbor --help' for the commands.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals holds the flags every command shares.
type globals struct {
	repo    string
	sysroot string // device commands: the sysroot (sysroot.go)
	bootDir string
	stdout  io.Writer
	stderr  io.Writer
}

// run executes one arbor command line and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	return reportError(stderr, err)
}

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "arbor",
		Short: "Content-addressed delta updates for Linux devices",
		Long: `arbor commits filesystem trees into a content-addressed repository,
publishes them as a static site, pulls only the missing bytes onto devices and
switches them atomically through the boot loader.

A commit is named by a ref (os/stable), a full ID, or a unique ID prefix of at
least 4 hex digits; NAME^ is its parent and NAME~N its N-th ancestor.

Exit codes: 0 success; 1 error; 2 bad usage; 3 not found (repository, ref,
object, path, remote); 4 damage found (fsck, corrupt object, a site whose
bytes do not match its signed hashes); 5 repository locked by
another writer; 130 interrupted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.repo, "repo", os.Getenv("ARBOR_REPO"), "repository path (default $ARBOR_REPO, else the sysroot's)")
	root.PersistentFlags().StringVar(&g.sysroot, "sysroot", defaultSysroot(), "device sysroot (default $ARBOR_SYSROOT, else /sysroot)")
	root.PersistentFlags().StringVar(&g.bootDir, "boot-dir", os.Getenv("ARBOR_BOOT_DIR"), "boot directory, overriding the one init-os recorded (default $ARBOR_BOOT_DIR)")
	root.AddCommand(
		newInitCommand(g),
		newCommitCommand(g),
		newRefsCommand(g),
		newLogCommand(g),
		newShowCommand(g),
		newLsCommand(g),
		newCatCommand(g),
		newDiffCommand(g),
		newCheckoutCommand(g),
		newFsckCommand(g),
		newPruneCommand(g),
		newTrustCommand(g),
		newPublishCommand(g),
		newServeCommand(g),
		newRemoteCommand(g),
		newPullCommand(g),
		newDeltaCommand(g),
		newDemoCommand(g),
		newInitOSCommand(g),
		newDeployCommand(g),
		newStatusCommand(g),
		newUpgradeCommand(g),
		newHealthCommand(g),
		newRollbackCommand(g),
		newUndeployCommand(g),
		newPinCommand(g),
		newCleanupCommand(g),
	)
	return root
}
