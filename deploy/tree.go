package deploy

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/arbor-ota/arbor/objects"
)

// treeInfo is what deploy needs to know about a tree before writing
// anything: where its /etc defaults are, its kernel, and what the
// deployment will cost on disk.
type treeInfo struct {
	etcDir   string // "etc" or "usr/etc" (the tree's /etc defaults), "" if none
	kernel   kernel
	dirs     int64 // directories in the tree: each costs a block in a hard-link checkout
	etcBytes int64 // content under the defaults, copied into /etc
	etcFiles int64
	varBytes int64 // content under var/, copied into the shared /var once
	varFiles int64
}

// kernel is the kernel and initramfs found in a tree.
type kernel struct {
	version           string // directory under usr/lib/modules
	linux, initrd     objects.ID
	linuxSz, initrdSz int64
}

const modulesDir = "usr/lib/modules"

// inspectTree walks a commit's directories (file objects are read only
// under etc, usr/etc, var and the kernel's directory).
func inspectTree(ctx context.Context, r objects.Reader, c *objects.Commit) (*treeInfo, error) {
	ti := &treeInfo{}
	var kernels []kernel
	hasEtc, hasUsrEtc := false, false
	var walk func(id objects.ID, p string) error
	walk = func(id objects.ID, p string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t, err := objects.ReadDirTree(ctx, r, id)
		if err != nil {
			return fmt.Errorf("%s: %w", "/"+p, err)
		}
		ti.dirs++
		under := func(prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
		inEtc := under("etc") || under("usr/etc")
		inVar := under("var")
		var kver string
		if path.Dir(p) == modulesDir {
			kver = path.Base(p)
		}
		var k kernel
		for _, e := range t.Entries {
			child := path.Join(p, e.Name)
			if e.IsDir() {
				switch child {
				case "etc":
					hasEtc = true
				case "usr/etc":
					hasUsrEtc = true
				}
				if err := walk(e.Tree, child); err != nil {
					return err
				}
				continue
			}
			isKernel := kver != "" && (e.Name == "vmlinuz" || e.Name == "initramfs.img")
			if !inEtc && !inVar && !isKernel {
				continue
			}
			f, err := objects.ReadFile(ctx, r, e.File)
			if err != nil {
				return fmt.Errorf("/%s: %w", child, err)
			}
			size := f.Size()
			switch {
			case inEtc:
				ti.etcBytes += roundBlock(size)
				ti.etcFiles++
			case inVar:
				ti.varBytes += roundBlock(size)
				ti.varFiles++
			case isKernel && !f.IsSymlink():
				if e.Name == "vmlinuz" {
					k.linux, k.linuxSz = e.File, size
				} else {
					k.initrd, k.initrdSz = e.File, size
				}
			}
		}
		if kver != "" && !k.linux.IsZero() {
			k.version = kver
			kernels = append(kernels, k)
		}
		return nil
	}
	if err := walk(c.Tree, ""); err != nil {
		return nil, err
	}
	switch {
	case hasEtc && hasUsrEtc:
		return nil, fmt.Errorf("%w: ship the defaults in one of them", ErrEtcLayout)
	case hasUsrEtc:
		ti.etcDir = "usr/etc"
	case hasEtc:
		ti.etcDir = "etc"
	}
	if len(kernels) == 0 {
		return nil, fmt.Errorf("%w: no usr/lib/modules/VERSION/vmlinuz", ErrNoKernel)
	}
	sort.Slice(kernels, func(i, j int) bool { return versionLess(kernels[i].version, kernels[j].version) })
	ti.kernel = kernels[len(kernels)-1]
	if ti.kernel.initrd.IsZero() {
		return nil, fmt.Errorf("%w: usr/lib/modules/%s has vmlinuz but no initramfs.img", ErrNoKernel, ti.kernel.version)
	}
	return ti, nil
}

func roundBlock(n int64) int64 { return (n + 4095) &^ 4095 }

// versionLess compares kernel versions as sort -V would: runs of digits
// numerically, the rest bytewise.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
