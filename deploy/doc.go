// Package deploy installs commits of a device's repository as bootable
// deployments beside the running one and switches between them through
// the boot loader (DESIGN.md §8).
//
// # Layout
//
//	SYSROOT/arbor/repo/                          the device repository (bare)
//	SYSROOT/arbor/deploy/OS/COMMIT.SERIAL/       one hard-link checkout per deployment
//	SYSROOT/arbor/deploy/OS/var/                 the shared /var, never touched by updates
//	SYSROOT/arbor/state/sysroot.json             the sysroot's configuration (InitOS)
//	SYSROOT/arbor/state/deployments/NAME.json    one Record per deployment
//	SYSROOT/arbor/state/agent.json               history and failed commits (AgentState)
//	SYSROOT/arbor/state/lock                     held by every change
//	BOOT/loader/entries/arbor-OS-NNNN[+LEFT[-DONE]].conf   boot entries (bls, none)
//	BOOT/grub/grub.cfg, BOOT/grub/grubenv        (grub)
//	BOOT/arbor/OS-BOOTCSUM/vmlinuz, initramfs.img  kernels, one copy per distinct pair
//
// A deployment is named COMMIT.SERIAL: the commit's ID and a serial that
// tells deployments of the same commit apart. Its boot entry's kernel
// command line carries arbor=/arbor/deploy/OS/COMMIT.SERIAL, the path the
// initramfs mounts as / (with /var bind-mounted from the shared one and
// /usr read-only); on a running system the same argument in /proc/cmdline
// says which deployment is booted.
//
// # Truth and crash safety
//
// The boot loader's configuration (package deploy/boot) is the truth about
// what boots next; records and history add detail. Everything a new entry
// needs (the deployment directory, renamed into place complete; the
// kernel directory, likewise; the record) is durable before the entry is
// written, and an entry is written under a temporary name, synced and
// renamed. So a crash at any point leaves the boot directory selecting the
// old deployment or the complete new one, and whatever a killed command
// left behind (staging directories, temporary files, unreferenced
// deployments and kernels) is removed by the next deploy or cleanup. The
// crash points deploy.checkout, deploy.etc, deploy.staged, deploy.kernel,
// deploy.recorded, deploy.switched, deploy.pruned, health.checked,
// health.blessed, rollback.added, undeploy.entry, cleanup.entry,
// cleanup.deployment, cleanup.kernel, cleanup.prune, boot.written,
// boot.renamed, boot.removed and uboot.data (package internal/crash) let
// tests kill a command between the steps.
//
// # Boot counting and rollback
//
// A new entry counts its boots (Config.BootTries, 3 by default). Health runs
// the booted deployment's checks; success blesses the entry (the boot
// loader stops counting), failure asks the caller to reboot without
// blessing. When the tries run out the boot loader boots the previous
// entry by itself; the next arbor command on that boot sees that the booted
// deployment is not the newest entry's and that the newest entry's tries
// ran out, records "rolled-back" in the history, and marks the commit
// failed, which upgrade honours.
//
// # /etc
//
// A tree ships its /etc defaults in etc/ (or, already moved, in usr/etc/,
// never both). A deployment keeps them read-only in usr/etc and gets a
// writable etc/ merged three ways, file by file, from the defaults of the
// deployment it replaces, that deployment's etc/ as the device changed it,
// and the new defaults (see mergeEtc): the device's changes survive, new
// defaults arrive, deletions stay deleted, and conflicts keep the device's
// version and are listed in the record and in Status.
package deploy
