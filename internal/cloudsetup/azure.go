package cloudsetup

import (
	"fmt"
	"regexp"

	"github.com/tarnhq/tarn/api"
	"github.com/tarnhq/tarn/internal/errs"
)

// AzureInput is where an azure key's setup applies. Account and Container are required;
// ResourceGroup and Subscription go together, or are both empty (az then looks the account
// up); PrincipalID is the object ID of the identity that signs, needed for a key of auth
// default; ConsoleOrigin is the URL of the tarn console, for CORS.
type AzureInput struct {
	Account, Container          string
	ResourceGroup, Subscription string
	PrincipalID                 string
	ConsoleOrigin               string
}

// AzureSetup is the Azure CLI commands that give the signing identity of an azure creds key
// the two roles it needs, and a CORS rule for the console; lines starting with # are
// comments.
type AzureSetup struct {
	// Assignee is who gets the roles; empty for a shared-key key, which needs none.
	Assignee string   `json:"assignee"`
	Commands []string `json:"commands"`
}

// azureName matches the names that go into the commands: Azure's account, container,
// resource group and subscription names are drawn from these characters, and none of them
// means anything to a shell inside double quotes.
var azureName = regexp.MustCompile(`^[A-Za-z0-9._()-]{1,90}$`)

// Azure returns the commands that set up an azure key of configuration cfg for in. A bad
// input is an Invalid error in the field of that input (account, container,
// resource_group, subscription, principal_id, console_origin).
func Azure(cfg api.CredsKeyConfig, in AzureInput) (*AzureSetup, error) {
	const valid = "a valid Azure name (letters, digits, '-', '_', '.', '(' and ')')"
	account, container, group, subscription := in.Account, in.Container, in.ResourceGroup, in.Subscription
	err := checkNames(
		nameRule{"account", "account", account, azureName, valid, false},
		nameRule{"container", "container", container, azureName, valid, false},
		nameRule{"resource group", "resource_group", group, azureName, valid, true},
		nameRule{"subscription", "subscription", subscription, azureName, valid, true},
	)
	if err != nil {
		return nil, err
	}
	if (group == "") != (subscription == "") {
		field := "subscription"
		if group == "" {
			field = "resource_group"
		}
		return nil, errs.E(errs.Invalid, "give --resource-group and --subscription together, or neither (az then looks the account up)").In(field)
	}
	origin, err := consoleOrigin(in.ConsoleOrigin)
	if err != nil {
		return nil, err
	}
	accountScope := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s", subscription, group, account)
	if group == "" {
		accountScope = fmt.Sprintf("$(az storage account show --name %s --query id --output tsv)", ShellQuote(account))
	}
	containerScope := accountScope + "/blobServices/default/containers/" + container
	cors := []string{
		"# CORS, so that the tarn console at " + origin + " can read the container from the browser",
		"# (a setting of the blob service: az signs it with the account key, from AZURE_STORAGE_KEY or --account-key):",
		fmt.Sprintf("az storage cors add --services b --methods GET HEAD --origins %s --allowed-headers '*' --exposed-headers '*' --max-age 3600 --account-name %s",
			ShellQuote(origin), ShellQuote(account)),
	}
	var assignee, flag string
	switch {
	case cfg.Auth == api.AuthSharedKey:
		return &AzureSetup{Commands: append([]string{
			"# This key signs with the account key (--auth shared-key): it needs no role, and reaches the whole account.",
			"# Prefer --auth default or client-secret, then run this command again for their role assignments.",
		}, cors...)}, nil
	case in.PrincipalID != "":
		assignee, flag = in.PrincipalID, "--assignee-object-id "+ShellQuote(in.PrincipalID)+" --assignee-principal-type ServicePrincipal"
	case cfg.Auth == api.AuthClientSecret && cfg.ClientID != "":
		assignee, flag = cfg.ClientID, "--assignee "+ShellQuote(cfg.ClientID)
	default:
		return nil, errs.E(errs.Invalid, "the key signs with the tarn server's own identity (--auth default): give its object ID with --principal-id (az identity show --name NAME --resource-group RG --query principalId)").In("principal_id")
	}
	return &AzureSetup{Assignee: assignee, Commands: append([]string{
		"# Role assignments for " + assignee + " (run as an owner of the account):",
		fmt.Sprintf("az role assignment create --role 'Storage Blob Data Contributor' %s --scope \"%s\"", flag, containerScope),
		fmt.Sprintf("az role assignment create --role 'Storage Blob Delegator' %s --scope \"%s\"", flag, accountScope),
	}, cors...)}, nil
}
