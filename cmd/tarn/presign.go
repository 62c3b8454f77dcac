package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/location"
)

func (a *app) presignCmd() *cobra.Command {
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "presign al://ORG/NAME/KEY [--expires 15m]",
		Short: "Print a URL that reads one object of a dataset, for sharing",
		Long: `Print a presigned URL that reads the object KEY of the dataset al://ORG/NAME with a
plain HTTP GET (a browser, curl), until it expires. It needs what reading the dataset
needs. The URL is signed with a read credential of the dataset, so the store refuses it
for any other object, and it never outlives that credential: --expires is cut to the
credential's lifetime (Azure URLs carry the credential's SAS and live as long as it).
Only S3 and Azure datasets have presigned URLs so far.

With --output json it prints {"urls": {KEY: URL}, "expires_at": TIME}.`,
		Example: `  tarn presign al://acme/coco/images/0001.jpg
  curl -o 0001.jpg "$(tarn presign al://acme/coco/images/0001.jpg --expires 5m)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := location.FromLocal(args[0])
			if err != nil {
				return usagef("%s", err)
			}
			if loc.Scheme != location.AL || loc.Path == "" {
				return usagef("%q names no object of a dataset: give al://ORG/NAME/KEY", args[0])
			}
			if expires < 0 {
				return usagef("--expires %s is negative: give a lifetime such as 15m", expires)
			}
			what := fmt.Sprintf("presign %s", loc)
			out, err := fetch(a, what, func(c *client.Client) (*api.PresignResponse, error) {
				return c.PresignDataset(cmd.Context(), loc.Org, loc.Dataset, []string{loc.Path}, expires)
			})
			if err != nil {
				return err
			}
			u, ok := out.URLs[loc.Path]
			if !ok {
				return fmt.Errorf("%s: the server answered no URL for %s", what, loc.Path)
			}
			return a.showf(out, "%s\n", u)
		},
	}
	cmd.Flags().DurationVar(&expires, "expires", time.Duration(api.DefaultPresignExpiresIn)*time.Second,
		"how long the URL stays valid, at most the lifetime of the dataset's read credential")
	return cmd
}
