// Package boot writes the boot loader configuration that selects an arbor
// deployment, on a boot directory that may be a FAT partition: files are
// only ever created, written, synced, renamed and removed (no symlinks, no
// hard links, no mode changes).
//
// Four backends implement Loader:
//
//   - bls: Boot Loader Specification type #1 entries in loader/entries for
//     systemd-boot, named arbor-OS-NNNN.conf with a zero-padded number that
//     grows with every entry, so that the newest sorts first; boot counting
//     in the name (arbor-OS-NNNN+3.conf) as systemd-boot's Automatic Boot
//     Assessment does it; the booted entry's counted name read from the EFI
//     variable LoaderBootCountPath. loader.conf is never written: a
//     "default" there would make systemd-boot 252 keep booting a bad entry.
//   - grub: a generated grub.cfg (Debian's GRUB has no blscfg) whose script
//     counts the first entry's tries in grubenv and falls back to the second
//     entry when none are left.
//   - uboot: two entries (default and fallback) in a redundant U-Boot
//     environment written by this package (CRC32, flag byte, two copies, as
//     fw_env.config names them), with U-Boot's own bootcount, bootlimit and
//     upgrade_available.
//   - none: BLS entries without counting, for tests and for boot loaders
//     that only read entries.
//
// The parsers (ParseEntry, ParseEntryName, ParseGrubEnv, ParseGrubCfg,
// ParseUBootEnvCopy, ParseFwEnvConfig, DecodeEFIString) refuse what their
// writers would not produce and have fuzz targets.
package boot
