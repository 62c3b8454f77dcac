package main

import (
	"strings"
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
		Short: "Make new issuer signing keys now (superusers only)",
		Long: `Make a new generation of signing keys of tarn's OIDC issuer now (one ES256 key, one
RS256 key for Entra ID), whatever --issuer-key-rotation says. The new keys are published in
the JWKS at once and sign one hour later, so that clouds caching the JWKS know them first;
the old keys stay in the JWKS until every token they signed expired.`,
		Example: "  tarn issuer rotate",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := fetch(a, "rotate the issuer key", func(c *client.Client) (*api.IssuerKeys, error) {
				return c.RotateIssuerKey(cmd.Context())
			})
			if err != nil {
				return err
			}
			var kids []string
			for _, k := range g.Keys {
				kids = append(kids, k.ID+" ("+k.Alg+")")
			}
			return a.showf(g, "New issuer keys %s (generation %d), published now, sign from %s.\n",
				strings.Join(kids, ", "), g.Generation, g.NotBefore.UTC().Format(time.RFC3339))
		},
	})
	return cmd
}
