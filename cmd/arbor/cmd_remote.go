package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/client"
)

func newRemoteCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remote",
		Short: "Manage the sites a repository pulls from",
	}
	var rootFile, hw string
	var mirrors []string
	add := &cobra.Command{
		Use:   "add NAME URL --root ROOT.json",
		Short: "Add a site to pull from, trusting its TUF root",
		Long: `Add the site at URL (http://, https:// or file:///path for a site copied to
local storage) under NAME. ROOT.json is the site's first root metadata
(SITE/tuf/1.root.json), obtained out of band: from then on every update is
verified against it and the roots it signs. --mirror adds URLs tried in turn
when one fails. --hw-compat sets this device's hardware ID: commits that list
hardware IDs are refused unless they list it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootFile == "" {
				return usagef("remote add needs --root ROOT.json (the site's tuf/1.root.json)")
			}
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			root, err := os.ReadFile(rootFile)
			if err != nil {
				return fmt.Errorf("%w: %v", errPathNotFound, err)
			}
			rm := client.Remote{Name: args[0], URL: strings.TrimSuffix(args[1], "/"), Mirrors: mirrors, HWCompat: hw}
			if err := client.AddRemote(r.Path(), rm, root); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "added remote %s: %s\n", rm.Name, rm.URL)
			return nil
		},
	}
	add.Flags().StringVar(&rootFile, "root", "", "the site's trusted root metadata (tuf/1.root.json)")
	add.Flags().StringArrayVar(&mirrors, "mirror", nil, "another URL of the same site (repeatable)")
	add.Flags().StringVar(&hw, "hw-compat", "", "this device's hardware ID")
	list := &cobra.Command{
		Use:   "list",
		Short: "List remotes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			rms, err := client.Remotes(r.Path())
			if err != nil {
				return err
			}
			for _, rm := range rms {
				fmt.Fprintf(g.stdout, "%s %s\n", rm.Name, strings.Join(rm.URLs(), " "))
			}
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a remote and its trusted metadata",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			defer r.Close()
			return client.RemoveRemote(r.Path(), args[0])
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}
