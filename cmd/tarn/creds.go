package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
)

func (a *app) credsCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "creds",
		Short: "Manage an org's creds keys (managed credentials)",
		Long: `Manage an org's creds keys: named managed credentials (a provider and its configuration)
from which tarn mints short-lived credentials. Secrets, where a provider needs one, are
write-only. Managing creds keys needs the admin role in the org.`,
	})
	cmd.AddCommand(a.credsAddCmd(), a.credsLsCmd(), a.credsShowCmd(), a.credsVerifyCmd(), a.credsRmCmd())
	return cmd
}

func (a *app) credsAddCmd() *cobra.Command {
	var (
		provider string
		roots    []string
	)
	cmd := &cobra.Command{
		Use:   "add ORG/KEY --provider PROVIDER [provider flags]",
		Short: "Create or replace a creds key",
		Long: `Create the creds key KEY of org ORG, or replace its configuration.

Provider file vends local directories: give each directory it may vend with --root, as a
plain path or a file:/// URL. Each must lie inside one of the server's --file-root
directories.`,
		Example: `  tarn creds add acme/local --provider file --root /srv/datasets
  tarn creds add acme/local --provider file --root ./data --root file:///mnt/shared`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			req := api.PutCredsKeyRequest{Provider: provider}
			for _, r := range roots {
				l, err := parseStorage(r)
				if err != nil {
					return err
				}
				req.Config.Roots = append(req.Config.Roots, l.String())
			}
			c, err := a.client()
			if err != nil {
				return fmt.Errorf("add creds key %s/%s: %w", org, key, err)
			}
			k, err := c.PutCredsKey(cmd.Context(), org, key, req)
			if err != nil {
				return fmt.Errorf("add creds key %s/%s: %w", org, key, err)
			}
			if a.jsonOut() {
				return a.printJSON(k)
			}
			fmt.Fprintf(a.stdout, "Saved creds key %s/%s (provider %s, version %d).\n", k.Org, k.Name, k.Provider, k.Version)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&provider, "provider", "", "provider: aws, s3, azure, gcs or file (required)")
	f.StringArrayVar(&roots, "root", nil, "provider file: a directory the key may vend (repeatable)")
	cmd.MarkFlagRequired("provider")
	return cmd
}

func (a *app) credsLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls ORG",
		Aliases: []string{"list"},
		Short:   "List an org's creds keys",
		Example: "  tarn creds ls acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return fmt.Errorf("list creds keys of org %s: %w", org, err)
			}
			keys, err := c.CredsKeys(cmd.Context(), org)
			if err != nil {
				return fmt.Errorf("list creds keys of org %s: %w", org, err)
			}
			if a.jsonOut() {
				return a.printJSON(nonNil(keys))
			}
			t := a.table("NAME", "PROVIDER", "VERSION", "UPDATED", "ROOTS")
			for _, k := range keys {
				t.row(k.Name, k.Provider, fmt.Sprint(k.Version), fmtTime(k.UpdatedAt), strings.Join(k.Config.Roots, ","))
			}
			return t.flush()
		},
	}
}

func (a *app) credsShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ORG/KEY",
		Short:   "Show a creds key's provider and configuration (never its secrets)",
		Example: "  tarn creds show acme/local",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return fmt.Errorf("show creds key %s/%s: %w", org, key, err)
			}
			k, err := c.CredsKey(cmd.Context(), org, key)
			if err != nil {
				return fmt.Errorf("show creds key %s/%s: %w", org, key, err)
			}
			if a.jsonOut() {
				return a.printJSON(k)
			}
			return kv(a.stdout,
				"org", k.Org,
				"name", k.Name,
				"provider", k.Provider,
				"version", fmt.Sprint(k.Version),
				"roots", strings.Join(k.Config.Roots, ", "),
				"created", fmtTime(k.CreatedAt),
				"updated", fmtTime(k.UpdatedAt),
			)
		},
	}
}

func (a *app) credsVerifyCmd() *cobra.Command {
	var loc string
	cmd := &cobra.Command{
		Use:   "verify ORG/KEY [--location L]",
		Short: "Check that a creds key works, and that its credentials stay in their prefix",
		Long: `Ask the server to check a creds key: that it can mint credentials, list and round-trip a
probe object in the location, and that a vended read credential is refused outside its
prefix and for writes. Each check prints on one line; the command fails (exit 1) if any
check fails.

--location picks the location to check (a storage URL or a local directory); without it
the server checks the key's own configuration.`,
		Example: `  tarn creds verify acme/local
  tarn creds verify acme/local --location /srv/datasets/scratch`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			where := ""
			if loc != "" {
				l, err := parseStorage(loc)
				if err != nil {
					return err
				}
				where = l.String()
			}
			c, err := a.client()
			if err != nil {
				return fmt.Errorf("verify creds key %s/%s: %w", org, key, err)
			}
			res, err := c.VerifyCredsKey(cmd.Context(), org, key, where)
			if err != nil {
				return fmt.Errorf("verify creds key %s/%s: %w", org, key, err)
			}
			failed := 0
			for _, ch := range res.Checks {
				if !ch.OK {
					failed++
				}
			}
			if a.jsonOut() {
				res.Checks = nonNil(res.Checks)
				if err := a.printJSON(res); err != nil {
					return err
				}
			} else {
				t := a.table("CHECK", "RESULT", "DETAIL")
				for _, ch := range res.Checks {
					result := "ok"
					if !ch.OK {
						result = "FAILED"
					}
					t.row(ch.Name, result, ch.Detail)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("verify creds key %s/%s: %d of %d checks failed", org, key, failed, len(res.Checks))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&loc, "location", "", "location to check: a storage URL or a local directory")
	return cmd
}

func (a *app) credsRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ORG/KEY",
		Aliases: []string{"remove"},
		Short:   "Delete a creds key",
		Example: "  tarn creds rm acme/old-bucket",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, key, err := parseOrgKey(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return fmt.Errorf("delete creds key %s/%s: %w", org, key, err)
			}
			if err := c.DeleteCredsKey(cmd.Context(), org, key); err != nil {
				return fmt.Errorf("delete creds key %s/%s: %w", org, key, err)
			}
			if !a.jsonOut() {
				fmt.Fprintf(a.stdout, "Deleted creds key %s/%s.\n", org, key)
			}
			return nil
		},
	}
}
