// Package sample builds the small operating-system-like tree that the demo
// and the tests commit: regular files (one large enough for several chunks),
// setuid and sticky modes, owners, an xattr, relative, absolute and dangling
// symlinks, a hard link, an empty directory, and a kernel and initramfs
// where a deployment looks for them. The tree is a deterministic tar stream;
// release N differs from release N-1 in a few files, as a security update does.
package sample

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// KernelVersion is the sample tree's kernel directory under usr/lib/modules.
const KernelVersion = "6.1.0-arbor-demo"

type entry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     []byte
	link     string
	xattrs   map[string]string
}

func pseudoRandom(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func entries(release int) []entry {
	lib := pseudoRandom(1, 600<<10)
	// Each release patches a few bytes in the middle of the library, as a
	// rebuilt binary would: only the chunks around them change.
	for i := 2; i <= release; i++ {
		copy(lib[300<<10+i*512:], fmt.Sprintf("patched in release %d", i))
	}
	return []entry{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "bin", typ: tar.TypeSymlink, link: "usr/bin"},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/hostname", typ: tar.TypeReg, mode: 0o644, body: []byte("device\n")},
		{name: "etc/localtime", typ: tar.TypeSymlink, link: "/usr/share/zoneinfo/Etc/UTC"},
		{name: "etc/os-release", typ: tar.TypeReg, mode: 0o644, body: []byte(fmt.Sprintf(
			"NAME=\"arbor demo\"\nID=arbor-demo\nVERSION_ID=%d\nPRETTY_NAME=\"arbor demo release %d\"\n", release, release))},
		{name: "etc/shadow", typ: tar.TypeReg, mode: 0o640, gid: 42, body: []byte("root:*:19000:0:99999:7:::\n")},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/hello", typ: tar.TypeReg, mode: 0o755, body: []byte("#!/bin/sh\necho hello from arbor\n")},
		{name: "usr/bin/hello-again", typ: tar.TypeLink, link: "usr/bin/hello"},
		{name: "usr/bin/su-demo", typ: tar.TypeReg, mode: 0o4755, body: []byte("#!/bin/sh\nid\n"),
			xattrs: map[string]string{"user.arbor.demo": "setuid sample"}},
		{name: "usr/lib/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/libdemo.so.1", typ: tar.TypeSymlink, link: "libdemo.so.1.0"},
		{name: "usr/lib/libdemo.so.1.0", typ: tar.TypeReg, mode: 0o644, body: lib},
		{name: "usr/lib/modules/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/modules/" + KernelVersion + "/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/modules/" + KernelVersion + "/vmlinuz", typ: tar.TypeReg, mode: 0o644, body: pseudoRandom(2, 96<<10)},
		{name: "usr/lib/modules/" + KernelVersion + "/initramfs.img", typ: tar.TypeReg, mode: 0o644, body: pseudoRandom(3, 40<<10)},
		{name: "usr/share/doc/arbor-demo/README", typ: tar.TypeReg, mode: 0o644, body: []byte("A tree for the arbor demo.\n")},
		{name: "var/", typ: tar.TypeDir, mode: 0o755},
		{name: "var/empty/", typ: tar.TypeDir, mode: 0o700},
	}
}

// Tar returns the sample tree of the given release (1, 2, ...) as an
// uncompressed tar stream.
func Tar(release int) []byte {
	var buf bytes.Buffer
	if err := WriteTar(&buf, release); err != nil {
		panic(err) // writing to a bytes.Buffer cannot fail
	}
	return buf.Bytes()
}

// WriteTar writes the sample tree of the given release to w.
func WriteTar(w io.Writer, release int) error {
	tw := tar.NewWriter(w)
	for _, e := range entries(release) {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, Size: int64(len(e.body)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeSymlink {
			h.Mode = 0o777
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	return tw.Close()
}
