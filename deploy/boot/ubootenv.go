package boot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/arbor-ota/arbor/internal/crash"
)

// ErrBadUBootEnv is matched by errors parsing a U-Boot environment or its
// fw_env.config.
var ErrBadUBootEnv = errors.New("malformed U-Boot environment")

// EnvCopy is one copy of a redundant U-Boot environment: a region of a
// file or device, as a line of fw_env.config names it.
type EnvCopy struct {
	Device string
	Offset int64
	Size   int64
}

// MaxUBootEnvSize caps the size of one environment copy.
const MaxUBootEnvSize = 1 << 20

// ParseFwEnvConfig parses fw_env.config as libubootenv does: one line per
// copy, "device offset size [sector-size [sectors]]", numbers decimal or
// 0x-hex, '#' comments. arbor needs a redundant environment: two copies of
// the same size that do not overlap.
func ParseFwEnvConfig(b []byte) ([2]EnvCopy, error) {
	var copies []EnvCopy
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 || len(f) > 5 {
			return [2]EnvCopy{}, fmt.Errorf("%w: fw_env.config line %q: want device, offset, size", ErrBadUBootEnv, line)
		}
		off, err1 := strconv.ParseInt(f[1], 0, 64)
		size, err2 := strconv.ParseInt(f[2], 0, 64)
		if err1 != nil || err2 != nil || off < 0 || size < 16 || size > MaxUBootEnvSize {
			return [2]EnvCopy{}, fmt.Errorf("%w: fw_env.config line %q: bad offset or size", ErrBadUBootEnv, line)
		}
		for _, x := range f[3:] {
			if _, err := strconv.ParseInt(x, 0, 64); err != nil {
				return [2]EnvCopy{}, fmt.Errorf("%w: fw_env.config line %q: bad number %q", ErrBadUBootEnv, line, x)
			}
		}
		copies = append(copies, EnvCopy{Device: f[0], Offset: off, Size: size})
	}
	if err := sc.Err(); err != nil {
		return [2]EnvCopy{}, err
	}
	if len(copies) != 2 {
		return [2]EnvCopy{}, fmt.Errorf("%w: fw_env.config names %d copies; arbor needs a redundant environment (two lines)", ErrBadUBootEnv, len(copies))
	}
	a, b2 := copies[0], copies[1]
	if a.Size != b2.Size {
		return [2]EnvCopy{}, fmt.Errorf("%w: fw_env.config: the two copies differ in size", ErrBadUBootEnv)
	}
	if a.Device == b2.Device && a.Offset < b2.Offset+b2.Size && b2.Offset < a.Offset+a.Size {
		return [2]EnvCopy{}, fmt.Errorf("%w: fw_env.config: the two copies overlap", ErrBadUBootEnv)
	}
	return [2]EnvCopy{a, b2}, nil
}

// envHeader is the CRC32 (little-endian) and the flag byte of a copy.
const envHeader = 5

// ParseUBootEnvCopy parses one copy of a redundant environment: CRC32 of
// the data (IEEE, little-endian), a flag byte, then name=value strings
// each ending in NUL, an empty string after the last. It returns the
// variables and the flag, or an error matching ErrBadUBootEnv when the
// CRC does not match or the data is malformed.
func ParseUBootEnvCopy(b []byte) (*Vars, byte, error) {
	if len(b) < envHeader+2 {
		return nil, 0, fmt.Errorf("%w: %d bytes", ErrBadUBootEnv, len(b))
	}
	data := b[envHeader:]
	if crc32.ChecksumIEEE(data) != binary.LittleEndian.Uint32(b) {
		return nil, 0, fmt.Errorf("%w: CRC mismatch", ErrBadUBootEnv)
	}
	v, err := parseEnvData(data)
	return v, b[4], err
}

func parseEnvData(data []byte) (*Vars, error) {
	v := &Vars{}
	for len(data) > 0 && data[0] != 0 {
		end := bytes.IndexByte(data, 0)
		if end < 0 {
			return nil, fmt.Errorf("%w: unterminated variable", ErrBadUBootEnv)
		}
		kv := string(data[:end])
		data = data[end+1:]
		name, val, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %q is not name=value", ErrBadUBootEnv, kv)
		}
		if _, dup := v.Get(name); dup {
			return nil, fmt.Errorf("%w: %s set twice", ErrBadUBootEnv, name)
		}
		v.Set(name, val)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: no end marker", ErrBadUBootEnv)
	}
	return v, nil
}

// FormatUBootEnvCopy returns a copy of size bytes holding v with the given
// flag, padded with zero bytes.
func FormatUBootEnvCopy(v *Vars, flag byte, size int) ([]byte, error) {
	out := make([]byte, size)
	p := out[envHeader:envHeader]
	for _, n := range v.Names() {
		val, _ := v.Get(n)
		if n == "" || strings.ContainsAny(n, "=\x00") || strings.ContainsRune(val, 0) {
			return nil, fmt.Errorf("U-Boot variable %q cannot be stored", n)
		}
		p = append(p, n...)
		p = append(p, '=')
		p = append(p, val...)
		p = append(p, 0)
	}
	p = append(p, 0)
	if len(p) > size-envHeader {
		return nil, fmt.Errorf("U-Boot environment needs %d bytes, the copy holds %d", len(p)+1, size-envHeader)
	}
	out[4] = flag
	binary.LittleEndian.PutUint32(out, crc32.ChecksumIEEE(out[envHeader:]))
	return out, nil
}

// newer reports whether flag a is newer than flag b, counting up with
// wrap-around as libubootenv does for files and block devices.
func newer(a, b byte) bool {
	switch {
	case a == 0 && b == 255:
		return true
	case a == 255 && b == 0:
		return false
	}
	return a > b
}

// UBootEnv is a redundant U-Boot environment on files or block devices.
type UBootEnv struct {
	Copies [2]EnvCopy
}

// OpenUBootEnv reads fw_env.config at path.
func OpenUBootEnv(config string) (*UBootEnv, error) {
	b, err := readCapped(config, 64<<10)
	if err != nil {
		return nil, err
	}
	c, err := ParseFwEnvConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config, err)
	}
	// Devices are named relative to the config's directory when not absolute.
	for i := range c {
		if !filepath.IsAbs(c[i].Device) {
			c[i].Device = filepath.Join(filepath.Dir(config), c[i].Device)
		}
	}
	return &UBootEnv{Copies: c}, nil
}

func (u *UBootEnv) readCopy(i int) ([]byte, error) {
	c := u.Copies[i]
	f, err := os.Open(c.Device)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, c.Size)
	if _, err := f.ReadAt(b, c.Offset); err != nil {
		return nil, fmt.Errorf("read U-Boot environment copy %d from %s: %w", i+1, c.Device, err)
	}
	return b, nil
}

// Read returns the current environment: the valid copy, or of two valid
// copies the one with the newer flag. It returns which copy that is.
func (u *UBootEnv) Read() (*Vars, int, byte, error) {
	var vars [2]*Vars
	var flags [2]byte
	var errs [2]error
	for i := range 2 {
		b, err := u.readCopy(i)
		if err != nil {
			return nil, 0, 0, err
		}
		vars[i], flags[i], errs[i] = ParseUBootEnvCopy(b)
	}
	switch {
	case errs[0] != nil && errs[1] != nil:
		return nil, 0, 0, fmt.Errorf("no valid copy of the U-Boot environment in %s (%v; %v); write one with fw_setenv first: U-Boot's default environment is compiled into it and arbor cannot know it",
			u.Copies[0].Device, errs[0], errs[1])
	case errs[1] != nil:
		return vars[0], 0, flags[0], nil
	case errs[0] != nil:
		return vars[1], 1, flags[1], nil
	case newer(flags[1], flags[0]):
		return vars[1], 1, flags[1], nil
	}
	return vars[0], 0, flags[0], nil
}

// Write stores v in the copy that is not current, with the next flag, and
// syncs it: until the write is complete its CRC does not match, so a crash
// leaves the previous environment in force.
func (u *UBootEnv) Write(v *Vars) error {
	_, cur, flag, err := u.Read()
	if err != nil {
		return err
	}
	other := 1 - cur
	c := u.Copies[other]
	b, err := FormatUBootEnvCopy(v, flag+1, int(c.Size))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.Device, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// The CRC goes last: a copy cut short never looks valid.
	if _, err := f.WriteAt(b[4:], c.Offset+4); err != nil {
		return fmt.Errorf("write U-Boot environment to %s: %w", c.Device, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	crash.Point("uboot.data")
	if _, err := f.WriteAt(b[:4], c.Offset); err != nil {
		return fmt.Errorf("write U-Boot environment to %s: %w", c.Device, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
