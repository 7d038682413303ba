package boot

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Entry is one boot entry arbor manages: a kernel, an initramfs and a
// command line that names one deployment (arbor=...).
type Entry struct {
	OS     string // the sysroot's OS name
	Number int    // increases with every entry written; the newest sorts first
	Title  string // shown in the boot menu
	Linux  string // kernel, relative to the boot directory, starting with "/"
	Initrd string // initramfs, likewise ("" for none)
	// Options is the kernel command line; it carries arbor=/arbor/deploy/OS/COMMIT.SERIAL.
	Options string
	// Tries is the boot counter; nil when the entry is not counted (it was
	// blessed, or written without counting).
	Tries *Tries
	// Bad says the boot loader will not pick this entry by itself any more:
	// its counter ran out (and it is not the entry being booted), or arbor
	// recorded it as failed.
	Bad bool
	// Name identifies the entry in its boot loader as it is now: the file
	// name with its counter for bls and none, the menu entry ID for grub,
	// the slot for uboot.
	Name string
}

// Tries is a boot counter: how many boots are left before the boot loader
// gives up on the entry, and how many were made.
type Tries struct {
	Left int `json:"left"`
	Done int `json:"done"`
}

// Deployment returns the value of the entry's arbor= kernel argument, or "".
func (e Entry) Deployment() string { return KernelArg(e.Options, "arbor") }

// Counting reports whether the entry is on trial: counted, with tries left
// or on its last one.
func (e Entry) Counting() bool { return e.Tries != nil }

// KernelArg returns the value of the last key=value argument with the given
// key in a kernel command line, or "" if there is none.
func KernelArg(cmdline, key string) string {
	v := ""
	for _, a := range strings.Fields(cmdline) {
		if k, val, ok := strings.Cut(a, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// Loader is one boot loader's configuration in a boot directory.
//
// Every method that changes the configuration leaves it, at every instant
// and after a crash at any point, selecting either the old set of entries
// or the new one: files are written under a temporary name, fsynced, renamed
// and their directory fsynced; the U-Boot environment is written to its
// inactive copy. Nothing is ever symlinked or hard-linked, so a FAT boot
// partition works.
type Loader interface {
	// Name is the backend's name: bls, grub, uboot or none.
	Name() string
	// Init creates what the backend needs in an empty boot directory and
	// refuses a configuration it would overwrite that arbor did not write.
	Init() error
	// Entries returns arbor's entries for os in the order the boot loader
	// tries them: the default first, bad entries last.
	Entries(os string) ([]Entry, error)
	// Add installs e as the default for the next boot, counting tries boots
	// (0: no counting). e.Number must be above every existing entry's.
	Add(e Entry, tries int) error
	// Remove deletes e (as returned by Entries).
	Remove(e Entry) error
	// Bless ends e's counting: the boot loader keeps picking it.
	Bless(e Entry) error
	// MarkBad uses up e's tries, so that the boot loader does not pick it
	// at the next boot.
	MarkBad(e Entry) error
	// Booted returns the name of the entry the boot loader reports it
	// booted, or "" when it reports none (the caller then goes by the
	// kernel command line).
	Booted() (string, error)
	// Clean removes temporary files that a killed writer left behind.
	Clean() error
}

// Options configures a Loader.
type Options struct {
	// Dir is the boot directory (the ESP or /boot).
	Dir string
	// EFIVars is the efivarfs directory (default /sys/firmware/efi/efivars).
	EFIVars string
	// FwEnvConfig is the U-Boot environment's fw_env.config (uboot only).
	FwEnvConfig string
}

// Names lists the backends.
var Names = []string{"bls", "grub", "uboot", "none"}

// ErrUnknownLoader is returned by Open for a backend name it does not know.
var ErrUnknownLoader = errors.New("unknown boot loader")

// ErrForeignConfig is returned by Init when the boot directory holds a
// configuration arbor did not write.
var ErrForeignConfig = errors.New("boot configuration not written by arbor")

// Open returns the named backend on opts.Dir.
func Open(name string, opts Options) (Loader, error) {
	if opts.EFIVars == "" {
		opts.EFIVars = DefaultEFIVars
	}
	switch name {
	case "bls":
		return &bls{dir: opts.Dir, efivars: opts.EFIVars, counting: true}, nil
	case "none":
		return &bls{dir: opts.Dir, name: "none"}, nil
	case "grub":
		return &grub{dir: opts.Dir}, nil
	case "uboot":
		if opts.FwEnvConfig == "" {
			return nil, fmt.Errorf("uboot: no fw_env.config given")
		}
		return &uboot{dir: opts.Dir, config: opts.FwEnvConfig}, nil
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownLoader, name, strings.Join(Names, ", "))
}

var osNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckOSName reports whether name may name an OS: lower-case letters,
// digits, '.', '_' and '-', starting with a letter or digit, at most 64
// bytes. Lower case only, because a FAT boot partition folds case.
func CheckOSName(name string) error {
	if !osNameRE.MatchString(name) {
		return fmt.Errorf("OS name %q: use lower-case letters, digits, '.', '_', '-' (at most 64, starting with a letter or digit)", name)
	}
	return nil
}

// sortEntries orders entries as systemd-boot does for arbor's names: bad
// ones last, then the highest number first.
func sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Bad != es[j].Bad {
			return !es[i].Bad
		}
		return es[i].Number > es[j].Number
	})
}

// checkField refuses what no entry format can carry.
func checkField(name, v string) error {
	if strings.ContainsAny(v, "\n\r\x00") {
		return fmt.Errorf("boot entry %s %q: contains a line break or NUL", name, v)
	}
	return nil
}

func (e Entry) validate() error {
	if err := CheckOSName(e.OS); err != nil {
		return err
	}
	if e.Number < 0 || e.Number > 99999999 {
		return fmt.Errorf("boot entry number %d out of range", e.Number)
	}
	for _, f := range []struct{ n, v string }{{"title", e.Title}, {"linux", e.Linux}, {"initrd", e.Initrd}, {"options", e.Options}} {
		if err := checkField(f.n, f.v); err != nil {
			return err
		}
	}
	if !strings.HasPrefix(e.Linux, "/") || strings.ContainsAny(e.Linux, " \t") {
		return fmt.Errorf("boot entry kernel path %q: want an absolute path without blanks", e.Linux)
	}
	if e.Initrd != "" && (!strings.HasPrefix(e.Initrd, "/") || strings.ContainsAny(e.Initrd, " \t")) {
		return fmt.Errorf("boot entry initrd path %q: want an absolute path without blanks", e.Initrd)
	}
	return nil
}
