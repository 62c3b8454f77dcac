package main

import (
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/tarnhq/tarn/api"
)

// azureSetup is what tarn provision azure prints: the Azure CLI commands that give the
// signing identity of an azure creds key the two roles it needs, and a CORS rule for the
// console.
type azureSetup struct {
	Assignee string   `json:"assignee"`
	Commands []string `json:"commands"`
}

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

The identity is the app registration of a key with --auth client-secret (its client ID), or,
for --auth default, the tarn server's own managed identity: give its object ID with
--principal-id (az identity show --name NAME --resource-group RG --query principalId). A key
with --auth shared-key signs with the account key and needs no role; the command says so.

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
			setup, err := azureProvision(key.Config, account, container, group, subscription, principal, origin)
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

// azureName matches the names that go into the printed commands: Azure's account,
// container, resource group and subscription names are drawn from these characters, and
// none of them means anything to a shell inside double quotes.
var azureName = regexp.MustCompile(`^[A-Za-z0-9._()-]{1,90}$`)

// azureProvision returns the commands that set up an azure key of configuration cfg on
// container of account.
func azureProvision(cfg api.CredsKeyConfig, account, container, group, subscription, principal, origin string) (*azureSetup, error) {
	const valid = "a valid Azure name (letters, digits, '-', '_', '.', '(' and ')')"
	err := checkNames(
		nameRule{"account", account, azureName, valid, false},
		nameRule{"container", container, azureName, valid, false},
		nameRule{"resource group", group, azureName, valid, true},
		nameRule{"subscription", subscription, azureName, valid, true},
	)
	if err != nil {
		return nil, err
	}
	if (group == "") != (subscription == "") {
		return nil, fmt.Errorf("give --resource-group and --subscription together, or neither (az then looks the account up)")
	}
	if origin, err = consoleOrigin(origin); err != nil {
		return nil, err
	}
	accountScope := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s", subscription, group, account)
	if group == "" {
		accountScope = fmt.Sprintf("$(az storage account show --name %s --query id --output tsv)", shellQuote(account))
	}
	containerScope := accountScope + "/blobServices/default/containers/" + container
	cors := []string{
		"# CORS, so that the tarn console at " + origin + " can read the container from the browser",
		"# (a setting of the blob service: az signs it with the account key, from AZURE_STORAGE_KEY or --account-key):",
		fmt.Sprintf("az storage cors add --services b --methods GET HEAD --origins %s --allowed-headers '*' --exposed-headers '*' --max-age 3600 --account-name %s",
			shellQuote(origin), shellQuote(account)),
	}
	var assignee, flag string
	switch {
	case cfg.Auth == api.AuthSharedKey:
		return &azureSetup{Commands: append([]string{
			"# This key signs with the account key (--auth shared-key): it needs no role, and reaches the whole account.",
			"# Prefer --auth default or client-secret, then run this command again for their role assignments.",
		}, cors...)}, nil
	case principal != "":
		assignee, flag = principal, "--assignee-object-id "+shellQuote(principal)+" --assignee-principal-type ServicePrincipal"
	case cfg.Auth == api.AuthClientSecret && cfg.ClientID != "":
		assignee, flag = cfg.ClientID, "--assignee "+shellQuote(cfg.ClientID)
	default:
		return nil, fmt.Errorf("the key signs with the tarn server's own identity (--auth default): give its object ID with --principal-id (az identity show --name NAME --resource-group RG --query principalId)")
	}
	return &azureSetup{Assignee: assignee, Commands: append([]string{
		"# Role assignments for " + assignee + " (run as an owner of the account):",
		fmt.Sprintf("az role assignment create --role 'Storage Blob Data Contributor' %s --scope \"%s\"", flag, containerScope),
		fmt.Sprintf("az role assignment create --role 'Storage Blob Delegator' %s --scope \"%s\"", flag, accountScope),
	}, cors...)}, nil
}
