package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

func (a *app) dsUpdateCmd() *cobra.Command {
	var public bool
	cmd := &cobra.Command{
		Use:   "update al://ORG/NAME --public[=false]",
		Short: "Change a dataset's registry entry (visibility)",
		Long: `Change the registry entry of al://ORG/NAME. --public lets anyone signed in read the
dataset (vend read credentials for it); --public=false keeps it to the org's members. Only
org admins change a dataset's visibility.`,
		Example: `  tarn ds update al://acme/mnist --public
  tarn ds update al://acme/mnist --public=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := parseDataset(args[0])
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("public") {
				return usagef("nothing to change: pass --public or --public=false")
			}
			d, err := fetch(a, fmt.Sprintf("update dataset %s", ds), func(c *client.Client) (*api.Dataset, error) {
				return c.UpdateDataset(cmd.Context(), ds.Org, ds.Dataset, api.UpdateDatasetRequest{Public: &public})
			})
			if err != nil {
				return err
			}
			d.LinkedCredsKeys = nonNil(d.LinkedCredsKeys)
			return a.showf(d, "%s is now %s.\n", datasetPath(d), visibility(d.Public))
		},
	}
	cmd.Flags().BoolVar(&public, "public", false, "true: anyone signed in may read the dataset; false: only the org's members")
	return cmd
}
