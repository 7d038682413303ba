package checkout_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/repo"
	"github.com/arbor-ota/arbor/repo/repotest"
)

// syntheticTar is a tree shaped like a small root filesystem: dirs
// directories of two levels, files small files spread over them, a few
// symlinks.
func syntheticTar(tb testing.TB, dirs, files int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			tb.Fatal(err)
		}
	}
	write(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	for d := range dirs {
		write(&tar.Header{Name: fmt.Sprintf("d%03d/", d/10), Typeflag: tar.TypeDir, Mode: 0o755}, nil)
		write(&tar.Header{Name: fmt.Sprintf("d%03d/s%d/", d/10, d%10), Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	for f := range files {
		d := f % dirs
		name := fmt.Sprintf("d%03d/s%d/f%05d", d/10, d%10, f)
		if f%20 == 0 {
			write(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: "../x", Mode: 0o777}, nil)
			continue
		}
		write(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, []byte(fmt.Sprintf("file %d\n%0*d", f, f%700, 0)))
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkCheckoutBare checks a tree of 3000 files in 400 directories out
// of a bare repository (hard links), with one worker and with the default.
func BenchmarkCheckoutBare(b *testing.B) {
	requireRoot(b)
	r := repotest.New(b, repo.Bare)
	id, _ := commitTar(b, r, syntheticTar(b, 300, 3000))
	base := b.TempDir()
	for _, workers := range []int{1, 0} {
		name := fmt.Sprint("workers=", workers)
		if workers == 0 {
			name = "workers=default"
		}
		b.Run(name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				dir := filepath.Join(base, fmt.Sprint(n))
				n++
				st, err := checkout.Commit(b.Context(), r, id, dir, checkout.Options{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				if st.Links != 3000 {
					b.Fatalf("stats %+v, want 3000 links", st)
				}
				b.StopTimer()
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/3000*1000, "ns/file")
		})
	}
}
