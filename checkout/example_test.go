package checkout_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/arbor-ota/arbor/checkout"
	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

// Example builds a tiny tree in an in-memory store and checks it out. With a
// bare repository (repo.Repo) as the store, files would be hard links into
// the repository instead of copies.
func Example() {
	ctx := context.Background()
	store := &objtest.MemStore{}
	putObject := func(kind objects.Kind, v interface{ Encode() ([]byte, error) }) objects.ID {
		b, err := v.Encode()
		if err != nil {
			log.Fatal(err)
		}
		id, err := objtest.PutBytes(ctx, store, kind, b)
		if err != nil {
			log.Fatal(err)
		}
		return id
	}

	content := []byte("device-42\n")
	chunk, err := objtest.PutBytes(ctx, store, objects.KindChunk, content)
	if err != nil {
		log.Fatal(err)
	}
	hostname := putObject(objects.KindFile, &objects.File{Mode: objects.ModeRegular | 0o644,
		Chunks: []objects.ChunkRef{{ID: chunk, Size: uint32(len(content))}}})
	localtime := putObject(objects.KindFile, &objects.File{Mode: objects.ModeSymlink | 0o777,
		Target: "/usr/share/zoneinfo/UTC"})
	var etc objects.DirTreeBuilder
	etc.AddFile("hostname", hostname)
	etc.AddFile("localtime", localtime)
	dirMeta := putObject(objects.KindDirMeta, &objects.DirMeta{Mode: objects.ModeDir | 0o755})
	var root objects.DirTreeBuilder
	root.AddDir("etc", putObject(objects.KindDirTree, etc.Tree()), dirMeta)
	rootTree := putObject(objects.KindDirTree, root.Tree())

	tmp, err := os.MkdirTemp("", "checkout-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "deploy")

	// NoOwners lets the example run as any user; as root, owners are set.
	stats, err := checkout.Tree(ctx, store, rootTree, dirMeta, dir, checkout.Options{NoOwners: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files, %d symlinks, %d directories, %d bytes\n", stats.Files, stats.Symlinks, stats.Dirs, stats.Bytes)

	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %s mtime=%d", fi.Mode(), rel, fi.ModTime().Unix())
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		fmt.Println(line)
		return nil
	})
	// Output:
	// 1 files, 1 symlinks, 2 directories, 10 bytes
	// drwxr-xr-x . mtime=0
	// drwxr-xr-x etc mtime=0
	// -rw-r--r-- etc/hostname mtime=0
	// Lrwxrwxrwx etc/localtime mtime=0 -> /usr/share/zoneinfo/UTC
}
