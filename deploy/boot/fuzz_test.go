package boot

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// The fuzz targets check that every parser of what a boot directory or an
// environment holds never panics, fails only with its sentinel error, and
// that what it accepts is written back to something it parses the same.
// Seeds are in testdata/fuzz/<FuzzName> (run by plain 'go test' too).

func FuzzParseEntryName(f *testing.F) {
	f.Add("arbor-myos-0001.conf")
	f.Add("arbor-my-os-0002+3.conf")
	f.Add("arbor-myos-0003+0-3.conf")
	f.Fuzz(func(t *testing.T, name string) {
		os, n, tries, err := ParseEntryName(name)
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("error %v does not match ErrBadEntry", err)
			}
			return
		}
		again := EntryName(os, n, tries)
		os2, n2, tries2, err := ParseEntryName(again)
		if err != nil || os2 != os || n2 != n || !reflect.DeepEqual(tries, tries2) {
			t.Fatalf("%q -> %q does not parse the same: %v", name, again, err)
		}
	})
}

func FuzzParseEntry(f *testing.F) {
	b, _ := FormatEntry(sampleEntry(2))
	f.Add("arbor-myos-0002+3.conf", b)
	f.Add("arbor-myos-0002.conf", []byte("title\tx\nversion 0002\nlinux /k\noptions a\noptions b\n# c\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		e, err := ParseEntry(name, data)
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("error %v does not match ErrBadEntry", err)
			}
			return
		}
		out, err := FormatEntry(e)
		if err != nil {
			t.Fatalf("accepted %+v but cannot write it: %v", e, err)
		}
		e2, err := ParseEntry(name, out)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("written back %q parses as %+v, %v; want %+v", out, e2, err, e)
		}
	})
}

func FuzzParseGrubEnv(f *testing.F) {
	v := &Vars{}
	v.Set("arbor_trial", "0002")
	v.Set("arbor_left", "3")
	b, _ := FormatGrubEnv(v)
	f.Add(b)
	f.Add(pad("# GRUB Environment Block\n# WARNING: Do not edit\nodd=a\\\\b\\\nc\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseGrubEnv(b)
		if err != nil {
			if !errors.Is(err, ErrBadGrubEnv) {
				t.Fatalf("error %v does not match ErrBadGrubEnv", err)
			}
			return
		}
		out, err := FormatGrubEnv(v)
		if err != nil {
			return // comments took room that values now need: arbor never writes comments
		}
		v2, err := ParseGrubEnv(out)
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("written back, parses as %+v, %v; want %+v", v2, err, v)
		}
	})
}

func FuzzParseGrubCfg(f *testing.F) {
	b, _ := FormatGrubCfg([]Entry{sampleEntry(2), sampleEntry(1)}, 3)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		es, tries, err := ParseGrubCfg(b)
		if err != nil {
			return
		}
		out, err := FormatGrubCfg(es, tries)
		if err != nil {
			t.Fatalf("accepted %+v but cannot write it: %v", es, err)
		}
		es2, tries2, err := ParseGrubCfg(out)
		if err != nil || tries2 != tries && len(es) > 0 || len(es2) != len(es) {
			t.Fatalf("written back, parses as %d entries, %d tries, %v", len(es2), tries2, err)
		}
		for i := range es {
			if !reflect.DeepEqual(es[i], es2[i]) {
				t.Fatalf("entry %d: %+v, want %+v", i, es2[i], es[i])
			}
		}
	})
}

func FuzzParseUBootEnvCopy(f *testing.F) {
	v := &Vars{}
	v.Set("bootcmd", "run arbor_bootcmd")
	v.Set("arbor_bootargs", "console=ttyS0 arbor=/arbor/deploy/myos/x.0")
	b, _ := FormatUBootEnvCopy(v, 7, 256)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, flag, err := ParseUBootEnvCopy(b)
		if err != nil {
			if !errors.Is(err, ErrBadUBootEnv) {
				t.Fatalf("error %v does not match ErrBadUBootEnv", err)
			}
			return
		}
		out, err := FormatUBootEnvCopy(v, flag, len(b))
		if err != nil {
			t.Fatalf("accepted but cannot write back: %v", err)
		}
		v2, flag2, err := ParseUBootEnvCopy(out)
		if err != nil || flag2 != flag || !reflect.DeepEqual(v, v2) {
			t.Fatalf("written back, parses as %+v, %d, %v", v2, flag2, err)
		}
	})
}

func FuzzParseFwEnvConfig(f *testing.F) {
	f.Add([]byte("/dev/mmcblk0 0x3fe000 0x1000 0x200\n/dev/mmcblk0 0x3ff000 0x1000 0x200\n"))
	f.Add([]byte("# file\nenv.bin 0 8192\nenv.bin 8192 8192 # two\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseFwEnvConfig(b)
		if err != nil {
			if !errors.Is(err, ErrBadUBootEnv) && !bytes.Contains([]byte(err.Error()), []byte("token too long")) {
				t.Fatalf("error %v does not match ErrBadUBootEnv", err)
			}
			return
		}
		for _, x := range c {
			if x.Size < 16 || x.Size > MaxUBootEnvSize || x.Offset < 0 {
				t.Fatalf("accepted a copy %+v", x)
			}
		}
	})
}

func FuzzDecodeEFIString(f *testing.F) {
	f.Add(EncodeEFIString(`\loader\entries\arbor-myos-0002+2-1.conf`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeEFIString(b)
		if err != nil {
			return
		}
		s2, err := DecodeEFIString(EncodeEFIString(s))
		if err != nil || (s2 != s && !bytes.ContainsRune([]byte(s), 0xfffd)) {
			t.Fatalf("%q re-encoded decodes as %q, %v", s, s2, err)
		}
	})
}
