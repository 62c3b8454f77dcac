package main

import (
	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/client"
	"github.com/tarnhq/tarn/internal/cloudsetup"
)

func (a *app) provisionAzureCmd() *cobra.Command {
	var account, container, group, subscription, principal, origin string
	cmd := &cobra.Command{
		Use:   "azure ORG/KEY --container C [--account A] [--resource-group RG --subscription S] [--principal-id ID] [--console-origin URL]",
		Short: "Print the Azure CLI commands that give an azure creds key's identity its roles",
		Long: `Print, ready to run with the Azure CLI (az, logged in as an owner of the storage account), the
role assignments the identity that signs the creds key's SAS needs:

  Storage Blob Data Contributor  on the container: what a vended SAS may do is at most
                                 what the identity that signed it may do;
  Storage Blob Delegator         on the account: lets the identity get user delegation keys.

The identity is the app registration of a key with --auth client-secret or --auth federated
(its client ID), or, for --auth default, the tarn server's own managed identity: give its
object ID with --principal-id (az identity show --name NAME --resource-group RG --query
principalId). A key with --auth shared-key signs with the account key and needs no role; the
command says so.

For --auth federated it first prints the federated credential that makes the app
registration trust tarn's own tokens (az ad app federated-credential create): issuer the
tarn server's --public-url (as its discovery document names it), subject
org:ORG:creds-key:KEY (this key only), audience api://AzureADTokenExchange.

It also prints the CORS rule a browser needs to read the container directly (the tarn
console): GET and HEAD from the console's origin, any header. The origin defaults to the
tarn server the CLI talks to.

Without --resource-group and --subscription the scopes are looked up by az itself
(az storage account show).`,
		Example: `  tarn provision azure acme/az --container datasets
  tarn provision azure acme/az --container datasets --resource-group ml --subscription 0000-... \
      --principal-id 11111111-2222-3333-4444-555555555555`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, origin, err := a.provisionTarget(cmd, args[0], api.ProviderAzure, origin)
			if err != nil {
				return err
			}
			if account == "" {
				account = key.Config.Account
			}
			in := cloudsetup.AzureInput{Account: account, Container: container,
				ResourceGroup: group, Subscription: subscription, PrincipalID: principal, ConsoleOrigin: origin}
			if key.Config.Auth == api.AuthFederated {
				out, err := fetch(a, "provision "+args[0], func(c *client.Client) (*api.ProvisionResponse, error) {
					return c.Provision(cmd.Context(), key.Org, key.Name, api.ProvisionRequest{})
				})
				if err != nil {
					return err
				}
				if p := out.OIDCProvider; p != nil {
					in.Issuer, in.Subject = p.URL, p.Subject
				}
			}
			setup, err := cloudsetup.Azure(key.Config, in)
			if err != nil {
				return err
			}
			return a.showCommands(setup, setup.Commands)
		},
	}
	f := cmd.Flags()
	f.StringVar(&container, "container", "", "the container the key's datasets are in (required)")
	f.StringVar(&account, "account", "", "the storage account (default: the key's)")
	f.StringVar(&group, "resource-group", "", "the account's resource group (default: looked up by az)")
	f.StringVar(&subscription, "subscription", "", "the account's subscription (with --resource-group)")
	f.StringVar(&principal, "principal-id", "", "object ID of the identity that signs (default: the client ID of a client-secret key)")
	f.StringVar(&origin, "console-origin", "", "origin of the tarn console, for CORS (default: the tarn server's URL)")
	cmd.MarkFlagRequired("container")
	return cmd
}
