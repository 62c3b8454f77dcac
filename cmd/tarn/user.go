package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) userCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "user",
		Short: "Manage users (superusers only)",
	})
	cmd.AddCommand(a.userCreateCmd(), a.userLsCmd())
	return cmd
}

func (a *app) userLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List every user (superusers only)",
		Example: "  tarn user ls",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			us, err := fetch(a, "list users", func(c *client.Client) ([]api.User, error) {
				return c.Users(cmd.Context())
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(us), func() error {
				t := a.table("NAME", "SUPERUSER", "CREATED")
				for _, u := range us {
					t.row(u.Name, fmt.Sprint(u.Superuser), fmtTime(u.CreatedAt))
				}
				return t.flush()
			})
		},
	}
}

func (a *app) userCreateCmd() *cobra.Command {
	var superuser bool
	cmd := &cobra.Command{
		Use:   "create NAME [--superuser]",
		Short: "Create a user and print their first API token",
		Long: `Create a user and print their first API token on standard output. The token is shown
only this once: hand it to the user, who runs "tarn login --token-stdin" with it.

Only a superuser may create users. With --output json the answer holds the user, the token
and the token's description.`,
		Example: `  tarn user create alice
  tarn user create ops --superuser
  TOKEN=$(tarn user create ci-bot)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("user", name); err != nil {
				return err
			}
			res, err := fetch(a, fmt.Sprintf("create user %s", name), func(c *client.Client) (*api.CreateUserResponse, error) {
				return c.CreateUser(cmd.Context(), api.CreateUserRequest{Name: name, Superuser: superuser})
			})
			if err != nil {
				return err
			}
			return a.show(res, func() error {
				fmt.Fprintln(a.stdout, res.Token)
				fmt.Fprintf(a.stderr, "Created user %s (token %s). The token above is shown only once: store it now.\n", res.User.Name, res.TokenInfo.ID)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&superuser, "superuser", false, "make the user a superuser (may create users and orgs)")
	return cmd
}
