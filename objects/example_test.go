package objects_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/arbor-ota/arbor/objects"
	"github.com/arbor-ota/arbor/objects/objtest"
)

// Example builds a file, a directory and a commit, stores their encodings
// under their IDs, and reads the file back through the commit.
func Example() {
	ctx := context.Background()
	var store objtest.MemStore
	put := func(kind objects.Kind, v interface{ Encode() ([]byte, error) }) objects.ID {
		b, err := v.Encode() // the canonical encoding: its hash is the ID
		if err != nil {
			log.Fatal(err)
		}
		id, err := objtest.PutBytes(ctx, &store, kind, b)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-7s %s  %3d bytes\n", kind, id.Short(), len(b))
		return id
	}

	// A regular file: its content cut into chunks, each stored as a chunk
	// object and listed with its size.
	f := &objects.File{Mode: objects.ModeRegular | 0o644}
	err := objects.Chunker{}.Split(strings.NewReader("hello, arbor\n"), func(chunk []byte) error {
		id, err := objtest.PutBytes(ctx, &store, objects.KindChunk, chunk)
		f.Chunks = append(f.Chunks, objects.ChunkRef{ID: id, Size: uint32(len(chunk))})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fileID := put(objects.KindFile, f)

	// The root directory: its metadata and its entries, added in order.
	metaID := put(objects.KindDirMeta, &objects.DirMeta{Mode: objects.ModeDir | 0o755})
	var tb objects.DirTreeBuilder
	if err := tb.AddFile("hello.txt", fileID); err != nil {
		log.Fatal(err)
	}
	treeID := put(objects.KindDirTree, tb.Tree())

	// A first commit of that tree.
	commitID := put(objects.KindCommit, &objects.Commit{
		Tree:      treeID,
		Meta:      metaID,
		Timestamp: 1735689600,
		Subject:   "First release",
		Metadata: objects.Metadata{
			objects.MetaRefBinding: []string{"stable"},
			objects.MetaRelease:    int64(1),
			objects.MetaVersion:    "1.0",
		},
	})

	// Reading verifies every object against its ID on the way.
	c, err := objects.ReadCommit(ctx, &store, commitID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: release %d (%s) for %v\n", c.Subject, c.Release(), c.Version(), c.RefBinding())
	tree, err := objects.ReadDirTree(ctx, &store, c.Tree)
	if err != nil {
		log.Fatal(err)
	}
	e, _ := tree.Lookup("hello.txt")
	file, err := objects.ReadFile(ctx, &store, e.File)
	if err != nil {
		log.Fatal(err)
	}
	rc := objects.OpenContent(ctx, &store, file)
	defer rc.Close()
	if _, err := io.Copy(os.Stdout, rc); err != nil {
		log.Fatal(err)
	}
	// Output:
	// file    6df34b104ba6   47 bytes
	// dirmeta b1521ce0cc4d    9 bytes
	// dirtree 3fc71d052836   49 bytes
	// commit  6227cc486bd0  152 bytes
	// First release: release 1 (1.0) for [stable]
	// hello, arbor
}

// ExampleDirTreeBuilder shows the builder refusing entries that would make
// a non-canonical tree.
func ExampleDirTreeBuilder() {
	id := objects.Sum([]byte("some file object"))
	var b objects.DirTreeBuilder
	for _, name := range []string{"b", "a", "b", "../etc", "c"} {
		err := b.AddFile(name, id)
		fmt.Printf("%-8q %v\n", name, err)
		if err != nil && !errors.Is(err, objects.ErrInvalid) {
			log.Fatal("not ErrInvalid")
		}
	}
	fmt.Println(len(b.Tree().Entries), "entries")
	// Output:
	// "b"      <nil>
	// "a"      dirtree: invalid object: entry "a" added after "b"
	// "b"      dirtree: invalid object: duplicate entry "b"
	// "../etc" dirtree: invalid object: invalid entry name "../etc"
	// "c"      <nil>
	// 2 entries
}

func ExampleParseID() {
	id, err := objects.ParseID("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
	fmt.Println(id.Short(), err, id == objects.Sum(nil))
	_, err = objects.ParseID("AF1349B9F5F9A1A6A0404DEA36DCC9499BCB25C9ADC112B7CC9A93CAE41F3262")
	fmt.Println(err != nil)
	// Output:
	// af1349b9f5f9 <nil> true
	// true
}
