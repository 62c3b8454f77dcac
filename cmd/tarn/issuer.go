package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
)

// issuerCmd returns `tarn issuer`, the commands about tarn's own OIDC issuer.
func (a *app) issuerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issuer",
		Short: "Manage tarn's own OIDC issuer (tarn serve --public-url)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Make a new issuer signing key now (superusers only)",
		Long: `Make a new signing key of tarn's OIDC issuer now, whatever --issuer-key-rotation says. The
new key is published in the JWKS at once and signs one hour later, so that clouds caching
the JWKS know it first; the old key stays in the JWKS until every token it signed expired.`,
		Example: "  tarn issuer rotate",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := fetch(a, "rotate the issuer key", func(c *client.Client) (*api.IssuerKey, error) {
				return c.RotateIssuerKey(cmd.Context())
			})
			if err != nil {
				return err
			}
			return a.showf(k, "New issuer key %s (generation %d), published now, signs from %s.\n",
				k.ID, k.Generation, k.NotBefore.UTC().Format(time.RFC3339))
		},
	})
	return cmd
}
