package boot

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// needTool skips unless a Debian tool is installed (.ci/run installs them).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install grub-common libubootenv-tool; .ci/run does)", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestGrubEnvAgainstGrubEditenv(t *testing.T) {
	tool := needTool(t, "grub-editenv")
	dir := t.TempDir()
	// grub-editenv writes, arbor reads.
	p := filepath.Join(dir, "grubenv")
	run(t, tool, p, "create")
	run(t, tool, p, "set", "saved_entry=arbor-myos-0002", "arbor_trial=0002", "arbor_left=3", `odd=a\b`)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseGrubEnv(b)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"saved_entry": "arbor-myos-0002", "arbor_trial": "0002", "arbor_left": "3", "odd": `a\b`} {
		if got, ok := env.Get(k); !ok || got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// arbor writes, grub-editenv reads; the block stays 1024 bytes.
	env.Set("arbor_left", "2")
	env.Unset("odd")
	env.Set("with_newline", "x\ny")
	out, err := FormatGrubEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != GrubEnvSize {
		t.Fatalf("formatted %d bytes", len(out))
	}
	p2 := filepath.Join(dir, "grubenv2")
	if err := os.WriteFile(p2, out, 0o644); err != nil {
		t.Fatal(err)
	}
	list := run(t, tool, p2, "list")
	for _, want := range []string{"saved_entry=arbor-myos-0002\n", "arbor_trial=0002\n", "arbor_left=2\n", "with_newline=x\ny\n"} {
		if !strings.Contains(list, want) {
			t.Errorf("grub-editenv list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "odd=") {
		t.Errorf("unset variable still listed:\n%s", list)
	}
	// And grub-editenv can edit what arbor wrote.
	run(t, tool, p2, "set", "extra=1")
	b, _ = os.ReadFile(p2)
	env2, err := ParseGrubEnv(b)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := env2.Get("extra"); v != "1" {
		t.Errorf("after grub-editenv set: extra=%q", v)
	}
}

func TestParseGrubEnvRefuses(t *testing.T) {
	good, _ := FormatGrubEnv(&Vars{})
	for name, b := range map[string][]byte{
		"short":     good[:1000],
		"no header": append([]byte("# GRUB Environment Blocx\n"), good[25:]...),
		"no equals": pad("# GRUB Environment Block\nabc\n"),
		"bad tail":  pad("# GRUB Environment Block\na=1\nzzz"),
		"bad name":  pad("# GRUB Environment Block\na b=1\n"),
		"duplicate": pad("# GRUB Environment Block\na=1\na=2\n"),
		"unended":   []byte("# GRUB Environment Block\na=" + strings.Repeat("x", 999)),
	} {
		if _, err := ParseGrubEnv(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func pad(s string) []byte {
	return []byte(s + strings.Repeat("#", GrubEnvSize-len(s)))
}

func TestGrubCfgSyntax(t *testing.T) {
	tool := needTool(t, "grub-script-check")
	e1, e2, e3 := sampleEntry(1), sampleEntry(2), sampleEntry(3)
	e3.Title = "it's $odd; {really}"
	e3.Options = "quote='x' dollar=$HOME semi=a;b arbor=/arbor/deploy/myos/06a3.0"
	for _, tc := range []struct {
		entries []Entry
		tries   int
	}{{nil, 0}, {[]Entry{e1}, 0}, {[]Entry{e1}, 3}, {[]Entry{e3, e2, e1}, 9}} {
		b, err := FormatGrubCfg(tc.entries, tc.tries)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "grub.cfg")
		os.WriteFile(p, b, 0o644)
		if out, err := exec.Command(tool, p).CombinedOutput(); err != nil {
			t.Fatalf("grub-script-check: %v\n%s\n%s", err, out, b)
		}
		got, tries, err := ParseGrubCfg(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.entries) || (len(got) > 0 && tries != tc.tries) {
			t.Fatalf("ParseGrubCfg: %d entries, %d tries", len(got), tries)
		}
		for i := range got {
			want := tc.entries[i]
			want.Name = grubID(want.OS, want.Number)
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("entry %d: %+v, want %+v", i, got[i], want)
			}
		}
	}
	b, _ := FormatGrubCfg([]Entry{e3}, 2)
	if !strings.Contains(string(b), `'quote='\''x'\'''`) || !strings.Contains(string(b), `'dollar=$HOME'`) {
		t.Errorf("arguments not quoted for GRUB:\n%s", b)
	}
}

// simGrub does what the generated script does at one boot: count the
// trial down in grubenv and pick the entry. It returns the picked entry.
func simGrub(t *testing.T, dir string) Entry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "grub", "grub.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	es, tries, err := ParseGrubCfg(b)
	if err != nil || len(es) == 0 {
		t.Fatalf("grub.cfg: %v, %d entries", err, len(es))
	}
	eb, _ := os.ReadFile(filepath.Join(dir, "grub", "grubenv"))
	env, err := ParseGrubEnv(eb)
	if err != nil {
		t.Fatal(err)
	}
	def := 0
	if trial, _ := env.Get("arbor_trial"); tries > 0 && trial == strings.TrimPrefix(es[0].Name, "arbor-myos-") {
		left, _ := env.Get("arbor_left")
		n, ok := parseDecimal(left)
		if ok && n >= 1 && n <= tries {
			env.Set("arbor_left", string(rune('0'+n-1)))
		} else if len(es) > 1 {
			def = 1
		}
		out, _ := FormatGrubEnv(env)
		os.WriteFile(filepath.Join(dir, "grub", "grubenv"), out, 0o644)
	}
	return es[def]
}

func TestGrubLoaderCountsAndFallsBack(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open("grub", Options{Dir: dir})
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(sampleEntry(1), 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Add(sampleEntry(2), 2); err != nil {
		t.Fatal(err)
	}
	var picked []int
	for range 4 {
		picked = append(picked, simGrub(t, dir).Number)
	}
	if !reflect.DeepEqual(picked, []int{2, 2, 1, 1}) {
		t.Fatalf("boots picked %v, want [2 2 1 1]", picked)
	}
	es, err := l.Entries("myos")
	if err != nil {
		t.Fatal(err)
	}
	// The boot loader's order: the bad entry last.
	if len(es) != 2 || es[0].Number != 1 || es[1].Number != 2 || !es[1].Bad || es[1].Tries.Left != 0 || es[1].Tries.Done != 2 {
		t.Fatalf("after fallback: %+v", es)
	}
	// A new deployment goes first; the bad one goes last and stays bad.
	if err := l.Add(sampleEntry(3), 2); err != nil {
		t.Fatal(err)
	}
	es, _ = l.Entries("myos")
	if es[0].Number != 3 || es[1].Number != 1 || es[2].Number != 2 || !es[2].Bad || es[2].Tries != nil {
		t.Fatalf("after a new deployment: %+v", es)
	}
	if n := simGrub(t, dir).Number; n != 3 {
		t.Fatalf("booted %d", n)
	}
	es, _ = l.Entries("myos")
	if err := l.Bless(es[0]); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if n := simGrub(t, dir).Number; n != 3 {
			t.Fatalf("blessed entry not booted: %d", n)
		}
	}
	es, _ = l.Entries("myos")
	if es[0].Tries != nil {
		t.Fatalf("still counting after Bless: %+v", es[0])
	}
	// Removing the first entry: the next one boots, uncounted.
	if err := l.Remove(es[0]); err != nil {
		t.Fatal(err)
	}
	if n := simGrub(t, dir).Number; n != 1 {
		t.Fatalf("after removing the first: booted %d", n)
	}
}

func TestGrubInitRefusesForeignConfig(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "grub"), 0o755)
	os.WriteFile(filepath.Join(dir, "grub", "grub.cfg"), []byte("menuentry x {}\n"), 0o644)
	l, _ := Open("grub", Options{Dir: dir})
	if err := l.Init(); err == nil || !strings.Contains(err.Error(), "not written by arbor") {
		t.Fatalf("Init over a foreign grub.cfg: %v", err)
	}
}
