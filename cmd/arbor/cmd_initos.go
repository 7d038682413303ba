package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/deploy"
	"github.com/arbor-ota/arbor/deploy/boot"
)

func newInitOSCommand(g *globals) *cobra.Command {
	var cfg deploy.Config
	cmd := &cobra.Command{
		Use:   "init-os NAME",
		Short: "Prepare a sysroot for deployments of one OS",
		Long: `Initialise --sysroot for the OS NAME (lower-case letters, digits, '.', '_',
'-'): a bare repository in SYSROOT/arbor/repo, SYSROOT/arbor/deploy/NAME/var
(the shared /var), SYSROOT/arbor/state, and the boot loader's directories in
the boot directory (--boot-dir, default SYSROOT/boot; recorded relative to the
sysroot when inside it).

Boot loaders (--bootloader):
  bls    systemd-boot: Boot Loader Specification entries in loader/entries,
         counting tries in their names (default)
  grub   a generated grub/grub.cfg, counting tries in grub/grubenv
  uboot  a redundant U-Boot environment, as --fw-env-config describes it
  none   entries without boot counting

--boot-tries N (1 to 9, default 3) is how many boots a new deployment gets
before the boot loader falls back. --hw-compat sets this device's hardware ID:
commits that list hardware IDs deploy only if they list it. --karg sets kernel
arguments for the first deployment (later ones inherit them).`,
		Example: `  arbor --sysroot /mnt/sysroot init-os myos --karg root=LABEL=sysroot --karg console=ttyS0
  arbor --sysroot /mnt/sysroot --boot-dir /mnt/esp init-os myos --bootloader bls --boot-tries 2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.sysroot == "" {
				return usagef("no sysroot: give --sysroot PATH")
			}
			if err := boot.CheckOSName(args[0]); err != nil {
				return usagef("%v", err)
			}
			if !validLoader(cfg.Bootloader) {
				return usagef("--bootloader %q: want %s", cfg.Bootloader, strings.Join(boot.Names, ", "))
			}
			if cfg.BootTries < 1 || cfg.BootTries > boot.MaxGrubTries {
				return usagef("--boot-tries %d: want 1 to %d", cfg.BootTries, boot.MaxGrubTries)
			}
			cfg.OS = args[0]
			cfg.BootDir = g.bootDir
			opts := g.sysrootOptions()
			opts.BootDir = ""
			s, err := deploy.InitOS(cmd.Context(), g.sysroot, cfg, opts)
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintf(g.stdout, "initialised %s for OS %s: boot loader %s in %s, %d boot tries\n",
				s.Path(), cfg.OS, s.Config().Bootloader, s.BootDir(), s.Config().BootTries)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Bootloader, "bootloader", "bls", "boot loader: bls, grub, uboot or none")
	fl.IntVar(&cfg.BootTries, "boot-tries", deploy.DefaultBootTries, "boots a new deployment gets before the boot loader falls back")
	fl.StringVar(&cfg.HWCompat, "hw-compat", "", "this device's hardware ID")
	fl.StringArrayVar(&cfg.Kargs, "karg", nil, "kernel argument of the first deployment (repeatable)")
	fl.StringVar(&cfg.FwEnvConfig, "fw-env-config", "", "fw_env.config of the U-Boot environment (uboot; default /etc/fw_env.config)")
	return cmd
}

func validLoader(name string) bool {
	for _, n := range boot.Names {
		if n == name {
			return true
		}
	}
	return false
}
