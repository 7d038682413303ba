package repo_test

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/internal/sample"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzImportTar")

// FuzzImportTar feeds arbitrary bytes to ImportTar. It must never panic
// or hang; when it accepts the input, the tree it returns must be
// complete and sound (every object there, decodable, every chunk stored)
// and the same on a second import.
func FuzzImportTar(f *testing.F) {
	f.Add(sample.Tar(1)) // too big for testdata; the crafted seeds are there
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s := &objtest.MemStore{}
		opts := repo.ImportOptions{Workers: 2, SkipSpecial: len(data)%2 == 0}
		tree, meta, st, err := repo.ImportTar(ctx, s, bytes.NewReader(data), opts)
		if err != nil {
			return // refusing is fine; panicking or hanging is not
		}
		c := &objects.Commit{Tree: tree, Meta: meta, Metadata: objects.Metadata{
			objects.MetaRefBinding: []string{"fuzz"}, objects.MetaRelease: int64(1)}}
		id, err := repo.WriteCommit(ctx, s, c)
		if err != nil {
			t.Fatalf("commit of an accepted tree: %v", err)
		}
		files := 0
		w := &repo.Walker{R: s, Visit: func(kind objects.Kind, id objects.ID, where string) bool {
			switch kind {
			case objects.KindChunk:
				if ok, _ := s.Has(ctx, kind, id); !ok {
					t.Fatalf("%s: chunk %s not stored", where, id.Short())
				}
			case objects.KindFile:
				files++
			}
			return true
		}}
		if err := w.Commit(ctx, id, ""); err != nil {
			t.Fatalf("walk of an accepted tree: %v", err)
		}
		if int64(files) > st.Files+st.Symlinks {
			t.Fatalf("%d distinct file objects, but the import counted %d files and %d symlinks", files, st.Files, st.Symlinks)
		}
		tree2, meta2, _, err := repo.ImportTar(ctx, &objtest.MemStore{}, bytes.NewReader(data), opts)
		if err != nil || tree2 != tree || meta2 != meta {
			t.Fatalf("second import: %s/%s, %v; first %s/%s", tree2.Short(), meta2.Short(), err, tree.Short(), meta.Short())
		}
	})
}

// fuzzSeeds are the crafted archives of the seed corpus: valid ones of
// every member type and compression, and each kind the importer refuses.
func fuzzSeeds() (map[string][]byte, error) {
	seeds := map[string][]byte{}
	small := repotest.Tree{
		"":          repotest.Dir(0o755),
		"a":         repotest.File(0o644, "hello\n").WithXattr("user.x", "y"),
		"d/b":       repotest.File(0o4755, strings.Repeat("b", 3000)).Owned(1, 2),
		"d/l":       repotest.Symlink("../a"),
		"d/h":       repotest.HardLink("a"),
		"e":         repotest.Dir(0o1777),
		"d/abs":     repotest.Symlink("/etc/passwd"),
		"d/e/empty": repotest.File(0o600, ""),
	}
	for _, c := range []repotest.Compression{repotest.Plain, repotest.Gzip, repotest.Zstd} {
		b, err := repotest.TarBytes(small, c)
		if err != nil {
			return nil, err
		}
		name := "valid-" + string(c)
		if c == repotest.Plain {
			name = "valid-plain"
		}
		seeds[name] = b
	}
	seeds["truncated"] = seeds["valid-plain"][:len(seeds["valid-plain"])-1024]
	for i, r := range refusedTars {
		b, err := craftTarBytes(r.members...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		seeds[fmt.Sprintf("refused-%02d", i)] = b
	}
	var gnu bytes.Buffer
	tw := tar.NewWriter(&gnu)
	tw.WriteHeader(&tar.Header{Name: strings.Repeat("long/", 40) + "name", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, Format: tar.FormatGNU})
	tw.Write([]byte("x"))
	tw.WriteHeader(&tar.Header{Name: "global", Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "hi"}, Format: tar.FormatPAX})
	tw.Close()
	seeds["gnu-long-name"] = gnu.Bytes()
	return seeds, nil
}

// TestFuzzSeedCorpus writes the seed corpus with -update-corpus, and
// checks that it is there.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzImportTar")
	seeds, err := fuzzSeeds()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		p := filepath.Join(dir, name)
		if *updateCorpus {
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(p, []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("seed %s missing (run go test ./repo -run TestFuzzSeedCorpus -update-corpus): %v", name, err)
		}
	}
}
