package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// DefaultEFIVars is where Linux mounts efivarfs.
const DefaultEFIVars = "/sys/firmware/efi/efivars"

// LoaderVendorGUID is the vendor GUID of the EFI variables systemd-boot
// sets for the operating system (the Boot Loader Interface).
const LoaderVendorGUID = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// EntriesDir is where Boot Loader Specification entries live in the boot directory.
const EntriesDir = "loader/entries"

// bls keeps Boot Loader Specification type #1 entries in loader/entries,
// one file per entry, with systemd-boot's boot counting in the file name
// (+LEFT-DONE). systemd-boot decrements the counter by renaming the file
// before it boots the entry, sorts entries whose tries ran out last, and
// otherwise picks the entry whose name sorts highest: arbor's increasing,
// zero-padded numbers make the newest entry the default. arbor never writes
// "default" into loader.conf: systemd-boot 252 would then keep booting a bad
// entry that matches it.
//
// With counting false it is the "none" backend: the same entries, never
// counted, for a boot loader that reads BLS entries without counting, or
// for tests.
type bls struct {
	dir      string
	efivars  string
	counting bool
	name     string
}

func (b *bls) Name() string {
	if b.name != "" {
		return b.name
	}
	return "bls"
}

func (b *bls) entriesDir() string { return filepath.Join(b.dir, filepath.FromSlash(EntriesDir)) }

func (b *bls) Init() error {
	return Mkdirs(b.dir, EntriesDir)
}

// Mkdirs creates each directory of rel under root, syncing each parent.
func Mkdirs(root, rel string) error {
	p := root
	for _, part := range strings.Split(rel, "/") {
		next := filepath.Join(p, part)
		if err := os.Mkdir(next, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		} else if err == nil {
			if err := SyncDir(p); err != nil {
				return err
			}
		}
		p = next
	}
	return nil
}

func (b *bls) Entries(os_ string) ([]Entry, error) {
	dir := b.entriesDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read boot entries: %w", err)
	}
	var out []Entry
	prefix := "arbor-" + os_ + "-"
	for _, de := range ents {
		name := de.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".conf") {
			continue
		}
		if o, _, _, err := ParseEntryName(name); err != nil || o != os_ {
			continue // another OS whose name starts like this one's
		}
		data, err := readCapped(filepath.Join(dir, name), MaxEntrySize)
		if err != nil {
			return nil, err
		}
		e, err := ParseEntry(name, data)
		if err != nil {
			return nil, fmt.Errorf("boot entry %s: %w", filepath.Join(dir, name), err)
		}
		e.Bad = e.Tries != nil && e.Tries.Left == 0
		out = append(out, e)
	}
	sortEntries(out)
	return out, nil
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w: over %d bytes", path, ErrBadEntry, max)
	}
	b := make([]byte, fi.Size())
	_, err = f.ReadAt(b, 0)
	if err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

func (b *bls) Add(e Entry, tries int) error {
	var t *Tries
	if tries > 0 && b.counting {
		t = &Tries{Left: tries}
	}
	data, err := FormatEntry(e)
	if err != nil {
		return err
	}
	return WriteFile(b.entriesDir(), EntryName(e.OS, e.Number, t), data)
}

func (b *bls) Remove(e Entry) error {
	return RemoveFile(b.entriesDir(), e.Name)
}

func (b *bls) Bless(e Entry) error {
	if e.Tries == nil {
		return nil
	}
	return Rename(b.entriesDir(), e.Name, EntryName(e.OS, e.Number, nil))
}

func (b *bls) MarkBad(e Entry) error {
	if e.Tries == nil || e.Tries.Left == 0 {
		return nil
	}
	return Rename(b.entriesDir(), e.Name, EntryName(e.OS, e.Number, &Tries{Left: 0, Done: e.Tries.Done + e.Tries.Left}))
}

// Booted reads LoaderBootCountPath, which systemd-boot sets when it boots a
// counted entry: the path of the entry file as renamed for this boot.
func (b *bls) Booted() (string, error) {
	if !b.counting {
		return "", nil
	}
	p, err := ReadEFIString(b.efivars, "LoaderBootCountPath")
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		p = p[i+1:]
	}
	return p, nil
}

func (b *bls) Clean() error { return CleanTemp(b.entriesDir()) }

// ReadEFIString reads a string variable of the Boot Loader Interface from
// an efivarfs directory.
func ReadEFIString(efivars, name string) (string, error) {
	b, err := readCapped(filepath.Join(efivars, name+"-"+LoaderVendorGUID), 64<<10)
	if err != nil {
		return "", err
	}
	return DecodeEFIString(b)
}

// DecodeEFIString decodes an efivarfs file holding a string: four bytes of
// attributes, then UTF-16LE, optionally NUL-terminated.
func DecodeEFIString(b []byte) (string, error) {
	if len(b) < 4 || (len(b)-4)%2 != 0 {
		return "", fmt.Errorf("EFI variable of %d bytes is not a UTF-16 string", len(b))
	}
	u := make([]uint16, 0, (len(b)-4)/2)
	for i := 4; i+1 < len(b); i += 2 {
		c := uint16(b[i]) | uint16(b[i+1])<<8
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}

// EncodeEFIString encodes s as efivarfs shows a string variable that
// systemd-boot set (attributes: non-volatile off, boot service and
// runtime access), NUL-terminated. Tests use it to fake efivarfs.
func EncodeEFIString(s string) []byte {
	out := []byte{0x06, 0, 0, 0}
	for _, c := range utf16.Encode([]rune(s)) {
		out = append(out, byte(c), byte(c>>8))
	}
	return append(out, 0, 0)
}
