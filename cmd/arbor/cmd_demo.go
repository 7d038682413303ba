package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/internal/sample"
)

func newDemoCommand(g *globals) *cobra.Command {
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run arbor end to end on a built-in sample tree",
		Long: `Run arbor's main job end to end on a built-in sample tree, printing each
step as the equivalent command: create a repository, commit two releases of
the tree (from a tar archive), list and diff them, check the newest out, and
verify the repository. Everything happens under --dir (default: a new
temporary directory, removed afterwards unless --keep).`,
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
			steps := [][]string{
				{"--repo", repoDir, "init", "--mode", "archive"},
				{"--repo", repoDir, "commit", "--branch", "os/stable", "--subject", "release 1", "--version", "1.0", "--timestamp", "1700000000", tars[0]},
				{"--repo", repoDir, "commit", "--branch", "os/stable", "--subject", "release 2: security fix", "--version", "1.1", "--timestamp", "1700086400", tars[1]},
				{"--repo", repoDir, "refs"},
				{"--repo", repoDir, "log", "os/stable"},
				{"--repo", repoDir, "ls", "-l", "os/stable", "/usr/bin"},
				{"--repo", repoDir, "diff", "os/stable^", "os/stable"},
				{"--repo", repoDir, "cat", "os/stable", "/etc/os-release"},
				{"--repo", repoDir, "checkout", "os/stable", filepath.Join(dir, "checkout")},
				{"--repo", repoDir, "fsck"},
			}
			for _, s := range steps {
				if err := step(s...); err != nil {
					return err
				}
			}
			if removed {
				fmt.Fprintf(g.stdout, "\ndemo finished; removed %s (give --dir DIR or --keep to keep the repository and checkout)\n", dir)
				return nil
			}
			fmt.Fprintf(g.stdout, "\ndemo finished: the tree of os/stable is checked out in %s\n", filepath.Join(dir, "checkout"))
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
