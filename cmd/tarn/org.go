package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

var roles = []string{api.RoleReader, api.RoleWriter, api.RoleAdmin}

func (a *app) orgCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "org",
		Short: "Manage orgs and their members",
	})
	member := group(&cobra.Command{
		Use:   "member",
		Short: "Manage the members of an org",
		Long: `Manage the members of an org and their roles: reader (read credentials), writer (also
creates datasets and gets write credentials), admin (also manages creds keys, default
storage and members).`,
	})
	member.AddCommand(a.orgMemberAddCmd(), a.orgMemberLsCmd(), a.orgMemberRmCmd())
	cmd.AddCommand(a.orgCreateCmd(), a.orgLsCmd(), a.orgShowCmd(), member)
	return cmd
}

func (a *app) orgLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List every org (superusers only)",
		Example: "  tarn org ls",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			orgs, err := fetch(a, "list orgs", func(c *client.Client) ([]api.Org, error) {
				return c.Orgs(cmd.Context())
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(orgs), func() error {
				t := a.table("NAME", "CREATED", "DEFAULT_STORAGE")
				for _, o := range orgs {
					var loc string
					if o.DefaultStorage != nil {
						loc = o.DefaultStorage.Location
					}
					t.row(o.Name, fmtTime(o.CreatedAt), loc)
				}
				return t.flush()
			})
		},
	}
}

func (a *app) orgCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an org (superusers only)",
		Example: "  tarn org create acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("org", name); err != nil {
				return err
			}
			org, err := fetch(a, fmt.Sprintf("create org %s", name), func(c *client.Client) (*api.Org, error) {
				return c.CreateOrg(cmd.Context(), name)
			})
			if err != nil {
				return err
			}
			return a.showf(org, "Created org %s.\n", org.Name)
		},
	}
}

func (a *app) orgShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ORG",
		Short:   "Show an org and its default storage",
		Example: "  tarn org show acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkName("org", name); err != nil {
				return err
			}
			org, err := fetch(a, fmt.Sprintf("show org %s", name), func(c *client.Client) (*api.Org, error) {
				return c.Org(cmd.Context(), name)
			})
			if err != nil {
				return err
			}
			return a.show(org, func() error {
				var loc, key string
				if ds := org.DefaultStorage; ds != nil {
					loc, key = ds.Location, ds.CredsKey
				}
				return kv(a.stdout,
					"name", org.Name,
					"created", fmtTime(org.CreatedAt),
					"default storage", loc,
					"default creds key", key,
				)
			})
		},
	}
}

func (a *app) orgMemberAddCmd() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "add ORG USER --role reader|writer|admin",
		Short: "Add a user to an org, or change their role",
		Example: `  tarn org member add acme alice --role admin
  tarn org member add acme bob --role reader`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, user := args[0], args[1]
			if err := oneOf("role", role, roles...); err != nil {
				return err
			}
			if err := checkName("org", org); err != nil {
				return err
			}
			if err := checkName("user", user); err != nil {
				return err
			}
			m, err := fetch(a, fmt.Sprintf("add %s to org %s", user, org), func(c *client.Client) (*api.Membership, error) {
				return c.PutMember(cmd.Context(), org, user, role)
			})
			if err != nil {
				return err
			}
			return a.showf(m, "%s is %s of org %s.\n", m.User, article(m.Role), m.Org)
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "role in the org: reader, writer or admin (required)")
	cmd.MarkFlagRequired("role")
	return cmd
}

// article prefixes a role with "a" or "an".
func article(role string) string {
	if role != "" && (role[0] == 'a' || role[0] == 'e' || role[0] == 'i' || role[0] == 'o' || role[0] == 'u') {
		return "an " + role
	}
	return "a " + role
}

func (a *app) orgMemberLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls ORG",
		Aliases: []string{"list"},
		Short:   "List the members of an org",
		Example: "  tarn org member ls acme",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			ms, err := fetch(a, fmt.Sprintf("list members of org %s", org), func(c *client.Client) ([]api.Membership, error) {
				return c.Members(cmd.Context(), org)
			})
			if err != nil {
				return err
			}
			return a.show(nonNil(ms), func() error {
				t := a.table("USER", "ROLE")
				for _, m := range ms {
					t.row(m.User, m.Role)
				}
				return t.flush()
			})
		},
	}
}

func (a *app) orgMemberRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm ORG USER",
		Aliases: []string{"remove"},
		Short:   "Remove a user from an org",
		Example: "  tarn org member rm acme bob",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, user := args[0], args[1]
			if err := checkName("org", org); err != nil {
				return err
			}
			if err := checkName("user", user); err != nil {
				return err
			}
			err := a.call(fmt.Sprintf("remove %s from org %s", user, org), func(c *client.Client) error {
				return c.DeleteMember(cmd.Context(), org, user)
			})
			if err != nil {
				return err
			}
			a.say("Removed %s from org %s.\n", user, org)
			return nil
		},
	}
}
