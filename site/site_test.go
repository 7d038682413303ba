package site

import (
	"errors"
	"strings"
	"testing"

	"github.com/arbor-ota/arbor/objects"
)

func sampleDescriptor() *Descriptor {
	return &Descriptor{
		Ref: "os/stable", Commit: objects.Sum([]byte("c")), CommitSize: 300, Release: 7, Version: "1.4.2", Timestamp: 1700000000,
		Packs: []PackRef{
			{ID: objects.Sum([]byte("p2")), Size: 1000, IndexHash: objects.Sum([]byte("i2")), IndexSize: 90, Seq: 2},
			{ID: objects.Sum([]byte("p1")), Size: 5000, IndexHash: objects.Sum([]byte("i1")), IndexSize: 400, Seq: 1},
		},
		FullSize: 5500,
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	d := sampleDescriptor()
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d2, err := DecodeDescriptor(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := d2.Encode()
	if string(b) != string(b2) {
		t.Fatalf("round trip differs:\n%s\n%s", b, b2)
	}
}

func TestDescriptorRefuses(t *testing.T) {
	good, _ := sampleDescriptor().Encode()
	cases := map[string]string{
		"unknown field": strings.Replace(string(good), `"ref"`, `"evil": 1, "ref"`, 1),
		"trailing":      string(good) + `{"a":1}`,
		"bad id":        strings.Replace(string(good), sampleDescriptor().Commit.String(), "zz", 1),
		"zero size":     strings.Replace(string(good), `"commit_size": 300`, `"commit_size": 0`, 1),
		"huge commit":   strings.Replace(string(good), `"commit_size": 300`, `"commit_size": 999999999`, 1),
		"packs order":   strings.Replace(string(good), `"seq": 2`, `"seq": 0`, 1),
		"not json":      "nope",
		"empty ref":     strings.Replace(string(good), `"ref": "os/stable"`, `"ref": ""`, 1),
	}
	for name, s := range cases {
		if _, err := DecodeDescriptor([]byte(s)); !errors.Is(err, ErrInvalidDescriptor) {
			t.Errorf("%s: accepted or wrong error: %v", name, err)
		}
	}
}

func TestPaths(t *testing.T) {
	id := objects.Sum([]byte("x"))
	if CommitPath(id) != "commits/"+id.String()+".commit" || PackPath(id) != "packs/"+id.String()+".pack" || IndexPath(id) != "packs/"+id.String()+".idx" {
		t.Fatal("paths changed: the site format is fixed")
	}
	if r, ok := RefFromTarget(RefTarget("os/stable")); !ok || r != "os/stable" {
		t.Fatal("ref target round trip")
	}
}

func FuzzDecodeDescriptor(f *testing.F) {
	good, _ := sampleDescriptor().Encode()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDescriptor(b)
		if err != nil {
			return
		}
		again, err := d.Encode()
		if err != nil {
			t.Fatalf("accepted descriptor does not encode: %v", err)
		}
		if _, err := DecodeDescriptor(again); err != nil {
			t.Fatalf("re-encoded descriptor refused: %v", err)
		}
	})
}
