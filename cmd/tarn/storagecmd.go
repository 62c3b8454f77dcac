package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) storageCmd() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "storage",
		Short: "Manage an org's default storage",
	})
	cmd.AddCommand(a.storageSetDefaultCmd())
	return cmd
}

func (a *app) storageSetDefaultCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "set-default ORG LOCATION --creds-key KEY",
		Short: "Set where an org's new datasets go",
		Long: `Set the org's default storage: "tarn ds create al://ORG/NAME" then puts the dataset at
LOCATION/NAME and vends for it through the creds key KEY. LOCATION is a storage URL or a
local directory. Needs the admin role in the org.`,
		Example: `  tarn storage set-default acme s3://acme-ml/datasets --creds-key ml-bucket
  tarn storage set-default acme /srv/datasets --creds-key local`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			org := args[0]
			if err := checkName("org", org); err != nil {
				return err
			}
			loc, err := parseStorage(args[1])
			if err != nil {
				return err
			}
			if err := checkName("creds key", key); err != nil {
				return err
			}
			o, err := fetch(a, fmt.Sprintf("set default storage of org %s", org), func(c *client.Client) (*api.Org, error) {
				return c.SetDefaultStorage(cmd.Context(), org, api.DefaultStorage{Location: loc.String(), CredsKey: key})
			})
			if err != nil {
				return err
			}
			return a.showf(o, "New datasets of org %s go to %s (creds key %s).\n", org, loc, key)
		},
	}
	cmd.Flags().StringVar(&key, "creds-key", "", "creds key that vends for the location (required)")
	cmd.MarkFlagRequired("creds-key")
	return cmd
}
