package arbor_test

// This test enforces the import rules of DESIGN.md §10 from 'go list'
// output. It looks at the packages' own (non-test) imports: what a binary
// ships. Test files may import test kits and, for in-process integration
// tests, both sides of the wire.
//
// A package that does not exist yet is not an error: each rule applies as
// soon as its package appears.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/arbor-ota/arbor"

// goPackage holds the fields of 'go list -json' that the rules need.
type goPackage struct {
	ImportPath string
	Name       string
	Imports    []string
	Deps       []string
	Standard   bool
	Error      *struct{ Err string }
}

// heavyDeps must stay out of the device binary (DESIGN.md §10: container
// storage is kept out by a build tag or a separate command).
var heavyDeps = []string{"go.podman.io/storage", "github.com/containers/storage"}

// deviceBinaries are the commands that run on devices.
var deviceBinaries = []string{"cmd/arbor"}

func TestImportRules(t *testing.T) {
	pkgs := goList(t, module+"/...")
	var own []string
	for path, p := range pkgs {
		if rel, ok := relPath(path); ok {
			own = append(own, rel)
			if p.Error != nil {
				// Another package may be half-written; the rules still
				// apply to the imports it declares.
				t.Logf("note: %s does not build: %s", rel, strings.TrimSpace(p.Error.Err))
			}
		}
	}
	sort.Strings(own)
	t.Logf("checked %d packages of %s: %s", len(own), module, strings.Join(own, " "))
	for _, rel := range own {
		if rel != "" && component(rel) == "" {
			t.Logf("note: %s is not named in DESIGN.md §10; only the general rules apply to it", rel)
		}
	}
	for _, v := range checkImports(pkgs) {
		t.Error(v)
	}
}

// TestImportRulesCatchViolations runs the checker on made-up import graphs,
// so that a rule that stopped firing fails here rather than passing silently.
func TestImportRulesCatchViolations(t *testing.T) {
	m := func(rel string) string {
		if rel == "" {
			return module
		}
		return module + "/" + rel
	}
	tests := []struct {
		name string
		pkgs map[string][]string // package (relative) -> imports (relative to the module, or absolute with a dot)
		want []string            // substrings of the violations, in order; nil: no violation
	}{
		{"clean", map[string][]string{
			"objects":             {"fmt"},
			"objects/objtest":     {"objects"},
			"internal/atomicfile": {"os"},
			"internal/fsmeta":     {"objects"},
			"repo":                {"objects", "internal/atomicfile", "go.etcd.io/bbolt"},
			"repo/repotest":       {"repo", "objects/objtest"},
			"packs":               {"objects"},
			"trust":               {"objects"},
			"site":                {"objects", "packs", "trust"},
			"server":              {"site", "repo", "packs"},
			"client":              {"site", "repo", "checkout"},
			"checkout":            {"objects", "internal/fsmeta"},
			"deploy":              {"client", "checkout"},
			"cmd/arbor":           {"server", "client", "deploy"},
		}, nil},
		{"objects imports the module", map[string][]string{
			"objects":             {"internal/atomicfile"},
			"internal/atomicfile": nil,
		}, []string{"objects imports " + m("internal/atomicfile") + ": objects may import nothing from the module"}},
		{"packs imports repo", map[string][]string{
			"packs": {"objects", "repo"}, "repo": {"objects"}, "objects": nil,
		}, []string{"packs imports " + m("repo") + ": packs may import only objects and internal/..."}},
		{"checkout imports repo", map[string][]string{
			"checkout": {"repo"}, "repo": nil,
		}, []string{"checkout imports " + m("repo")}},
		{"repo imports packs", map[string][]string{
			"repo": {"packs"}, "packs": nil,
		}, []string{"repo imports " + m("packs")}},
		{"production code imports a test kit", map[string][]string{
			"repo": {"objects/objtest"}, "objects/objtest": {"objects"}, "objects": nil,
		}, []string{"repo imports " + m("objects/objtest") + ": objects/objtest is a test kit"}},
		{"site imports repo", map[string][]string{
			"site": {"trust", "repo"}, "trust": nil, "repo": nil,
		}, []string{"site imports " + m("repo") + ": site may import only objects, internal/..., trust and packs"}},
		{"internal imports repo", map[string][]string{
			"internal/x": {"repo"}, "repo": nil,
		}, []string{"internal/x imports " + m("repo") + ": internal/... may import only objects and other internal packages"}},
		{"server imports client through site", map[string][]string{
			"server": {"site"}, "site": {"client"}, "client": nil,
		}, []string{
			"server depends on " + m("client") + " (server → site → client): server and client never import each other",
			"site imports " + m("client"),
		}},
		{"client imports server", map[string][]string{
			"client": {"server"}, "server": nil,
		}, []string{"client depends on " + m("server") + " (client → server)"}},
		{"deploy imports both", map[string][]string{
			"deploy": {"server", "client"}, "server": nil, "client": nil,
		}, []string{"deploy depends on both " + m("server") + " (deploy → server) and " + m("client") + " (deploy → client): only cmd/..."}},
		{"something imports cmd", map[string][]string{
			"server": {"cmd/arbor/internal/ui"}, "cmd/arbor/internal/ui": nil,
		}, []string{"server imports " + m("cmd/arbor/internal/ui") + ": nothing may import cmd/..."}},
		{"device binary pulls container storage", map[string][]string{
			"cmd/arbor": {"build"},
			"build":     {"github.com/containers/storage/pkg/archive"},
			"github.com/containers/storage/pkg/archive": nil,
		}, []string{"cmd/arbor depends on github.com/containers/storage/pkg/archive (cmd/arbor → build → github.com/containers/storage/pkg/archive): the device binary must not"}},
		{"build tool may use container storage", map[string][]string{
			"cmd/arbor-build":      {"go.podman.io/storage"},
			"go.podman.io/storage": nil,
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs := map[string]*goPackage{}
			abs := func(p string) string {
				if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") || p == "fmt" || p == "os" {
					return p // third-party or standard library
				}
				return m(p)
			}
			for p, imps := range tt.pkgs {
				gp := &goPackage{ImportPath: abs(p)}
				for _, i := range imps {
					gp.Imports = append(gp.Imports, abs(i))
				}
				pkgs[gp.ImportPath] = gp
			}
			// Fill in Deps as go list would.
			for _, p := range pkgs {
				seen := map[string]bool{}
				var visit func(string)
				visit = func(path string) {
					if q, ok := pkgs[path]; ok {
						for _, i := range q.Imports {
							if !seen[i] {
								seen[i] = true
								visit(i)
							}
						}
					}
				}
				visit(p.ImportPath)
				for d := range seen {
					p.Deps = append(p.Deps, d)
				}
				sort.Strings(p.Deps)
			}
			got := checkImports(pkgs)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d violations, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %d:\n got %s\nwant it to contain %s", i, got[i], w)
				}
			}
		})
	}
}

// goList runs 'go list -e -deps -json' on the patterns and returns every
// package it names (the module's and their dependencies), by import path.
func goList(t *testing.T, patterns ...string) map[string]*goPackage {
	t.Helper()
	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Name,Imports,Deps,Standard,Error"}, patterns...)
	cmd := exec.Command("go", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	pkgs := map[string]*goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(goPackage)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list printed no packages")
	}
	return pkgs
}

// relPath returns path relative to the module ("" for the module root).
func relPath(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// under reports whether rel is dir or inside it.
func under(rel, dir string) bool {
	return rel == dir || strings.HasPrefix(rel, dir+"/")
}

// component names the part of DESIGN.md §10 a package belongs to, or ""
// when §10 does not name it.
func component(rel string) string {
	first, _, _ := strings.Cut(rel, "/")
	switch first {
	case "objects", "internal", "packs", "deltas", "checkout", "trust", "repo", "site", "server", "client", "deploy", "cmd":
		return first
	}
	return ""
}

// isTestKit reports whether a package is a test kit (objects/objtest,
// repo/repotest, ...): code for tests, never for binaries.
func isTestKit(rel string) bool {
	last := rel[strings.LastIndexByte(rel, '/')+1:]
	return strings.HasSuffix(last, "test") && rel != last
}

// checkImports returns one message per broken rule, in a stable order.
func checkImports(pkgs map[string]*goPackage) []string {
	var paths []string
	for path := range pkgs {
		if _, ok := relPath(path); ok {
			paths = append(paths, path)
		}
	}
	sort.Strings(paths)
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	for _, path := range paths {
		p := pkgs[path]
		rel, _ := relPath(path)
		comp := component(rel)
		for _, imp := range p.Imports {
			irel, ok := relPath(imp)
			if !ok {
				continue
			}
			if under(irel, "cmd") && !under(rel, "cmd") || under(irel, "cmd") && under(rel, "cmd") && !under(irel, firstTwo(rel)) {
				bad("%s imports %s: nothing may import cmd/... (DESIGN.md §10: commands wire packages, they are not libraries)", rel, imp)
				continue
			}
			if isTestKit(irel) && !isTestKit(rel) {
				bad("%s imports %s: %s is a test kit; only tests and other test kits may import it (STYLE.md: no test helpers in production packages)", rel, imp, irel)
				continue
			}
			own := under(irel, comp) && comp != "" && comp != "internal" && comp != "cmd"
			// A test kit (repo/repotest) may build on another (objects/objtest).
			objectsOK := irel == "objects" || isTestKit(rel) && under(irel, "objects")
			switch comp {
			case "objects":
				if rel == "objects" {
					bad("%s imports %s: objects may import nothing from the module (DESIGN.md §10: objects is the leaf)", rel, imp)
				} else if !under(irel, "objects") && !under(irel, "internal") {
					bad("%s imports %s: packages under objects/ may import only objects and internal/... (DESIGN.md §10)", rel, imp)
				}
			case "internal":
				if !objectsOK && !under(irel, "internal") {
					bad("%s imports %s: internal/... may import only objects and other internal packages (DESIGN.md §10)", rel, imp)
				}
			case "packs", "deltas", "checkout", "trust", "repo":
				if !own && !objectsOK && !under(irel, "internal") {
					bad("%s imports %s: %s may import only objects and internal/... (DESIGN.md §10: packs, deltas, checkout, trust and repo work on objects interfaces and do not import each other)",
						rel, imp, comp)
				}
			case "site":
				if !own && !objectsOK && !under(irel, "internal") && !under(irel, "trust") && !under(irel, "packs") {
					bad("%s imports %s: site may import only objects, internal/..., trust and packs (DESIGN.md §10: site is the format that server writes and client reads)", rel, imp)
				}
			}
		}

		// Rules on everything a package pulls in, directly or not.
		if !under(rel, "cmd") {
			if under(rel, "server") {
				if d := firstDep(p, "client"); d != "" {
					bad("%s depends on %s (%s): server and client never import each other; they meet at site, packs, trust and objects (DESIGN.md §10)",
						rel, d, chain(pkgs, path, d))
				}
			}
			if under(rel, "client") {
				if d := firstDep(p, "server"); d != "" {
					bad("%s depends on %s (%s): server and client never import each other; they meet at site, packs, trust and objects (DESIGN.md §10)",
						rel, d, chain(pkgs, path, d))
				}
			}
			if !under(rel, "server") && !under(rel, "client") {
				s, c := firstDep(p, "server"), firstDep(p, "client")
				if s != "" && c != "" {
					bad("%s depends on both %s (%s) and %s (%s): only cmd/... may import server and client together (DESIGN.md §10)",
						rel, s, chain(pkgs, path, s), c, chain(pkgs, path, c))
				}
			}
		}
		if slices.Contains(deviceBinaries, rel) {
			for _, d := range p.Deps {
				for _, h := range heavyDeps {
					if d == h || strings.HasPrefix(d, h+"/") {
						bad("%s depends on %s (%s): the device binary must not pull in container storage; keep it behind a build tag or in a build-side command (DESIGN.md §10)",
							rel, d, chain(pkgs, path, d))
					}
				}
			}
		}
	}
	return out
}

// firstTwo returns the first two elements of a path under cmd/ (the command).
func firstTwo(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) < 2 {
		return rel
	}
	return parts[0] + "/" + parts[1]
}

// firstDep returns the first of p's dependencies in the module's component dir.
func firstDep(p *goPackage, dir string) string {
	for _, d := range p.Deps {
		if rel, ok := relPath(d); ok && under(rel, dir) {
			return d
		}
	}
	return ""
}

// chain returns the shortest import path from one package to another, as
// "a → b → c" with the module prefix removed.
func chain(pkgs map[string]*goPackage, from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			break
		}
		p, ok := pkgs[cur]
		if !ok {
			continue
		}
		for _, i := range p.Imports {
			if _, seen := prev[i]; !seen {
				prev[i] = cur
				queue = append(queue, i)
			}
		}
	}
	if _, ok := prev[to]; !ok {
		return "via packages go list did not show"
	}
	var hops []string
	for cur := to; cur != ""; cur = prev[cur] {
		name := cur
		if rel, ok := relPath(cur); ok {
			name = rel
		}
		hops = append(hops, name)
	}
	slices.Reverse(hops)
	return strings.Join(hops, " → ")
}
