package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "token",
		Short: "Manage your API tokens",
	})
	cmd.AddCommand(a.tokenCreateCmd(), a.tokenLsCmd(), a.tokenRevokeCmd())
	return cmd
}

func (a *app) tokenCreateCmd() *cobra.Command {
	var (
		org, role, name string
		ttl             time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create [--org ORG --role ROLE] [--ttl DURATION] [--name NAME]",
		Short: "Mint an API token for yourself and print it",
		Long: `Mint a new API token for the current user and print it on standard output. The token is
shown only this once.

--org narrows the token to one org and --role (which needs --org) to a role no higher than
your own there, e.g. a reader token for a training job. --ttl sets its lifetime (e.g. 720h);
--ttl 0 means it never expires; without --ttl the server's default applies.`,
		Example: `  tarn token create --name laptop
  tarn token create --org acme --role reader --ttl 24h --name training-job
  TOKEN=$(tarn token create --org acme --role writer --ttl 1h)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := api.CreateTokenRequest{Name: name, Org: org, Role: role}
			if org != "" {
				if err := checkName("org", org); err != nil {
					return err
				}
			}
			if role != "" {
				if err := oneOf("role", role, roles...); err != nil {
					return err
				}
				if org == "" {
					return usagef("--role needs --org: a role is given in one org")
				}
			}
			if cmd.Flags().Changed("ttl") {
				switch {
				case ttl == 0:
					req.TTLSeconds = -1
				case ttl < time.Second:
					return usagef("invalid value %s for --ttl: use a duration of at least 1s (e.g. 720h), or 0 for no expiry", ttl)
				default:
					req.TTLSeconds = int64((ttl + time.Second - 1) / time.Second)
				}
			}
			res, err := fetch(a, "create token", func(c *client.Client) (*api.CreateTokenResponse, error) {
				return c.CreateToken(cmd.Context(), req)
			})
			if err != nil {
				return err
			}
			return a.show(res, func() error {
				ti := res.TokenInfo
				expires := "never expires"
				if ti.ExpiresAt != nil {
					expires = "expires " + fmtTime(*ti.ExpiresAt)
				}
				fmt.Fprintln(a.stdout, res.Token)
				fmt.Fprintf(a.stderr, "Created token %s, %s. The token above is shown only once: store it now.\n",
					tokenScope(ti.ID, ti.Org, ti.Role), expires)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "narrow the token to this org")
	f.StringVar(&role, "role", "", "narrow the token to this role in --org: reader, writer or admin")
	f.DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 720h; 0 for a token that never expires (default: the server's)")
	f.StringVar(&name, "name", "", "a name to recognize the token by in 'tarn token ls'")
	return cmd
}

func (a *app) tokenLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List your API tokens (never their secrets)",
		Example: "  tarn token ls\n  tarn token ls --output json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			toks, err := fetch(a, "list tokens", func(c *client.Client) ([]api.Token, error) {
				return c.Tokens(cmd.Context())
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(toks), func() error {
				now := a.now()
				t := a.table("ID", "NAME", "ORG", "ROLE", "STATUS", "CREATED", "EXPIRES", "LAST_USED")
				for _, tk := range toks {
					t.row(tk.ID, tk.Name, tk.Org, tk.Role, tk.Status(now),
						fmtTime(tk.CreatedAt), fmtTimePtr(tk.ExpiresAt), fmtTimePtr(tk.LastUsedAt))
				}
				return t.flush()
			})
		},
	}
}

func (a *app) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API token; it stops working on the next request",
		Example: "  tarn token ls\n  tarn token revoke tok_2f9c",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			err := a.call(fmt.Sprintf("revoke token %s", id), func(c *client.Client) error {
				return c.RevokeToken(cmd.Context(), id)
			})
			if err != nil {
				return err
			}
			a.say("Revoked token %s.\n", id)
			return nil
		},
	}
}
