package boot

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func sampleEntry(n int) Entry {
	return Entry{OS: "myos", Number: n, Title: "myos 1.1 (06a37f63.0)",
		Linux: "/arbor/myos-abc/vmlinuz", Initrd: "/arbor/myos-abc/initramfs.img",
		Options: "console=ttyS0,115200 arbor=/arbor/deploy/myos/06a3.0"}
}

func TestEntryNameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		os    string
		n     int
		tries *Tries
		want  string
	}{
		{"myos", 1, nil, "arbor-myos-0001.conf"},
		{"myos", 2, &Tries{Left: 3}, "arbor-myos-0002+3.conf"},
		{"my-os", 12345, &Tries{Left: 0, Done: 3}, "arbor-my-os-12345+0-3.conf"},
		{"os.1_x", 7, &Tries{Left: 1, Done: 2}, "arbor-os.1_x-0007+1-2.conf"},
	} {
		got := EntryName(tc.os, tc.n, tc.tries)
		if got != tc.want {
			t.Errorf("EntryName(%s, %d, %v) = %s, want %s", tc.os, tc.n, tc.tries, got, tc.want)
		}
		os, n, tries, err := ParseEntryName(got)
		if err != nil || os != tc.os || n != tc.n || !reflect.DeepEqual(tries, tc.tries) {
			t.Errorf("ParseEntryName(%s) = %s, %d, %v, %v", got, os, n, tries, err)
		}
	}
}

func TestParseEntryNameRefuses(t *testing.T) {
	for _, name := range []string{
		"", "arbor-myos-0001", "myos-0001.conf", "arbor-myos-001.conf", "arbor--0001.conf",
		"arbor-MyOS-0001.conf", "arbor-myos-0001+.conf", "arbor-myos-0001+a.conf", "arbor-myos-0001+1-.conf",
		"arbor-myos-00x1.conf", "arbor-0001.conf", "arbor-myos-0001+1-2-3.conf", "arbor-myos-1234567890.conf",
	} {
		if _, _, _, err := ParseEntryName(name); !errors.Is(err, ErrBadEntry) {
			t.Errorf("ParseEntryName(%q) = %v, want ErrBadEntry", name, err)
		}
	}
}

func TestEntryFormatRoundTrip(t *testing.T) {
	e := sampleEntry(2)
	b, err := FormatEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	want := "title myos 1.1 (06a37f63.0)\nversion 0002\nlinux /arbor/myos-abc/vmlinuz\ninitrd /arbor/myos-abc/initramfs.img\noptions console=ttyS0,115200 arbor=/arbor/deploy/myos/06a3.0\n"
	if string(b) != want {
		t.Fatalf("FormatEntry:\n%s\nwant:\n%s", b, want)
	}
	name := EntryName("myos", 2, &Tries{Left: 2, Done: 1})
	got, err := ParseEntry(name, b)
	if err != nil {
		t.Fatal(err)
	}
	e.Tries, e.Name = &Tries{Left: 2, Done: 1}, name
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("ParseEntry = %+v, want %+v", got, e)
	}
	if got.Deployment() != "/arbor/deploy/myos/06a3.0" {
		t.Errorf("Deployment() = %q", got.Deployment())
	}
}

func TestParseEntryAsLoadersRead(t *testing.T) {
	// Tabs, comments, unknown keys, several options lines, a second initrd.
	b := "# written by hand\ntitle\tX\nversion 0003\nsort-key arbor\nlinux  /k\ninitrd /i1\ninitrd /i2\noptions a=1\noptions   b arbor=/arbor/deploy/myos/x.0\n\n"
	e, err := ParseEntry("arbor-myos-0003.conf", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if e.Title != "X" || e.Linux != "/k" || e.Initrd != "/i1" || e.Options != "a=1 b arbor=/arbor/deploy/myos/x.0" {
		t.Errorf("got %+v", e)
	}
	for name, body := range map[string]string{
		"no linux":          "title x\nversion 0003\noptions a\n",
		"version mismatch":  "title x\nversion 0004\nlinux /k\n",
		"no version":        "title x\nlinux /k\n",
		"relative kernel":   "version 0003\nlinux k\n",
		"NUL in options":    "version 0003\nlinux /k\noptions a\x00b\n",
		"kernel with blank": "version 0003\nlinux /k x\n",
	} {
		if _, err := ParseEntry("arbor-myos-0003.conf", []byte(body)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: ParseEntry = %v, want ErrBadEntry", name, err)
		}
	}
}

func TestFormatEntryRefuses(t *testing.T) {
	for name, mod := range map[string]func(*Entry){
		"newline in title":   func(e *Entry) { e.Title = "a\nlinux /evil" },
		"newline in options": func(e *Entry) { e.Options = "a\ninitrd /x" },
		"bad OS":             func(e *Entry) { e.OS = "My OS" },
		"relative kernel":    func(e *Entry) { e.Linux = "vmlinuz" },
		"negative number":    func(e *Entry) { e.Number = -1 },
	} {
		e := sampleEntry(1)
		mod(&e)
		if _, err := FormatEntry(e); err == nil {
			t.Errorf("%s: FormatEntry accepted %+v", name, e)
		}
	}
}

func TestKernelArg(t *testing.T) {
	if got := KernelArg("root=/dev/vda arbor=/a/b quiet arbor=/c/d", "arbor"); got != "/c/d" {
		t.Errorf("last arbor= wins: got %q", got)
	}
	if got := KernelArg("arbor root=x", "arbor"); got != "" {
		t.Errorf("bare arbor: got %q", got)
	}
}

func TestEFIString(t *testing.T) {
	for _, s := range []string{"", `\loader\entries\arbor-myos-0002+2-1.conf`, "äöü ☃"} {
		got, err := DecodeEFIString(EncodeEFIString(s))
		if err != nil || got != s {
			t.Errorf("round trip of %q: %q, %v", s, got, err)
		}
	}
	// Without the terminating NUL, as some firmware stores it.
	b := EncodeEFIString("abc")
	if got, _ := DecodeEFIString(b[:len(b)-2]); got != "abc" {
		t.Errorf("unterminated: %q", got)
	}
	for _, b := range [][]byte{nil, {1, 2, 3}, {6, 0, 0, 0, 'a'}} {
		if _, err := DecodeEFIString(b); err == nil {
			t.Errorf("DecodeEFIString(%v) accepted", b)
		}
	}
}

// entryFiles lists loader/entries.
func entryFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, EntriesDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestBLSLoader(t *testing.T) {
	dir := t.TempDir()
	efi := t.TempDir()
	l, err := Open("bls", Options{Dir: dir, EFIVars: efi})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(sampleEntry(1), 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(sampleEntry(2), 3); err != nil {
		t.Fatal(err)
	}
	if got := entryFiles(t, dir); !reflect.DeepEqual(got, []string{"arbor-myos-0001.conf", "arbor-myos-0002+3.conf"}) {
		t.Fatalf("entries: %v", got)
	}
	es, err := l.Entries("myos")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Number != 2 || es[0].Tries.Left != 3 || es[1].Number != 1 || es[1].Tries != nil {
		t.Fatalf("Entries: %+v", es)
	}
	// systemd-boot counts the try down and says which file it booted.
	if err := os.Rename(filepath.Join(dir, EntriesDir, "arbor-myos-0002+3.conf"), filepath.Join(dir, EntriesDir, "arbor-myos-0002+2-1.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(efi, "LoaderBootCountPath-"+LoaderVendorGUID), EncodeEFIString(`\loader\entries\arbor-myos-0002+2-1.conf`), 0o644); err != nil {
		t.Fatal(err)
	}
	booted, err := l.Booted()
	if err != nil || booted != "arbor-myos-0002+2-1.conf" {
		t.Fatalf("Booted = %q, %v", booted, err)
	}
	es, _ = l.Entries("myos")
	if err := l.Bless(es[0]); err != nil {
		t.Fatal(err)
	}
	if got := entryFiles(t, dir); !reflect.DeepEqual(got, []string{"arbor-myos-0001.conf", "arbor-myos-0002.conf"}) {
		t.Fatalf("after Bless: %v", got)
	}
	// A bad entry sorts last, as systemd-boot sorts it.
	if err := l.Add(sampleEntry(3), 2); err != nil {
		t.Fatal(err)
	}
	es, _ = l.Entries("myos")
	if err := l.MarkBad(es[0]); err != nil {
		t.Fatal(err)
	}
	es, _ = l.Entries("myos")
	if es[0].Number != 2 || es[2].Number != 3 || !es[2].Bad || es[2].Tries.Left != 0 || es[2].Tries.Done != 2 {
		t.Fatalf("after MarkBad: %+v", es)
	}
	if err := l.Remove(es[2]); err != nil {
		t.Fatal(err)
	}
	// Entries of other OSes and foreign files are not arbor's.
	for _, n := range []string{"debian.conf", "arbor-myos2-0009.conf", "arbor-myos-0001.conf.bak"} {
		os.WriteFile(filepath.Join(dir, EntriesDir, n), []byte("title x\nversion 0009\nlinux /k\n"), 0o644)
	}
	os.WriteFile(filepath.Join(dir, EntriesDir, tmpPrefix+"arbor-myos-0004.conf"), []byte("half"), 0o644)
	if es, err = l.Entries("myos"); err != nil || len(es) != 2 {
		t.Fatalf("Entries with foreign files: %+v, %v", es, err)
	}
	if err := l.Clean(); err != nil {
		t.Fatal(err)
	}
	for _, n := range entryFiles(t, dir) {
		if strings.HasPrefix(n, tmpPrefix) {
			t.Errorf("Clean left %s", n)
		}
	}
}

func TestNoneLoaderDoesNotCount(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open("none", Options{Dir: dir})
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(sampleEntry(1), 3); err != nil {
		t.Fatal(err)
	}
	if got := entryFiles(t, dir); !reflect.DeepEqual(got, []string{"arbor-myos-0001.conf"}) {
		t.Fatalf("entries: %v", got)
	}
	if b, err := l.Booted(); b != "" || err != nil {
		t.Errorf("Booted = %q, %v", b, err)
	}
}

func TestOpenRefusesUnknown(t *testing.T) {
	if _, err := Open("lilo", Options{Dir: t.TempDir()}); !errors.Is(err, ErrUnknownLoader) {
		t.Errorf("Open(lilo) = %v", err)
	}
	if _, err := Open("uboot", Options{Dir: t.TempDir()}); err == nil {
		t.Errorf("Open(uboot) without fw_env.config accepted")
	}
}

func TestWriteFileLeavesNoTemporary(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(dir, "a.conf", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, "a.conf", []byte("two")); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("files: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.conf")); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	if err := WriteFile(filepath.Join(dir, "missing"), "x", nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}
