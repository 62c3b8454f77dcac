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
	var linkKey string
	cmd := &cobra.Command{
		Use:   "presign al://ORG/NAME/KEY [--expires 15m] | al://ORG/NAME LINK --link-key KEY",
		Short: "Print a URL that reads one object of a dataset, for sharing",
		Long: `Print a presigned URL that reads the object KEY of the dataset al://ORG/NAME with a
plain HTTP GET (a browser, curl), until it expires. It needs what reading the dataset
needs. The URL is signed with a read credential of the dataset, so the store refuses it
for any other object, and it never outlives that credential: --expires is cut to the
credential's lifetime (Azure URLs carry the credential's SAS and live as long as it).
Only S3 and Azure datasets have presigned URLs so far.

Given a dataset and a LINK, a storage URL that a link column of it holds, it prints a URL
of the linked object, read through --link-key, a creds key linked to the dataset (the
column's link key): that needs the reader role in the dataset's org, and the link must lie
within the key's roots.

With --output json it prints {"urls": {KEY: URL}, "expires_at": TIME} (for a link,
{"urls": {}, "links": {LINK: URL}, ...}).`,
		Example: `  tarn presign al://acme/coco/images/0001.jpg
  curl -o 0001.jpg "$(tarn presign al://acme/coco/images/0001.jpg --expires 5m)"
  tarn presign al://acme/web s3://acme-web/images/1.jpg --link-key web-images`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if expires < 0 {
				return usagef("--expires %s is negative: give a lifetime such as 15m", expires)
			}
			if len(args) == 2 {
				return a.presignLink(cmd, args[0], args[1], linkKey, expires)
			}
			loc, err := location.FromLocal(args[0])
			if err != nil {
				return usagef("%s", err)
			}
			if loc.Scheme != location.AL || loc.Path == "" {
				return usagef("%q names no object of a dataset: give al://ORG/NAME/KEY", args[0])
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
	cmd.Flags().StringVar(&linkKey, "link-key", "", "the creds key linked to the dataset that reads LINK (the link column's link key)")
	return cmd
}

// presignLink prints a URL of the object that link, a value of a link column of dataset
// ds, points at, read through creds key key linked to the dataset.
func (a *app) presignLink(cmd *cobra.Command, ds, link, key string, expires time.Duration) error {
	loc, err := location.FromLocal(ds)
	if err != nil {
		return usagef("%s", err)
	}
	if loc.Scheme != location.AL || loc.Dataset == "" || loc.Path != "" {
		return usagef("%q is not a dataset: give al://ORG/NAME and then the link", ds)
	}
	if key == "" {
		return usagef("a link is read through a creds key linked to the dataset: give it with --link-key KEY")
	}
	what := fmt.Sprintf("presign %s in %s", link, loc)
	out, err := fetch(a, what, func(c *client.Client) (*api.PresignResponse, error) {
		return c.PresignLinks(cmd.Context(), loc.Org, loc.Dataset, key, []string{link}, expires)
	})
	if err != nil {
		return err
	}
	u, ok := out.Links[link]
	if !ok {
		return fmt.Errorf("%s: the server answered no URL for it", what)
	}
	return a.showf(out, "%s\n", u)
}
