package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func fileNames(files []File) []string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	files, err := Init(dir, InitOptions{RootKeys: 3, RootThreshold: 2, Options: Options{Clock: func() time.Time { return t0 }}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{RootVersionFile(1), RootFile, TargetsFile(1), SnapshotFile(1), TimestampFile}
	if got := fileNames(files); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
	if !bytes.Equal(files[0].Data, files[1].Data) {
		t.Error("root.json is not a copy of 1.root.json")
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("keys directory: %v %v", info.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	count := map[string]int{}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", e.Name(), info.Mode())
		}
		count[strings.SplitN(e.Name(), "-", 2)[0]]++
	}
	if !maps.Equal(count, map[string]int{"root": 3, "targets": 1, "snapshot": 1, "timestamp": 1}) {
		t.Errorf("key files per role: %v", count)
	}
	if _, err := Init(dir, InitOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Init: %v, want fs.ErrExist", err)
	}
	for _, o := range []InitOptions{{RootKeys: 1, RootThreshold: 2}, {RootKeys: -1}, {Options: Options{TimestampExpires: -time.Hour}}} {
		if _, err := Init(filepath.Join(t.TempDir(), "k"), o); err == nil {
			t.Errorf("Init(%+v) succeeded", o)
		}
	}
	// The expiries.
	site := newFakeSite()
	site.write(files)
	p, err := OpenPublisher(dir, site.read, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for md, want := range map[time.Time]time.Duration{
		p.cur.root.Signed.Expires:      DefaultRootExpires,
		p.cur.targets.Signed.Expires:   DefaultTargetsExpires,
		p.cur.snapshot.Signed.Expires:  DefaultSnapshotExpires,
		p.cur.timestamp.Signed.Expires: DefaultTimestampExpires,
	} {
		if !md.Equal(t0.Add(want)) {
			t.Errorf("expires %v, want t0+%v", md, want)
		}
	}
	if len(p.Targets()) != 0 {
		t.Errorf("targets %v", p.Targets())
	}
}

func TestSetTargetsValidation(t *testing.T) {
	r := newRepo(t, InitOptions{})
	r.setTargets(target("refs/os/stable", "v1", ""))
	p := r.publisher()
	ok := target("refs/os/ok", "ok", "")
	tests := map[string][]Target{
		"empty name":        {target("", "x", "")},
		"dot":               {target(".", "x", "")},
		"absolute":          {target("/refs/os/x", "x", "")},
		"dot-dot":           {target("refs/../x", "x", "")},
		"empty element":     {target("refs//x", "x", "")},
		"trailing slash":    {target("refs/x/", "x", "")},
		"backslash":         {target(`refs\x`, "x", "")},
		"control character": {target("refs/x\n", "x", "")},
		"invalid UTF-8":     {target("refs/\xff", "x", "")},
		"too long":          {target(strings.Repeat("a", MaxTargetNameLength+1), "x", "")},
		"duplicate":         {ok, ok},
		"negative length":   {{Name: "refs/x", Length: -1}},
		"float in custom":   {target("refs/x", "x", `{"a":1.5}`)},
		"bad custom":        {target("refs/x", "x", `{"a":`)},
		"two customs":       {target("refs/x", "x", `{} {}`)},
		"duplicate key":     {target("refs/x", "x", `{"a":{"b":1,"c":[{}],"b":2}}`)},
		"big number":        {target("refs/x", "x", `[9223372036854775808]`)},
		"exponent":          {target("refs/x", "x", `1e3`)},
		"trailing garbage":  {target("refs/x", "x", `{}x`)},
	}
	for name, ts := range tests {
		t.Run(name, func(t *testing.T) {
			if files, err := p.SetTargets(ts); err == nil {
				t.Fatalf("SetTargets succeeded: %v", fileNames(files))
			} else {
				t.Log(err)
			}
		})
	}
	if got := p.Targets(); len(got) != 1 || got["refs/os/stable"].Length != 2 {
		t.Errorf("targets changed by refused calls: %v", got)
	}
	// The longest name, integers and nesting in custom data are fine.
	r.do(p.SetTargets([]Target{
		target(strings.Repeat("a", MaxTargetNameLength), "x", ""),
		target("refs/y", "y", `{"a":[1,-2,{"b":"c","a":[]}],"d":null,"e":true,"f":{"a":{}}}`),
		target("refs/z", "y", `"just a string"`),
		target("top", "z", ""),
	}))
	if got := r.publisher().Targets()["top"].Path(); !strings.HasSuffix(got, ".top") || strings.Contains(got, "/") {
		t.Errorf("top-level target path %q", got)
	}
}

func TestTargetFilePath(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for name, want := range map[string]string{
		"refs/os/stable": "refs/os/" + h + ".stable",
		"stable":         h + ".stable",
		"a/b/c/d.json":   "a/b/c/" + h + ".d.json",
	} {
		if got := TargetFilePath(name, h); got != want {
			t.Errorf("TargetFilePath(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPublisherReopens(t *testing.T) {
	r := newRepo(t, InitOptions{})
	ts := []Target{target("refs/os/stable", "v1", `{"release":1}`), target("refs/os/beta", "v2", "")}
	r.setTargets(ts...)
	p := r.publisher()
	got := p.Targets()
	if len(got) != 2 || got["refs/os/stable"].SHA256 != ts[0].SHA256 || string(got["refs/os/stable"].Custom) != `{"release":1}` {
		t.Errorf("Targets after reopening: %v", got)
	}
	files := r.do(p.SetTargets(ts[:1]))
	if want := []string{TargetsFile(3), SnapshotFile(3), TimestampFile}; !slices.Equal(fileNames(files), want) {
		t.Errorf("files %v, want %v", fileNames(files), want)
	}
}

func TestRefreshExpiring(t *testing.T) {
	r := newRepo(t, InitOptions{}) // targets 90d, snapshot 7d, timestamp 1d
	r.setTargets(target("refs/os/stable", "v1", ""))
	tests := []struct {
		margin time.Duration
		want   []string
	}{
		{time.Hour, []string{TimestampFile}},
		{8 * 24 * time.Hour, []string{SnapshotFile(3), TimestampFile}},
		{91 * 24 * time.Hour, []string{TargetsFile(3), SnapshotFile(4), TimestampFile}},
	}
	for _, tc := range tests {
		files, err := r.publisher().RefreshExpiring(tc.margin)
		if err != nil {
			t.Fatal(err)
		}
		r.site.write(files)
		if got := fileNames(files); !slices.Equal(got, tc.want) {
			t.Errorf("RefreshExpiring(%v): %v, want %v", tc.margin, got, tc.want)
		}
	}
	c, _ := r.newClient()
	mustRefresh(t, c)
	if st := c.Status(); st.Timestamp.Version != 5 || st.Snapshot.Version != 4 || st.Targets.Version != 3 {
		t.Errorf("status %+v", st)
	}
}

// TestInterruptedPublish: the caller wrote only some of the files.
func TestInterruptedPublish(t *testing.T) {
	r := newRepo(t, InitOptions{})
	r.setTargets(target("refs/os/stable", "v1", ""))
	c, _ := r.newClient()
	mustRefresh(t, c)

	// Targets and snapshot written, timestamp not: the site still shows v1.
	files, err := r.publisher().SetTargets([]Target{target("refs/os/stable", "v2", "")})
	if err != nil {
		t.Fatal(err)
	}
	r.site.write(files[:len(files)-1])
	p := r.publisher()
	if got := p.Targets()["refs/os/stable"]; got.Length != 2 {
		t.Errorf("publisher sees %+v", got)
	}
	mustRefresh(t, c)
	r.do(p.SetTargets([]Target{target("refs/os/stable", "v3!", "")}))
	mustRefresh(t, c)
	if got, _ := c.Target("refs/os/stable"); got.Length != 3 {
		t.Errorf("client sees %+v", got)
	}

	// A new root version written, root.json not: the publisher still finds
	// the newest root, and writes root.json with its next files.
	files, err = r.publisher().RenewRoot()
	if err != nil {
		t.Fatal(err)
	}
	r.site.write(files[:1])
	p = r.publisher()
	files = r.do(p.RefreshTimestamp())
	if want := []string{RootFile, TimestampFile}; !slices.Equal(fileNames(files), want) {
		t.Errorf("files %v, want %v", fileNames(files), want)
	}
	if !bytes.Equal(r.site.get(RootFile), r.site.get(RootVersionFile(2))) {
		t.Error("root.json is not the newest root")
	}
	files = r.do(p.RefreshTimestamp())
	if want := []string{TimestampFile}; !slices.Equal(fileNames(files), want) {
		t.Errorf("files %v, want %v", fileNames(files), want)
	}
	mustRefresh(t, c)
	if v := c.Status().Root.Version; v != 2 {
		t.Errorf("root version %d", v)
	}
}

func TestOpenPublisherRefuses(t *testing.T) {
	tests := map[string]func(r *testRepo){
		"tampered targets": func(r *testRepo) {
			r.site.put(TargetsFile(2), flip(t, r.site.get(TargetsFile(2)), `"length":`, 9))
		},
		"tampered root": func(r *testRepo) {
			r.site.put(RootVersionFile(1), flip(t, r.site.get(RootVersionFile(1)), `"expires":"`, 3))
		},
		"no timestamp": func(r *testRepo) { r.site.remove(TimestampFile) },
		"no site":      func(r *testRepo) { r.site = newFakeSite() },
		"no snapshot":  func(r *testRepo) { r.site.remove(SnapshotFile(2)) },
		"readable key": func(r *testRepo) {
			entries, _ := os.ReadDir(r.keysDir)
			os.Chmod(filepath.Join(r.keysDir, entries[0].Name()), 0o644)
		},
		"broken key": func(r *testRepo) {
			os.WriteFile(filepath.Join(r.keysDir, "extra.json"), []byte("{}"), 0o600)
		},
	}
	for name, breakIt := range tests {
		t.Run(name, func(t *testing.T) {
			r := newRepo(t, InitOptions{})
			r.setTargets(target("refs/os/stable", "v1", ""))
			breakIt(r)
			if _, err := OpenPublisher(r.keysDir, r.site.read, Options{}); err == nil {
				t.Fatal("OpenPublisher succeeded")
			} else {
				t.Log(err)
			}
		})
	}
}

func TestMissingOnlineKey(t *testing.T) {
	r := newRepo(t, InitOptions{})
	p := r.publisher()
	k := keysOf(p, RoleSnapshot)[0]
	if err := os.Remove(filepath.Join(r.keysDir, k.fileName())); err != nil {
		t.Fatal(err)
	}
	p = r.publisher()
	if _, err := p.SetTargets(nil); !errors.Is(err, ErrMissingKey) {
		t.Errorf("SetTargets without the snapshot key: %v", err)
	}
	r.do(p.RefreshTimestamp()) // needs only the timestamp key
}

func TestKeyFile(t *testing.T) {
	k := newKey(t, RoleTargets)
	good := k.marshal()
	got, err := parseKeyFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if got.id != k.id || got.role != k.role || !got.priv.Equal(k.priv) {
		t.Errorf("round trip: %+v, want %+v", got, k)
	}
	var f map[string]string
	if err := json.Unmarshal(good, &f); err != nil {
		t.Fatal(err)
	}
	other := newKey(t, RoleTargets)
	edit := func(key, value string) []byte {
		m := maps.Clone(f)
		if value == "" {
			delete(m, key)
		} else {
			m[key] = value
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := map[string][]byte{
		"unknown field":     edit("comment", "hi"),
		"missing private":   edit("private", ""),
		"missing keyid":     edit("keyid", ""),
		"bad role":          edit("role", "admin"),
		"rsa":               edit("keytype", "rsa"),
		"uppercase private": edit("private", strings.ToUpper(f["private"])),
		"short private":     edit("private", f["private"][:62]),
		"other public":      edit("public", other.pub.Value.PublicKey),
		"other keyid":       edit("keyid", other.id),
		"trailing data":     append(bytes.Clone(good), []byte("{}")...),
		"not an object":     []byte(`[]`),
		"empty":             nil,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseKeyFile(data); err == nil {
				t.Errorf("parseKeyFile accepted %s", data)
			}
		})
	}
	if _, err := parseKeyFile(edit("comment", "")); err != nil {
		t.Errorf("re-encoded key file refused: %v", err) // field order and spacing are free
	}
}
