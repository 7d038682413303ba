package trust_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/arbor-ota/arbor/trust"
)

// A publisher signs a ref descriptor into a site (here a map), and a device
// that trusts the site's first root verifies it.
func Example() {
	tmp, err := os.MkdirTemp("", "trust-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	site := map[string][]byte{}
	write := func(files []trust.File, err error) {
		if err != nil {
			log.Fatal(err)
		}
		for _, f := range files {
			site[f.Name] = f.Data // a real publisher writes them in this order
		}
	}
	read := func(name string) ([]byte, error) {
		if b, ok := site[name]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}

	// Publisher side.
	keys := filepath.Join(tmp, "keys")
	write(trust.Init(keys, trust.InitOptions{}))
	p, err := trust.OpenPublisher(keys, read, trust.Options{})
	if err != nil {
		log.Fatal(err)
	}
	descriptor := []byte(`{"commit":"…","release":8}`)
	write(p.SetTargets([]trust.Target{{
		Name:   "refs/os/stable",
		Length: int64(len(descriptor)),
		SHA256: sha256.Sum256(descriptor),
		Custom: []byte(`{"release":8}`),
	}}))

	// Device side.
	state := filepath.Join(tmp, "state")
	if err := trust.InstallRoot(state, site["tuf/1.root.json"]); err != nil {
		log.Fatal(err)
	}
	fetch := func(ctx context.Context, name string, maxLength int64) ([]byte, error) {
		b, err := read(name)
		if err == nil && int64(len(b)) > maxLength {
			return nil, trust.ErrTooLarge
		}
		return b, err
	}
	c, err := trust.OpenClient(state, fetch, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != nil {
		log.Fatal(err)
	}
	t, err := c.Target("refs/os/stable")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Length, string(t.Custom))
	fmt.Println(t.Path())
	// Output:
	// 28 {"release":8}
	// refs/os/4591cd4a31fb950fc435aaad44a577fd0c530e13c0fd6fb55d52b700e220adff.stable
}
