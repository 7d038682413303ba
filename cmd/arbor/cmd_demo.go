package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/internal/sample"
	"github.com/arbor-ota/arbor/server"
)

func newDemoCommand(g *globals) *cobra.Command {
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run arbor end to end on a built-in sample tree",
		Long: `Run arbor's main job end to end on a built-in sample tree, printing each
step as the equivalent command. On the build side: create a repository, commit
release 1 of the tree (from a tar archive), create signing keys and publish a
signed static site, served over HTTP on a loopback port. On the device side:
create a bare repository, trust the site, pull release 1. Then release 2 (a
security fix touching two files) is committed and published, and the device
pulls it, fetching only what changed; it is checked out (hard links into the
device repository) and both repositories are verified. Everything happens
under --dir (default: a new temporary directory, removed afterwards unless
--keep).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			removed := false
			if dir == "" {
				d, err := os.MkdirTemp("", "arbor-demo-")
				if err != nil {
					return err
				}
				dir = d
				if !keep {
					removed = true
					defer os.RemoveAll(d)
				}
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			repoDir := filepath.Join(dir, "repo")
			step := func(args ...string) error {
				fmt.Fprintf(g.stdout, "\n$ arbor %s\n", shellJoin(args))
				if code := run(ctx, args, g.stdout, g.stdout); code != 0 {
					return fmt.Errorf("demo step 'arbor %s' failed with exit code %d", shellJoin(args), code)
				}
				return nil
			}
			var tars []string
			for rel := 1; rel <= 2; rel++ {
				p := filepath.Join(dir, fmt.Sprintf("sample-r%d.tar", rel))
				if err := os.WriteFile(p, sample.Tar(rel), 0o644); err != nil {
					return err
				}
				tars = append(tars, p)
			}
			fmt.Fprintf(g.stdout, "arbor demo in %s\n", dir)
			siteDir, keysDir := filepath.Join(dir, "site"), filepath.Join(dir, "keys")
			devDir := filepath.Join(dir, "device")
			devMode := "bare"
			if os.Geteuid() != 0 {
				devMode = "archive" // a bare repository keeps owners: that needs root
			}
			// The site is served the way 'arbor serve' does, from this process.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: server.FileServer(siteDir), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			defer srv.Close()
			url := "http://" + ln.Addr().String()
			build := [][]string{
				{"--repo", repoDir, "init", "--mode", "archive"},
				{"--repo", repoDir, "commit", "--branch", "os/stable", "--subject", "release 1", "--version", "1.0", "--timestamp", "1700000000", tars[0]},
				{"trust", "init", "--keys", keysDir, "--site", siteDir},
				{"--repo", repoDir, "publish", "--site", siteDir, "--keys", keysDir},
			}
			device := [][]string{
				{"--repo", devDir, "init", "--mode", devMode},
				{"--repo", devDir, "remote", "add", "origin", url, "--root", filepath.Join(siteDir, "tuf", "1.root.json")},
				{"--repo", devDir, "pull", "origin", "os/stable", "--progress", "none"},
			}
			update := [][]string{
				{"--repo", repoDir, "commit", "--branch", "os/stable", "--subject", "release 2: security fix", "--version", "1.1", "--timestamp", "1700086400", tars[1]},
				{"--repo", repoDir, "log", "os/stable"},
				{"--repo", repoDir, "diff", "os/stable^", "os/stable"},
				{"--repo", repoDir, "publish", "--site", siteDir, "--keys", keysDir},
				{"--repo", devDir, "pull", "origin", "os/stable", "--dry-run"},
				{"--repo", devDir, "pull", "origin", "os/stable", "--progress", "none"},
				{"--repo", devDir, "refs"},
				{"--repo", devDir, "ls", "-l", "origin:os/stable", "/usr/bin"},
				{"--repo", devDir, "cat", "origin:os/stable", "/etc/os-release"},
				{"--repo", devDir, "checkout", "origin:os/stable", filepath.Join(dir, "checkout")},
				{"--repo", devDir, "fsck"},
				{"--repo", repoDir, "fsck"},
			}
			for _, part := range []struct {
				title string
				steps [][]string
			}{
				{"build machine: commit release 1 and publish it", build},
				{"site: serving " + siteDir + " on " + url + " (as 'arbor serve " + siteDir + " --listen " + ln.Addr().String() + "' would)", nil},
				{"device: trust the site and pull release 1", device},
				{"release 2: commit, publish, and the device pulls only what changed", update},
			} {
				fmt.Fprintf(g.stdout, "\n## %s\n", part.title)
				for _, s := range part.steps {
					if err := step(s...); err != nil {
						return err
					}
				}
			}
			if removed {
				fmt.Fprintf(g.stdout, "\ndemo finished; removed %s (give --dir DIR or --keep to keep the repository and checkout)\n", dir)
				return nil
			}
			fmt.Fprintf(g.stdout, "\ndemo finished: release 2 of os/stable, pulled by the device, is checked out in %s\n", filepath.Join(dir, "checkout"))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "work directory (default: a temporary one)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary work directory")
	return cmd
}

func shellJoin(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		if a == "" || containsAny(a, " \t\"'$\\:;&|<>*?") {
			s += fmt.Sprintf("%q", a)
		} else {
			s += a
		}
	}
	return s
}

func containsAny(s, chars string) bool {
	for _, c := range chars {
		for _, d := range s {
			if c == d {
				return true
			}
		}
	}
	return false
}
