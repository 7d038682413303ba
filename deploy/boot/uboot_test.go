package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const envSize = 0x2000

// ubootFiles makes an empty 16 KiB environment file and an fw_env.config
// naming its two copies.
func ubootFiles(t *testing.T) (config, env string) {
	t.Helper()
	dir := t.TempDir()
	env = filepath.Join(dir, "env.bin")
	if err := os.WriteFile(env, make([]byte, 2*envSize), 0o644); err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(dir, "fw_env.config")
	cfg := fmt.Sprintf("# redundant environment in a file\n%s 0x0000 0x%x\n%s 0x%x 0x%x\n", env, envSize, env, envSize, envSize)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return config, env
}

// initEnv writes a first environment with arbor's own writer.
func initEnv(t *testing.T, config string, vars map[string]string) *UBootEnv {
	t.Helper()
	u, err := OpenUBootEnv(config)
	if err != nil {
		t.Fatal(err)
	}
	v := &Vars{}
	for _, k := range sortedKeys(vars) {
		v.Set(k, vars[k])
	}
	b, err := FormatUBootEnvCopy(v, 1, envSize)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(u.Copies[0].Device, os.O_RDWR, 0)
	f.WriteAt(b, 0)
	f.Close()
	return u
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func flags(t *testing.T, env string) (byte, byte) {
	t.Helper()
	b, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	return b[4], b[envSize+4]
}

func TestUBootEnvAgainstLibubootenv(t *testing.T) {
	printenv := needTool(t, "fw_printenv")
	setenv := needTool(t, "fw_setenv")
	config, env := ubootFiles(t)
	// fw_setenv creates the environment (from defaults) and changes it.
	dir := filepath.Dir(config)
	defaults := filepath.Join(dir, "defaults.txt")
	os.WriteFile(defaults, []byte("bootcmd=run distro_bootcmd\nbootlimit=3\nbootcount=0\n"), 0o644)
	run(t, setenv, "-c", config, "-f", defaults, "upgrade_available", "0")
	script := filepath.Join(dir, "script.txt")
	os.WriteFile(script, []byte("arbor_title=myos 1.0 (a.0)\nwith_spaces=a b  c\n"), 0o644)
	run(t, setenv, "-c", config, "-s", script)

	u, err := OpenUBootEnv(config)
	if err != nil {
		t.Fatal(err)
	}
	v, cur, flag, err := u.Read()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"bootcmd": "run distro_bootcmd", "bootlimit": "3", "upgrade_available": "0",
		"arbor_title": "myos 1.0 (a.0)", "with_spaces": "a b  c"} {
		if got, _ := v.Get(k); got != want {
			t.Errorf("arbor reads %s=%q, want %q", k, got, want)
		}
	}
	// arbor writes the other copy with the next flag; fw_printenv reads it.
	v.Set("upgrade_available", "1")
	v.Set("arbor_bootargs", "console=ttyS0 arbor=/arbor/deploy/myos/x.0")
	v.Unset("with_spaces")
	if err := u.Write(v); err != nil {
		t.Fatal(err)
	}
	_, cur2, flag2, err := u.Read()
	if err != nil || cur2 == cur || flag2 != flag+1 {
		t.Fatalf("after Write: copy %d flag %d (before: copy %d flag %d), %v", cur2, flag2, cur, flag, err)
	}
	out := run(t, printenv, "-c", config)
	for _, want := range []string{"upgrade_available=1\n", "arbor_bootargs=console=ttyS0 arbor=/arbor/deploy/myos/x.0\n", "bootcmd=run distro_bootcmd\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("fw_printenv lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "with_spaces") {
		t.Errorf("fw_printenv still shows an unset variable:\n%s", out)
	}
	// fw_setenv goes on from what arbor wrote, and arbor reads that.
	run(t, setenv, "-c", config, "bootcount", "2")
	v, _, _, err = u.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Get("bootcount"); got != "2" {
		t.Errorf("bootcount=%q after fw_setenv", got)
	}
	if got, _ := v.Get("arbor_bootargs"); !strings.HasSuffix(got, "x.0") {
		t.Errorf("arbor_bootargs=%q after fw_setenv", got)
	}
	// A newest copy cut short (its CRC no longer matches) falls back to
	// the other, for arbor and fw_printenv alike.
	_, cur, _, _ = u.Read()
	f, _ := os.OpenFile(env, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, int64(cur)*envSize+8)
	f.Close()
	v, _, _, err = u.Read()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := v.Get("bootcount"); got != "0" {
		t.Errorf("after corrupting the newest copy arbor reads bootcount=%q, want the older 0", got)
	}
	if got := strings.TrimSpace(run(t, printenv, "-c", config, "-n", "bootcount")); got != "0" {
		t.Errorf("after corrupting the newest copy fw_printenv reads bootcount=%q", got)
	}
}

func TestUBootEnvFlagWraps(t *testing.T) {
	printenv := needTool(t, "fw_printenv")
	config, env := ubootFiles(t)
	u := initEnv(t, config, map[string]string{"n": "0"})
	for i := 1; i <= 300; i++ {
		v, _, _, err := u.Read()
		if err != nil {
			t.Fatal(err)
		}
		v.Set("n", strconv.Itoa(i))
		if err := u.Write(v); err != nil {
			t.Fatal(err)
		}
		if i >= 253 && i <= 257 {
			a, b := flags(t, env)
			got := strings.TrimSpace(run(t, printenv, "-c", config, "-n", "n"))
			if got != strconv.Itoa(i) {
				t.Fatalf("write %d (flags %d, %d): fw_printenv reads n=%s", i, a, b, got)
			}
		}
	}
	v, _, _, _ := u.Read()
	if got, _ := v.Get("n"); got != "300" {
		t.Fatalf("n=%s after 300 writes", got)
	}
}

func TestUBootEnvRefuses(t *testing.T) {
	config, _ := ubootFiles(t)
	u, _ := OpenUBootEnv(config)
	if _, _, _, err := u.Read(); err == nil || !strings.Contains(err.Error(), "fw_setenv") {
		t.Errorf("an environment with no valid copy: %v", err)
	}
	for name, cfg := range map[string]string{
		"one copy":   "/dev/x 0 0x2000\n",
		"three":      "/a 0 0x2000\n/a 0x2000 0x2000\n/a 0x4000 0x2000\n",
		"overlap":    "/a 0 0x2000\n/a 0x1000 0x2000\n",
		"sizes":      "/a 0 0x2000\n/a 0x2000 0x1000\n",
		"bad number": "/a zero 0x2000\n/a 0x2000 0x2000\n",
		"fields":     "/a 0\n/a 0x2000 0x2000\n",
	} {
		if _, err := ParseFwEnvConfig([]byte(cfg)); !errors.Is(err, ErrBadUBootEnv) {
			t.Errorf("%s: ParseFwEnvConfig = %v", name, err)
		}
	}
	c, err := ParseFwEnvConfig([]byte("# mmc\n/dev/mmcblk0 0x3fe000 0x1000 0x200 # comment\n/dev/mmcblk0 -0x2000 0x1000\n"))
	if err == nil {
		t.Errorf("negative offset accepted: %+v", c)
	}
	c, err = ParseFwEnvConfig([]byte("/dev/mmcblk0 0x3fe000 0x1000 0x200\n/dev/mmcblk0 0x3ff000 4096\n"))
	if err != nil || c[1].Offset != 0x3ff000 || c[1].Size != 4096 {
		t.Errorf("ParseFwEnvConfig = %+v, %v", c, err)
	}
	// A value or name arbor cannot store is refused, not truncated.
	v := &Vars{}
	v.Set("a", "x\x00y")
	if _, err := FormatUBootEnvCopy(v, 1, envSize); err == nil {
		t.Error("NUL in a value accepted")
	}
	v = &Vars{}
	v.Set("big", strings.Repeat("x", envSize))
	if _, err := FormatUBootEnvCopy(v, 1, envSize); err == nil {
		t.Error("an environment over the copy's size accepted")
	}
}

// simUBoot does what U-Boot's bootcount does at one boot: while
// upgrade_available is 1, count the boot, and once over bootlimit run
// altbootcmd. It returns the kernel arguments booted.
func simUBoot(t *testing.T, config string) string {
	t.Helper()
	u, _ := OpenUBootEnv(config)
	v, _, _, err := u.Read()
	if err != nil {
		t.Fatal(err)
	}
	prefix := "arbor_"
	if avail, _ := v.Get("upgrade_available"); avail == "1" {
		c, _ := v.Get("bootcount")
		n, _ := strconv.Atoi(c)
		n++
		v.Set("bootcount", strconv.Itoa(n))
		if err := u.Write(v); err != nil {
			t.Fatal(err)
		}
		l, _ := v.Get("bootlimit")
		limit, _ := strconv.Atoi(l)
		if n > limit {
			prefix = "arbor_alt_"
		}
	}
	args, _ := v.Get(prefix + "bootargs")
	return args
}

func TestUBootLoaderCountsAndFallsBack(t *testing.T) {
	config, _ := ubootFiles(t)
	initEnv(t, config, map[string]string{"bootcmd": "run arbor_bootcmd", "altbootcmd": "run arbor_altbootcmd"})
	l, err := Open("uboot", Options{Dir: t.TempDir(), FwEnvConfig: config})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	e1, e2 := sampleEntry(1), sampleEntry(2)
	e1.Options, e2.Options = "arbor=/arbor/deploy/myos/one.0", "arbor=/arbor/deploy/myos/two.0"
	if err := l.Add(e1, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(e2, 2); err != nil {
		t.Fatal(err)
	}
	var booted []string
	for range 4 {
		booted = append(booted, strings.TrimPrefix(simUBoot(t, config), "arbor=/arbor/deploy/myos/"))
	}
	if !reflect.DeepEqual(booted, []string{"two.0", "two.0", "one.0", "one.0"}) {
		t.Fatalf("booted %v", booted)
	}
	es, err := l.Entries("myos")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Number != 2 || !es[0].Bad || es[1].Number != 1 || es[1].Bad {
		t.Fatalf("after fallback: %+v", es)
	}
	// A third deployment falls back to the known-good one, not the bad one.
	e3 := sampleEntry(3)
	e3.Options = "arbor=/arbor/deploy/myos/three.0"
	if err := l.Add(e3, 2); err != nil {
		t.Fatal(err)
	}
	es, _ = l.Entries("myos")
	if es[0].Number != 3 || es[1].Number != 1 {
		t.Fatalf("after a third: %+v", es)
	}
	if got := simUBoot(t, config); !strings.HasSuffix(got, "three.0") {
		t.Fatalf("booted %s", got)
	}
	es, _ = l.Entries("myos")
	if err := l.Bless(es[0]); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if got := simUBoot(t, config); !strings.HasSuffix(got, "three.0") {
			t.Fatalf("blessed entry not booted: %s", got)
		}
	}
	es, _ = l.Entries("myos")
	if es[0].Tries != nil {
		t.Fatalf("still counting: %+v", es[0])
	}
	if err := l.Remove(es[1]); err != nil {
		t.Fatal(err)
	}
	if es, _ = l.Entries("myos"); len(es) != 1 {
		t.Fatalf("after Remove: %+v", es)
	}
}
