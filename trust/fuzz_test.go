package trust

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

var update = flag.Bool("update", false, "rewrite the seed corpus in testdata/fuzz")

// fuzzWorld is a deterministic site with two generations, and what a
// client's state looks like after the first.
type fuzzWorld struct {
	v1, v2    *fakeSite
	coldState []byte              // state.json right after InstallRoot
	warmState []byte              // state.json after a Refresh against v1
	genuine   map[string][]string // role → canonical signed parts of every version published
	names     [4]string           // the files of v2 a fuzzer may replace
}

var (
	worldOnce sync.Once
	world     *fuzzWorld
)

// theWorld builds the world once per process; keys come from a fixed seed,
// so the bytes are the same every time and the committed corpus stays apt.
func theWorld(tb testing.TB) *fuzzWorld {
	worldOnce.Do(func() {
		w := &fuzzWorld{genuine: map[string][]string{}}
		clock := &fakeClock{now: t0}
		keysDir := filepath.Join(tb.TempDir(), "keys")
		opts := InitOptions{Options: Options{Clock: clock.Now, rand: seededRand(tb, "fuzz world")}}
		site := newFakeSite()
		record := func(files []File, err error) {
			if err != nil {
				panic(err)
			}
			site.write(files)
			for _, f := range files {
				role := path.Base(strings.TrimSuffix(f.Name, ".json"))
				role = role[strings.LastIndexByte(role, '.')+1:]
				w.genuine[role] = append(w.genuine[role], canonical(f.Data, role))
			}
		}
		record(Init(keysDir, opts))
		pub := func() *Publisher {
			p, err := OpenPublisher(keysDir, site.read, opts.Options)
			if err != nil {
				panic(err)
			}
			return p
		}
		record(pub().SetTargets([]Target{target("refs/os/stable", "release 1", `{"release":1}`)}))
		w.v1 = site.clone()
		clock.Add(time.Hour)
		record(pub().RotateKey(RoleTargets, ""))
		record(pub().SetTargets([]Target{
			target("refs/os/stable", "release 2", `{"release":2}`),
			target("refs/os/beta", "release 3", ""),
		}))
		w.v2 = site.clone()
		p := pub()
		w.names = [4]string{TimestampFile, SnapshotFile(p.cur.snapshot.Signed.Version),
			TargetsFile(p.cur.targets.Signed.Version), RootVersionFile(2)}

		dir := filepath.Join(tb.TempDir(), "state")
		if err := InstallRoot(dir, w.v1.get(RootVersionFile(1))); err != nil {
			panic(err)
		}
		w.coldState, _ = os.ReadFile(filepath.Join(dir, stateFileName))
		c, err := OpenClient(dir, w.v1.fetch, clock.Now)
		if err != nil {
			panic(err)
		}
		if err := c.Refresh(tb.Context()); err != nil {
			panic(err)
		}
		w.warmState, _ = os.ReadFile(filepath.Join(dir, stateFileName))
		world = w
	})
	return world
}

// canonical returns the signed part of metadata as JSON, or "" when the
// bytes do not parse: equal for equal content however it was encoded.
func canonical(data []byte, role string) string {
	var signed any
	var err error
	switch role {
	case RoleRoot:
		var md *rootMD
		if md, err = (&rootMD{}).FromBytes(data); err == nil {
			signed = md.Signed
		}
	case RoleTimestamp:
		var md *timestampMD
		if md, err = (&timestampMD{}).FromBytes(data); err == nil {
			signed = md.Signed
		}
	case RoleSnapshot:
		var md *snapshotMD
		if md, err = (&snapshotMD{}).FromBytes(data); err == nil {
			signed = md.Signed
		}
	case RoleTargets:
		var md *targetsMD
		if md, err = (&targetsMD{}).FromBytes(data); err == nil {
			signed = md.Signed
		}
	default:
		panic("canonical: role " + role)
	}
	if err != nil {
		return ""
	}
	b, err := json.Marshal(signed)
	if err != nil {
		return ""
	}
	return string(b)
}

type refreshSeed struct {
	which uint8
	data  []byte
	warm  bool
}

func refreshSeeds(w *fuzzWorld) []refreshSeed {
	var seeds []refreshSeed
	for i, name := range w.names {
		good := w.v2.get(name)
		for _, warm := range []bool{false, true} {
			seeds = append(seeds,
				refreshSeed{uint8(i), good, warm},
				refreshSeed{uint8(i), good[:len(good)/2], warm},
				refreshSeed{uint8(i), []byte(strings.Replace(string(good), `"version":`, `"version":1`, 1)), warm},
			)
		}
	}
	// Older genuine files in new places (rollbacks, mix-ups).
	seeds = append(seeds,
		refreshSeed{0, w.v1.get(TimestampFile), true},
		refreshSeed{1, w.v1.get(SnapshotFile(2)), true},
		refreshSeed{2, w.v1.get(TargetsFile(2)), false},
		refreshSeed{3, w.v1.get(RootVersionFile(1)), false},
		refreshSeed{0, []byte(`{"signed":{"_type":"timestamp","meta":{"snapshot.json":null}},"signatures":[]}`), true},
		refreshSeed{1, []byte(`{}`), false},
	)
	return seeds
}

// FuzzClientRefresh serves fuzzed bytes as the timestamp, snapshot,
// targets or new root of a genuine site, to a client with no state yet or
// with the previous generation. It runs the workflow of Refresh (update)
// without the state directory, which keeps it fast: persisting is not
// where untrusted bytes go. The workflow must not panic, must classify every
// failure, and may accept only metadata whose signed content the publisher
// signed.
func FuzzClientRefresh(f *testing.F) {
	w := theWorld(f)
	for _, s := range refreshSeeds(w) {
		f.Add(s.which, s.data, s.warm)
	}
	states := map[bool]*chain{}
	for warm, b := range map[bool][]byte{false: w.coldState, true: w.warmState} {
		st, err := decodeState(b)
		if err != nil {
			f.Fatal(err)
		}
		if states[warm], err = verifyChain(st.raw, time.Time{}); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte, warm bool) {
		site := w.v2.clone()
		site.ignoreCap = true // the client must enforce caps itself
		site.put(w.names[int(which)%len(w.names)], data)
		c := &Client{fetch: site.fetch}
		next, err := c.update(t.Context(), states[warm], t0.Add(2*time.Hour))
		if err != nil {
			for _, s := range []error{ErrBadMetadata, ErrSignature, ErrRollback, ErrExpired, ErrTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("unclassified error: %v", err)
		}
		for role, raw := range map[string][]byte{
			RoleRoot: next.raw.Root, RoleTimestamp: next.raw.Timestamp,
			RoleSnapshot: next.raw.Snapshot, RoleTargets: next.raw.Targets,
		} {
			if got := canonical(raw, role); !slices.Contains(w.genuine[role], got) {
				t.Fatalf("accepted %s that the publisher never signed:\n%s", role, raw)
			}
		}
	})
}

// FuzzParseRoot checks what InstallRoot checks: no panic, and nothing
// accepted that differs in content from a root the publisher signed.
func FuzzParseRoot(f *testing.F) {
	w := theWorld(f)
	f.Add(w.v2.get(RootVersionFile(1)))
	f.Add(w.v2.get(RootVersionFile(2)))
	f.Add([]byte(`{"signed":{"_type":"root","keys":{"x":null},"roles":{"root":null}},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := verifyChain(rawChain{Root: data}, time.Time{})
		if err != nil {
			if !errors.Is(err, ErrBadMetadata) && !errors.Is(err, ErrSignature) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if got := canonical(c.raw.Root, RoleRoot); !slices.Contains(w.genuine[RoleRoot], got) {
			t.Fatalf("accepted a root the publisher never signed:\n%s", data)
		}
	})
}

// FuzzParseMetadata: the structural checks of each role never panic, even
// where go-tuf's decoders would.
func FuzzParseMetadata(f *testing.F) {
	w := theWorld(f)
	for i, name := range []string{RootVersionFile(2), w.names[0], w.names[1], w.names[2]} {
		f.Add(uint8(i), w.v2.get(name))
	}
	f.Add(uint8(3), []byte(`{"signed":{"_type":"targets","targets":{"x":null}},"signatures":[]}`))
	f.Add(uint8(0), []byte(`{"signed":{"_type":"root","roles":{"root":null}},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, role uint8, data []byte) {
		switch role % 4 {
		case 0:
			parseRoot(data)
		case 1:
			parseTimestamp(data)
		case 2:
			parseSnapshot(data)
		case 3:
			parseTargets(data)
		}
	})
}

// FuzzDecodeState: state.json decodes only in canonical form, and verifying
// whatever decodes never panics.
func FuzzDecodeState(f *testing.F) {
	w := theWorld(f)
	f.Add(w.coldState)
	f.Add(w.warmState)
	f.Add([]byte(`{"format":1,"root":"e30=","time_floor":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		b, err := encodeState(st)
		if err != nil || string(b) != string(data) {
			t.Fatalf("decodeState accepted a non-canonical state: %v", err)
		}
		verifyChain(st.raw, time.Time{})
	})
}

// FuzzParseKeyFile: a key file parses only if consistent, and round-trips.
func FuzzParseKeyFile(f *testing.F) {
	k, err := newSigningKey(RoleTimestamp, make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(k.marshal())
	f.Add([]byte(`{"role":"root","keyid":"","keytype":"ed25519","scheme":"ed25519","public":"","private":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKeyFile(data)
		if err != nil {
			return
		}
		b := k.marshal()
		k2, err := parseKeyFile(b)
		if err != nil {
			t.Fatalf("re-encoded key file refused: %v", err)
		}
		if k2.id != k.id || k2.role != k.role || !k2.priv.Equal(k.priv) || string(k2.marshal()) != string(b) {
			t.Fatal("key file does not round-trip")
		}
		if k.pub.Value.PublicKey == "" || !strings.Contains(string(data), k.id) {
			t.Fatal("accepted key file lacks its key ID")
		}
	})
}

// FuzzTargetCustom: whatever SetTargets accepts as a target name and
// custom data signs, and the client reads back the same name and the same
// JSON value.
func FuzzTargetCustom(f *testing.F) {
	k, err := newSigningKey(RoleTargets, make([]byte, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("refs/os/stable", []byte(`{"release":7,"commit":"ab12","packs":[{"id":"x","size":1}]}`))
	f.Add("a", []byte(`"<&>\u0000\ud800"`))
	f.Add("a/b", []byte(`{"a":1,"a":2}`))
	f.Fuzz(func(t *testing.T, name string, custom []byte) {
		if validTargetName(name) != nil || validCustom(custom) != nil {
			return
		}
		c := json.RawMessage(custom)
		md := metadata.Targets(t0)
		md.Signed.Targets[name] = &metadata.TargetFiles{Length: 1, Hashes: metadata.Hashes{"sha256": make([]byte, 32)}, Custom: &c}
		b, err := signWith(md, []*signingKey{k})
		if err != nil {
			t.Fatalf("accepted custom data does not sign: %v", err)
		}
		parsed, err := parseTargets(b)
		if err != nil {
			t.Fatalf("signed targets do not parse: %v", err)
		}
		got, err := targetsOf(parsed)
		if err != nil {
			t.Fatal(err)
		}
		var want, have any
		json.Unmarshal(custom, &want)
		json.Unmarshal(got[name].Custom, &have)
		if _, ok := got[name]; !ok || !reflect.DeepEqual(want, have) {
			t.Fatalf("custom %s came back as %s", custom, got[name].Custom)
		}
	})
}

// TestWriteFuzzCorpus rewrites testdata/fuzz from the seeds (go test -run
// TestWriteFuzzCorpus -update).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("rewrites testdata/fuzz with -update")
	}
	w := theWorld(t)
	write := func(fuzz string, i int, args ...any) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				s += fmt.Sprintf("[]byte(%q)\n", a)
			case string:
				s += fmt.Sprintf("string(%q)\n", a)
			case uint8:
				s += fmt.Sprintf("byte(%q)\n", a)
			case bool:
				s += fmt.Sprintf("bool(%v)\n", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"FuzzClientRefresh", "FuzzParseRoot", "FuzzDecodeState", "FuzzParseKeyFile", "FuzzTargetCustom", "FuzzParseMetadata"} {
		os.RemoveAll(filepath.Join("testdata", "fuzz", d))
	}
	for i, s := range refreshSeeds(w) {
		write("FuzzClientRefresh", i, s.which, s.data, s.warm)
	}
	for i, b := range [][]byte{w.v2.get(RootVersionFile(1)), w.v2.get(RootVersionFile(2))} {
		write("FuzzParseRoot", i, b)
	}
	for i, b := range [][]byte{w.coldState, w.warmState} {
		write("FuzzDecodeState", i, b)
	}
	for i, name := range []string{RootVersionFile(2), w.names[0], w.names[1], w.names[2]} {
		write("FuzzParseMetadata", i, uint8(i), w.v2.get(name))
	}
	write("FuzzParseMetadata", 4, uint8(3), []byte(`{"signed":{"_type":"targets","targets":{"x":null}},"signatures":[]}`))
	k, _ := newSigningKey(RoleTargets, []byte(strings.Repeat("k", 32)))
	write("FuzzParseKeyFile", 0, k.marshal())
	write("FuzzTargetCustom", 0, "refs/os/stable", []byte(`{"release":7,"commit":"ab12","packs":[{"id":"x","size":1}]}`))
}
