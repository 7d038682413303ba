package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbor-ota/arbor/server"
	"github.com/arbor-ota/arbor/trust"
)

func newTrustCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Manage the signing keys and TUF metadata of a site",
	}
	cmd.AddCommand(newTrustInitCommand(g), newTrustRotateCommand(g))
	return cmd
}

type expiryFlags struct {
	root, targets, snapshot, timestamp string
}

func (e *expiryFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.root, "expires", "", "how long the root stays valid (default 365d)")
	cmd.Flags().StringVar(&e.targets, "targets-expires", "", "how long each targets version stays valid (default 90d)")
	cmd.Flags().StringVar(&e.snapshot, "snapshot-expires", "", "how long each snapshot stays valid (default 7d)")
	cmd.Flags().StringVar(&e.timestamp, "timestamp-expires", "", "how long each timestamp stays valid (default 1d; re-sign with publish --refresh-timestamp)")
}

func (e *expiryFlags) options() (trust.Options, error) {
	var o trust.Options
	for _, f := range []struct {
		s   string
		dst *time.Duration
	}{{e.root, &o.RootExpires}, {e.targets, &o.TargetsExpires}, {e.snapshot, &o.SnapshotExpires}, {e.timestamp, &o.TimestampExpires}} {
		if f.s == "" {
			continue
		}
		d, err := parseAge(f.s)
		if err != nil || d <= 0 {
			return o, usagef("expiry %q: want a duration such as 365d or 12h", f.s)
		}
		*f.dst = d
	}
	return o, nil
}

func writeSiteFiles(ctx context.Context, g *globals, st server.Store, files []trust.File) error {
	for _, f := range files {
		if err := st.Write(ctx, f.Name, bytes.NewReader(f.Data)); err != nil {
			return fmt.Errorf("write %s: %w", f.Name, err)
		}
		fmt.Fprintf(g.stdout, "wrote %s\n", f.Name)
	}
	return nil
}

func newTrustInitCommand(g *globals) *cobra.Command {
	var keys, siteDir string
	var rootKeys, threshold int
	var exp expiryFlags
	cmd := &cobra.Command{
		Use:   "init --keys KEYS --site SITE",
		Short: "Create signing keys and the first TUF metadata of a site",
		Long: `Create ed25519 signing keys for the four TUF roles in KEYS (a directory that
only you can read; keep the root keys offline afterwards) and write the first
signed metadata into SITE/tuf/. Devices are given SITE/tuf/1.root.json once
(arbor remote add --root) and trust the site from then on.

With --root-keys 3 --root-threshold 2, three root keys are made and any two must
sign a new root: losing one key is survivable, stealing one is not enough.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keys == "" || siteDir == "" {
				return usagef("trust init needs --keys and --site")
			}
			o, err := exp.options()
			if err != nil {
				return err
			}
			files, err := trust.Init(keys, trust.InitOptions{Options: o, RootKeys: rootKeys, RootThreshold: threshold})
			if err != nil {
				return err
			}
			if err := writeSiteFiles(cmd.Context(), g, server.DirStore{Root: siteDir}, files); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "keys are in %s; give devices %s/tuf/1.root.json\n", keys, siteDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "directory for the private keys (created, mode 0700)")
	cmd.Flags().StringVar(&siteDir, "site", "", "site directory")
	cmd.Flags().IntVar(&rootKeys, "root-keys", 1, "number of root keys")
	cmd.Flags().IntVar(&threshold, "root-threshold", 1, "root keys needed to sign a new root")
	exp.add(cmd)
	return cmd
}

func openPublisher(ctx context.Context, keys string, st server.Store, o trust.Options) (*trust.Publisher, error) {
	return trust.OpenPublisher(keys, func(name string) ([]byte, error) { return st.Read(ctx, name) }, o)
}

func newTrustRotateCommand(g *globals) *cobra.Command {
	var keys, siteDir, role, keyID string
	var exp expiryFlags
	cmd := &cobra.Command{
		Use:   "rotate --keys KEYS --site SITE --role ROLE",
		Short: "Replace a role's signing key and revoke the old one",
		Long: `Replace the key of ROLE (root, targets, snapshot or timestamp) with a new one
written to KEYS. A new root version lists the new key and revokes the old one,
signed by enough old and new root keys for devices to follow it; then the
role's metadata is re-signed. Destroy the old key file once the site is out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if keys == "" || siteDir == "" || role == "" {
				return usagef("trust rotate needs --keys, --site and --role")
			}
			o, err := exp.options()
			if err != nil {
				return err
			}
			st := server.DirStore{Root: siteDir}
			p, err := openPublisher(cmd.Context(), keys, st, o)
			if err != nil {
				return err
			}
			files, err := p.RotateKey(role, keyID)
			if err != nil {
				return err
			}
			return writeSiteFiles(cmd.Context(), g, st, files)
		},
	}
	cmd.Flags().StringVar(&keys, "keys", "", "directory of the private keys")
	cmd.Flags().StringVar(&siteDir, "site", "", "site directory")
	cmd.Flags().StringVar(&role, "role", "", "role whose key to replace: root, targets, snapshot or timestamp")
	cmd.Flags().StringVar(&keyID, "key-id", "", "the key to replace, when the role has several")
	exp.add(cmd)
	return cmd
}
