package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/arbor-ota/arbor/deploy"
)

// The device side: commands that take --sysroot (init-os, deploy, status,
// upgrade, health, rollback, undeploy, pin, cleanup) share these helpers.
// Where the running system's facts come from can be redirected by
// environment variables, for tests and unusual set-ups:
//
//	ARBOR_SYSROOT         default --sysroot (else /sysroot)
//	ARBOR_BOOT_DIR        default --boot-dir (else the one init-os recorded)
//	ARBOR_CMDLINE         the running kernel's command line (else /proc/cmdline)
//	ARBOR_EFIVARS         efivarfs (else /sys/firmware/efi/efivars)
//	ARBOR_REBOOT_COMMAND  how to reboot (else 'systemctl reboot' under systemd, 'reboot -f' otherwise)

func defaultSysroot() string {
	if s := os.Getenv("ARBOR_SYSROOT"); s != "" {
		return s
	}
	return "/sysroot"
}

func (g *globals) sysrootOptions() deploy.Options {
	return deploy.Options{
		BootDir: g.bootDir,
		EFIVars: os.Getenv("ARBOR_EFIVARS"),
		Cmdline: os.Getenv("ARBOR_CMDLINE"),
		Warn:    func(m string) { fmt.Fprintln(g.stderr, "arbor: warning:", m) },
	}
}

func (g *globals) openSysroot() (*deploy.Sysroot, error) {
	if g.sysroot == "" {
		return nil, usagef("no sysroot: give --sysroot PATH or set ARBOR_SYSROOT")
	}
	return deploy.Open(g.sysroot, g.sysrootOptions())
}

// sysrootRepo is the repository commands use when neither --repo nor
// $ARBOR_REPO is given: the sysroot's, if it has one.
func (g *globals) sysrootRepo() string {
	if g.sysroot == "" {
		return ""
	}
	p := g.sysroot + "/arbor/repo"
	if _, err := os.Stat(p + "/config"); err != nil {
		return ""
	}
	return p
}

// rebootCommand returns the command that reboots the machine.
func rebootCommand(flag string) []string {
	c := flag
	if c == "" {
		c = os.Getenv("ARBOR_REBOOT_COMMAND")
	}
	if c == "" {
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			c = "systemctl reboot"
		} else {
			c = "reboot -f"
		}
	}
	return strings.Fields(c)
}

// reboot runs the reboot command, its output on stderr.
func (g *globals) reboot(ctx context.Context, flag string) error {
	argv := rebootCommand(flag)
	fmt.Fprintf(g.stderr, "rebooting: %s\n", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = g.stderr, g.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("reboot with %q: %w", strings.Join(argv, " "), err)
	}
	return nil
}
